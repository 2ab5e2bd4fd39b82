use bytes::Bytes;

#[derive(connhandler::Peer, Default)]
#[peer(recv = Bytes, send = Bytes)]
struct Client;

// A path must start with `/`.
#[connhandler::incoming(peer = Client, websocket = "game")]
struct NoSlash;

// An origin is a scheme and a host, as browsers send it.
#[connhandler::incoming(peer = Client, websocket = "/game", allow_origin = "play.example.com")]
struct NoScheme;

// Origins are for a WebSocket handler.
#[connhandler::incoming(peer = Client, allow_origin = "https://play.example.com")]
struct NoWebSocket;

// The PROXY protocol is a listening side's.
#[connhandler::outgoing(peer = Client, proxy_protocol)]
struct Upstream;

fn main() {}
