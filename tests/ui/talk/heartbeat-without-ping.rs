use connhandler::{talk::Heartbeat, Incoming, Message, Peer};

#[derive(Message)]
enum Msg {
    #[wire(id = 1)]
    Chat(String),
}

#[derive(Peer, Default)]
#[peer(recv = Msg, send = Msg)]
struct Player;

fn main() {
    // A heartbeat needs the protocol's ping and pong.
    let _ = Incoming::<Player>::builder("127.0.0.1:0")
        .heartbeat(Heartbeat::every(std::time::Duration::from_secs(5)));
}
