use connhandler::Message;

#[derive(Message)]
#[wire(endianness = "big")]
enum Proto {
    #[wire(id = 1)]
    A,
}

fn main() {}
