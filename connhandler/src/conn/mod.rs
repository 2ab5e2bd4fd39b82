//! One connection: its shared state, its handle, its send path and its two tasks, a reader
//! (which also supervises the connection) and a writer.
//!
//! | room | owns |
//! | --- | --- |
//! | `event.rs` | `Event`: what a connection (and a handler) puts into the central queue |
//! | `shared.rs` | the state handles and tasks share, fields private |
//! | `handle.rs` | `PeerHandle`, thin over the shared state |
//! | `send.rs` | the send path (checks, direct write, queueing, policy) and `SendError` |
//! | `direct.rs` | `DirectWrite`: a reply written from the sending task while the writer is idle (a state table) |
//! | `request.rs` | a request: registered with the waiting ones and queued under one lock |
//! | `queue.rs` | the per-peer outgoing queue and its bounds (soft, hard, the write time-out) |
//! | `pressure.rs` | backpressure: the reader holds a peer's messages while the peer has enough to answer |
//! | `framer.rs` | a handler's framing, for a message framed once and queued to many connections |
//! | `close.rs` | whether and why the connection closes; `CloseWait`, linger |
//! | `reader.rs` | the reader task, as a list of steps over the next three |
//! | `read_buf.rs` | the read buffer and its sizing policy |
//! | `deadline.rs` | the deadlines: first message, idle, frame, the version handshake, the heartbeat |
//! | `writer.rs` | the writer task |
//! | `registry.rs` | the connections of one handler |
//!
//! Lifecycle, whoever starts the close:
//!
//! | step | reader (supervisor) | writer |
//! | --- | --- | --- |
//! | greeting (with a version handshake) | reads until the peer's hello: accepted, pushes `Connected` and goes on; refused or not a hello, closes (after our rejection, if the protocol has one) and pushes only `Disconnected`; nothing within the handshake's time-out, `TimedOut(Handshake)` | writes our hello, queued before anything else |
//! | open | pushes `Connected` (unless greeting did), then reads; hellos, pings and pongs stop at the reader, replies go to their waiters, the rest is handed on in order | writes what is queued, in batches |
//! | close starts | the peer ends the stream or breaks the framing or a message (the reader records why), the program calls `disconnect`, the handler shuts down, or a write fails (the writer records why): the connection's token is cancelled | |
//! | half-closed (the peer's FIN, with `half_close`) | has handed on everything before the FIN; waits until the central task has taken it (a marker in the central queue), at most `close_timeout`, then closes with `ClosedByPeer` | still writes: the replies go out |
//! | closing | stops handing on messages, waits for the writer | stops taking new messages, writes those already queued (within `close_timeout`), sends FIN |
//! | linger | after a local close, reads and discards until the peer closes (within `close_timeout`), so unread input cannot reset the connection before the peer has read our last messages | |
//! | closed | leaves the handler's registry, fails the requests still waiting with the reason, pushes `Disconnected` with the reason and the count of queued messages not written, handing it the connection's `max_connections` slot (given back when the central task takes the event) | |

