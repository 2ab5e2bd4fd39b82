use bytes::Bytes;
use connhandler::Message;

#[derive(Message)]
struct Packet {
    #[wire(rest)]
    body: Bytes,
    checksum: u32,
}

fn main() {}
