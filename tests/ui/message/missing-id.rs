use connhandler::Message;

#[derive(Message)]
enum Login {
    #[wire(id = 1)]
    Hello,
    Forgotten(u8),
}

fn main() {}
