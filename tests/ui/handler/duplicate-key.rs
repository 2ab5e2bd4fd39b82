use bytes::Bytes;

#[derive(connhandler::Peer, Default)]
#[peer(recv = Bytes, send = Bytes)]
struct Client;

fn hook(_: &Login, _: std::net::SocketAddr) -> Client {
    Client
}

// Every repeated key is reported, each naming itself; none is silently overwritten.
#[connhandler::incoming(peer = Client, backlog = 16, backlog = 32, make_peer = hook, make_peer = hook, name = "a", name = "b")]
struct Login;

#[connhandler::outgoing(peer = Client, retry_ms = 100, retry_ms = 200, reconnect, reconnect)]
struct Upstream;

fn main() {}
