struct Player {
    from: std::net::SocketAddr,
}

impl connhandler::Peer for Player {
    type Recv = bytes::Bytes;
    type Send = bytes::Bytes;
    const NAME: &'static str = "player";
}

fn main() {
    let (tx, _central) = connhandler::central::<connhandler::Event<Player>>(1);
    // No make_peer hook, and Player has no Default.
    let _ = async move { connhandler::Incoming::<Player>::builder("127.0.0.1:0").listen(&tx).await };
}
