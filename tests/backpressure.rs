//! Backpressure, with real sockets over TCP, TLS and WebSocket: a client that pipelines
//! requests and reads its replies is served in order and never cut, whatever the queues'
//! sizes; one that stops reading is cut, and a well-behaved peer is served meanwhile. The
//! server is an echo written as the README teaches (`peer.send(msg)`, never awaited). No test
//! asserts a time.

#[path = "common/certs.rs"]
mod certs;
mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use common::{pattern, within, Raw, RawClient};
use connhandler::{
    central,
    tls::{TlsClient, TlsServer},
    ws::WebSocket,
    Event, Incoming, IncomingBuilder, Outgoing, OutgoingBuilder, Retry, SendError,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

type Ev = Event<Raw>;

/// What carries the connection.
#[derive(Clone, Copy, Debug)]
enum Via {
    Tcp,
    Tls,
    Ws,
}

const ALL: [Via; 3] = [Via::Tcp, Via::Tls, Via::Ws];

/// What the echo loop saw.
#[derive(Default)]
struct Seen {
    /// Sends refused (queue full, or the peer cut for it).
    refused: AtomicUsize,
    /// The most bytes queued for one peer right after a send.
    max_queued: AtomicUsize,
    disconnects: Mutex<Vec<String>>,
}

impl Seen {
    fn reasons(&self) -> Vec<String> {
        self.disconnects.lock().unwrap().clone()
    }
}

struct Server {
    incoming: Incoming<Raw>,
    seen: Arc<Seen>,
    /// For TLS: the CA its certificate is signed by.
    pki: Option<certs::Pki>,
    via: Via,
}

impl Server {
    async fn start(
        via: Via,
        name: &str,
        configure: impl FnOnce(IncomingBuilder<Raw>) -> IncomingBuilder<Raw>,
    ) -> Server {
        let (tx, mut central) = central::<Ev>(1024);
        let mut builder = configure(Incoming::<Raw>::builder("127.0.0.1:0"));
        let mut pki = None;
        match via {
            Via::Tcp => {}
            Via::Tls => {
                let made = certs::pki(name);
                let (cert, key) = made.server();
                builder = builder.tls(TlsServer::from_pem_files(&cert, &key).unwrap());
                pki = Some(made);
            }
            Via::Ws => builder = builder.websocket(WebSocket::new()),
        }
        let incoming = builder.listen(&tx).await.unwrap();
        drop(tx);
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = central.recv().await {
                match event {
                    Event::Message(peer, msg) => {
                        if let Err(SendError::Full(_) | SendError::Closed(_)) = peer.send(msg) {
                            s.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        s.max_queued
                            .fetch_max(peer.queued_bytes(), Ordering::Relaxed);
                    }
                    Event::Disconnected(_, d) => {
                        s.disconnects.lock().unwrap().push(d.reason.to_string());
                    }
                    _ => {}
                }
            }
        });
        Server {
            incoming,
            seen,
            pki,
            via,
        }
    }

    /// A connhandler client of this server (an outgoing handler's defaults: it reads
    /// whatever it has queued), with queues that take a whole burst.
    fn client(&self) -> OutgoingBuilder<Raw> {
        let addr = self.incoming.local_addr();
        let builder = match self.via {
            Via::Tcp => Outgoing::<Raw>::builder(addr),
            Via::Tls => {
                let ca = self.pki.as_ref().unwrap().ca();
                Outgoing::<Raw>::builder(addr).tls(
                    TlsClient::with_ca_file(ca)
                        .unwrap()
                        .server_name("localhost"),
                )
            }
            Via::Ws => Outgoing::<Raw>::websocket_url(&format!("ws://{addr}/")).unwrap(),
        };
        builder
            .retry(Retry::never())
            .queue_capacity(1 << 20)
            .queue_bytes(1 << 30)
            .queue_hard_cap(1 << 30)
    }
}

/// `n` messages of sizes from `sizes`, each told apart by its index.
fn burst(n: usize, sizes: impl Fn(usize) -> usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| Bytes::from(pattern(sizes(i).max(1), i as u8)))
        .collect()
}

