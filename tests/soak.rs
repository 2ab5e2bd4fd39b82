//! A bounded soak test: many peers, random message sizes, random disconnects from both
//! sides, for a fixed time; checks that per connection `Connected` comes first, messages
//! arrive in order (both ways), and `Disconnected` comes exactly once, last.
//!
//! The suite runs it for 2 seconds; `SOAK_SECS=300 cargo test --release --test soak -- --nocapture`
//! runs the long version.

mod common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use common::{within, Raw, RawClient};
use connhandler::{central, Event, Incoming, PeerHandle};

/// xorshift64*: reproducible randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A message: a sequence number, then filler up to `len` bytes.
fn message(seq: u32, len: usize) -> Vec<u8> {
    let mut m = seq.to_le_bytes().to_vec();
    m.resize(len.max(4), (seq % 251) as u8);
    m
}

fn seq_of(m: &[u8]) -> u32 {
    u32::from_le_bytes([m[0], m[1], m[2], m[3]])
}

#[derive(Default)]
struct Seen {
    next: u32,
    disconnected: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let until = Instant::now() + Duration::from_secs(secs);
    const PEERS: usize = 32;

    let (tx, mut central) = central::<Event<Raw>>(256);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let addr = server.local_addr();

    // Clients: connect, send random-sized numbered messages, check the echoes come back in
    // order, sometimes hang up mid-stream, reconnect, until the time is up.
    let mut clients = Vec::new();
    for c in 0..PEERS {
        clients.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((c as u64 + 1) * 0x1234_5678));
            let mut connections = 0u64;
            let mut echoed = 0u64;
            while Instant::now() < until {
                connections += 1;
                let mut client = RawClient::connect(addr).await;
                let burst = 1 + rng.below(50) as u32;
                let mut sent = 0;
                for seq in 0..burst {
                    let big = rng.below(10) == 0;
                    let len = 4 + rng.below(if big { 70_000 } else { 300 }) as usize;
                    // The server hangs up on a peer now and then, maybe in the middle of a
                    // burst: the write then fails (a broken pipe, a reset).
                    if client.try_send(&message(seq, len)).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
                let burst = sent;
                if rng.below(4) == 0 {
                    continue; // hang up without reading the echoes
                }
                for seq in 0..burst {
                    match client.recv().await {
                        Some(m) => {
                            assert_eq!(seq_of(&m), seq, "echo out of order");
                            echoed += 1;
                        }
                        // The server hung up on us (it does, now and then).
                        None => break,
                    }
                }
            }
            (connections, echoed)
        }));
    }

    // The central task: echo, disconnect some peers at random, check the invariants.
    let mut rng = Rng(42);
    let mut seen: HashMap<PeerHandle<Raw>, Seen> = HashMap::new();
    let mut messages = 0u64;
    let mut kicked = 0u64;
    let all_done = async {
        for c in clients {
            c.await.unwrap();
        }
    };
    tokio::pin!(all_done);
    let mut finished = false;
    loop {
        // Either the clients are all done (then the exit check below runs at once: the last
        // Disconnected may have come before), or an event, within 30 s.
        let event = tokio::select! {
            _ = &mut all_done, if !finished => {
                finished = true;
                None
            }
            e = within("the next event of the central queue", central.recv()) => {
                Some(e.expect("the central queue closed"))
            }
        };
        match event {
            None => {}
            Some(event) => seen_event(event, &mut seen, &mut rng, &mut messages, &mut kicked),
        }
        if finished && seen.values().all(|s| s.disconnected) && server.stats().connected == 0 {
            break;
        }
    }
    eprintln!(
        "soak: {secs} s, {} connections, {messages} messages, {kicked} kicked",
        seen.len()
    );
    assert!(seen.len() >= PEERS);
    assert!(messages > 0);
    server.shutdown().await;
}

/// The central task's part: echo, disconnect some peers at random, check the invariants.
fn seen_event(
    event: Event<Raw>,
    seen: &mut HashMap<PeerHandle<Raw>, Seen>,
    rng: &mut Rng,
    messages: &mut u64,
    kicked: &mut u64,
) {
    match event {
        Event::Connected(p) => {
            assert!(seen.insert(p, Seen::default()).is_none(), "Connected twice");
        }
        Event::Message(p, m) => {
            let s = seen.get_mut(&p).expect("message before Connected");
            assert!(!s.disconnected, "message after Disconnected");
            assert_eq!(seq_of(&m), s.next, "messages out of order");
            s.next += 1;
            *messages += 1;
            if rng.below(200) == 0 {
                *kicked += 1;
                p.disconnect_with("soak: random kick");
            } else {
                let _ = p.send(m);
            }
        }
        Event::Disconnected(p, _) => {
            let s = seen.get_mut(&p).expect("Disconnected before Connected");
            assert!(!s.disconnected, "Disconnected twice");
            s.disconnected = true;
        }
        _ => {}
    }
}
