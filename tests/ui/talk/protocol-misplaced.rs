use connhandler::Message;

#[derive(Message)]
enum Greeting {
    #[wire(id = 1, hello)]
    Hello {
        #[wire(version)]
        version: String,
        #[wire(protocol)]
        protocol: String,
        #[wire(protocol)]
        again: u64,
    },
    #[wire(id = 2)]
    Chat {
        #[wire(protocol)]
        protocol: String,
    },
}

#[derive(Message)]
enum Typed {
    #[wire(id = 1, hello)]
    Hello {
        #[wire(version)]
        version: String,
        #[wire(protocol)]
        protocol: u32,
    },
}

fn main() {}
