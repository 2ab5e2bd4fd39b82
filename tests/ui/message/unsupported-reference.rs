use connhandler::Message;

#[derive(Message)]
struct Borrowed<'a> {
    name: &'a str,
}

fn main() {}
