//! An echo server and three clients in one process, over loopback: an incoming handler with
//! many peers, an outgoing handler per client, one central queue. It prints what happens and
//! exits.
//!
//! Run it with `cargo run --example echo`.

use std::collections::HashMap;

use bytes::Bytes;
use connhandler::{central, Event, Incoming, Outgoing, Peer, PeerHandle, Retry};

/// A client connected to our echo server.
#[derive(Default)]
struct EchoClient;

impl Peer for EchoClient {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "echo-client";
}

/// The echo server, seen from one of our clients.
#[derive(Default)]
struct EchoServer;

impl Peer for EchoServer {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "echo-server";
}

/// The program's one event type: both handlers feed it.
enum Program {
    Server(Event<EchoClient>),
    Client(Event<EchoServer>),
}

impl From<Event<EchoClient>> for Program {
    fn from(e: Event<EchoClient>) -> Self {
        Program::Server(e)
    }
}

impl From<Event<EchoServer>> for Program {
    fn from(e: Event<EchoServer>) -> Self {
        Program::Client(e)
    }
}

const CLIENTS: usize = 3;
const ROUNDS: u32 = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The program, its central loop included, runs as a task on the runtime's worker
    // threads: `main`'s own thread is not one of them (see the README).
    tokio::spawn(run()).await?
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (tx, mut central) = central::<Program>(1024);
    let server = Incoming::<EchoClient>::builder("127.0.0.1:0")
        .name("echo")
        .listen(&tx)
        .await?;
    println!("server: listening on {}", server.local_addr());

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(
            Outgoing::<EchoServer>::builder(server.local_addr())
                .retry(Retry::fixed(std::time::Duration::from_millis(100)).max_attempts(10))
                .start(&tx),
        );
    }

    let mut rounds: HashMap<PeerHandle<EchoServer>, u32> = HashMap::new();
    let mut finished = 0;
    while let Some(event) = central.recv().await {
        match event {
            Program::Server(Event::Connected(peer)) => println!("server: {peer} connected"),
            Program::Server(Event::Message(peer, msg)) => {
                println!("server: {} bytes from {peer}, echoing", msg.len());
                let _ = peer.send(msg);
            }
            Program::Server(Event::Disconnected(peer, why)) => {
                println!("server: {peer} left: {why}");
            }
            Program::Client(Event::Connected(server)) => {
                rounds.insert(server.clone(), 0);
                let _ = server.send(Bytes::from("round 0"));
            }
            Program::Client(Event::Message(server, msg)) => {
                println!(
                    "client {}: got {:?}",
                    server.id(),
                    String::from_utf8_lossy(&msg)
                );
                let round = rounds.get_mut(&server).expect("connected first");
                *round += 1;
                if *round < ROUNDS {
                    let _ = server.send(Bytes::from(format!("round {round}")));
                } else {
                    server.disconnect_with("done");
                }
            }
            Program::Client(Event::Disconnected(server, why)) => {
                println!("client {}: disconnected: {why}", server.id());
                finished += 1;
                if finished == CLIENTS {
                    break;
                }
            }
            Program::Client(Event::ConnectFailed(e)) => return Err(e.into()),
            _ => {}
        }
    }
    for c in &clients {
        c.shutdown().await;
    }
    server.shutdown().await;
    println!(
        "all {CLIENTS} clients done, {} connections served",
        server.stats().accepted
    );
    Ok(())
}
