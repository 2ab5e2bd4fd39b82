use bytes::Bytes;
use connhandler::Peer;

#[derive(Peer)]
#[peer(recv = Bytes, send = Bytes, name = "a", name = "b")]
struct Client;

fn main() {}
