use bytes::Bytes;

#[derive(connhandler::Peer, Default)]
#[peer(recv = Bytes, send = Bytes)]
struct Server;

#[connhandler::outgoing(peer = Server, panda3d(header_size = 3))]
struct Link;

fn main() {}
