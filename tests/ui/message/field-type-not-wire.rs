use connhandler::Message;

struct Position {
    x: f32,
}

#[derive(Message)]
enum Move {
    #[wire(id = 1)]
    To { pos: Position },
}

fn main() {}
