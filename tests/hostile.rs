//! Hostile peers against a server written as the README teaches, with real sockets: each
//! does its thing while a well-behaved peer checks that it is still served. No test asserts
//! a time; each check is one a fix that merely waits could not pass.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use common::{open_fds, within, Raw, RawClient};
use connhandler::testing::net::Network;
use connhandler::{
    central, central_with_bytes, Central, DisconnectReason, Event, Incoming, IncomingBuilder,
    Outgoing, QueuePolicy, Retry, SendError, Timeout,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    task::JoinHandle,
};

type Ev = Event<Raw>;

/// What the echo loop saw.
#[derive(Default)]
struct Seen {
    /// Sends that found the peer's queue full.
    full: AtomicUsize,
    /// The most bytes queued for one peer right after a send.
    max_queued: AtomicUsize,
    disconnects: Mutex<Vec<(SocketAddr, String)>>,
}

impl Seen {
    fn reasons(&self) -> Vec<String> {
        let d = self.disconnects.lock().unwrap();
        d.iter().map(|(_, r)| r.clone()).collect()
    }
}

/// An echo server with the central loop the README teaches: `peer.send(msg)`, never
/// awaited.
async fn echo_server(
    configure: impl FnOnce(IncomingBuilder<Raw>) -> IncomingBuilder<Raw>,
) -> (Incoming<Raw>, Arc<Seen>, JoinHandle<()>) {
    echo_server_at(Incoming::<Raw>::builder("127.0.0.1:0"), configure).await
}

/// The echo server on host `server` of an in-memory network, port 7000.
async fn echo_server_in_memory(
    net: &Network,
    configure: impl FnOnce(IncomingBuilder<Raw>) -> IncomingBuilder<Raw>,
) -> (Incoming<Raw>, Arc<Seen>, JoinHandle<()>) {
    let builder = Incoming::<Raw>::builder("0.0.0.0:7000").in_memory(&net.host("server"));
    echo_server_at(builder, configure).await
}

async fn echo_server_at(
    builder: IncomingBuilder<Raw>,
    configure: impl FnOnce(IncomingBuilder<Raw>) -> IncomingBuilder<Raw>,
) -> (Incoming<Raw>, Arc<Seen>, JoinHandle<()>) {
    let (tx, mut central) = central::<Ev>(1024);
    let server = configure(builder).listen(&tx).await.unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let task = tokio::spawn(async move {
        let _tx = tx;
        while let Some(event) = central.recv().await {
            match event {
                Event::Message(peer, msg) => {
                    if let Err(SendError::Full(_) | SendError::Closed(_)) = peer.send(msg) {
                        s.full.fetch_add(1, Ordering::Relaxed);
                    }
                    s.max_queued
                        .fetch_max(peer.queued_bytes(), Ordering::Relaxed);
                }
                Event::Disconnected(peer, d) => {
                    s.disconnects
                        .lock()
                        .unwrap()
                        .push((peer.addr(), d.reason.to_string()));
                }
                _ => {}
            }
        }
    });
    (server, seen, task)
}

/// A well-behaved peer: `n` round trips, one at a time. It stays connected as long as the
/// caller keeps what this returns.
async fn round_trips(addr: SocketAddr, n: u32) -> RawClient {
    let mut good = RawClient::connect(addr).await;
    for i in 0..n {
        good.send(&i.to_le_bytes()).await;
        let got = good.recv().await.expect("the good peer was cut");
        assert_eq!(&got[..], &i.to_le_bytes());
    }
    good
}

