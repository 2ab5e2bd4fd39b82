use bytes::Bytes;

#[derive(connhandler::Peer, Default)]
#[peer(recv = Bytes, send = Bytes)]
struct Client;

#[connhandler::incoming(peer = Client, reconnect)]
struct Lobby;

fn main() {}
