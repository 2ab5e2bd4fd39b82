use connhandler::Message;

#[derive(Message)]
enum Proto {
    #[wire(id = 1, id = 2)]
    A,
}

fn main() {}
