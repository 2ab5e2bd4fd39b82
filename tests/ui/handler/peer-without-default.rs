use bytes::Bytes;

#[derive(connhandler::Peer)]
#[peer(recv = Bytes, send = Bytes)]
struct Client {
    name: String,
}

#[connhandler::incoming(peer = Client)]
struct Lobby;

fn main() {}
