//! Incoming handlers over loopback: events, ordering, bad input, caps, closing, shutdown,
//! broadcasts and groups, taps, peer data, framings, the central queue. Outgoing handlers
//! are in `outgoing.rs`, the send path in `sending.rs`.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use common::{
    events::{expect_connected, expect_disconnected, expect_message, next_event as next},
    raw_server as server, within, Raw, RawClient,
};
use connhandler::{
    central,
    codec::{Custom, FrameError, Panda3dCodec, TcpMessageCodec},
    tap::{Direction, Tap},
    DecodeErrorKind, DisconnectReason, Event, Incoming, Outgoing, Peer, PeerHandle,
};
use tokio::io::AsyncWriteExt;

type Ev = Event<Raw>;

#[tokio::test]
async fn port_zero_reports_the_bound_address_and_echo_works() {
    let (server, mut central, _tx) = server().await;
    assert_ne!(server.local_addr().port(), 0);
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = expect_connected(&mut central).await;
    assert_eq!(peer.addr(), client.stream.local_addr().unwrap());
    client.send(b"hello").await;
    let (from, msg) = expect_message(&mut central).await;
    assert_eq!(from, peer);
    assert_eq!(&msg[..], b"hello");
    from.send(msg).unwrap();
    assert_eq!(client.recv().await.as_deref(), Some(&b"hello"[..]));
    drop(client);
    let (gone, d) = expect_disconnected(&mut central).await;
    assert_eq!(gone, peer);
    assert!(matches!(d.reason, DisconnectReason::ClosedByPeer), "{d}");
    assert_eq!(d.unsent, 0);
}

/// Per connection: Connected first, messages in order, Disconnected exactly once and last,
/// with many connections at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_invariants_under_concurrency() {
    let (server, mut central, _tx) = server().await;
    let addr = server.local_addr();
    const CLIENTS: usize = 40;
    const MESSAGES: u32 = 200;
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        clients.push(tokio::spawn(async move {
            let mut client = RawClient::connect(addr).await;
            for i in 0..MESSAGES {
                client.send(&i.to_le_bytes()).await;
            }
            if c % 2 == 0 {
                // Half of them also close abruptly without waiting.
                drop(client);
            } else {
                client.stream.shutdown().await.unwrap();
                assert!(client.recv().await.is_none());
            }
        }));
    }
    #[derive(Default)]
    struct Seen {
        connected: bool,
        next: u32,
        disconnected: bool,
    }
    let mut seen: HashMap<PeerHandle<Raw>, Seen> = HashMap::new();
    let mut done = 0;
    while done < CLIENTS {
        match next(&mut central).await {
            Event::Connected(p) => {
                let s = seen.entry(p).or_default();
                assert!(!s.connected, "Connected twice");
                s.connected = true;
            }
            Event::Message(p, m) => {
                let s = seen.get_mut(&p).expect("message before Connected");
                assert!(!s.disconnected, "message after Disconnected");
                let i = u32::from_le_bytes(m[..].try_into().unwrap());
                assert_eq!(i, s.next, "messages out of order");
                s.next += 1;
            }
            Event::Disconnected(p, d) => {
                let s = seen.get_mut(&p).expect("Disconnected before Connected");
                assert!(!s.disconnected, "Disconnected twice");
                assert_eq!(s.next, MESSAGES, "Disconnected before the last message");
                assert!(
                    matches!(
                        d.reason,
                        DisconnectReason::ClosedByPeer | DisconnectReason::Io(_)
                    ),
                    "{d}"
                );
                s.disconnected = true;
                done += 1;
            }
            _ => unreachable!(),
        }
    }
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(seen.len(), CLIENTS);
    // Nothing more arrives for these connections.
    server.shutdown().await;
    assert_eq!(
        central.try_recv().err(),
        Some(connhandler::TryRecvError::Empty)
    );
}

