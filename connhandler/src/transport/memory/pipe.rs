//! One direction of an in-memory connection: bytes written at one end, delivered at the
//! other when the link lets them through.
//!
//! | pipe | a read | a write |
//! | --- | --- | --- |
//! | open | takes the chunks that are due (their delivery time passed and the link is up); none due: waits, a timer set for the first | takes what fits under `capacity`; none fits: `WouldBlock` until the reader takes some |
//! | reset armed (after N bytes) | as open, until the reset marker is due: then reset | the bytes up to N, then the marker; after it, reset |
//! | finished (the writer shut down or dropped) | what is left, then end of stream | `BrokenPipe` |
//! | reader gone (dropped) | | `BrokenPipe`: nobody will read |
//! | reset | `ConnectionReset`, what was held is lost | `ConnectionReset` |

use std::{
    collections::VecDeque,
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, OnceLock, Weak},
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::{Buf, Bytes};
use tokio::time::{Instant, Sleep};

use super::network::LinkState;

/// One direction of a connection.
pub(crate) struct Pipe {
    state: Mutex<State>,
    /// The conditions and the state of the link between the two hosts, this direction.
    link: Arc<LinkState>,
    /// The other direction of the same connection (a reset ends both).
    partner: OnceLock<Weak<Pipe>>,
}

enum Chunk {
    Data {
        due: Instant,
        bytes: Bytes,
    },
    /// The connection resets when the reader reaches this.
    Reset {
        due: Instant,
    },
}

impl Chunk {
    fn due(&self) -> Instant {
        match self {
            Chunk::Data { due, .. } | Chunk::Reset { due } => *due,
        }
    }
}

struct State {
    chunks: VecDeque<Chunk>,
    /// Bytes in `chunks`.
    held: usize,
    /// The most it holds (a socket's buffers, both ends together): a write past it waits.
    capacity: usize,
    /// When the link has sent everything written so far (the bandwidth cap), and the
    /// latest delivery time (deliveries keep their order).
    free_at: Instant,
    last_due: Instant,
    /// Bytes still accepted before a reset marker (`reset_after`).
    reset_in: Option<u64>,
    finished: bool,
    reader_gone: bool,
    reset: bool,
    readers: Vec<Waker>,
    writers: Vec<Waker>,
    /// Wakes the reader when the first chunk is due.
    timer: Option<Pin<Box<Sleep>>>,
}

fn wake(wakers: &mut Vec<Waker>) {
    for w in wakers.drain(..) {
        w.wake();
    }
}

fn register(wakers: &mut Vec<Waker>, cx: &Context<'_>) {
    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
        wakers.push(cx.waker().clone());
    }
}

impl Pipe {
    pub(crate) fn new(link: Arc<LinkState>, capacity: usize) -> Arc<Pipe> {
        let now = Instant::now();
        let pipe = Arc::new(Pipe {
            state: Mutex::new(State {
                chunks: VecDeque::new(),
                held: 0,
                capacity: capacity.max(1),
                free_at: now,
                last_due: now,
                reset_in: None,
                finished: false,
                reader_gone: false,
                reset: false,
                readers: Vec::new(),
                writers: Vec::new(),
                timer: None,
            }),
            link,
            partner: OnceLock::new(),
        });
        pipe.link.attach(&pipe);
        pipe
    }

    /// Makes `a` and `b` the two directions of one connection.
    pub(crate) fn pair(a: &Arc<Pipe>, b: &Arc<Pipe>) {
        let _ = a.partner.set(Arc::downgrade(b));
        let _ = b.partner.set(Arc::downgrade(a));
    }

