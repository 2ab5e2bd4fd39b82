//! WebSocket under the handlers: connhandler on both sides (ws:// and wss://), and the
//! Python `websockets` package (PyPI) as client and server: fragments, pings, close frames
//! with codes and reasons both ways, and the refusals (origin, path, text, size).

#[path = "common/certs.rs"]
mod certs;
mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    python::{free_port, websockets_python, Peer as PyPeer},
    within, Raw,
};
use connhandler::{
    central,
    tls::{TlsClient, TlsServer},
    ws::WebSocket,
    Central, Event, Incoming, IncomingBuilder, Outgoing, Retry,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Ev = Event<Raw>;

/// An echo server; the central loop kicks a peer that sends `kick`, with a reason, and
/// reports every other event.
async fn echo(
    configure: impl FnOnce(IncomingBuilder<Raw>) -> IncomingBuilder<Raw>,
) -> (Incoming<Raw>, Central<String>) {
    let (tx, mut events) = central::<Ev>(256);
    let server = configure(Incoming::<Raw>::builder("127.0.0.1:0"))
        .handshake_timeout(Duration::from_secs(2))
        .listen(&tx)
        .await
        .unwrap();
    drop(tx);
    let (report, seen) = central::<String>(256);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let line = match event {
                Event::Message(peer, msg) if &msg[..] == b"kick" => {
                    peer.disconnect_with("kicked by the admin");
                    continue;
                }
                Event::Message(peer, msg) => {
                    let _ = peer.send(msg);
                    continue;
                }
                Event::Connected(peer) => {
                    let ws = peer
                        .transport()
                        .websocket()
                        .expect("a WebSocket connection");
                    format!("connected {} {:?}", ws.path(), ws.subprotocol())
                }
                Event::Disconnected(_, d) => format!("disconnected: {}", d.reason),
                Event::ConnectFailed(e) => format!("connect failed: {e}"),
            };
            let _ = report.post(line).await;
        }
    });
    (server, seen)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

async fn line(seen: &mut Central<String>) -> String {
    within("a report", seen.recv()).await.unwrap()
}

