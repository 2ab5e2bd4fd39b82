use bytes::Bytes;

#[derive(connhandler::Peer, Default)]
#[peer(recv = Bytes, send = Bytes)]
struct Client;

#[connhandler::incoming(peer = Client, tcp_message, panda3d(header_size = 4))]
struct Lobby;

fn main() {}
