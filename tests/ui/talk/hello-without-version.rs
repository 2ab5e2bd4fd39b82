use connhandler::Message;

#[derive(Message)]
enum Greeting {
    #[wire(id = 1, hello)]
    Hello { version: String },
    #[wire(id = 2, hello)]
    AlsoHello {
        #[wire(version)]
        version: String,
    },
    #[wire(id = 3)]
    Chat {
        #[wire(version)]
        version: String,
        #[wire(reason)]
        why: String,
    },
}

fn main() {}
