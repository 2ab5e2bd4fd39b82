use connhandler::{Message, Peer, PeerHandle};

#[derive(Message, Debug)]
enum Answer {
    #[wire(id = 0x81)]
    Score(u32),
}

#[derive(Message)]
enum Other {
    #[wire(id = 0x91)]
    Nope,
}

#[derive(Message)]
enum Ask {
    #[wire(id = 0x01, reply = Other::Nope)]
    GetScore(String),
}

#[derive(Peer)]
#[peer(recv = Answer, send = Ask)]
struct Server;

// The replies `Ask` declares are not what a `Server` receives: `request` is not there.
async fn ask(server: PeerHandle<Server>) {
    let _ = server.request(Ask::GetScore("ann".into())).await;
}

fn main() {}
