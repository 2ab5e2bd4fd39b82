use connhandler::Message;

#[derive(Message)]
#[wire(id = 5)]
enum Proto {
    #[wire(id = 1)]
    A,
}

fn main() {}
