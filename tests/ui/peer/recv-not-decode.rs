use bytes::Bytes;
use connhandler::Peer;

struct NotAMessage;

#[derive(Peer)]
#[peer(recv = NotAMessage, send = Bytes)]
struct Client;

fn main() {}
