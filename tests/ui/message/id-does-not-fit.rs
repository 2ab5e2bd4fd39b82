use connhandler::Message;

#[derive(Message)]
#[wire(id_type = u8)]
enum Small {
    #[wire(id = 256)]
    TooBig,
}

fn main() {}