    /// Resets both directions of the connection.
    pub(crate) fn reset_both(&self) {
        self.reset();
        if let Some(p) = self.partner.get().and_then(Weak::upgrade) {
            p.reset();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what fits now.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.lock();
        if s.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if s.finished || s.reader_gone {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if s.reset_in == Some(0) {
            // The marker is written: what comes after it is lost with the connection.
            return Ok(buf.len());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let room = s.capacity.saturating_sub(s.held);
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = buf.len().min(room);
        if let Some(left) = s.reset_in {
            n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        let due = self.schedule(&mut s, n);
        if n > 0 {
            s.chunks.push_back(Chunk::Data {
                due,
                bytes: Bytes::copy_from_slice(&buf[..n]),
            });
            s.held += n;
        }
        if let Some(left) = s.reset_in.as_mut() {
            *left -= n as u64;
            if *left == 0 {
                s.chunks.push_back(Chunk::Reset { due });
            }
        }
        wake(&mut s.readers);
        // A reset armed at 0 bytes takes the whole write (its bytes are lost).
        Ok(if n == 0 { buf.len() } else { n })
    }

    /// When `n` bytes written now are delivered: after the link sent them (its bandwidth)
    /// and crossed it (latency and jitter), never before what was written earlier.
    fn schedule(&self, s: &mut State, n: usize) -> Instant {
        let now = Instant::now();
        let (crossing, rate) = self.link.crossing();
        let sent = s.free_at.max(now)
            + match rate {
                Some(rate) => Duration::from_secs_f64(n as f64 / rate as f64),
                None => Duration::ZERO,
            };
        s.free_at = sent;
        let due = (sent + crossing).max(s.last_due);
        s.last_due = due;
        due
    }

    /// Ready to write: room, or an error to report.
    pub(crate) fn poll_write_ready(&self, cx: &Context<'_>) -> Poll<()> {
        let mut s = self.lock();
        if s.reset || s.finished || s.reader_gone || s.held < s.capacity {
            return Poll::Ready(());
        }
        register(&mut s.writers, cx);
        Poll::Pending
    }

    /// Reads what is due into `buf`; `Ok(0)` at the end of the stream (or for an empty
    /// `buf`); `WouldBlock` when nothing is due (`cx`, if given, is woken when something is).
    pub(crate) fn try_read(
        &self,
        buf: &mut [u8],
        cx: Option<&mut Context<'_>>,
    ) -> io::Result<usize> {
        let mut s = self.lock();
        if s.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let now = Instant::now();
        let open_at = self.link.open_at(now);
        let mut got = 0;
        while got < buf.len() {
            let Some(front) = s.chunks.front_mut() else {
                break;
            };
            if front.due() > now || open_at.is_none_or(|at| at > now) {
                break;
            }
            match front {
                Chunk::Reset { .. } => {
                    if got > 0 {
                        break;
                    }
                    drop(s);
                    self.reset_both();
                    return Err(io::ErrorKind::ConnectionReset.into());
                }
                Chunk::Data { bytes, .. } => {
                    let n = bytes.len().min(buf.len() - got);
                    buf[got..got + n].copy_from_slice(&bytes[..n]);
                    bytes.advance(n);
                    got += n;
                    if bytes.is_empty() {
                        s.chunks.pop_front();
                    }
                }
            }
        }
        if got > 0 {
            s.held -= got;
            wake(&mut s.writers);
            return Ok(got);
        }
        if buf.is_empty() || (s.chunks.is_empty() && s.finished) {
            return Ok(0);
        }
        if let Some(cx) = cx {
            self.wait_readable(&mut s, cx, now, open_at);
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Ready to read: something due, the end, or a reset.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.lock();
        if s.reset || (s.chunks.is_empty() && s.finished) {
            return Poll::Ready(());
        }
        let now = Instant::now();
        let open_at = self.link.open_at(now);
        if let Some(front) = s.chunks.front() {
            if front.due() <= now && open_at.is_some_and(|at| at <= now) {
                return Poll::Ready(());
            }
        }
        self.wait_readable(&mut s, cx, now, open_at);
        Poll::Pending
    }

    /// Registers the reader, and sets the timer for when the first chunk is due (a link
    /// down for good has no time: healing it wakes the reader).
    fn wait_readable(
        &self,
        s: &mut State,
        cx: &mut Context<'_>,
        now: Instant,
        open_at: Option<Instant>,
    ) {
        register(&mut s.readers, cx);
        let Some(front) = s.chunks.front() else {
            s.timer = None;
            return;
        };
        let Some(open_at) = open_at else {
            s.timer = None;
            return;
        };
        let at = front.due().max(open_at).max(now);
        match s.timer.as_mut() {
            Some(t) if t.deadline() == at => {}
            Some(t) => t.as_mut().reset(at),
            None => s.timer = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        if let Some(t) = s.timer.as_mut() {
            if t.as_mut().poll(cx).is_ready() {
                s.timer = None;
                cx.waker().wake_by_ref();
            }
        }
    }

    /// The writer shut down its direction (a FIN): the reader gets what is held, then the
    /// end of the stream.
    pub(crate) fn finish(&self) {
        let mut s = self.lock();
        s.finished = true;
        wake(&mut s.readers);
        wake(&mut s.writers);
    }

    /// The reading end is gone: writes fail from now on, and what was held is dropped.
    pub(crate) fn reader_gone(&self) {
        let mut s = self.lock();
        s.reader_gone = true;
        s.chunks.clear();
        s.held = 0;
        s.timer = None;
        wake(&mut s.writers);
    }

    /// Resets this direction: what is held is lost, reads and writes fail.
    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        s.reset = true;
        s.chunks.clear();
        s.held = 0;
        s.timer = None;
        wake(&mut s.readers);
        wake(&mut s.writers);
    }

    /// After `bytes` more bytes are written, the connection resets (when the reader reaches
    /// that point).
    pub(crate) fn reset_after(&self, bytes: u64) {
        let mut s = self.lock();
        if s.reset_in.is_some() {
            return;
        }
        s.reset_in = Some(bytes);
        if bytes == 0 {
            let due = s.last_due.max(Instant::now());
            s.chunks.push_back(Chunk::Reset { due });
            wake(&mut s.readers);
        }
    }

    /// The link's state changed (healed, conditions set): the reader looks again.
    pub(crate) fn link_changed(&self) {
        let mut s = self.lock();
        s.timer = None;
        wake(&mut s.readers);
    }

    /// Whether the connection is over in this direction (reset, or finished and drained).
    pub(crate) fn is_over(&self) -> bool {
        let s = self.lock();
        s.reset || s.reader_gone || (s.finished && s.chunks.is_empty())
    }
}
