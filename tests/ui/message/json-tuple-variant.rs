use connhandler::Message;

#[derive(Message)]
#[wire(json)]
enum Internal {
    #[wire(id = 1)]
    Ping(u32),
}

fn main() {}