/// Writes `msg` framed for ever, never reading; returns when the server closes.
fn flood(addr: SocketAddr, len: usize, running: Arc<AtomicBool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut wire = Vec::new();
        let mut framing = connhandler::codec::TcpMessageCodec::new();
        let mut buf = bytes::BytesMut::new();
        use connhandler::codec::Framing;
        framing.encode_message(&vec![7u8; len], &mut buf).unwrap();
        wire.extend_from_slice(&buf);
        running.store(true, Ordering::SeqCst);
        while s.write_all(&wire).await.is_ok() {}
        running.store(false, Ordering::SeqCst);
    })
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// A peer that sends and never reads, under the policy that hands the message back (so it
/// is never cut): its reader holds its messages once its replies wait (backpressure), so the
/// echo loop never finds its queue full, and the good peer completes its round trips while
/// it is still connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_does_not_stall_the_others_while_it_stays() {
    let (server, seen, _task) = echo_server(|b| b.queue_policy(QueuePolicy::Fail)).await;
    let running = Arc::new(AtomicBool::new(false));
    let attacker = flood(server.local_addr(), 64 * 1024, running.clone());
    // Once the socket buffers on the way are full, its replies wait in its queue.
    until("the attacker's replies wait in its queue", || {
        server.stats().queued_bytes >= 256 * 1024
    })
    .await;
    // The good peer stays connected through the checks below, so that no disconnect at
    // all is expected.
    let _good = round_trips(server.local_addr(), 50).await;
    assert!(
        running.load(Ordering::SeqCst) && !attacker.is_finished(),
        "the attacker is still connected and still sending"
    );
    assert_eq!(server.stats().connected, 2);
    assert!(seen.reasons().is_empty(), "{:?}", seen.reasons());
    assert_eq!(
        seen.full.load(Ordering::Relaxed),
        0,
        "its reader held its messages before its queue could fill"
    );
    // The queue held no more than the high watermark (half of queue_bytes' 1 MiB) and one
    // message.
    assert!(seen.max_queued.load(Ordering::Relaxed) <= (1 << 19) + 64 * 1024);
    attacker.abort();
}

/// The default policy cuts the peer that never reads, with `QueueFull`, once its writer has
/// been blocked for the write time-out (shortened here), and the good peer is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_is_cut_by_default() {
    let (server, seen, _task) = echo_server(|b| b.write_timeout(Duration::from_millis(300))).await;
    let running = Arc::new(AtomicBool::new(false));
    let attacker = flood(server.local_addr(), 64 * 1024, running);
    // Served meanwhile.
    let _good = round_trips(server.local_addr(), 20).await;
    until("the attacker is cut", || !seen.reasons().is_empty()).await;
    assert_eq!(seen.reasons(), ["the outgoing queue was full"]);
    round_trips(server.local_addr(), 20).await;
    within("the attacker sees the close", attacker)
        .await
        .unwrap();
}

/// Peers that send one message and reset while the central task is frozen: their readers,
/// waiting for room in the central queue, still watch their sockets, so the descriptors go
/// at once; each `Disconnected` comes exactly once when the central task wakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_churn_while_the_central_task_is_frozen_releases_descriptors() {
    const CHURN: usize = 300;
    let (tx, mut central) = central::<Ev>(16);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let before = open_fds();
    for _ in 0..CHURN {
        let mut c = TcpStream::connect(server.local_addr()).await.unwrap();
        c.write_all(&[5, 0, b'h', b'e', b'l', b'l', b'o'])
            .await
            .unwrap();
        #[allow(deprecated)] // a zero linger: a reset, and no blocking
        c.set_linger(Some(Duration::ZERO)).unwrap();
        drop(c); // RST
    }
    // The central task has taken nothing: the descriptors must go anyway.
    until("the reset connections release their descriptors", || {
        open_fds() <= before + 4 && server.stats().connected == 0
    })
    .await;
    assert!(central.len() <= 16 + 2 * CHURN);
    let (mut connected, mut disconnected) = (0, std::collections::HashSet::new());
    while disconnected.len() < CHURN {
        match within("events", central.recv()).await.unwrap() {
            Event::Connected(_) => connected += 1,
            Event::Disconnected(peer, _) => assert!(disconnected.insert(peer.id())),
            _ => {}
        }
    }
    assert_eq!(connected, CHURN);
    assert!(
        central.try_recv().is_err(),
        "each Disconnected exactly once"
    );
}