/// A client's round trips; `others`: connections of other clients that may still be open
/// meanwhile (a flood being cut), counted by the server beside this one.
async fn rust_client_round_trips(
    server: &Incoming<Raw>,
    builder: connhandler::OutgoingBuilder<Raw>,
    others: usize,
) {
    let (tx, mut events) = central::<Ev>(64);
    let (out, peer) = builder.retry(Retry::never()).connect(&tx).await.unwrap();
    assert!(matches!(
        within("connected", events.recv()).await,
        Some(Event::Connected(_))
    ));
    let sizes = [1usize, 125, 126, 65535, 65536 - 1000, 3];
    for &n in &sizes {
        peer.send(Bytes::from(pattern(n))).unwrap();
    }
    for &n in &sizes {
        match within("an echo", events.recv()).await {
            Some(Event::Message(_, got)) => assert_eq!(got, pattern(n), "size {n}"),
            other => panic!("{other:?}"),
        }
    }
    let connected = server.stats().connected;
    assert!(
        (1..=1 + others).contains(&connected),
        "{connected} connections counted, {others} others"
    );
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connhandler_on_both_sides_over_ws_and_wss() {
    let (server, mut seen) = echo(|b| b.websocket(WebSocket::new().path("/game"))).await;
    let url = format!("ws://{}/game", server.local_addr());
    rust_client_round_trips(&server, Outgoing::<Raw>::websocket_url(&url).unwrap(), 0).await;
    assert_eq!(line(&mut seen).await, "connected /game None");
    // Our shutdown sends a close frame (1001); the server reports the peer's close.
    assert_eq!(
        line(&mut seen).await,
        "disconnected: closed by the peer (code 1001: handler shut down)"
    );

    let pki = certs::pki("wss");
    let (cert, key) = pki.server();
    let tls = TlsServer::from_pem_files(&cert, &key).unwrap();
    let (server, mut seen) = echo(|b| {
        b.tls(tls)
            .websocket(WebSocket::new().subprotocol("game.v1"))
    })
    .await;
    let builder =
        Outgoing::<Raw>::websocket_url(&format!("wss://localhost:{}/", server.local_addr().port()))
            .unwrap()
            .websocket(WebSocket::new().subprotocol("game.v1"))
            .tls(TlsClient::with_ca_file(pki.ca()).unwrap());
    rust_client_round_trips(&server, builder, 0).await;
    assert_eq!(line(&mut seen).await, "connected / Some(\"game.v1\")");
}

/// Runs the Python client with `args`; its output lines.
async fn py_client(args: Vec<String>, lines: usize) -> Vec<String> {
    tokio::task::spawn_blocking(move || {
        let mut peer = PyPeer::spawn(&websockets_python(), "ws_peer.py", &args);
        let out: Vec<String> = (0..lines).map(|_| peer.line()).collect();
        peer.success();
        out
    })
    .await
    .unwrap()
}

fn args(url: &str, rest: &[&str]) -> Vec<String> {
    let mut a = vec!["client".to_owned(), url.to_owned()];
    a.extend(rest.iter().map(|s| s.to_string()));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_round_trips_fragments_pings_and_closes() {
    let (server, mut seen) = echo(|b| b.websocket(WebSocket::new().path("/chat"))).await;
    let url = format!("ws://{}/chat?room=3", server.local_addr());
    let out = py_client(
        args(
            &url,
            &[
                "echo:10",
                "echo:65535",
                "frag:5500",
                "ping",
                "echo:1",
                "close",
            ],
        ),
        6,
    )
    .await;
    assert_eq!(
        out,
        ["ok 10", "ok 65535", "ok 5500", "pong", "ok 1", "closed"]
    );
    assert_eq!(line(&mut seen).await, "connected /chat?room=3 None");
    assert_eq!(
        line(&mut seen).await,
        "disconnected: closed by the peer (code 1000: bye)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_server_refuses_the_python_client_is_told() {
    let ws = WebSocket::new()
        .path("/game")
        .allow_origin("https://play.example.com")
        .max_message_size(1000);
    let (server, mut seen) = echo(|b| b.websocket(ws)).await;
    let url = format!("ws://{}/game", server.local_addr());
    // A page on another site.
    let out = py_client(
        args(&url, &["--origin", "https://evil.example", "echo:1"]),
        1,
    )
    .await;
    assert_eq!(out, ["refused 403"]);
    // Another path.
    let other = format!("ws://{}/admin", server.local_addr());
    assert_eq!(
        py_client(args(&other, &["echo:1"]), 1).await,
        ["refused 404"]
    );
    assert_eq!(server.stats().failed_handshakes, 2);
    // Our own site; then a text message: refused with 1003, and the program is told.
    let out = py_client(
        args(
            &url,
            &["--origin", "https://play.example.com", "echo:5", "text"],
        ),
        2,
    )
    .await;
    assert_eq!(out[0], "ok 5");
    assert!(
        out[1].starts_with("closed 1003 ") && out[1].contains("text message"),
        "{}",
        out[1]
    );
    assert_eq!(line(&mut seen).await, "connected /game None");
    assert!(line(&mut seen).await.contains("text message"));
    // A message above max_message_size: refused on its header with 1009.
    let out = py_client(args(&url, &["echo:1001"]), 1).await;
    assert!(out[0].starts_with("closed 1009 "), "{}", out[0]);
    assert_eq!(line(&mut seen).await, "connected /game None");
    assert_eq!(
        line(&mut seen).await,
        "disconnected: framing error: message of 1001 bytes exceeds the limit of 1000 bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_client_reads_the_reason_in_the_close_frame() {
    let (server, mut seen) = echo(|b| b.websocket(WebSocket::new())).await;
    // A client that sends `kick` (which the central loop answers with a kick) and reads
    // the close frame.
    let out = tokio::task::spawn_blocking({
        let url = format!("ws://{}/", server.local_addr());
        move || {
            let script = r#"
import sys
from websockets.sync.client import connect
from websockets.exceptions import ConnectionClosed
ws = connect(sys.argv[1])
ws.send(b"kick")
try:
    while True:
        ws.recv(timeout=10)
except ConnectionClosed:
    c = ws.protocol.close_rcvd
    print("closed %d %s" % (c.code, c.reason), flush=True)
"#;
            let out = std::process::Command::new(websockets_python())
                .args(["-c", script, &url])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(out.trim(), "closed 1000 kicked by the admin");
    assert_eq!(line(&mut seen).await, "connected / None");
    assert_eq!(
        line(&mut seen).await,
        "disconnected: closed locally: kicked by the admin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connhandler_connects_to_a_python_websockets_server_over_tls() {
    let pki = certs::pki("ws-python-server");
    let (cert, key) = pki.server();
    let port = free_port();
    let args = vec![
        "server".to_owned(),
        port.to_string(),
        "--cert".into(),
        cert.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ];
    let mut py = tokio::task::spawn_blocking(move || {
        let mut peer = PyPeer::spawn(&websockets_python(), "ws_peer.py", &args);
        assert_eq!(peer.line(), format!("listening on {port}"));
        peer
    })
    .await
    .unwrap();
    let (tx, mut events) = central::<Ev>(64);
    let builder = Outgoing::<Raw>::websocket_url(&format!("wss://localhost:{port}/"))
        .unwrap()
        .tls(TlsClient::with_ca_file(pki.ca()).unwrap())
        .retry(Retry::never());
    let (out, peer) = builder.connect(&tx).await.unwrap();
    for n in [1usize, 200, 65535, 20] {
        peer.send(Bytes::from(pattern(n))).unwrap();
        loop {
            match within("an echo", events.recv()).await {
                Some(Event::Message(_, got)) => {
                    assert_eq!(got, pattern(n));
                    break;
                }
                Some(Event::Connected(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    peer.disconnect_with("done here");
    loop {
        if let Some(Event::Disconnected(_, d)) = within("the close", events.recv()).await {
            assert_eq!(d.reason.to_string(), "closed locally: done here");
            break;
        }
    }
    out.shutdown().await;
    tokio::task::spawn_blocking(move || {
        assert_eq!(py.line(), "closed 1000 done here");
        py.success();
    })
    .await
    .unwrap();
}

/// Requests that are not WebSocket upgrades, and one that never ends: answered or cut at
/// the door, never an event; a good client is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_an_upgrade_is_answered_at_the_door() {
    let (server, mut seen) = echo(|b| b.websocket(WebSocket::new())).await;
    let addr = server.local_addr();
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    within("the answer", plain.read_to_string(&mut answer))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
    // A head that never ends, byte by byte: cut at 8 KiB.
    let mut long = tokio::net::TcpStream::connect(addr).await.unwrap();
    let junk = vec![b'a'; 9000];
    let _ = long.write_all(b"GET / HTTP/1.1\r\nX: ").await;
    let _ = long.write_all(&junk).await;
    let mut sink = Vec::new();
    let _ = within("cut", long.read_to_end(&mut sink)).await;
    // Silent: cut at handshake_timeout.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = within("cut", silent.read_to_end(&mut sink)).await;
    let url = format!("ws://{addr}/");
    rust_client_round_trips(&server, Outgoing::<Raw>::websocket_url(&url).unwrap(), 0).await;
    assert_eq!(line(&mut seen).await, "connected / None");
    assert_eq!(server.stats().failed_handshakes, 3);
}

/// A WebSocket client written by hand, to send what no library would: upgraded, then raw
/// frames (masked, as a client's must be).
async fn raw_ws(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within("the 101", s.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

/// A client frame: `opcode`, final or not, masked with a fixed key.
fn raw_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![
        opcode | if fin { 0x80 } else { 0 },
        0x80 | payload.len() as u8,
    ];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Reads what the server sends until it closes; the close frame's code.
async fn close_code(s: &mut tokio::net::TcpStream) -> Option<u16> {
    let mut all = Vec::new();
    let _ = within("the close", s.read_to_end(&mut all)).await;
    // Server frames are unmasked: find the close frame (opcode 8) among the last frames.
    let mut at = 0;
    while at + 2 <= all.len() {
        let (op, len) = (all[at] & 0x0f, usize::from(all[at + 1] & 0x7f));
        let (head, len) = match len {
            126 => (
                4,
                usize::from(u16::from_be_bytes([all[at + 2], all[at + 3]])),
            ),
            127 => return None,
            n => (2, n),
        };
        if op == 8 && len >= 2 {
            return Some(u16::from_be_bytes([all[at + head], all[at + head + 1]]));
        }
        at += head + len;
    }
    None
}

/// One-byte fragments: the message is refused past `max_fragments` (code 1008), and a good
/// client is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_fragments_are_refused_and_a_good_client_is_served() {
    let (server, mut seen) = echo(|b| b.websocket(WebSocket::new())).await;
    let addr = server.local_addr();
    let mut bad = raw_ws(addr).await;
    let flood = tokio::spawn(async move {
        let mut wire = raw_frame(0x2, false, &[0]);
        for i in 1..5000u32 {
            wire.extend_from_slice(&raw_frame(0x0, false, &[i as u8]));
        }
        let _ = bad.write_all(&wire).await;
        close_code(&mut bad).await
    });
    let url = format!("ws://{addr}/");
    rust_client_round_trips(&server, Outgoing::<Raw>::websocket_url(&url).unwrap(), 1).await;
    assert_eq!(within("the flood", flood).await.unwrap(), Some(1008));
    let mut lines = Vec::new();
    for _ in 0..4 {
        lines.push(line(&mut seen).await);
    }
    assert!(
        lines.contains(
            &"disconnected: framing error: a WebSocket message of more than 1024 fragments"
                .to_owned()
        ),
        "{lines:?}"
    );
}

/// A connection that only pings is cut by the control-frame rate limit (code 1008); a good
/// client is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_only_connection_is_cut() {
    let (server, mut seen) = echo(|b| b.websocket(WebSocket::new())).await;
    let addr = server.local_addr();
    let mut bad = raw_ws(addr).await;
    let flood = tokio::spawn(async move {
        let ping = raw_frame(0x9, true, b"are you there");
        let wire: Vec<u8> = std::iter::repeat_n(ping, 1000).flatten().collect();
        let (mut rd, mut wr) = bad.split();
        let write = async { while wr.write_all(&wire).await.is_ok() {} };
        let mut sink = Vec::new();
        tokio::select! {
            _ = write => {}
            _ = within("the close", rd.read_to_end(&mut sink)) => {}
        }
    });
    let url = format!("ws://{addr}/");
    rust_client_round_trips(&server, Outgoing::<Raw>::websocket_url(&url).unwrap(), 1).await;
    within("the ping flood ends", flood).await.unwrap();
    let mut lines = Vec::new();
    for _ in 0..4 {
        lines.push(line(&mut seen).await);
    }
    assert!(
        lines.contains(&"disconnected: rate limited: too many control frames".to_owned()),
        "{lines:?}"
    );
}
