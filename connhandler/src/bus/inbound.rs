//! What comes in over the bus: a task per subscription, from the NATS client's channel into
//! the central queue, and a supervisor that turns the client's own events into
//! [`BusEvent`]s.
//!
//! | step | a subscription's task |
//! | --- | --- |
//! | wait | for the next message in the client's channel (at most `subscription_bytes / max_message_size` of them; past that the client drops, and reports a slow consumer) |
//! | decode | `P::Recv::decode` of the payload; longer than `max_message_size` or undecodable: [`BusEvent::Undecodable`] naming the subject |
//! | room | one event of the central queue's count, and the payload's bytes of its byte bound (payloads under 1 KiB count by number alone, as frames do) |
//! | hand on | the event, in order |

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant},
};

use futures_core::Stream;
use tokio::task::JoinHandle;

use super::{BusError, BusEvent, BusMessage, Inner};
use crate::{
    central::{CentralSender, HandOn, Refused},
    message::{Decode, DecodeError, DecodeErrorKind},
    peer::Peer,
};

/// At most one slow-consumer report per subscription in this time.
const SLOW_REPORT_EVERY: Duration = Duration::from_secs(1);

/// The central queue behind the program's event type `E`.
pub(super) trait Sink<P: Peer>: Send + Sync {
    /// Starts a subscription's task.
    fn start(
        &self,
        bus: Arc<Inner<P>>,
        sub: async_nats::Subscriber,
        subject: String,
    ) -> JoinHandle<()>;
    /// Queues an event about the bus itself (never held back; these are few: a
    /// reconnection, a report a second per subscription at most).
    fn push(&self, event: BusEvent<P>);
}

pub(super) struct CentralSink<E> {
    central: CentralSender<E>,
}

impl<E> CentralSink<E> {
    pub(super) fn new(central: CentralSender<E>) -> Self {
        CentralSink { central }
    }
}

impl<P: Peer, E: From<BusEvent<P>> + Send + 'static> Sink<P> for CentralSink<E> {
    fn start(
        &self,
        bus: Arc<Inner<P>>,
        sub: async_nats::Subscriber,
        subject: String,
    ) -> JoinHandle<()> {
        tokio::spawn(deliver::<P, E>(bus, sub, subject, self.central.clone()))
    }

    fn push(&self, event: BusEvent<P>) {
        let _ = self.central.push_unbounded(event.into(), None);
    }
}

/// The subscriptions' slow-consumer accounting, by the client's ids; shared with each
/// [`Subscription`] so that unsubscribing forgets its own.
pub(super) type SlowStates = Arc<Mutex<HashMap<u64, Arc<SubState>>>>;

/// One subscription's slow-consumer accounting.
pub(super) struct SubState {
    subject: String,
    last_report: Mutex<Option<Instant>>,
    unreported: std::sync::atomic::AtomicU64,
}

/// The bus's subscriptions by the NATS client's ids.
pub(super) struct Subs {
    /// The id the client gives the next subscription (it counts from 1, and only the bus
    /// subscribes on its client).
    next_sid: u64,
    tasks: HashMap<u64, JoinHandle<()>>,
}

impl Subs {
    pub(super) fn new() -> Self {
        Subs {
            next_sid: 1,
            tasks: HashMap::new(),
        }
    }

    /// Ends every subscription's task (the client unsubscribes when its end drops).
    pub(super) fn clear(&mut self) {
        for (_, t) in self.tasks.drain() {
            t.abort();
        }
    }
}

/// A subscription of a bus; [`unsubscribe`](Subscription::unsubscribe) ends it. Dropping
/// this handle keeps the subscription (it lasts as long as the bus).
///
/// # Examples
///
/// ```no_run
/// # use connhandler::{bus::Bus, Peer};
/// # #[derive(Default)] struct Login;
/// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
/// # async fn f(bus: Bus<Login>) -> Result<(), connhandler::bus::BusError> {
/// let chat = bus.subscribe("chat.>").await?;
/// assert_eq!(chat.subject(), "chat.>");
/// chat.unsubscribe();
/// # Ok(()) }
/// ```
pub struct Subscription {
    subject: String,
    sid: u64,
    task: tokio::task::AbortHandle,
    slow: SlowStates,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("subject", &self.subject)
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The subject (with its wildcards) subscribed to.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # async fn f(bus: Bus<Login>) -> Result<(), connhandler::bus::BusError> {
    /// let s = bus.subscribe("chat.*").await?;
    /// println!("listening on {}", s.subject());
    /// # Ok(()) }
    /// ```
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Ends the subscription: its task stops and the client unsubscribes. A message it was
    /// handing on at that very moment (on another thread) may still arrive.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use connhandler::{bus::Bus, Peer};
    /// # #[derive(Default)] struct Login;
    /// # impl Peer for Login { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "login"; }
    /// # async fn f(bus: Bus<Login>) -> Result<(), connhandler::bus::BusError> {
    /// bus.subscribe("chat.*").await?.unsubscribe();
    /// # Ok(()) }
    /// ```
    pub fn unsubscribe(self) {
        self.task.abort();
        self.slow.lock().unwrap().remove(&self.sid);
    }
}