/// A closed connection keeps its `max_connections` slot until the central task takes its
/// `Disconnected`, so churn cannot queue lifecycle events without a bound; the refusals
/// meanwhile are counters, not events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_are_bounded_by_max_connections() {
    let (tx, mut central) = central::<Ev>(16);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .max_connections(20)
        .max_connections_per_ip(None)
        .listen(&tx)
        .await
        .unwrap();
    for _ in 0..200 {
        let c = TcpStream::connect(server.local_addr()).await.unwrap();
        #[allow(deprecated)] // a zero linger: a reset, and no blocking
        c.set_linger(Some(Duration::ZERO)).unwrap();
        drop(c);
    }
    until("the listener saw them all", || {
        let s = server.stats();
        s.accepted + s.refused >= 200
    })
    .await;
    let stats = server.stats();
    assert!(stats.refused_full > 0, "{stats:?}");
    assert!(central.len() <= 2 * 20, "{} events queued", central.len());
    // Taking the events frees the slots.
    while central.try_recv().is_ok() {}
    round_trips_with(&mut central, server.local_addr()).await;
}

/// One echo through a server whose central queue the test holds.
async fn round_trips_with(central: &mut Central<Ev>, addr: SocketAddr) {
    let mut good = RawClient::connect(addr).await;
    good.send(b"ping").await;
    loop {
        if let Event::Message(peer, msg) = within("ping", central.recv()).await.unwrap() {
            peer.send(msg).unwrap();
            break;
        }
    }
    assert_eq!(good.recv().await.as_deref(), Some(&b"ping"[..]));
}

/// Messages written so that every write ends a few bytes into the next frame: no frame is
/// ever unfinished for long, so the frame time-out must not fire, although the buffer never
/// ends on a frame boundary. On the in-memory network under paused time: the 150 ms between
/// writes are exact, whatever the machine's load.
#[tokio::test(start_paused = true)]
async fn the_frame_time_out_measures_each_frame_from_its_own_first_byte() {
    let net = Network::new();
    let (_server, seen, _task) = echo_server_in_memory(&net, |b| {
        b.frame_timeout(Duration::from_millis(1000))
            .min_frame_rate(None)
    })
    .await;
    let mut c = RawClient::connect_in_memory(&net.host("client"), "server:7000").await;
    let msg = [9u8; 300];
    let mut wire = Vec::new();
    for _ in 0..16 {
        wire.extend_from_slice(&(300u16).to_le_bytes());
        wire.extend_from_slice(&msg);
    }
    // Write 1: the first frame and 5 bytes of the second; then, each 150 ms, the rest of a
    // frame and 5 bytes of the next: 2.4 s in all, more than twice the time-out.
    let mut at = 302 + 5;
    c.send_raw(&wire[..at]).await;
    while at < wire.len() {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let end = (at + 302).min(wire.len());
        c.send_raw(&wire[at..end]).await;
        at = end;
    }
    for _ in 0..16 {
        assert_eq!(c.recv().await.as_deref(), Some(&msg[..]));
    }
    assert!(seen.reasons().is_empty(), "{:?}", seen.reasons());
}