mod close;
mod deadline;
mod direct;
mod event;
mod framer;
mod handle;
mod pressure;
mod queue;
mod read_buf;
mod reader;
mod registry;
mod request;
mod send;
mod shared;
mod writer;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{sync::OwnedSemaphorePermit, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

pub(crate) use crate::transport::Transport;
pub use event::Event;
pub(crate) use framer::Framer;
pub use handle::PeerHandle;
pub(crate) use queue::Framed;
pub(crate) use registry::Registry;
pub(crate) use send::Queued;
pub use send::SendError;

use self::{
    close::Closing,
    deadline::Deadlines,
    direct::DirectWrite,
    pressure::Flight,
    read_buf::ReadBuf,
    reader::Reader,
    shared::{Identity, SendSettings, Shared},
    writer::Writer,
};
use crate::{
    budget::{Hold, ReadBudget},
    central::{CentralSender, HandOn},
    codec::{Carried, Framing},
    limits::{AddrSlot, Limiter, QueuePolicy, RateLimit},
    message::Decode,
    peer::{Peer, PeerId},
    tap::Tap,
};

/// Per-connection settings, shared by the incoming and outgoing handler builders.
pub(crate) use deadline::TimeoutSettings;

#[derive(Clone)]
pub(crate) struct ConnSettings {
    pub(crate) queue_capacity: usize,
    /// The outgoing queue's bound in bytes (encoded lengths).
    pub(crate) queue_bytes: usize,
    /// Writability's low and high watermarks, in queued bytes; `None`: a quarter and a half
    /// of `queue_bytes`.
    pub(crate) watermarks: Option<(usize, usize)>,
    /// The outgoing queue's hard cap, in bytes of memory; `None`: `HARD_CAP_FACTOR` x
    /// `queue_bytes`.
    pub(crate) queue_hard_cap: Option<usize>,
    /// How long the writer may be blocked on the socket, with the queue beyond its soft
    /// bound, before the queue policy applies.
    pub(crate) write_timeout: Option<Duration>,
    /// Whether the reader holds the peer's messages while the peer has enough to answer
    /// (`pressure.rs`).
    pub(crate) backpressure: bool,
    pub(crate) close_timeout: Duration,
    pub(crate) nodelay: bool,
    /// TCP keepalive's idle time, if on.
    pub(crate) keepalive: Option<Duration>,
    pub(crate) tap: Option<Tap>,
    /// The reader's time-outs (first message, idle, frame, minimum frame rate).
    pub(crate) timeouts: TimeoutSettings,
    /// After the peer's FIN, replies to what it sent are still written.
    pub(crate) half_close: bool,
    pub(crate) queue_policy: QueuePolicy,
    pub(crate) rate_limit: Option<RateLimit>,
    /// Control frames (WebSocket pings and pongs, the heartbeat's) per period.
    pub(crate) control_rate: Option<(u64, Duration)>,
    /// The bytes of unfinished frames all the handler's connections may hold together,
    /// beyond `FREE_UNFINISHED` each.
    pub(crate) read_budget: Option<usize>,
    /// The most of it one address may hold; `None`: an eighth of it.
    pub(crate) read_budget_per_ip: Option<Option<usize>>,
}

impl ConnSettings {
    /// Writability's watermarks: set, or derived from the byte bound.
    pub(crate) fn watermarks(&self) -> (usize, usize) {
        self.watermarks
            .unwrap_or((self.queue_bytes / 4, self.queue_bytes / 2))
    }

    /// The share of a read budget of `total` bytes that one address may hold.
    pub(crate) fn read_budget_per_ip(&self, total: usize) -> Option<usize> {
        self.read_budget_per_ip.unwrap_or(Some(total / 8))
    }

    /// The outgoing queue's bounds.
    pub(crate) fn queue_bounds(&self) -> queue::Bounds {
        queue::Bounds {
            capacity: self.queue_capacity,
            bytes: self.queue_bytes,
            hard: self
                .queue_hard_cap
                .unwrap_or(self.queue_bytes.saturating_mul(HARD_CAP_FACTOR)),
            watermarks: self.watermarks(),
            write_timeout: self.write_timeout,
        }
    }
}

/// The default hard cap of a connection's outgoing queue, in multiples of `queue_bytes`.
pub(crate) const HARD_CAP_FACTOR: usize = 8;

/// The default `control_rate_limit` of an incoming handler: no conforming peer pings or
/// pongs this often.
pub(crate) const DEFAULT_CONTROL_RATE: (u64, Duration) = (64, Duration::from_secs(1));

/// The default `write_timeout` of an incoming handler.
pub(crate) const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// The default byte bound of a connection's outgoing queue.
pub(crate) const DEFAULT_QUEUE_BYTES: usize = 1 << 20;

impl Default for ConnSettings {
    /// No protection: an outgoing handler's defaults (it talks to a peer the program
    /// chose); an incoming handler adds its own (`Listen`'s defaults).
    fn default() -> Self {
        ConnSettings {
            queue_capacity: 256,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            watermarks: None,
            queue_hard_cap: None,
            write_timeout: None,
            backpressure: false,
            close_timeout: Duration::from_secs(5),
            nodelay: true,
            keepalive: None,
            tap: None,
            timeouts: TimeoutSettings::default(),
            half_close: true,
            queue_policy: QueuePolicy::Disconnect,
            rate_limit: None,
            control_rate: None,
            read_budget: None,
            read_budget_per_ip: None,
        }
    }
}

/// What an incoming connection holds of its handler's caps, given back when it goes.
#[derive(Default)]
pub(crate) struct Admission {
    /// A slot of `max_connections`: kept until the central task takes the `Disconnected`
    /// event, so the cap bounds the lifecycle events queued too.
    pub(crate) slot: Option<OwnedSemaphorePermit>,
    /// Its place among its address's connections (`max_connections_per_ip`).
    pub(crate) addr: Option<AddrSlot>,
}

/// What a connection brings from its door: what it learned there, and bytes read past the
/// door's last step (a WebSocket server's first frame in the segment of its 101).
#[derive(Default)]
pub(crate) struct Opened {
    pub(crate) info: crate::transport::TransportInfo,
    pub(crate) initial: bytes::BytesMut,
}

pub(crate) struct ConnCtx<'a, P: Peer, F, E> {
    pub(crate) handler: &'a Arc<str>,
    pub(crate) handler_id: crate::peer::HandlerId,
    pub(crate) settings: &'a Arc<ConnSettings>,
    pub(crate) framing: &'a Carried<F>,
    pub(crate) parent: &'a CancellationToken,
    pub(crate) central: &'a CentralSender<E>,
    pub(crate) tracker: &'a TaskTracker,
    pub(crate) registry: &'a Arc<Registry<P>>,
    /// The handler's framing for broadcasts.
    pub(crate) framer: &'a Arc<Framer<P::Send>>,
    /// The handler's budget for unfinished frames (`read_budget`).
    pub(crate) budget: Option<&'a Arc<ReadBudget>>,
    /// The handler's conversation settings (requests, handshake, heartbeat).
    pub(crate) talk: &'a Arc<crate::talk::Talk<P>>,
}