/// Sizes from 1 to 65534 bytes, spread by a fixed sequence.
fn mixed(i: usize) -> usize {
    1 + (i * 7919 + i * i * 31) % 65534
}

/// Writes the whole burst at once through a client that reads every reply, and checks each
/// echo, in order, byte for byte.
async fn pipeline(server: &Server, messages: &[Bytes]) {
    let (tx, mut events) = central::<Ev>(1024);
    let (out, peer) = server.client().connect(&tx).await.unwrap();
    assert!(matches!(
        within("connected", events.recv()).await,
        Some(Event::Connected(_))
    ));
    for msg in messages {
        peer.send(msg.clone()).unwrap();
    }
    for (i, want) in messages.iter().enumerate() {
        match within("an echo", events.recv()).await {
            Some(Event::Message(_, got)) => {
                assert!(got == want, "echo {i} of {} differs", messages.len())
            }
            other => panic!(
                "{:?}: echo {i} of {}: {other:?}; the server saw {:?}",
                server.via,
                messages.len(),
                server.seen.reasons()
            ),
        }
    }
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_burst_of_small_messages_is_echoed_in_order_with_the_defaults() {
    for via in ALL {
        let server = Server::start(via, "small-burst", |b| b).await;
        pipeline(&server, &burst(1000, |i| 1 + i % 64)).await;
        assert_eq!(server.seen.refused.load(Ordering::Relaxed), 0, "{via:?}");
        assert!(server.seen.reasons().iter().all(|r| !r.contains("queue")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_burst_is_echoed_in_order_with_tiny_queues() {
    for via in ALL {
        let server = Server::start(via, "tiny-queues", |b| {
            b.queue_capacity(4).queue_bytes(4096)
        })
        .await;
        pipeline(&server, &burst(300, mixed)).await;
        assert_eq!(server.seen.refused.load(Ordering::Relaxed), 0, "{via:?}");
        // The reader held the messages: the queue stayed within one message of its marks.
        assert!(server.seen.max_queued.load(Ordering::Relaxed) <= 2048 + 65534);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_16_mib_in_flight_is_echoed_in_order() {
    for via in ALL {
        let server = Server::start(via, "large-burst", |b| b).await;
        let messages = burst(300, |i| 56 * 1024 + i);
        assert!(messages.iter().map(Bytes::len).sum::<usize>() > 16 << 20);
        pipeline(&server, &messages).await;
        assert_eq!(server.seen.refused.load(Ordering::Relaxed), 0, "{via:?}");
        assert!(server.seen.max_queued.load(Ordering::Relaxed) <= (1 << 19) + 65534);
    }
}

/// A raw TCP client that writes its burst at once and reads the echoes a piece at a time
/// with pauses between (a client on a slow link): its writer blocks now and then, and it is
/// still served, never cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_slowly_but_keeps_reading_is_served() {
    let server = Server::start(Via::Tcp, "slow", |b| b).await;
    // More than the queue's hard cap (8 MiB): only backpressure gets it through.
    let messages = burst(300, |i| 40 * 1024 + i);
    let mut wire = Vec::new();
    for m in &messages {
        wire.extend_from_slice(&common::reference_write(m, 65535));
    }
    let expected = wire.clone();
    let (mut rd, mut wr) = TcpStream::connect(server.incoming.local_addr())
        .await
        .unwrap()
        .into_split();
    let writer = tokio::spawn(async move { wr.write_all(&wire).await.map(|()| wr) });
    let mut got = Vec::with_capacity(expected.len());
    let mut piece = vec![0u8; 16 * 1024];
    within("the slow client reads every echo", async {
        while got.len() < expected.len() {
            let n = rd.read(&mut piece).await.unwrap();
            assert!(n > 0, "the server closed after {} bytes", got.len());
            got.extend_from_slice(&piece[..n]);
            // A slow link: about 16 MB/s at most.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(got == expected, "the echoes differ");
    let _wr = writer.await.unwrap().unwrap();
    assert_eq!(server.seen.refused.load(Ordering::Relaxed), 0);
    assert!(
        server.seen.reasons().is_empty(),
        "{:?}",
        server.seen.reasons()
    );
}

/// The same burst from a client that stops reading (its central task takes nothing, so its
/// reader stops reading too): cut with `QueueFull` once the server's writer has been blocked
/// for the write time-out, while a well-behaved peer on the same transport is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_a_client_that_stops_reading_is_cut_and_a_good_peer_is_served() {
    for via in ALL {
        let server = Server::start(via, "stops-reading", |b| {
            b.write_timeout(Duration::from_millis(300))
        })
        .await;
        // The client's central queue takes 8 events and nobody takes them.
        let (tx, _never_read) = central::<Ev>(8);
        let (_out, bad) = server.client().connect(&tx).await.unwrap();
        for msg in burst(400, |i| 56 * 1024 + i) {
            bad.send(msg).unwrap();
        }
        // A good peer meanwhile: one round trip at a time, each served.
        let (gtx, mut good_events) = central::<Ev>(64);
        let (_good_out, good) = server.client().connect(&gtx).await.unwrap();
        let mut round_trips = 0;
        while server.seen.reasons().is_empty() || round_trips < 20 {
            good.send(Bytes::from(pattern(16, round_trips as u8)))
                .unwrap();
            loop {
                match within("the good peer's echo", good_events.recv()).await {
                    Some(Event::Message(_, got)) => {
                        assert_eq!(got, pattern(16, round_trips as u8));
                        break;
                    }
                    Some(Event::Connected(_)) => {}
                    other => panic!("{via:?}: the good peer got {other:?}"),
                }
            }
            round_trips += 1;
            assert!(
                round_trips < 100_000,
                "{via:?}: the bad client was never cut"
            );
        }
        assert_eq!(
            server.seen.reasons(),
            ["the outgoing queue was full"],
            "{via:?}"
        );
        assert_eq!(server.incoming.stats().connected, 1, "{via:?}");
    }
}

/// A plain TCP client that writes a burst of 1000 small messages in one write and reads
/// every echo: nothing is refused, and the same through a raw client as through
/// connhandler's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_client_writing_a_burst_in_one_write_gets_every_echo() {
    let server = Server::start(Via::Tcp, "raw", |b| b).await;
    let mut client = RawClient::connect(server.incoming.local_addr()).await;
    let messages = burst(1000, |i| 1 + i % 200);
    let mut wire = Vec::new();
    for m in &messages {
        wire.extend_from_slice(&common::reference_write(m, 65535));
    }
    client.send_raw(&wire).await;
    for (i, want) in messages.iter().enumerate() {
        let got = within("an echo", client.recv()).await.expect("cut");
        assert!(got == want, "echo {i} differs");
    }
    assert_eq!(server.seen.refused.load(Ordering::Relaxed), 0);
}

/// A client that floods but reads its echoes meets the message rate limit, not a full
/// queue: backpressure holds it within its marks, so the limit it set is what cuts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_that_reads_its_echoes_meets_the_rate_limit_not_a_full_queue() {
    let server = Server::start(Via::Tcp, "rate", |b| {
        b.rate_limit(connhandler::RateLimit::messages(
            200,
            Duration::from_secs(3600),
        ))
    })
    .await;
    let (tx, mut events) = central::<Ev>(1024);
    let (_out, peer) = server.client().connect(&tx).await.unwrap();
    for msg in burst(1000, |i| 1 + i % 64) {
        // The cut may come while the burst is still being queued: the rest finds the
        // connection closed (never a full queue).
        match peer.send(msg) {
            Ok(()) => {}
            Err(SendError::Closed(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let mut echoes = 0;
    loop {
        match within("the flood's echoes, then its end", events.recv()).await {
            Some(Event::Message(..)) => echoes += 1,
            Some(Event::Disconnected(..)) => break,
            Some(_) => {}
            None => panic!("the client's queue closed"),
        }
    }
    assert!(echoes <= 200, "{echoes} echoes");
    // (The echoes of what was handed on before the cut find the connection closed.)
    let reasons = within("the server's Disconnected", async {
        loop {
            let reasons = server.seen.reasons();
            if !reasons.is_empty() {
                return reasons;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(reasons, ["rate limited: too many messages"]);
}
