use connhandler::Message;

#[derive(Message)]
enum Answer {
    #[wire(id = 0x81)]
    Score(u32),
}

#[derive(Message)]
enum Ask {
    // `Answer` has no `Points`: the compiler says so, at the path.
    #[wire(id = 0x01, reply = Answer::Points)]
    GetScore(String),
}

fn main() {}