/// A crowd that trickles bytes in, and one that says nothing: all are cut (frame and
/// first-message time-outs, on by default and shortened here), while the good peer is
/// served, and a long message on a slow but steady link is not cut. On the in-memory
/// network under paused time, each of the crowd from a host of its own: the trickle's pace
/// and the slow link's rate are exact, so the test cannot be flaky on a loaded machine.
#[tokio::test(start_paused = true)]
async fn slowloris_and_silent_crowds_are_cut_and_a_slow_link_is_not() {
    let net = Network::new();
    let (_server, seen, _task) = echo_server_in_memory(&net, |b| {
        b.frame_timeout(Duration::from_millis(300))
            .first_message_timeout(Duration::from_millis(300))
    })
    .await;
    let mut crowd = Vec::new();
    for i in 0..40 {
        let host = net.host(&format!("crowd-{i}"));
        crowd.push(tokio::spawn(async move {
            let mut s = host.connect("server:7000").await.unwrap();
            if i % 2 == 0 {
                // Slowloris: the header of a 1000-byte message, then a byte at a time.
                let _ = s.write_all(&1000u16.to_le_bytes()).await;
                while s.write_all(&[1]).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } else {
                // Silent: waits for the close.
                let _ = s.read(&mut [0; 1]).await;
            }
        }));
    }
    // A 32 KiB message at about 40 KB/s: slower than the time-out allows for the whole
    // message, faster than the default minimum rate (4096 B/s).
    let slow_host = net.host("slow");
    let slow = tokio::spawn(async move {
        let mut c = RawClient::connect_in_memory(&slow_host, "server:7000").await;
        let msg = common::pattern(32 * 1024, 3);
        let mut wire = Vec::from(&(msg.len() as u16).to_le_bytes()[..]);
        wire.extend_from_slice(&msg);
        for part in wire.chunks(2048) {
            c.send_raw(part).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(c.recv().await.as_deref(), Some(&msg[..]));
    });
    let mut good = RawClient::connect_in_memory(&net.host("good"), "server:7000").await;
    for i in 0..30u32 {
        good.send(&i.to_le_bytes()).await;
        let got = good.recv().await.expect("the good peer was cut");
        assert_eq!(&got[..], &i.to_le_bytes());
    }
    for c in crowd {
        within("the crowd is cut", c).await.unwrap();
    }
    within("the slow link", slow).await.unwrap();
    let reasons = seen.reasons();
    let frame = Timeout::Frame(Duration::from_millis(300)).to_string();
    let first = Timeout::FirstMessage(Duration::from_millis(300)).to_string();
    assert_eq!(
        reasons.iter().filter(|r| r.contains(&frame)).count(),
        20,
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| r.contains(&first)).count(),
        20,
        "{reasons:?}"
    );
}

/// Connects from `ip` (a loopback alias).
async fn connect_from(ip: [u8; 4], to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::from((ip, 0))).unwrap();
    s.connect(to).await.unwrap()
}

/// One address cannot hold every slot: by default it gets a quarter of `max_connections`,
/// the rest are refused and counted, and a peer from another address gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_slot() {
    let (server, _seen, _task) = echo_server(|b| b.max_connections(40)).await;
    let addr = server.local_addr();
    let mut held = Vec::new();
    for _ in 0..15 {
        held.push(connect_from([127, 0, 0, 1], addr).await);
    }
    until("the listener saw them all", || {
        let s = server.stats();
        s.accepted + s.refused >= 15
    })
    .await;
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.refused_per_ip), (10, 5), "{stats:?}");
    let mut good = connect_from([127, 0, 0, 2], addr).await;
    let mut wire = bytes::BytesMut::new();
    use connhandler::codec::Framing;
    connhandler::codec::TcpMessageCodec::new()
        .encode_message(&Bytes::from_static(b"in"), &mut wire)
        .unwrap();
    good.write_all(&wire).await.unwrap();
    let mut back = [0u8; 4];
    within("echo", good.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, &[2, 0, b'i', b'n']);
}

/// Writes `held` bytes of one long TcpMessage message (full chunks with header 0, the last
/// cut short), then nothing: a peer stalling partway into a message.
async fn stall_partway(s: &mut TcpStream, held: usize) {
    let mut wire = Vec::new();
    let mut left = held;
    while left > 0 {
        let part = left.min(65535);
        wire.extend_from_slice(&[0, 0]);
        wire.extend_from_slice(&vec![1u8; part]);
        left -= part;
    }
    s.write_all(&wire).await.unwrap();
}