/// A NATS subject the client would accept: not empty, no whitespace, no empty token.
pub(super) fn check_subject(subject: &str) -> Result<(), BusError> {
    let bad = subject.is_empty()
        || subject.chars().any(char::is_whitespace)
        || subject.split('.').any(str::is_empty);
    if bad {
        Err(BusError::BadSubject(subject.to_owned()))
    } else {
        Ok(())
    }
}

pub(super) async fn subscribe<P: Peer>(
    bus: &Arc<Inner<P>>,
    subject: &str,
    group: Option<&str>,
) -> Result<Subscription, BusError> {
    check_subject(subject)?;
    if bus.end.is_closed() {
        return Err(BusError::Closed);
    }
    let mut subs = bus.subs.lock().await;
    let sid = subs.next_sid;
    // The client takes the id whether or not subscribing succeeds.
    subs.next_sid += 1;
    let sub = match group {
        None => bus.client.subscribe(subject.to_owned()).await,
        Some(g) => {
            bus.client
                .queue_subscribe(subject.to_owned(), g.to_owned())
                .await
        }
    }
    .map_err(|e| BusError::Subscribe(e.to_string()))?;
    // Returns once the server has the subscription, so that a message published after
    // this returns is delivered: a flush only writes the SUB, so make a round trip on the
    // same connection (a request nobody answers comes back at once as "no responders",
    // after the server has taken everything sent before it).
    let probe = async_nats::client::Request::new().timeout(Some(Duration::from_secs(5)));
    let _ = bus.client.send_request(bus.client.new_inbox(), probe).await;
    bus.slow.lock().unwrap().insert(
        sid,
        Arc::new(SubState {
            subject: subject.to_owned(),
            last_report: Mutex::new(None),
            unreported: Default::default(),
        }),
    );
    let task = bus.sink.start(bus.clone(), sub, subject.to_owned());
    let handle = task.abort_handle();
    subs.tasks.retain(|_, t| !t.is_finished());
    subs.tasks.insert(sid, task);
    Ok(Subscription {
        subject: subject.to_owned(),
        sid,
        task: handle,
        slow: bus.slow.clone(),
    })
}

/// A subscription's task: the steps in the module's table. What the client holds ready is
/// taken at once (up to `MAX_AT_ONCE`) and handed on as one batch, so that a burst leaves the
/// client's channel as fast as it filled.
async fn deliver<P: Peer, E: From<BusEvent<P>>>(
    bus: Arc<Inner<P>>,
    mut sub: async_nats::Subscriber,
    subject: String,
    central: CentralSender<E>,
) {
    const MAX_AT_ONCE: usize = 256;
    let mut hand = HandOn::new(central);
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut sub).poll_next(cx));
        let mut msg = tokio::select! {
            biased;
            _ = bus.end.cancelled() => return,
            msg = next => msg,
        };
        let mut taken = 0;
        while let Some(m) = msg.take() {
            let (event, len) = event_of(&bus, &subject, m);
            let mut event: E = event.into();
            loop {
                match hand.offer(event, len) {
                    Ok(()) => break,
                    Err(Refused::Closed) => return,
                    Err(Refused::Full(back)) => {
                        event = back;
                        // Waits (the client's channel fills meanwhile, and past its bound
                        // the client drops: a slow consumer).
                        match hand.room(len, bus.end.cancelled()).await {
                            Ok(true) => {}
                            Ok(false) | Err(_) => return,
                        }
                    }
                }
            }
            bus.counters.received.fetch_add(1, Ordering::Relaxed);
            taken += 1;
            if taken < MAX_AT_ONCE {
                msg = ready(&mut sub).await;
            }
        }
        if hand.flush().is_err() {
            return;
        }
    }
}

