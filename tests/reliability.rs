//! Reliability and abuse: bad input closes only the connection that sent it, with the
//! reason the program sees; limits and policies; faults.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{within, RawClient};
use connhandler::{
    central, Central, CentralSender, DecodeErrorKind, DisconnectReason, Event, Incoming, Limited,
    Message, Outgoing, Peer, PeerHandle, QueuePolicy, RateLimit, Retry, SendError, Timeout,
};
use tokio::io::AsyncWriteExt;

/// A small binary protocol.
#[derive(Message, Debug, PartialEq)]
enum Game {
    #[wire(id = 1)]
    Move { x: i32, y: i32 },
    #[wire(id = 2)]
    Say { text: String, loud: bool },
}

/// And a JSON one.
#[derive(Message, Debug, PartialEq)]
#[wire(json)]
enum Admin {
    #[wire(id = 0x0101)]
    Kick { name: String },
}

#[derive(Default)]
struct Player;
impl Peer for Player {
    type Recv = Game;
    type Send = Bytes;
    const NAME: &'static str = "player";
}

#[derive(Default)]
struct Operator;
impl Peer for Operator {
    type Recv = Admin;
    type Send = Bytes;
    const NAME: &'static str = "operator";
}

enum Ev {
    Player(Event<Player>),
    Operator(Event<Operator>),
}
impl From<Event<Player>> for Ev {
    fn from(e: Event<Player>) -> Self {
        Ev::Player(e)
    }
}
impl From<Event<Operator>> for Ev {
    fn from(e: Event<Operator>) -> Self {
        Ev::Operator(e)
    }
}

async fn next_player(central: &mut Central<Ev>) -> Event<Player> {
    loop {
        match within("event", central.recv()).await.expect("queue closed") {
            Ev::Player(e) => return e,
            Ev::Operator(_) => {}
        }
    }
}

/// Sends `wire` on a fresh connection; returns the reason its connection ended with.
async fn reason_for(
    server: &Incoming<Player>,
    central: &mut Central<Ev>,
    wire: &[u8],
) -> DisconnectReason {
    let mut bad = RawClient::connect(server.local_addr()).await;
    let peer = match next_player(central).await {
        Event::Connected(p) => p,
        _ => panic!("expected Connected"),
    };
    bad.send_raw(wire).await;
    loop {
        match next_player(central).await {
            Event::Disconnected(p, d) if p == peer => return d.reason,
            Event::Message(p, _) if p == peer => {}
            other => panic!("unexpected {}", matches!(other, Event::Message(..))),
        }
    }
}

/// TcpMessage-frames `body` (one chunk, explicit length).
fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_le_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn decode_kind(reason: &DisconnectReason) -> &DecodeErrorKind {
    match reason {
        DisconnectReason::Decode(e) => e.kind(),
        other => panic!("expected a decode error, got {other}"),
    }
}

/// One connection per kind of bad input; each ends with its own reason, while a good peer
/// and the listener carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_one_case_each() {
    let (tx, mut central) = central::<Ev>(256);
    let server = Incoming::<Player>::builder("127.0.0.1:0")
        .frame_timeout(Duration::from_millis(300))
        .listen(&tx)
        .await
        .unwrap();
    let mut good = RawClient::connect(server.local_addr()).await;
    let good_peer = match next_player(&mut central).await {
        Event::Connected(p) => p,
        _ => unreachable!(),
    };

    let r = reason_for(&server, &mut central, &frame(&[9, 0])).await;
    assert_eq!(decode_kind(&r), &DecodeErrorKind::UnknownId(9));

    let r = reason_for(&server, &mut central, &frame(&[1, 0, 1, 2])).await;
    let e = match &r {
        DisconnectReason::Decode(e) => e,
        other => panic!("{other}"),
    };
    assert!(e.is_incomplete(), "truncated field: {e}");
    assert_eq!((e.message_id(), e.field()), (Some(1), Some("x")));

    let r = reason_for(&server, &mut central, &frame(&[2, 0, 200, 0, b'h', b'i'])).await;
    assert!(matches!(
        decode_kind(&r),
        DecodeErrorKind::LengthTooLarge {
            claimed: 200,
            available: 2
        }
    ));

    let r = reason_for(&server, &mut central, &frame(&[2, 0, 1, 0, 0xc3, 0])).await;
    assert_eq!(decode_kind(&r), &DecodeErrorKind::InvalidUtf8);

    let r = reason_for(&server, &mut central, &frame(&[2, 0, 1, 0, b'a', 7])).await;
    assert_eq!(decode_kind(&r), &DecodeErrorKind::InvalidBool(7));

    let r = reason_for(&server, &mut central, &frame(&[2, 0, 1, 0, b'a', 1, 0xee])).await;
    assert_eq!(decode_kind(&r), &DecodeErrorKind::TrailingBytes(1));

    // Half a frame, then nothing: the frame time-out.
    let r = reason_for(&server, &mut central, &[10, 0, 1, 0]).await;
    assert!(
        matches!(r, DisconnectReason::TimedOut(Timeout::Frame(_))),
        "{r}"
    );

    // Random garbage: whatever it is read as, it ends in an error, never a panic.
    let garbage: Vec<u8> = (0..4000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let r = reason_for(&server, &mut central, &garbage).await;
    assert!(r.is_error(), "{r}");

    // The good peer and the listener are unaffected.
    good.send(&[1, 0, 5, 0, 0, 0, 6, 0, 0, 0]).await;
    match next_player(&mut central).await {
        Event::Message(p, m) => {
            assert_eq!(p, good_peer);
            assert_eq!(m, Game::Move { x: 5, y: 6 });
        }
        _ => panic!("the good peer's message"),
    }
    assert!(server.is_listening());
    assert_eq!(server.stats().connected, 1);
}

