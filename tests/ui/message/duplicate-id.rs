use connhandler::Message;

#[derive(Message)]
enum Login {
    #[wire(id = 0x1000)]
    Hello,
    #[wire(id = 0x1000)]
    Again,
}

fn main() {}
