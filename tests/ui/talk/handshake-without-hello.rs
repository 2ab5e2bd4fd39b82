use connhandler::{incoming, Message, Peer};

#[derive(Message)]
enum Msg {
    #[wire(id = 1)]
    Chat(String),
}

#[derive(Peer, Default)]
#[peer(recv = Msg, send = Msg)]
struct Player;

// A version handshake needs a `hello` variant in the protocol; so does a heartbeat a
// `ping` or `pong`.
#[incoming(peer = Player, version = "2.1.0", heartbeat_ms = 500)]
struct Lobby;

fn main() {}