/// Peers that each stall partway into a long message share one read budget: together they
/// never hold more than it; one that finds it short waits, and when the wait runs out the
/// one that holds the most goes (the waiting one, when none holds more), cut with
/// `OverBudget`; the good peer is served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_frames_share_one_budget() {
    const BUDGET: usize = 256 * 1024;
    let (server, seen, _task) =
        echo_server(|b| b.read_budget(BUDGET).read_budget_per_ip(None)).await;
    let addr = server.local_addr();
    let mut stalled = Vec::new();
    for _ in 0..6 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        stall_partway(&mut s, 3 * 65535).await;
        stalled.push(s);
    }
    round_trips(addr, 10).await;
    // One holds its 180 KiB; the others, as large, wait and go when their wait runs out.
    until("all but one are over the budget", || {
        seen.reasons()
            .iter()
            .filter(|r| r.contains("read budget"))
            .count()
            == 5
    })
    .await;
    let stats = server.stats();
    assert!(stats.unfinished_bytes <= BUDGET, "{stats:?}");
    assert_eq!(stats.connected, 1, "{stats:?}");
    round_trips(addr, 10).await;
}

/// Connections from one address hold at most its share of the read budget (an eighth by
/// default): a crowd from one address stalling partway into long messages, enough to take
/// the whole budget, cannot make a good peer's long message from another address fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_the_read_budget() {
    const BUDGET: usize = 1 << 20;
    let (server, seen, _task) = echo_server(|b| b.read_budget(BUDGET)).await;
    let addr = server.local_addr();
    let mut crowd = Vec::new();
    for _ in 0..20 {
        let mut s = connect_from([127, 0, 0, 1], addr).await;
        stall_partway(&mut s, 100 * 1024).await;
        crowd.push(s);
    }
    // A good peer from another address, with a 64 KiB message the server reads in several
    // reads (more than the 16 KiB each connection holds outside the budget).
    for round in 0..3u8 {
        let mut good = RawClient::over(connect_from([127, 0, 0, 2], addr).await);
        let msg = common::pattern(65534, round);
        good.send(&msg).await;
        let echo = good.recv().await.expect("the good peer was cut");
        assert!(echo[..] == msg[..], "round {round}");
    }
    let stats = server.stats();
    assert!(stats.unfinished_bytes <= BUDGET / 8 + 65536, "{stats:?}");
    // The crowd waits or is cut for the budget; the good peers went when they were done.
    assert!(
        seen.reasons()
            .iter()
            .all(|r| r.contains("read budget") || r == "closed by the peer"),
        "{:?}",
        seen.reasons()
    );
}

/// A newcomer that finds the budget short is not cut: it waits, and when the wait runs out
/// the connection holding the most goes, so its message gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_budget_cuts_the_largest_holder_not_the_newcomer() {
    const BUDGET: usize = 512 * 1024;
    let (server, seen, _task) =
        echo_server(|b| b.read_budget(BUDGET).read_budget_per_ip(None)).await;
    let addr = server.local_addr();
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        stall_partway(&mut s, 200 * 1024).await;
        hogs.push(s);
    }
    until("the hogs hold most of the budget", || {
        server.stats().unfinished_bytes >= 2 * (200 - 16) * 1024
    })
    .await;
    // More than is left, and more than either hog holds.
    let mut good = RawClient::connect(addr).await;
    let msg = common::pattern(300 * 1024, 9);
    good.send(&msg).await;
    let echo = good.recv().await.expect("the newcomer was cut");
    assert!(echo[..] == msg[..]);
    until("the largest holder's Disconnected", || {
        !seen.reasons().is_empty()
    })
    .await;
    assert_eq!(
        seen.reasons(),
        [DisconnectReason::OverBudget { held: 200 * 1024 }.to_string()]
    );
}

