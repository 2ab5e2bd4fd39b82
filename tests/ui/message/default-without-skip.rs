use connhandler::Message;

fn zero() -> u8 {
    0
}

#[derive(Message)]
struct Packet {
    #[wire(default = zero)]
    n: u8,
}

fn main() {}
