use connhandler::Message;

#[derive(Message)]
enum Control {
    #[wire(id = 1, ping, pong)]
    Beat,
    #[wire(id = 2, ping, ping)]
    Again,
    #[wire(id = 3, pong, reply = Control::Beat)]
    Answer,
}

fn main() {}
