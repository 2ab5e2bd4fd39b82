use bytes::Bytes;

#[derive(connhandler::Peer, Default)]
#[peer(recv = Bytes, send = Bytes)]
struct Client;

#[connhandler::incoming(peer = Client, tcp_message(max_message_size = 65536))]
struct Lobby;

fn main() {}