/// The next message if the client holds one now.
async fn ready(sub: &mut async_nats::Subscriber) -> Option<async_nats::Message> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match Pin::new(&mut *sub).poll_next(cx) {
            std::task::Poll::Ready(m) => m,
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// A message as the event the program gets, with its payload's length.
fn event_of<P: Peer>(
    bus: &Inner<P>,
    subject: &str,
    msg: async_nats::Message,
) -> (BusEvent<P>, usize) {
    let len = msg.payload.len();
    let event = if len > bus.max_message {
        BusEvent::Undecodable {
            subject: msg.subject.to_string(),
            error: DecodeError::new(DecodeErrorKind::Other(format!(
                "{len} bytes, longer than the bus's max_message_size ({})",
                bus.max_message
            ))),
        }
    } else {
        match <P::Recv as Decode>::decode(msg.payload) {
            Ok(m) => BusEvent::Message(BusMessage {
                subject: msg.subject.to_string(),
                reply: msg.reply.map(|r| r.to_string()),
                msg: m,
            }),
            Err(error) => BusEvent::Undecodable {
                subject: msg.subject.to_string(),
                error,
            },
        }
    };
    if matches!(event, BusEvent::Undecodable { .. }) {
        tracing::debug!(%subject, "undecodable message on the bus");
        bus.counters.undecodable.fetch_add(1, Ordering::Relaxed);
    }
    (event, len)
}

/// The NATS client's own events, as [`BusEvent`]s.
pub(super) async fn supervise<P: Peer>(
    bus: Arc<Inner<P>>,
    mut events: tokio::sync::mpsc::Receiver<async_nats::Event>,
) {
    let mut tick = tokio::time::interval(SLOW_REPORT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            _ = bus.end.cancelled() => return,
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            _ = tick.tick() => {
                // Drops not reported yet (they came within a second of a report).
                let states: Vec<_> = bus.slow.lock().unwrap().values().cloned().collect();
                for state in states {
                    if let Some(report) = state.report() {
                        bus.sink.push(report);
                    }
                }
                continue;
            }
        };
        let out = match event {
            async_nats::Event::Connected => {
                let info = bus.client.server_info();
                Some(BusEvent::Connected {
                    server: format!("{}:{}", info.host, info.port),
                })
            }
            async_nats::Event::Disconnected => {
                bus.counters.disconnections.fetch_add(1, Ordering::Relaxed);
                Some(BusEvent::Disconnected)
            }
            async_nats::Event::SlowConsumer(sid) => {
                bus.counters.dropped_slow.fetch_add(1, Ordering::Relaxed);
                slow_consumer(&bus, sid)
            }
            async_nats::Event::LameDuckMode => Some(BusEvent::LameDuck),
            async_nats::Event::ServerError(e) => Some(BusEvent::Error(e.to_string())),
            async_nats::Event::ClientError(e) => Some(BusEvent::Error(e.to_string())),
            // Draining and Closed follow our own shutdown, which reports Closed itself.
            _ => None,
        };
        if let Some(out) = out {
            bus.sink.push(out);
        }
    }
}

/// A message dropped for subscription `sid`: a report when the last was a second ago or
/// more, with the count since (the supervisor's tick reports the rest).
fn slow_consumer<P: Peer>(bus: &Inner<P>, sid: u64) -> Option<BusEvent<P>> {
    let state = bus.slow.lock().unwrap().get(&sid).cloned()?;
    state.unreported.fetch_add(1, Ordering::Relaxed);
    state.report()
}

impl SubState {
    /// A report of the drops not reported yet, unless there are none or the last report
    /// was less than a second ago.
    fn report<P: Peer>(&self) -> Option<BusEvent<P>> {
        let mut last = self.last_report.lock().unwrap();
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < SLOW_REPORT_EVERY) {
            return None;
        }
        let dropped = self.unreported.swap(0, Ordering::Relaxed);
        if dropped == 0 {
            return None;
        }
        *last = Some(now);
        tracing::warn!(subject = %self.subject, dropped, "slow consumer: NATS dropped messages");
        Some(BusEvent::SlowConsumer {
            subject: self.subject.clone(),
            dropped,
        })
    }
}
