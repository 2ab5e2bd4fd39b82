//! `tcpmsg proxy`'s link conditioner: a byte relay in front of the proxy's listener that
//! delays, paces, stalls and resets what crosses it, to test real programs on a bad link.
//!
//! With any of its options, the proxy's message handler listens on loopback behind the
//! relay, which listens where `--listen` says; the relay gives each client's address to it
//! in a PROXY v1 header (so its per-address limits and its lines name the real client).
//! Each direction of a connection is a reader and a writer joined by a channel of
//! `CHUNKS` chunks of at most `CHUNK` bytes: when the conditioned link is slower than the
//! sender, the channel fills, the reader stops reading, and TCP's own flow control pushes
//! back on the sender. Nothing is held beyond that bound.
//!
//! | a chunk | when it is written |
//! | --- | --- |
//! | read at `t` | after the link has sent what came before it and itself at the bandwidth cap, plus the delay and a draw of jitter (never before an earlier chunk) |
//! | due inside a stall window | at the window's end |
//! | crossing the reset mark | its bytes up to the mark, then both sockets close with a zero linger: the client gets an RST |
//! | after the end of its direction | never: the end is passed on (a FIN); when the proxy's side ends, the connection ends, so a client that never closes is not held |

use std::{
    io,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch, Semaphore},
    time::Instant,
};

/// Bytes read at once, and chunks in flight per direction: at most 256 KiB held.
const CHUNK: usize = 16 * 1024;
const CHUNKS: usize = 16;

/// The conditioner's options; all off by default.
#[derive(Clone, Debug, Default)]
pub(crate) struct Conditions {
    pub(crate) delay: Duration,
    pub(crate) jitter: Duration,
    /// Bits per second, client to upstream and back.
    pub(crate) up_bps: Option<u64>,
    pub(crate) down_bps: Option<u64>,
    /// Every `stall_every`, nothing is delivered for `stall_for`.
    pub(crate) stall_every: Option<Duration>,
    pub(crate) stall_for: Duration,
    /// A reset after this many bytes (both directions together).
    pub(crate) reset_after: Option<u64>,
    /// A reset after a number of bytes drawn from 1..=this for each connection.
    pub(crate) reset_random: Option<u64>,
    pub(crate) seed: u64,
}

impl Conditions {
    pub(crate) fn is_on(&self) -> bool {
        !self.delay.is_zero()
            || !self.jitter.is_zero()
            || self.up_bps.is_some()
            || self.down_bps.is_some()
            || self.stall_every.is_some()
            || self.reset_after.is_some()
            || self.reset_random.is_some()
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.stall_every.is_some() == self.stall_for.is_zero() {
            return Err("--stall-every-ms and --stall-ms go together".into());
        }
        if self.stall_every.is_some_and(|e| e.is_zero()) {
            return Err("--stall-every-ms must be more than 0".into());
        }
        if self.up_bps == Some(0) || self.down_bps == Some(0) || self.reset_random == Some(0) {
            return Err(
                "a bandwidth or --reset-random-bytes of 0 means nothing; leave it out".into(),
            );
        }
        Ok(())
    }
}

/// splitmix64: the draws of one seed are the same on every run.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Accepts clients on `listener` and relays each to `inner` (the proxy's message handler),
/// at most `max_connections` at once; runs until the process ends.
pub(crate) async fn relay(
    listener: TcpListener,
    inner: SocketAddr,
    c: Conditions,
    max_connections: usize,
) {
    let c = Arc::new(c);
    let start = Instant::now();
    let slots = Arc::new(Semaphore::new(
        max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let mut index = 0u64;
    loop {
        let Ok((client, addr)) = listener.accept().await else {
            // Out of descriptors: let some go before trying again.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue; // dropped: closed at once
        };
        index += 1;
        let mut rng = c.seed ^ index.wrapping_mul(0xa076_1d64_78bd_642f);
        let reset_at = c
            .reset_after
            .or(c.reset_random.map(|max| 1 + next_random(&mut rng) % max));
        let c = c.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection(client, addr, inner, &c, start, reset_at, rng).await {
                note_failure(addr, &e);
            }
        });
    }
}

fn note_failure(addr: SocketAddr, e: &io::Error) {
    if e.kind() != io::ErrorKind::ConnectionReset {
        eprintln!("tcpmsg: conditioner: {addr}: {e}");
    }
}

/// What both directions of one connection share.
struct Shared {
    /// Bytes written so far, both directions.
    passed: AtomicU64,
    reset_at: Option<u64>,
    /// Set when the connection resets (or either side fails).
    over: watch::Sender<bool>,
}

