use connhandler::Message;

#[derive(Message)]
struct Packet {
    #[wire(len = u64)]
    name: String,
}

fn main() {}
