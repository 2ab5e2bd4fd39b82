use bytes::Bytes;
use connhandler::Message;

#[derive(Message)]
enum Proto {
    #[wire(catch_all, id = 9)]
    Unknown(u16, Bytes),
}

fn main() {}