#[tokio::test]
async fn invalid_json_in_json_mode() {
    let (tx, mut central) = central::<Ev>(64);
    let server = Incoming::<Operator>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr()).await;
    client.send(b"\x01\x01{\"name\": 5}").await;
    loop {
        match within("event", central.recv()).await.unwrap() {
            Ev::Operator(Event::Disconnected(_, d)) => {
                match d.reason {
                    DisconnectReason::Decode(e) => {
                        assert!(matches!(e.kind(), DecodeErrorKind::Json(_)), "{e}");
                        assert_eq!(e.message_id(), Some(0x0101));
                    }
                    other => panic!("{other}"),
                }
                break;
            }
            Ev::Operator(Event::Message(..)) => panic!("invalid JSON was delivered"),
            _ => {}
        }
    }
}

async fn raw_server(
    configure: impl FnOnce(
        connhandler::IncomingBuilder<common::Raw>,
    ) -> connhandler::IncomingBuilder<common::Raw>,
) -> (
    Incoming<common::Raw>,
    Central<Event<common::Raw>>,
    CentralSender<Event<common::Raw>>,
) {
    let (tx, central) = central::<Event<common::Raw>>(1024);
    let server = configure(Incoming::<common::Raw>::builder("127.0.0.1:0"))
        .listen(&tx)
        .await
        .unwrap();
    (server, central, tx)
}

async fn connected(central: &mut Central<Event<common::Raw>>) -> PeerHandle<common::Raw> {
    loop {
        if let Event::Connected(p) = within("connected", central.recv()).await.unwrap() {
            return p;
        }
    }
}

async fn disconnected(
    central: &mut Central<Event<common::Raw>>,
    peer: &PeerHandle<common::Raw>,
) -> connhandler::Disconnect {
    loop {
        if let Event::Disconnected(p, d) = within("disconnected", central.recv()).await.unwrap() {
            if &p == peer {
                return *d;
            }
        }
    }
}

/// On the in-memory network under paused time: the 200 ms of silence are the tokio
/// clock's.
#[tokio::test(start_paused = true)]
async fn idle_timeout() {
    let net = connhandler::testing::net::Network::new();
    let (tx, mut central) = central::<Event<common::Raw>>(1024);
    let _server = Incoming::<common::Raw>::builder("0.0.0.0:7000")
        .in_memory(&net.host("server"))
        .idle_timeout(Duration::from_millis(200))
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect_in_memory(&net.host("client"), "server:7000").await;
    let peer = connected(&mut central).await;
    client.send(b"still here").await;
    let d = disconnected(&mut central, &peer).await;
    assert!(
        matches!(d.reason, DisconnectReason::TimedOut(Timeout::Idle(_))),
        "{d}"
    );
    assert!(client.recv().await.is_none());
}

#[tokio::test]
async fn per_connection_message_rate_limit() {
    let (server, mut central, _tx) =
        raw_server(|b| b.rate_limit(RateLimit::messages(20, Duration::from_secs(3600)))).await;
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = connected(&mut central).await;
    for _ in 0..50 {
        client.send(b"spam").await;
    }
    let mut delivered = 0;
    loop {
        match within("events", central.recv()).await.unwrap() {
            Event::Message(..) => delivered += 1,
            Event::Disconnected(p, d) => {
                assert_eq!(p, peer);
                assert!(
                    matches!(
                        d.reason,
                        DisconnectReason::RateLimited {
                            what: Limited::Messages,
                            per_ip: false
                        }
                    ),
                    "{d}"
                );
                break;
            }
            _ => {}
        }
    }
    assert_eq!(delivered, 20, "the burst is allowed, nothing beyond it");
}

