//! A Panda3D-style chat, polled from a game loop: a server that broadcasts each message to
//! every client, and clients driven by a loop that polls the central queue once per frame,
//! with no async code in the program (the I/O runs on connhandler's own thread). The
//! framing is Panda3D's datagram with its default 2-byte header, and the message is laid out
//! as Panda3D's `Datagram` would (`addUint16` id, `addString`).
//!
//! Browsers join the same chat: a second listener speaks WebSocket, where each binary
//! WebSocket message is one `Say` laid out the same way, and `examples/chat.html` is the
//! page that speaks it through `examples/chat_protocol.js`, the module generated from the
//! protocol (`chat_protocol.rs`) by `connhandler::schema::typescript`: no codec written by
//! hand. One of the Rust clients connects over WebSocket too, so a run without a browser
//! still goes through it.
//!
//! Run it with `cargo run --example chat`: it ends once every client heard every other.
//! `cargo run --example chat -- --serve` keeps serving afterwards: open the address it
//! prints (http://127.0.0.1:8080/) in a browser, in two tabs, and chat.

use std::{collections::HashMap, time::Duration};

use connhandler::{
    blocking::Runtime, central, codec::Panda3dCodec, ws::WebSocket, Event, Incoming, Outgoing,
    OutgoingBuilder, Peer, PeerId, Retry,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

mod chat_protocol;

use chat_protocol::{ChatClient, Say};

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

/// Serves the browser page, with the WebSocket port filled in, and its protocol module to
/// whoever asks (`/done` is where the page reports to a headless browser's test: see
/// chat.html).
async fn serve_page(listener: TcpListener, ws_port: u16) {
    let page = include_str!("chat.html").replace("__WS_PORT__", &ws_port.to_string());
    let module = include_str!("chat_protocol.js");
    while let Ok((mut s, _)) = listener.accept().await {
        let page = page.clone();
        tokio::spawn(async move {
            // One small request, read within a bound.
            let mut head = [0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut head)).await;
            let n = read.ok().and_then(Result::ok).unwrap_or(0);
            let path = String::from_utf8_lossy(&head[..n])
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .to_owned();
            let (kind, body) = match path.as_str() {
                "/done" => ("text/plain", String::new()),
                "/chat_protocol.js" => ("text/javascript", module.to_owned()),
                _ => ("text/html; charset=utf-8", page),
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(response.as_bytes()).await;
        });
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve = std::env::args().any(|a| a == "--serve");
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

    // The browsers' door: WebSocket on /chat, from pages this example serves only.
    let (ws_port, page_port) = if serve { (8081, 8080) } else { (0, 0) };
    let page_listener = rt.block_on(TcpListener::bind(("127.0.0.1", page_port)))?;
    let page_addr = page_listener.local_addr()?;
    let browsers = rt.block_on(
        Incoming::<ChatClient>::builder(("127.0.0.1", ws_port))
            .name("browsers")
            .websocket(
                WebSocket::new()
                    .path("/chat")
                    .allow_origin(format!("http://{page_addr}"))
                    .allow_origin(format!("http://localhost:{}", page_addr.port())),
            )
            .listen(&tx),
    )?;
    rt.handle()
        .spawn(serve_page(page_listener, browsers.local_addr().port()));
    println!("server: browsers on ws://{}/chat", browsers.local_addr());

    // openTCPClientConnection(host, port, timeout_ms), one per client.
    // The last client comes in through the browsers' door, as a page would.
    let clients: Vec<Outgoing<ChatServer>> = NAMES
        .iter()
        .map(|&name| {
            let over_ws = name == NAMES[NAMES.len() - 1];
            let addr = if over_ws {
                browsers.local_addr()
            } else {
                server.local_addr()
            };
            let mut builder = OutgoingBuilder::new(addr, move |_| ChatServer { name })
                .framing(Panda3dCodec::new())
                .connect_timeout(Duration::from_millis(3000))
                .retry(Retry::never());
            if over_ws {
                // The framing gives way to WebSocket's: one message per WebSocket message.
                builder = builder.websocket(WebSocket::new().path("/chat"));
            }
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
                    // One encoding for every client of each door (ConnectionWriter.send in
                    // a loop).
                    let slow =
                        server.broadcast(&say)?.slow.len() + browsers.broadcast(&say)?.slow.len();
                    // A client too slow to take it is skipped (and, under the default
                    // policy, cut): the others are not held up.
                    if slow > 0 {
                        println!("server: {slow} slow clients skipped");
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
                Frame::Server(Event::Disconnected(c, d)) => println!("server: {c} left: {d}"),
                _ => {}
            }
        }
        // ... the rest of the frame: simulation, rendering ...
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("everyone heard everyone after {frame} frames");

    // closeConnection on each.
    for c in &clients {
        rt.block_on(c.shutdown());
    }
    if serve {
        println!("serving: open http://{page_addr}/ in a browser (two tabs chat); Ctrl-C ends");
        while let Some(event) = central.blocking_recv() {
            match event {
                Frame::Server(Event::Connected(c)) => println!("server: {c} joined"),
                Frame::Server(Event::Message(_, say)) => {
                    println!("server: {} says {:?}", say.from, say.text);
                    let _ = server.broadcast(&say)?;
                    let _ = browsers.broadcast(&say)?;
                }
                Frame::Server(Event::Disconnected(c, d)) => println!("server: {c} left: {d}"),
                _ => {}
            }
        }
    }
    // Then on the rendezvous sockets.
    rt.block_on(browsers.shutdown());
    rt.block_on(server.shutdown());
    Ok(())
}