/// With the central task frozen, long messages stop being read once the central queue's
/// byte bound is reached, well before its count bound; all arrive, in order, when it wakes.
/// On the in-memory network under paused time (each connection holding 4 MiB, as loopback
/// sockets do): when the clock moves on, every reader has done all it can, so what the
/// queue holds then is what its bound lets in, not what a loaded machine got to.
#[tokio::test(start_paused = true)]
async fn the_central_queue_is_bounded_in_bytes() {
    let net = Network::new();
    net.buffer_size(4 << 20);
    let (tx, mut central) = central_with_bytes::<Ev>(1024, 512 * 1024);
    let _server = Incoming::<Raw>::builder("0.0.0.0:7000")
        .in_memory(&net.host("server"))
        .listen(&tx)
        .await
        .unwrap();
    let msg = common::pattern(60_000, 1);
    let mut clients = Vec::new();
    for i in 0..4 {
        let mut c =
            RawClient::connect_in_memory(&net.host(&format!("client-{i}")), "server:7000").await;
        for _ in 0..16 {
            c.send(&msg).await;
        }
        clients.push(c);
    }
    until("messages are queued", || central.queued_bytes() > 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 4 Connected, and messages of at most 512 KiB (8 of 60 kB), plus one per reader
    // that was let through on an empty bound.
    let queued = central.len();
    assert!(queued <= 4 + 8 + 4, "{queued} events queued");
    // The gauge: what the byte bound holds (one message past it at most per reader).
    let bytes = central.queued_bytes();
    assert!(
        bytes > 0 && bytes <= 512 * 1024 + 4 * 65_536,
        "{bytes} bytes queued"
    );
    let mut got = 0;
    while got < 64 {
        if let Event::Message(_, m) = within("messages", central.recv()).await.unwrap() {
            assert_eq!(&m[..], &msg[..]);
            got += 1;
        }
    }
}

/// A request followed at once by the client's FIN still gets its reply, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_keeps_the_replies() {
    let (server, _seen, _task) = echo_server(|b| b).await;
    for i in 0..200u32 {
        let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
        let mut wire = Vec::from(&4u16.to_le_bytes()[..]);
        wire.extend_from_slice(&i.to_le_bytes());
        s.write_all(&wire).await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        within("reply", s.read_to_end(&mut back)).await.unwrap();
        assert_eq!(back, wire, "request {i}: the reply was lost");
    }
}

/// An outgoing handler with `reconnect`, against a server that accepts and closes at once,
/// reconnects at the retry policy's pace, and counts it. On the in-memory network under
/// paused time: the second it watches is the tokio clock's, which a loaded machine cannot
/// stretch.
#[tokio::test(start_paused = true)]
async fn reconnect_after_a_lost_connection_waits_by_the_retry_policy() {
    let net = connhandler::testing::net::Network::new();
    let (stx, mut scentral) = central::<Ev>(64);
    let server = Incoming::<Raw>::builder("0.0.0.0:7000")
        .in_memory(&net.host("server"))
        .unprotected()
        .listen(&stx)
        .await
        .unwrap();
    // The server's program closes every connection as it comes.
    let closer = tokio::spawn(async move {
        while let Some(ev) = scentral.recv().await {
            if let Event::Connected(p) = ev {
                p.disconnect();
            }
        }
    });
    let (tx, mut central) = central::<Ev>(64);
    let out = Outgoing::<Raw>::builder("server:7000")
        .in_memory(&net.host("client"))
        .reconnect(true)
        .retry(Retry::fixed(Duration::from_millis(100)))
        .start(&tx);
    let drain = tokio::spawn(async move { while central.recv().await.is_some() {} });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n = server.stats().accepted;
    // At 50-100 ms a wait, 10-20 in one second; a tight loop makes thousands.
    assert!((10..=21).contains(&n), "{n} connects in one second");
    let stats = out.stats();
    assert!(stats.reconnects >= 1 && stats.connects >= 2, "{stats:?}");
    out.shutdown().await;
    drop(tx);
    drain.abort();
    closer.abort();
}

/// Every failed connect attempt is counted; the event comes when the policy gives up.
#[tokio::test]
async fn failed_connect_attempts_are_counted() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (tx, mut central) = central::<Ev>(64);
    let out = Outgoing::<Raw>::builder(port)
        .retry(Retry::fixed(Duration::from_millis(10)).max_attempts(3))
        .start(&tx);
    match within("ConnectFailed", central.recv()).await.unwrap() {
        Event::ConnectFailed(e) => assert_eq!(e.attempts(), 3, "{e}"),
        _ => panic!("expected ConnectFailed"),
    }
    assert_eq!(out.stats().connect_failures, 3);
}

