#[derive(connhandler::Message, Debug, PartialEq)]
enum Proto {
    #[wire(id = 1)]
    Hello { name: String, version: u16 },
    #[wire(id = 2)]
    Blob(bytes::Bytes),
    #[wire(catch_all)]
    Other(u16, bytes::Bytes),
}

#[derive(connhandler::Message, Debug, PartialEq)]
#[wire(json)]
enum Internal {
    #[wire(id = 7)]
    Status { ok: bool },
}

#[derive(connhandler::Peer, Default)]
#[peer(recv = Proto, send = Proto)]
struct Client;

#[connhandler::incoming(peer = Client, tcp_message(max_message_size = 4096), backlog = 8)]
struct Lobby;

#[connhandler::incoming(peer = Client, unprotected, idle_timeout_ms = 60000, first_message_timeout_ms = 0, frame_timeout_ms = 5000, max_connections_per_ip = 64, read_budget = 1048576, queue_bytes = 65536)]
struct Guarded;

#[connhandler::outgoing(peer = Client, panda3d(header_size = 4), retry_ms = 10, backoff_max_ms = 100, max_attempts = 3, reconnect)]
struct Link;

#[connhandler::incoming(peer = Client, websocket = "/game", allow_origin = "https://play.example.com", allow_origin = "http://localhost:8080", proxy_protocol, handshake_timeout_ms = 3000)]
struct BrowserDoor;

#[connhandler::outgoing(peer = Client, websocket = "/game")]
struct BrowserLink;

struct NoDefault {
    from: std::net::SocketAddr,
}

impl connhandler::Peer for NoDefault {
    type Recv = bytes::Bytes;
    type Send = bytes::Bytes;
    const NAME: &'static str = "no-default";
}

fn main() {
    // make_peer from the plain builder, for a peer type without Default.
    let (tx, _central) = connhandler::central::<connhandler::Event<NoDefault>>(1);
    let _ = async move {
        connhandler::Incoming::<NoDefault>::builder("127.0.0.1:0")
            .make_peer(|from| NoDefault { from })
            .listen(&tx)
            .await
            .map(|server| server.local_addr())
    };
    connhandler::testing::assert_roundtrip(&Proto::Hello { name: "a".into(), version: 1 });
    connhandler::testing::assert_roundtrip(&Internal::Status { ok: true });
    let _ = Lobby.incoming_builder("127.0.0.1:0");
    let _ = Guarded.incoming_builder("127.0.0.1:0");
    let _ = Link.outgoing_builder("127.0.0.1:1");
}
