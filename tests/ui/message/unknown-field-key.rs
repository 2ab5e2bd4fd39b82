use connhandler::Message;

#[derive(Message)]
struct Packet {
    #[wire(length = u8)]
    name: String,
}

fn main() {}