#[tokio::test]
async fn per_connection_byte_rate_limit() {
    let (server, mut central, _tx) =
        raw_server(|b| b.rate_limit(RateLimit::bytes(10_000, Duration::from_secs(3600)))).await;
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = connected(&mut central).await;
    client.send(&[7u8; 20_000]).await;
    let d = disconnected(&mut central, &peer).await;
    assert!(
        matches!(
            d.reason,
            DisconnectReason::RateLimited {
                what: Limited::Bytes,
                per_ip: false
            }
        ),
        "{d}"
    );
}

#[tokio::test]
async fn per_ip_rate_limit_is_shared_and_survives_reconnects() {
    let (server, mut central, _tx) =
        raw_server(|b| b.per_ip_rate_limit(RateLimit::messages(10, Duration::from_secs(3600))))
            .await;
    let mut a = RawClient::connect(server.local_addr()).await;
    let pa = connected(&mut central).await;
    let mut b = RawClient::connect(server.local_addr()).await;
    let pb = connected(&mut central).await;
    for _ in 0..6 {
        a.send(b"a").await;
    }
    // Wait until a's six arrived, so that b's come after them.
    let mut got = 0;
    while got < 6 {
        if let Event::Message(..) = within("a's messages", central.recv()).await.unwrap() {
            got += 1;
        }
    }
    for _ in 0..6 {
        b.send(b"b").await;
    }
    let d = disconnected(&mut central, &pb).await;
    assert!(
        matches!(
            d.reason,
            DisconnectReason::RateLimited {
                what: Limited::Messages,
                per_ip: true
            }
        ),
        "{d}"
    );
    assert!(!pa.is_closed());
    // Reconnecting from the same address does not reset the limit.
    drop(b);
    let mut c = RawClient::connect(server.local_addr()).await;
    let pc = connected(&mut central).await;
    c.send(b"c").await;
    let d = disconnected(&mut central, &pc).await;
    assert!(
        matches!(d.reason, DisconnectReason::RateLimited { per_ip: true, .. }),
        "{d}"
    );
}

