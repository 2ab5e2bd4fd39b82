//! A Panda3D-style chat, polled from a game loop: a server that broadcasts each message to
//! every client, and clients driven by a loop that polls the central queue once per frame,
//! with no async code in the program (the I/O runs on connhandler's own thread). The
//! framing is Panda3D's datagram with its default 2-byte header, and the message is laid out
//! as Panda3D's `Datagram` would (`addUint16` id, `addString`).
//!
//! Run it with `cargo run --example chat`.

use std::{collections::HashMap, time::Duration};

use connhandler::{
    blocking::Runtime, central, codec::Panda3dCodec, Event, Incoming, Message, Outgoing,
    OutgoingBuilder, Peer, PeerId, Retry,
};

/// One chat line, as Panda3D would write it: `addUint16(1)`, `addString(from)`,
/// `addString(text)`.
#[derive(Message, Debug, Clone, PartialEq)]
#[wire(id = 1)]
struct Say {
    from: String,
    text: String,
}

/// A chat client, as the server sees it.
#[derive(Peer, Default)]
#[peer(recv = Say, send = Say, name = "chat-client")]
struct ChatClient;

/// The server, as client `name` sees it.
#[derive(Peer)]
#[peer(recv = Say, send = Say, name = "chat-server")]
struct ChatServer {
    name: &'static str,
}

enum Frame {
    Server(Event<ChatClient>),
    Client(Event<ChatServer>),
}

impl From<Event<ChatClient>> for Frame {
    fn from(e: Event<ChatClient>) -> Self {
        Frame::Server(e)
    }
}

impl From<Event<ChatServer>> for Frame {
    fn from(e: Event<ChatServer>) -> Self {
        Frame::Client(e)
    }
}

const NAMES: [&str; 3] = ["ann", "bob", "cy"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // QueuedConnectionManager: the I/O thread.
    let rt = Runtime::new()?;
    let (tx, mut central) = central::<Frame>(1024);

    // openTCPServerRendezvous(port, backlog) + QueuedConnectionListener.
    let server = rt.block_on(
        Incoming::<ChatClient>::builder("127.0.0.1:0")
            .framing(Panda3dCodec::new())
            .backlog(16)
            .listen(&tx),
    )?;
    println!("server: listening on {}", server.local_addr());

    // openTCPClientConnection(host, port, timeout_ms), one per client.
    let clients: Vec<Outgoing<ChatServer>> = NAMES
        .iter()
        .map(|&name| {
            let builder = OutgoingBuilder::new(server.local_addr(), move |_| ChatServer { name })
                .framing(Panda3dCodec::new())
                .connect_timeout(Duration::from_millis(3000))
                .retry(Retry::never());
            rt.start_outgoing(builder, &tx)
        })
        .collect();

    let mut heard: HashMap<PeerId, Vec<Say>> = HashMap::new();
    let mut frame = 0u32;
    'game: loop {
        frame += 1;
        if frame > 10_000 {
            return Err("the chat did not finish".into());
        }
        // The frame's network work: everything queued now, never waiting.
        for event in central.drain() {
            match event {
                Frame::Server(Event::Connected(c)) => println!("server: {c} joined"),
                Frame::Server(Event::Message(from, say)) => {
                    println!("server: {} says {:?}; broadcasting", say.from, say.text);
                    // One encoding for every client (ConnectionWriter.send in a loop).
                    let report = server.broadcast(&say)?;
                    // A client too slow to take it is skipped (and, under the default
                    // policy, cut): the others are not held up.
                    if !report.slow.is_empty() {
                        println!("server: {} slow clients skipped", report.slow.len());
                    }
                    let _ = from;
                }
                Frame::Client(Event::Connected(link)) => {
                    let say = Say {
                        from: link.name.into(),
                        text: format!("hello from {}", link.name),
                    };
                    let _ = link.send(say); // never waits
                }
                Frame::Client(Event::Message(link, say)) => {
                    println!("{}: heard {}: {:?}", link.name, say.from, say.text);
                    let lines = heard.entry(link.id()).or_default();
                    lines.push(say);
                    if heard.len() == NAMES.len() && heard.values().all(|l| l.len() == NAMES.len())
                    {
                        break 'game;
                    }
                }
                Frame::Client(Event::ConnectFailed(e)) => return Err(e.into()),
                _ => {}
            }
        }
        // ... the rest of the frame: simulation, rendering ...
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("everyone heard everyone after {frame} frames");

    // closeConnection on each, then on the rendezvous socket.
    for c in &clients {
        rt.block_on(c.shutdown());
    }
    rt.block_on(server.shutdown());
    Ok(())
}