/// Bad input closes that one connection with a reason; the listener and other peers carry
/// on.
#[tokio::test]
async fn bad_input_closes_only_that_connection() {
    let (tx, mut central) = central::<Ev>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .framing(
            TcpMessageCodec::builder()
                .max_message_size(100)
                .max_frame_length(250)
                .new_codec()
                .unwrap(),
        )
        .listen(&tx)
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut good = RawClient::connect_with(addr, TcpMessageCodec::new()).await;
    let good_peer = match within("connected", central.recv()).await.unwrap() {
        Event::Connected(p) => p,
        _ => unreachable!(),
    };

    type Case = (&'static str, Vec<u8>, fn(&DisconnectReason) -> bool);
    let cases: Vec<Case> = vec![
        ("chunk above max", vec![101, 0], |r| {
            matches!(
                r,
                DisconnectReason::Framing(FrameError::ChunkTooLong { len: 101, max: 100 })
            )
        }),
        (
            "message above bound",
            [
                vec![0, 0],
                vec![1; 100],
                vec![0, 0],
                vec![1; 100],
                vec![0, 0],
            ]
            .concat(),
            |r| {
                matches!(
                    r,
                    DisconnectReason::Framing(FrameError::MessageTooLong { len: 300, max: 250 })
                )
            },
        ),
        ("ends mid-chunk", vec![10, 0, 1, 2, 3], |r| {
            matches!(r, DisconnectReason::Framing(FrameError::Truncated { .. }))
        }),
        (
            "ends mid-message",
            [vec![0, 0], vec![1; 100]].concat(),
            |r| {
                matches!(
                    r,
                    DisconnectReason::Framing(FrameError::Truncated { buffered: 100 })
                )
            },
        ),
    ];
    for (what, wire, check) in cases {
        let mut bad = RawClient::connect(addr).await;
        let peer = match next(&mut central).await {
            Event::Connected(p) => p,
            other => panic!("{what}: {other:?}"),
        };
        bad.send_raw(&wire).await;
        bad.stream.shutdown().await.unwrap();
        let (gone, d) = match next(&mut central).await {
            Event::Disconnected(p, d) => (p, d),
            other => panic!("{what}: expected Disconnected, got {other:?}"),
        };
        assert_eq!(gone, peer, "{what}");
        assert!(check(&d.reason), "{what}: got {}", d.reason);
        assert!(d.reason.is_error(), "{what}");
    }
    // The good peer and the listener are unaffected.
    good.send(b"ok").await;
    let (p, m) = match next(&mut central).await {
        Event::Message(p, m) => (p, m),
        other => panic!("{other:?}"),
    };
    assert_eq!((p, &m[..]), (good_peer, &b"ok"[..]));
    assert!(server.is_listening());
    let _late = RawClient::connect(addr).await;
    assert!(matches!(next(&mut central).await, Event::Connected(_)));
}

#[derive(Default, Debug)]
struct Text;

impl Peer for Text {
    type Recv = String;
    type Send = String;
    const NAME: &'static str = "text";
}

#[tokio::test]
async fn decode_error_is_the_reason() {
    let (tx, mut central) = central::<Event<Text>>(64);
    let server = Incoming::<Text>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr()).await;
    client.send(b"fine").await;
    client.send(&[0xff, 0xfe]).await;
    client.send(b"never delivered").await;
    assert!(matches!(
        within("c", central.recv()).await,
        Some(Event::Connected(_))
    ));
    match within("m", central.recv()).await {
        Some(Event::Message(_, m)) => assert_eq!(m, "fine"),
        other => panic!("{other:?}"),
    }
    match within("d", central.recv()).await {
        Some(Event::Disconnected(_, d)) => match d.reason {
            DisconnectReason::Decode(e) => assert_eq!(e.kind(), &DecodeErrorKind::InvalidUtf8),
            other => panic!("{other}"),
        },
        other => panic!("{other:?}"),
    }
    // The peer sees the connection close.
    assert!(client.recv().await.is_none());
}

#[tokio::test]
async fn max_connections_refuses_extra_connections_and_counts_them() {
    let (tx, mut central) = central::<Ev>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .max_connections(2)
        .max_connections_per_ip(None)
        .listen(&tx)
        .await
        .unwrap();
    let addr = server.local_addr();
    let _a = RawClient::connect(addr).await;
    let b_client = RawClient::connect(addr).await;
    expect_connected(&mut central).await;
    let b = expect_connected(&mut central).await;
    let mut c = RawClient::connect(addr).await;
    assert!(c.recv().await.is_none(), "the extra connection is closed");
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.refused, stats.connected), (2, 1, 2));
    assert_eq!(stats.refused_full, 1);
    // A slot frees when a connection ends.
    b.disconnect();
    drop(b_client);
    expect_disconnected(&mut central).await;
    let _d = RawClient::connect(addr).await;
    expect_connected(&mut central).await;
    assert_eq!(server.stats().accepted, 3);
}

