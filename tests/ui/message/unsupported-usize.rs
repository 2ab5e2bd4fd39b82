use connhandler::Message;

#[derive(Message)]
enum Stats {
    #[wire(id = 1)]
    Count { n: usize },
}

fn main() {}
