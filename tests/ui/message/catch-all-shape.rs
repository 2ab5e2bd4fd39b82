use connhandler::Message;

#[derive(Message)]
enum Proto {
    #[wire(id = 1)]
    A,
    #[wire(catch_all)]
    Unknown,
}

fn main() {}