/// A peer that never reads: each queue policy.
#[tokio::test]
async fn queue_policies_for_a_peer_that_never_reads() {
    let big = Bytes::from(vec![1u8; 256 * 1024]);

    // Fail: send returns Full once the queue (and the socket buffers) are full.
    let (server, mut central, _tx) =
        raw_server(|b| b.queue_capacity(4).queue_policy(QueuePolicy::Fail)).await;
    let _client = RawClient::connect(server.local_addr()).await;
    let peer = connected(&mut central).await;
    let mut full = false;
    for _ in 0..1000 {
        match peer.send(big.clone()) {
            Ok(()) => tokio::task::yield_now().await,
            Err(SendError::Full(_)) => {
                full = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(full);
    assert!(!peer.is_closed(), "Fail leaves the connection up");

    // Disconnect: the peer is disconnected with QueueFull.
    let (server, mut central, _tx) =
        raw_server(|b| b.queue_capacity(4).queue_policy(QueuePolicy::Disconnect)).await;
    let _client = RawClient::connect(server.local_addr()).await;
    let peer = connected(&mut central).await;
    let mut closed = false;
    for _ in 0..1000 {
        match peer.send(big.clone()) {
            Ok(()) => tokio::task::yield_now().await,
            Err(SendError::Closed(_)) => {
                closed = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(closed);
    let d = disconnected(&mut central, &peer).await;
    assert!(matches!(d.reason, DisconnectReason::QueueFull), "{d}");
    assert!(
        d.unsent > 0,
        "what was queued for a peer that does not read is counted"
    );

    // send_timeout (for tasks other than the central one): waits for room until its
    // deadline, then applies the policy (Fail here: the message comes back).
    let (server, mut central, _tx) =
        raw_server(|b| b.queue_capacity(4).queue_policy(QueuePolicy::Fail)).await;
    let _client = RawClient::connect(server.local_addr()).await;
    let peer = connected(&mut central).await;
    let mut timed_out = false;
    for _ in 0..1000 {
        if peer.try_send(big.clone()).is_err() {
            timed_out = matches!(
                peer.send_timeout(big.clone(), Duration::from_millis(200))
                    .await,
                Err(SendError::Full(_))
            );
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        timed_out,
        "send_timeout hands the message back once its time is up"
    );
    assert!(!peer.is_closed());
}

/// A peer that resets the connection in the middle of a message: on the in-memory network,
/// where the reset comes after the half message, always (over TCP the kernel may report it
/// as a reset or as an end of stream, and the test had to wait for the bytes to cross).
#[tokio::test(start_paused = true)]
async fn reset_mid_message() {
    let net = connhandler::testing::net::Network::new();
    let (tx, mut central) = central::<Event<common::Raw>>(1024);
    let _server = Incoming::<common::Raw>::builder("0.0.0.0:7000")
        .in_memory(&net.host("server"))
        .listen(&tx)
        .await
        .unwrap();
    let mut client = net.host("client").connect("server:7000").await.unwrap();
    let peer = connected(&mut central).await;
    // The header of a 100-byte message and 3 bytes of it, then the reset behind them.
    client.write_all(&[100, 0, 1, 2, 3]).await.unwrap();
    net.connections("client", "server")[0].reset_after("client", 0);
    let d = disconnected(&mut central, &peer).await;
    match &d.reason {
        DisconnectReason::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        other => panic!("{other}"),
    }
}

/// Half-close: the peer stops sending but still reads; what was queued for it before its
/// end of stream is delivered, and the connection ends as closed by the peer.
#[tokio::test]
async fn half_close() {
    let (server, mut central, _tx) = raw_server(|b| b).await;
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = connected(&mut central).await;
    for i in 0..100u32 {
        peer.try_send(Bytes::from(i.to_le_bytes().to_vec()))
            .unwrap();
    }
    client.send(b"last words").await;
    client.stream.shutdown().await.unwrap();
    for i in 0..100u32 {
        assert_eq!(client.recv().await.as_deref(), Some(&i.to_le_bytes()[..]));
    }
    assert!(client.recv().await.is_none());
    let mut got_message = false;
    loop {
        match within("events", central.recv()).await.unwrap() {
            Event::Message(_, m) => got_message = &m[..] == b"last words",
            Event::Disconnected(_, d) => {
                assert!(matches!(d.reason, DisconnectReason::ClosedByPeer), "{d}");
                assert_eq!(d.unsent, 0);
                break;
            }
            _ => {}
        }
    }
    assert!(got_message);
}

/// Shutdown with messages in flight: every message the program was told was queued is
/// either received or counted as unsent; none is lost silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_messages_in_flight() {
    const CLIENTS: usize = 8;
    const MESSAGES: u32 = 2000;
    let (server, mut central, _tx) = raw_server(|b| b.queue_capacity(MESSAGES as usize)).await;
    let mut readers = Vec::new();
    for _ in 0..CLIENTS {
        let mut client = RawClient::connect(server.local_addr()).await;
        readers.push(tokio::spawn(async move {
            let mut next = 0u32;
            while let Some(m) = client.recv().await {
                assert_eq!(&m[..4], &next.to_le_bytes(), "out of order");
                next += 1;
            }
            next
        }));
    }
    let mut peers = Vec::new();
    for _ in 0..CLIENTS {
        peers.push(connected(&mut central).await);
    }
    for p in &peers {
        for i in 0..MESSAGES {
            p.try_send(Bytes::from(i.to_le_bytes().repeat(64))).unwrap();
        }
    }
    server.shutdown().await;
    let mut unsent = std::collections::HashMap::new();
    while let Ok(event) = central.try_recv() {
        if let Event::Disconnected(p, d) = event {
            assert!(matches!(d.reason, DisconnectReason::Shutdown), "{d}");
            unsent.insert(p, d.unsent as u32);
        }
    }
    assert_eq!(unsent.len(), CLIENTS);
    let mut total_received = 0;
    for (peer, reader) in peers.iter().zip(readers) {
        let received = reader.await.unwrap();
        assert_eq!(
            received + unsent[peer],
            MESSAGES,
            "lost messages for {peer}"
        );
        total_received += received;
    }
    assert_eq!(
        total_received,
        CLIENTS as u32 * MESSAGES,
        "readers keep up, so all arrive"
    );
}

/// An outgoing handler whose server restarts reconnects to it.
#[tokio::test]
async fn outgoing_reconnects_when_the_server_restarts() {
    let (tx, mut central) = central::<Event<common::Raw>>(64);
    let server = Incoming::<common::Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let addr = server.local_addr();
    let out = Outgoing::<common::Raw>::builder(addr)
        .retry(Retry::fixed(Duration::from_millis(20)))
        .reconnect(true)
        .start(&tx);
    // Both ends connect.
    connected(&mut central).await;
    connected(&mut central).await;
    let first = out.peer().unwrap();
    server.shutdown().await;
    drop(server);
    disconnected(&mut central, &first).await;
    // The server comes back on the same address.
    let server = Incoming::<common::Raw>::builder(addr)
        .listen(&tx)
        .await
        .unwrap();
    let mut ends = Vec::new();
    while ends.len() < 2 {
        ends.push(connected(&mut central).await);
    }
    let again = out.peer().unwrap();
    assert_ne!(again, first);
    again.send(Bytes::from_static(b"back")).unwrap();
    loop {
        if let Event::Message(p, m) = within("message", central.recv()).await.unwrap() {
            assert_eq!(&m[..], b"back");
            assert!(server.peers().contains(&p));
            break;
        }
    }
}
