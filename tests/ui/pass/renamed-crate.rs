mod deps {
    pub use ::connhandler as net;
}

#[derive(connhandler::Message, Debug, PartialEq)]
#[wire(crate = "crate::deps::net")]
enum Proto {
    #[wire(id = 1)]
    Ping(u32),
}

#[derive(connhandler::Peer, Default)]
#[peer(recv = Proto, send = Proto, crate = "crate::deps::net")]
struct Client;

#[connhandler::incoming(peer = Client, crate = "crate::deps::net")]
struct Lobby;

fn main() {
    deps::net::testing::assert_roundtrip(&Proto::Ping(1));
    let _ = Lobby.incoming_builder("127.0.0.1:0");
}
