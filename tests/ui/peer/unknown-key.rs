use bytes::Bytes;
use connhandler::Peer;

#[derive(Peer)]
#[peer(recv = Bytes, send = Bytes, receive = Bytes)]
struct Client;

fn main() {}