#[tokio::test]
async fn address_in_use_names_the_address() {
    let (server, _central, tx) = server().await;
    let err = Incoming::<Raw>::builder(server.local_addr())
        .listen(&tx)
        .await
        .unwrap_err();
    assert!(err.is_addr_in_use(), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot listen on {}: {}",
            server.local_addr(),
            err.io_error()
        )
    );
}

#[tokio::test]
async fn close_listener_keeps_established_peers() {
    let (server, mut central, _tx) = server().await;
    let addr = server.local_addr();
    let mut client = RawClient::connect(addr).await;
    let peer = expect_connected(&mut central).await;
    server.close_listener();
    // The listener socket goes away: new connections are refused.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener still accepts");
    client.send(b"still talking").await;
    let (p, m) = expect_message(&mut central).await;
    assert_eq!((p, &m[..]), (peer.clone(), &b"still talking"[..]));
    peer.send(Bytes::from_static(b"yes")).unwrap();
    assert_eq!(client.recv().await.as_deref(), Some(&b"yes"[..]));
}

/// Shutdown closes every connection (reason Shutdown), and no task outlives the handler:
/// once the handler and the program's sender are gone, the central queue ends, which happens
/// only when every task holding a sender has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_connection_and_task() {
    let (server, mut central, tx) = server().await;
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(RawClient::connect(addr).await);
    }
    for _ in 0..10 {
        expect_connected(&mut central).await;
    }
    for p in server.peers() {
        p.try_send(Bytes::from_static(b"last words")).unwrap();
    }
    // Clients read to the end and close, as peers do; shutdown waits for that (linger).
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                assert_eq!(c.recv().await.as_deref(), Some(&b"last words"[..]));
                assert!(c.recv().await.is_none(), "socket closed");
            })
        })
        .collect();
    within("shutdown", server.shutdown()).await;
    assert!(!server.is_listening());
    for r in readers {
        r.await.unwrap();
    }
    let mut disconnected = 0;
    while let Ok(ev) = central.try_recv() {
        match ev {
            Event::Disconnected(_, d) => {
                assert!(matches!(d.reason, DisconnectReason::Shutdown), "{d}");
                assert_eq!(d.unsent, 0);
                disconnected += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(disconnected, 10);
    drop(server);
    drop(tx);
    assert!(within("queue end", central.recv()).await.is_none());
}

/// Dropping a handler shuts it down too.
#[tokio::test]
async fn dropping_the_handler_closes_its_connections() {
    let (server, mut central, tx) = server().await;
    let mut client = RawClient::connect(server.local_addr()).await;
    expect_connected(&mut central).await;
    drop(server);
    assert!(client.recv().await.is_none());
    drop(client);
    let (_, d) = expect_disconnected(&mut central).await;
    assert!(matches!(d.reason, DisconnectReason::Shutdown));
    drop(tx);
    assert!(within("queue end", central.recv()).await.is_none());
}

#[tokio::test]
async fn broadcast_reaches_every_peer() {
    let (server, mut central, _tx) = server().await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(RawClient::connect(server.local_addr()).await);
        expect_connected(&mut central).await;
    }
    let report = server.broadcast(&Bytes::from_static(b"to all")).unwrap();
    assert_eq!(report.sent, 20);
    assert!(report.slow.is_empty() && report.closing.is_empty());
    for c in &mut clients {
        assert_eq!(c.recv().await.as_deref(), Some(&b"to all"[..]));
    }
}

/// A group spans handlers with different framings (framed once per handler), members
/// leave when they disconnect, and the report tells slow peers from closing ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_spans_handlers_and_members_leave_when_they_disconnect() {
    use connhandler::{codec::Panda3dCodec, Group, QueuePolicy};
    let (tx, mut central) = central::<Ev>(1024);
    let tcp = Incoming::<Raw>::builder("127.0.0.1:0")
        .queue_policy(QueuePolicy::Fail)
        .queue_capacity(2)
        .queue_hard_cap(256 * 1024)
        .listen(&tx)
        .await
        .unwrap();
    let panda = Incoming::<Raw>::builder("127.0.0.1:0")
        .framing(Panda3dCodec::new())
        .queue_policy(QueuePolicy::Fail)
        .listen(&tx)
        .await
        .unwrap();
    let mut group = Group::new();
    let mut a = RawClient::connect(tcp.local_addr()).await;
    group.insert(expect_connected(&mut central).await);
    let mut b = RawClient::connect_with(panda.local_addr(), Panda3dCodec::new()).await;
    group.insert(expect_connected(&mut central).await);
    let leaving = RawClient::connect(tcp.local_addr()).await;
    let gone = expect_connected(&mut central).await;
    group.insert(gone.clone());
    assert_eq!(group.len(), 3);

    let report = group
        .broadcast(&Bytes::from_static(b"hello group"))
        .unwrap();
    assert_eq!(report.sent, 3);
    assert_eq!(a.recv().await.as_deref(), Some(&b"hello group"[..]));
    assert_eq!(
        b.recv().await.as_deref(),
        Some(&b"hello group"[..]),
        "Panda3D framing"
    );

    // One disconnects: it leaves by itself.
    drop(leaving);
    let (left, _) = expect_disconnected(&mut central).await;
    assert_eq!(left, gone);
    assert_eq!(group.len(), 2);
    assert!(!group.contains(&gone));

    // A member that does not read fills its queue (to its hard cap of 256 KiB, under
    // Fail): reported as slow, still a member; a closing one is reported as closing.
    let big = Bytes::from(vec![1u8; 60_000]);
    let mut slow_seen = false;
    for _ in 0..500 {
        let report = group.broadcast(&big).unwrap();
        if !report.slow.is_empty() {
            slow_seen = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(slow_seen, "a member that does not read is reported as slow");
    assert_eq!(group.len(), 2, "Fail keeps slow members");
    let member = group.iter().next().unwrap().clone();
    member.disconnect();
    let report = group.broadcast(&Bytes::from_static(b"x")).unwrap();
    assert!(
        report.closing.is_empty(),
        "closing members leave before the broadcast"
    );
    assert_eq!(group.len(), 1);
    drop((a, b));
}

#[tokio::test]
async fn tap_sees_both_directions() {
    let (tx, mut central) = central::<Ev>(64);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .name("tapped")
        .tap(Tap::new(move |f| {
            assert_eq!(f.handler, "tapped");
            log.lock().unwrap().push((f.direction, f.body.to_vec()));
        }))
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = expect_connected(&mut central).await;
    assert_eq!(peer.handler_name(), "tapped");
    client.send(b"in").await;
    expect_message(&mut central).await;
    peer.send(Bytes::from_static(b"out")).unwrap();
    server.broadcast(&Bytes::from_static(b"all")).unwrap();
    client.recv().await.unwrap();
    client.recv().await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Direction::In, b"in".to_vec()),
            (Direction::Out, b"out".to_vec()),
            (Direction::Out, b"all".to_vec())
        ]
    );
}

