use bytes::Bytes;

#[derive(connhandler::Peer, Default)]
#[peer(recv = Bytes, send = Bytes)]
struct Client;

#[connhandler::incoming(peer = Client, tcp_message(max_message_size = 100, max_message_size = 200))]
struct Lobby;

#[connhandler::incoming(peer = Client, panda3d(header_size = 2, header_size = 4))]
struct Game;

fn main() {}