async fn connection(
    client: TcpStream,
    addr: SocketAddr,
    inner: SocketAddr,
    c: &Conditions,
    start: Instant,
    reset_at: Option<u64>,
    mut rng: u64,
) -> io::Result<()> {
    let mut upstream = TcpStream::connect(inner).await?;
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let local = client.local_addr()?;
    let family = if addr.is_ipv4() { "TCP4" } else { "TCP6" };
    let header = format!(
        "PROXY {family} {} {} {} {}\r\n",
        addr.ip(),
        local.ip(),
        addr.port(),
        local.port()
    );
    upstream.write_all(header.as_bytes()).await?;
    let shared = Shared {
        passed: AtomicU64::new(0),
        reset_at,
        over: watch::Sender::new(false),
    };
    let mut client = client;
    {
        // Borrowed halves: dropping them does not shut the sockets down (a FIN would go
        // out before the reset's RST).
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        let up_rng = next_random(&mut rng);
        let down_rng = next_random(&mut rng);
        let up = direction(cr, uw, c, c.up_bps, start, up_rng, &shared);
        let down = direction(ur, cw, c, c.down_bps, start, down_rng, &shared);
        let mut over = shared.over.subscribe();
        // The session ends with the proxy's side: once the message handler closed (and
        // what it sent before is delivered), a client that never closes is not held.
        let session = async {
            tokio::pin!(up, down);
            tokio::select! {
                _ = &mut down => {}
                _ = &mut up => (&mut down).await,
            }
        };
        tokio::select! {
            _ = over.wait_for(|over| *over) => {}
            _ = session => {}
        }
    }
    if shared
        .reset_at
        .is_some_and(|at| shared.passed.load(Ordering::Relaxed) >= at)
    {
        // A zero linger: closing sends an RST.
        let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
        let _ = socket2::SockRef::from(&upstream).set_linger(Some(Duration::ZERO));
    }
    Ok(())
}

/// One direction: reads chunks from `from`, writes each to `to` when it is due.
async fn direction(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    c: &Conditions,
    bps: Option<u64>,
    start: Instant,
    mut rng: u64,
    shared: &Shared,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Bytes)>(CHUNKS);
    // `async move`: the sender goes with the reader, so the writer sees the end.
    let read = async move {
        let mut free_at = Instant::now();
        let mut last_due = free_at;
        loop {
            let mut buf = BytesMut::with_capacity(CHUNK);
            match from.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let now = Instant::now();
                    let sent = free_at.max(now)
                        + bps.map_or(Duration::ZERO, |bps| {
                            Duration::from_secs_f64(n as f64 * 8.0 / bps as f64)
                        });
                    free_at = sent;
                    let jitter = if c.jitter.is_zero() {
                        Duration::ZERO
                    } else {
                        c.jitter
                            .mul_f64((next_random(&mut rng) >> 11) as f64 / (1u64 << 53) as f64)
                    };
                    let due = (sent + c.delay + jitter).max(last_due);
                    last_due = due;
                    if tx.send((due, buf.freeze())).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let write = async {
        while let Some((due, mut bytes)) = rx.recv().await {
            let at = out_of_stall(c, start, due);
            tokio::time::sleep_until(at).await;
            if let Some(reset_at) = shared.reset_at {
                let passed = shared.passed.load(Ordering::Relaxed);
                let left = reset_at.saturating_sub(passed);
                if (bytes.len() as u64) >= left {
                    bytes.truncate(left as usize);
                    let _ = to.write_all(&bytes).await;
                    shared.passed.fetch_add(left, Ordering::Relaxed);
                    shared.over.send_replace(true);
                    return;
                }
            }
            if to.write_all(&bytes).await.is_err() {
                shared.over.send_replace(true);
                return;
            }
            shared
                .passed
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        // The reader saw the end: pass it on (a FIN), after everything before it.
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

/// `at`, or the end of the stall window it falls in.
fn out_of_stall(c: &Conditions, start: Instant, at: Instant) -> Instant {
    let Some(every) = c.stall_every else {
        return at;
    };
    let since = at.saturating_duration_since(start).as_nanos();
    let period = every.as_nanos().max(1);
    let into = since % period;
    // The first `stall_for` of each period delivers nothing (after the first period).
    if since >= period && into < c.stall_for.as_nanos() {
        at + Duration::from_nanos((c.stall_for.as_nanos() - into) as u64)
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_windows_hold_what_falls_in_them_to_their_end() {
        let c = Conditions {
            stall_every: Some(Duration::from_millis(1000)),
            stall_for: Duration::from_millis(300),
            ..Conditions::default()
        };
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        // The first period has no stall; later ones begin with theirs.
        assert_eq!(out_of_stall(&c, start, at(100)), at(100));
        assert_eq!(out_of_stall(&c, start, at(1100)), at(1300));
        assert_eq!(out_of_stall(&c, start, at(1300)), at(1300));
        assert_eq!(out_of_stall(&c, start, at(2999)), at(2999));
        assert_eq!(out_of_stall(&c, start, at(3000)), at(3300));
    }

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        let (mut a, mut b, mut other) = (7u64, 7u64, 8u64);
        let first: Vec<u64> = (0..4).map(|_| next_random(&mut a)).collect();
        assert_eq!(
            first,
            (0..4).map(|_| next_random(&mut b)).collect::<Vec<_>>()
        );
        assert_ne!(
            first,
            (0..4).map(|_| next_random(&mut other)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn options_that_mean_nothing_are_refused() {
        let half = Conditions {
            stall_every: Some(Duration::from_secs(1)),
            ..Conditions::default()
        };
        assert!(half.check().is_err());
        assert!(!Conditions::default().is_on());
        let zero = Conditions {
            up_bps: Some(0),
            ..Conditions::default()
        };
        assert!(zero.check().is_err());
    }
}
