use connhandler::Message;

#[derive(Message)]
enum Down {
    #[wire(id = 1)]
    Found { name: String },
    #[wire(id = 2)]
    Sum {
        #[wire(correlation)]
        req: u32,
        sum: u64,
    },
}

// The request carries a correlation id and its reply does not: every request would wait
// for a reply that never names it.
#[derive(Message)]
enum Up {
    #[wire(id = 1, reply = Down::Found)]
    Find {
        #[wire(correlation)]
        req: u32,
        name: String,
    },
    // The reverse: the reply carries one and the request does not.
    #[wire(id = 2, reply = Down::Sum)]
    Add(u32, u32),
}

fn main() {}
