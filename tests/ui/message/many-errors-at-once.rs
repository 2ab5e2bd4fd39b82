use connhandler::Message;

#[derive(Message)]
enum Proto {
    #[wire(id = 1)]
    A(usize),
    #[wire(id = 1)]
    B,
    C,
}

fn main() {}
