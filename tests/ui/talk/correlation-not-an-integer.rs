use connhandler::Message;

#[derive(Message)]
enum Answer {
    #[wire(id = 0x81)]
    Found {
        #[wire(correlation)]
        req: String,
    },
}

#[derive(Message)]
enum Ask {
    #[wire(id = 0x01, reply = Answer::Found)]
    Find {
        #[wire(correlation)]
        req: f32,
        #[wire(correlation)]
        again: u32,
    },
}

fn main() {}
