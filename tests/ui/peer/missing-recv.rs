use bytes::Bytes;
use connhandler::Peer;

#[derive(Peer)]
#[peer(send = Bytes)]
struct Client;

fn main() {}