/// Per-connection data is built by the hook from the address and the handler's state.
#[tokio::test]
async fn make_peer_builds_per_connection_data() {
    #[derive(Debug)]
    struct Player {
        serial: u32,
        from: std::net::SocketAddr,
    }
    impl Peer for Player {
        type Recv = Bytes;
        type Send = Bytes;
        const NAME: &'static str = "player";
    }
    let (tx, mut central) = central::<Event<Player>>(64);
    let counter = std::sync::atomic::AtomicU32::new(0);
    let server = connhandler::IncomingBuilder::new("127.0.0.1:0", move |from| Player {
        serial: counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        from,
    })
    .listen(&tx)
    .await
    .unwrap();
    let a = RawClient::connect(server.local_addr()).await;
    let b = RawClient::connect(server.local_addr()).await;
    let mut serials = Vec::new();
    for client in [&a, &b] {
        match within("c", central.recv()).await.unwrap() {
            Event::Connected(p) => {
                assert_eq!(p.from, client.stream.local_addr().unwrap());
                serials.push(p.serial);
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(serials, [0, 1]);
}

/// Handlers of different peer kinds feed one central queue of the program's own type, and
/// the program posts its own events into it.
#[tokio::test]
async fn one_central_queue_for_several_kinds() {
    #[derive(Default)]
    struct Launcher;
    impl Peer for Launcher {
        type Recv = Bytes;
        type Send = Bytes;
        const NAME: &'static str = "launcher";
    }
    enum Program {
        Raw(Event<Raw>),
        Text(Event<Text>),
        Launcher(Event<Launcher>),
        Tick(u32),
    }
    impl From<Event<Raw>> for Program {
        fn from(e: Event<Raw>) -> Self {
            Program::Raw(e)
        }
    }
    impl From<Event<Text>> for Program {
        fn from(e: Event<Text>) -> Self {
            Program::Text(e)
        }
    }
    impl From<Event<Launcher>> for Program {
        fn from(e: Event<Launcher>) -> Self {
            Program::Launcher(e)
        }
    }
    let (tx, mut central) = central::<Program>(64);
    let raw = Incoming::<Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let text = Incoming::<Text>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let (_out, launcher) = Outgoing::<Launcher>::builder(raw.local_addr())
        .connect(&tx)
        .await
        .unwrap();
    let mut t = RawClient::connect(text.local_addr()).await;
    t.send(b"hi").await;
    launcher.send(Bytes::from_static(b"raw")).unwrap();
    tx.post(Program::Tick(1)).await.unwrap();
    let (mut got_text, mut got_raw, mut got_launcher, mut got_tick) = (false, false, false, false);
    while !(got_text && got_raw && got_launcher && got_tick) {
        match within("event", central.recv()).await.unwrap() {
            Program::Text(Event::Message(_, m)) => got_text = m == "hi",
            Program::Raw(Event::Message(_, m)) => got_raw = &m[..] == b"raw",
            Program::Launcher(Event::Connected(p)) => got_launcher = p == launcher,
            Program::Tick(1) => got_tick = true,
            _ => {}
        }
    }
}

/// Any tokio-util codec plugs in, and the Panda3D framing carries large datagrams with the
/// 4-byte header.
#[tokio::test]
async fn custom_and_panda3d_framings() {
    let (tx, mut central) = central::<Ev>(64);
    let lengths = tokio_util::codec::LengthDelimitedCodec::builder()
        .length_field_length(2)
        .new_codec();
    let custom = Incoming::<Raw>::builder("127.0.0.1:0")
        .framing(Custom::new(lengths.clone()))
        .listen(&tx)
        .await
        .unwrap();
    let (_o, to_custom) = Outgoing::<Raw>::builder(custom.local_addr())
        .framing(Custom::new(lengths))
        .connect(&tx)
        .await
        .unwrap();
    to_custom.send(Bytes::from_static(b"custom")).unwrap();

    let panda = Panda3dCodec::builder().header_size(4).new_codec().unwrap();
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .framing(panda.clone())
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect_with(server.local_addr(), panda).await;
    let big = common::pattern(1 << 20, 4);
    client.send(&big).await;

    let (mut got_custom, mut got_big) = (false, None);
    while !got_custom || got_big.is_none() {
        if let Event::Message(p, m) = next(&mut central).await {
            if &m[..] == b"custom" {
                got_custom = true;
            } else {
                got_big = Some(p);
                assert_eq!(m.len(), big.len());
                assert!(m[..] == big[..]);
            }
        }
    }
    got_big.unwrap().send(Bytes::from(big.clone())).unwrap();
    assert_eq!(client.recv().await.as_deref(), Some(&big[..]));
}

/// A program with no async runtime of its own polls the central queue once per frame.
#[test]
fn polled_game_loop_without_async() {
    let rt = connhandler::blocking::Runtime::new().unwrap();
    let (tx, mut central) = central::<Ev>(64);
    let server = rt
        .block_on(Incoming::<Raw>::builder("127.0.0.1:0").listen(&tx))
        .unwrap();
    let addr = server.local_addr();

    // A plain blocking client on a thread of its own.
    let client = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        // Turns a hang into a failure.
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(&[4, 0, b'p', b'i', b'n', b'g']).unwrap();
        let mut reply = [0u8; 6];
        s.read_exact(&mut reply).unwrap();
        reply
    });

    let mut frames = 0;
    let mut echoed = false;
    while !echoed {
        frames += 1;
        assert!(frames < 30_000, "no echo after many frames");
        for event in central.drain() {
            if let Event::Message(peer, msg) = event {
                peer.try_send(msg).unwrap();
                echoed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(&client.join().unwrap(), &[4, 0, b'p', b'i', b'n', b'g']);
    rt.block_on(server.shutdown());
}

/// A central task slower than its peers: the bounded queue pauses reading (TCP pushes back)
/// instead of buffering without bound, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_central_queue_pauses_reading() {
    const CAPACITY: usize = 8;
    const MESSAGES: u32 = 60_000;
    let (tx, mut central) = central::<Ev>(CAPACITY);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let addr = server.local_addr();
    let writer = tokio::spawn(async move {
        let mut client = RawClient::connect(addr).await;
        for i in 0..MESSAGES {
            client.send(&i.to_le_bytes().repeat(64)).await;
        }
        client
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Connected is not held back; messages are bounded by the capacity.
    assert!(central.len() <= CAPACITY + 1, "queued {}", central.len());
    // The sender is stalled by TCP flow control: 60,000 x 256 B exceeds the socket buffers.
    assert!(!writer.is_finished(), "the peer was never pushed back");
    expect_connected(&mut central).await;
    for i in 0..MESSAGES {
        let (_, m) = expect_message(&mut central).await;
        assert_eq!(&m[..4], &i.to_le_bytes());
    }
    let _client = writer.await.unwrap();
}

/// Raw messages from a reference writer whose length is an exact multiple of
/// max_message_size end on a 0 chunk; with `idle_end` the pause after them ends them.
#[tokio::test]
async fn idle_end_reads_reference_exact_multiples_as_raw_bytes() {
    let max = 1000;
    let (tx, mut central) = central::<Ev>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .framing(
            TcpMessageCodec::builder()
                .max_message_size(max)
                .idle_end(Duration::from_millis(50))
                .new_codec()
                .unwrap(),
        )
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = expect_connected(&mut central).await;
    for n in [1, max - 1, max, max + 1, 2 * max, 3 * max, 5 * max + 7] {
        let msg = common::pattern(n, n as u8);
        client.send_raw(&common::reference_write(&msg, max)).await;
        let (from, got) = expect_message(&mut central).await;
        assert_eq!(from, peer);
        assert_eq!(got.len(), n, "size {n}");
        assert!(got[..] == msg[..], "size {n}");
        // The reply, written by connhandler, is read back by the reference reader.
        peer.send(got).unwrap();
        let mut wire = Vec::new();
        let mut expect = n;
        while expect > 0 {
            let mut header = [0u8; 2];
            tokio::io::AsyncReadExt::read_exact(&mut client.stream, &mut header)
                .await
                .unwrap();
            let h = usize::from(u16::from_le_bytes(header));
            let len = if h == 0 { max } else { h };
            let mut chunk = vec![0u8; len];
            tokio::io::AsyncReadExt::read_exact(&mut client.stream, &mut chunk)
                .await
                .unwrap();
            expect -= len;
            wire.extend(chunk);
        }
        assert!(wire == msg, "echo of size {n}");
    }
}

/// Two handlers of one peer kind feed one central queue; each connection's handler is told
/// by a typed id, and a group reads through a shared reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_know_their_handler_by_id() {
    let (tx, mut central) = central::<Ev>(64);
    let plain = Incoming::<Raw>::builder("127.0.0.1:0")
        .name("door")
        .listen(&tx)
        .await
        .unwrap();
    let panda = Incoming::<Raw>::builder("127.0.0.1:0")
        .name("door")
        .framing(connhandler::codec::Panda3dCodec::new())
        .listen(&tx)
        .await
        .unwrap();
    assert_ne!(plain.id(), panda.id(), "same name, two handlers");
    let _a = RawClient::connect(plain.local_addr()).await;
    let a = expect_connected(&mut central).await;
    let _b =
        RawClient::connect_with(panda.local_addr(), connhandler::codec::Panda3dCodec::new()).await;
    let b = expect_connected(&mut central).await;
    assert_eq!(a.handler_id(), plain.id());
    assert_eq!(b.handler_id(), panda.id());
    assert_eq!(a.handler_name(), b.handler_name());
    let mut group = connhandler::Group::new();
    group.insert(a);
    group.insert(b);
    let shared: &connhandler::Group<Raw> = &group;
    assert_eq!(shared.len(), 2);
    assert!(!shared.is_empty());
    assert_eq!(
        shared
            .iter()
            .filter(|p| p.handler_id() == panda.id())
            .count(),
        1
    );
}
