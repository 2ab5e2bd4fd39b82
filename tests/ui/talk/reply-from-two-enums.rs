use connhandler::Message;

#[derive(Message)]
enum A {
    #[wire(id = 1)]
    X,
}

#[derive(Message)]
enum B {
    #[wire(id = 1)]
    Y,
}

#[derive(Message)]
enum Ask {
    #[wire(id = 0x01, reply = A::X)]
    One,
    #[wire(id = 0x02, reply = B::Y)]
    Two,
    #[wire(id = 0x03, reply = Y)]
    Three,
}

fn main() {}