/// Starts the reader and writer tasks of a new connection over `stream`. The returned task
/// ends once `Disconnected` has been pushed, with whether the close was not ours.
pub(crate) fn spawn<P, F, E, T>(
    ctx: ConnCtx<'_, P, F, E>,
    stream: T,
    addr: SocketAddr,
    data: P,
    admission: Admission,
    opened: Opened,
) -> (PeerHandle<P>, JoinHandle<bool>)
where
    P: Peer,
    F: Framing,
    E: From<Event<P>> + Send + 'static,
    T: Transport,
{
    if let Err(e) = stream.set_nodelay(ctx.settings.nodelay) {
        tracing::debug!(%addr, "set_nodelay failed: {e}");
    }
    if let Some(idle) = ctx.settings.keepalive {
        if let Err(e) = stream.set_keepalive(idle) {
            tracing::debug!(%addr, "setting TCP keepalive failed: {e}");
        }
    }
    let local_addr = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut framing = ctx.framing.clone();
    if let Some(chunked) = framing.chunked() {
        chunked.set_frame_status(<P::Recv as Decode>::frame_status);
    }
    let (read, write) = stream.into_split();
    let write = Arc::new(write);
    let mut encoder = framing.clone();
    // With a tap, everything goes through the writer, which reports it.
    let direct_write = (ctx.settings.tap.is_none() && T::DIRECT_WRITES).then(|| write.clone() as _);
    let direct = DirectWrite::new(
        direct_write,
        Box::new(move |msg, dst| encoder.encode_message(msg, dst)),
    );
    let who = Identity {
        id: PeerId::next(),
        addr,
        local_addr,
        handler: ctx.handler.clone(),
        handler_id: ctx.handler_id,
        transport: opened.info,
    };
    let send = SendSettings {
        bounds: ctx.settings.queue_bounds(),
        policy: ctx.settings.queue_policy,
        sendable: framing.sendable_lengths(),
    };
    let shared = Arc::new(Shared::new(
        who,
        data,
        send,
        direct,
        Closing::new(ctx.parent),
        ctx.framer.clone(),
        ctx.talk.clone(),
    ));
    // Our hello goes first, before anything the program or a broadcast can queue.
    if let Some(hello) = crate::talk::Conversation::hello(ctx.talk) {
        let _ = shared.queue_last(hello);
    }
    let handle = PeerHandle::new(shared.clone());
    ctx.registry.insert(handle.clone());
    if shared.closing().is_cancelled() {
        // The handler closed before this connection was registered (`Registry::close_all`).
        shared.closing().mark();
    }

    let span = tracing::info_span!(
        "connection",
        handler = %ctx.handler,
        peer = %shared.id(),
        addr = %addr,
    );
    let writer = Writer {
        shared: shared.clone(),
        taken: Default::default(),
        write,
        framing: framing.clone(),
        settings: ctx.settings.clone(),
    };
    let writer = ctx.tracker.spawn(writer.run().instrument(span.clone()));
    let settings = &ctx.settings;
    let reader = Reader {
        shared,
        framing,
        limiter: Limiter::new(
            settings.rate_limit.as_ref(),
            admission.addr,
            settings.control_rate,
        ),
        hand: HandOn::new(ctx.central.clone()),
        settings: Arc::clone(settings),
        registry: ctx.registry.clone(),
        buf: ReadBuf::with(opened.initial),
        deadlines: Deadlines::new(Arc::clone(settings)),
        budget: Hold::new(ctx.budget.cloned(), addr.ip()),
        flight: Flight::new(
            settings.backpressure.then(|| settings.watermarks()),
            queue::OutQueue::<P::Send>::SLOT,
        ),
        decoded: false,
        work: 0,
        slot: admission.slot,
        conversation: crate::talk::Conversation::new(ctx.talk, tokio::time::Instant::now()),
        last_words: false,
    };
    let done = ctx.tracker.spawn(reader.run(read, writer).instrument(span));
    (handle, done)
}
