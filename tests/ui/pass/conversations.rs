// The conversation keys, with no imports: requests by order and by correlation, both
// directions, the handshake with a rejection, ping and pong; declared handlers using them.

#[derive(::connhandler::Message)]
enum Up {
    #[wire(id = 1, hello)]
    Hello {
        #[wire(version)]
        version: ::std::string::String,
        client: ::std::string::String,
    },
    #[wire(id = 2, reject)]
    Rejected {
        #[wire(version)]
        wanted: u32,
        #[wire(reason)]
        reason: ::std::string::String,
    },
    #[wire(id = 3, ping)]
    Ping,
    #[wire(id = 4, pong)]
    Pong(u8),
    #[wire(id = 5, reply = Down::Sum)]
    Add(u32, u32),
    #[wire(id = 6, reply = Down::Found, reply = Down::Missing)]
    Find(#[wire(correlation)] u64, ::std::string::String),
}

#[derive(::connhandler::Message)]
enum Down {
    #[wire(id = 1, hello)]
    Hello(#[wire(version)] u16),
    #[wire(id = 3, ping)]
    Ping,
    #[wire(id = 5)]
    Sum(u32),
    #[wire(id = 6)]
    Found(#[wire(correlation)] u64, u32),
    #[wire(id = 7)]
    Missing {
        #[wire(correlation)]
        req: u64,
    },
    #[wire(id = 8, reply = Up::Pong)]
    AreYouThere,
}

#[derive(::connhandler::Peer, Default)]
#[peer(recv = Up, send = Down)]
struct Client;

#[derive(::connhandler::Peer, Default)]
#[peer(recv = Down, send = Up)]
struct Server;

#[::connhandler::incoming(
    peer = Client,
    version = "2.1.0",
    agree = "exact",
    version_timeout_ms = 2000,
    heartbeat_ms = 1000,
    heartbeat_allowance_ms = 3500,
    request_timeout_ms = 5000,
    max_pending = 16,
    tcp_keepalive_ms = 30000
)]
struct Lobby;

#[::connhandler::outgoing(peer = Server, version = "2", heartbeat_ms = 1000)]
struct Link;

async fn ask(server: ::connhandler::PeerHandle<Server>, client: ::connhandler::PeerHandle<Client>) {
    let _: ::std::result::Result<Down, _> = server.request(Up::Add(1, 2)).await;
    let _ = server.request(Up::Find(0, "ann".into())).await;
    let _: ::std::result::Result<Up, _> = client.request(Down::AreYouThere).await;
}

fn main() {
    let _ = (Lobby, Link, ask);
}