/// `DisconnectReason::OverBudget` names what it was about.
#[test]
fn over_budget_reads_well() {
    let r = DisconnectReason::OverBudget { held: 1000 };
    assert_eq!(
        r.to_string(),
        "1000 bytes of unfinished frames went over the handler's read budget"
    );
}

#[connhandler::incoming(peer = Raw, first_message_timeout_ms = 0, idle_timeout_ms = 200)]
struct Declared;

/// The attribute macro's protection keys reach the builder: with the first-message deadline
/// off (0), a silent peer is cut by the idle time-out declared.
#[tokio::test]
async fn declared_protection_keys_take_effect() {
    let (tx, mut central) = central::<Ev>(64);
    let server = Declared.listen("127.0.0.1:0", &tx).await.unwrap();
    let _silent = TcpStream::connect(server.local_addr()).await.unwrap();
    loop {
        if let Event::Disconnected(_, d) = within("the silent peer is cut", central.recv())
            .await
            .unwrap()
        {
            assert!(
                matches!(d.reason, DisconnectReason::TimedOut(Timeout::Idle(t)) if t == Duration::from_millis(200)),
                "{d}"
            );
            break;
        }
    }
}

/// A peer kind with last words for the connections the library refuses or cuts.
struct Polite;

impl connhandler::Peer for Polite {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "polite";

    fn farewell(why: &connhandler::Farewell<'_>) -> Option<Bytes> {
        Some(Bytes::from(match why {
            connhandler::Farewell::Refused(by) => format!("refused: {by}"),
            connhandler::Farewell::Cut(reason) => format!("cut: {reason}"),
            _ => "bye".to_owned(),
        }))
    }
}

/// The peer kind's last words reach a connection refused at the door and one cut by a
/// time-out, before the end of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn farewells_reach_refused_and_cut_peers() {
    let (tx, mut central) = central::<Event<Polite>>(64);
    let server = IncomingBuilder::new("127.0.0.1:0", |_| Polite)
        .max_connections(1)
        .max_connections_per_ip(None)
        .first_message_timeout(Duration::from_millis(200))
        .listen(&tx)
        .await
        .unwrap();
    // The first is served (and says nothing: it will be cut).
    let mut first = RawClient::connect(server.local_addr()).await;
    assert!(matches!(
        within("connected", central.recv()).await,
        Some(Event::Connected(_))
    ));
    // The second is refused, and told why.
    let mut second = RawClient::connect(server.local_addr()).await;
    assert_eq!(
        second.recv().await.as_deref(),
        Some(&b"refused: the server is full"[..])
    );
    assert!(second.recv().await.is_none());
    assert_eq!(server.stats().refused_full, 1);
    // The first is cut by the first-message time-out, and told why.
    let words = first.recv().await.expect("last words");
    let words = String::from_utf8_lossy(&words);
    assert!(
        words.starts_with("cut: timed out: nothing arrived"),
        "{words}"
    );
    assert!(first.recv().await.is_none());
}

/// The wait gauge: events held while the central task is busy are measured, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_central_queue_measures_how_long_events_wait() {
    let (tx, mut central) = central::<Ev>(64);
    central.measure_wait(true);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let mut c = RawClient::connect(server.local_addr()).await;
    for i in 0..5u8 {
        c.send(&[i]).await;
    }
    // The central task is busy elsewhere for a while.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut messages = 0;
    while messages < 5 {
        if let Event::Message(..) = within("messages", central.recv()).await.unwrap() {
            messages += 1;
        }
    }
    let waits = central.take_wait_stats();
    assert_eq!(waits.events, 5, "{waits:?}");
    assert!(
        waits.max > Duration::ZERO && waits.mean().unwrap() <= waits.max,
        "{waits:?}"
    );
    assert_eq!(central.take_wait_stats().events, 0, "taking starts anew");
}

