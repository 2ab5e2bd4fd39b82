use connhandler::Message;

#[derive(Message)]
struct Packet {
    #[wire(rest)]
    tail: u32,
}

fn main() {}
