use connhandler::Message;

#[derive(Message)]
struct Packet {
    #[wire(skip, len = u8)]
    cache: String,
}

fn main() {}