/// Connects from `from` through a load balancer's PROXY v1 header naming `client`.
async fn through_balancer(from: [u8; 4], client: [u8; 4], to: SocketAddr) -> RawClient {
    let mut s = connect_from(from, to).await;
    let client = std::net::Ipv4Addr::from(client);
    let header = format!("PROXY TCP4 {client} 127.0.0.1 40000 {}\r\n", to.port());
    s.write_all(header.as_bytes()).await.unwrap();
    RawClient::over(s)
}

/// Whether the server closed `c` without a word.
async fn is_closed(c: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        within("the connection is closed", c.read(&mut buf)).await,
        Ok(0) | Err(_)
    )
}

/// A listener that expects PROXY headers takes them from its trusted balancers only: a
/// direct connection from elsewhere is closed at once (it names no address and holds no
/// slot while a header would trickle in), a balancer is not capped as an address, and the
/// cap counts the client each header names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_headers_are_taken_from_trusted_balancers_only() {
    let (server, _seen, _task) = echo_server(|b| {
        b.proxy_protocol(true)
            .proxy_trusted(["127.0.0.2".parse().unwrap()])
            .max_connections_per_ip(2)
            // Far longer than any test: a direct connection must be closed, not timed out.
            .handshake_timeout(Duration::from_secs(3600))
    })
    .await;
    let addr = server.local_addr();
    let mut direct = connect_from([127, 0, 0, 1], addr).await;
    assert!(is_closed(&mut direct).await);
    assert_eq!(server.stats().refused_untrusted, 1);

    // Five clients through the balancer, more than the cap of 2 from its one address.
    let mut clients = Vec::new();
    for i in 1..=5u8 {
        let mut c = through_balancer([127, 0, 0, 2], [203, 0, 113, i], addr).await;
        c.send(&[i]).await;
        assert_eq!(c.recv().await.as_deref(), Some(&[i][..]));
        clients.push(c);
    }
    let mut named: Vec<_> = server.peers().iter().map(|p| p.addr().ip()).collect();
    named.sort();
    let want: Vec<std::net::IpAddr> = (1..=5u8).map(|i| [203, 0, 113, i].into()).collect();
    assert_eq!(named, want);

    // The cap counts the named client: a third connection of one client is refused.
    for _ in 0..2 {
        let mut c = through_balancer([127, 0, 0, 2], [198, 51, 100, 7], addr).await;
        c.send(b"in").await;
        assert_eq!(c.recv().await.as_deref(), Some(&b"in"[..]));
        clients.push(c);
    }
    let mut third = through_balancer([127, 0, 0, 2], [198, 51, 100, 7], addr).await;
    assert!(is_closed(&mut third.stream).await);
    assert_eq!(server.stats().refused_per_ip, 1);
}

/// With `proxy_serve_direct`, a direct connection from an address that is not a balancer
/// is served as it came, under its own address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_connection_can_be_served_without_a_header() {
    let (server, _seen, _task) = echo_server(|b| {
        b.proxy_protocol(true)
            .proxy_trusted(["127.0.0.2".parse().unwrap()])
            .proxy_serve_direct(true)
    })
    .await;
    let addr = server.local_addr();
    let mut direct = RawClient::over(connect_from([127, 0, 0, 3], addr).await);
    direct.send(b"plain").await;
    assert_eq!(direct.recv().await.as_deref(), Some(&b"plain"[..]));
    let mut balanced = through_balancer([127, 0, 0, 2], [203, 0, 113, 1], addr).await;
    balanced.send(b"via").await;
    assert_eq!(balanced.recv().await.as_deref(), Some(&b"via"[..]));
    let mut addrs: Vec<_> = server.peers().iter().map(|p| p.addr().ip()).collect();
    addrs.sort();
    assert_eq!(
        addrs,
        [
            std::net::IpAddr::from([127, 0, 0, 3]),
            [203, 0, 113, 1].into()
        ]
    );
}
