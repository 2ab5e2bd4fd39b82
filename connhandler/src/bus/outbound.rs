//! What goes out over the bus: publishing that never waits (a queue bounded in messages and
//! bytes, handed to the NATS client by a task of its own, which may wait on it), publishing
//! that waits a bounded time for room (for tasks other than the central one), and requests
//! (a task each, bounded by `max_pending`, answered into a [`Reply`]).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};

use bytes::{Bytes, BytesMut};
use tokio::{
    sync::{mpsc, Notify},
    time::Instant,
};

use super::{inbound::check_subject, BusError, Inner};
use crate::{
    budget::Budget,
    message::{Decode, Encode},
    peer::Peer,
    talk::{Filler, Reply, RequestError, Retime, Slot},
};

struct Out {
    subject: async_nats::Subject,
    payload: Bytes,
}

/// The publish queue.
pub(super) struct Outbound {
    tx: mpsc::Sender<Out>,
    rx: Mutex<Option<mpsc::Receiver<Out>>>,
    bytes: Budget,
    /// Messages queued and not yet handed to the client.
    queued: AtomicUsize,
    empty: Notify,
    /// Told after each batch the client took: room was given back.
    room: Notify,
    /// Where publishers encode (one at a time; another finding it in use encodes alone).
    staging: Mutex<Staging>,
}

/// The subject last published to, as the client takes it (shared bytes), and a buffer that
/// messages are encoded into one after another, each taking its bytes out as shared bytes:
/// a run of small messages on one subject costs an allocation per `STAGING` bytes rather
/// than two per message. The client drops what it wrote in order, so the buffers held are
/// about the bytes queued, and one being filled.
struct Staging {
    subject: Option<async_nats::Subject>,
    buf: BytesMut,
}

/// The staging buffer's size; messages above a quarter of it are encoded on their own.
const STAGING: usize = 16 * 1024;

impl Staging {
    /// `subject`, checked, as the client takes it (the last one was checked already).
    fn subject(&mut self, subject: &str) -> Result<async_nats::Subject, BusError> {
        match &self.subject {
            Some(last) if last.as_str() == subject => Ok(last.clone()),
            _ => {
                check_subject(subject)?;
                Ok(self
                    .subject
                    .insert(async_nats::Subject::from(subject))
                    .clone())
            }
        }
    }

    /// `msg` (`len` bytes) encoded.
    fn encode<M: Encode>(&mut self, msg: &M, len: usize) -> Bytes {
        if len > STAGING / 4 {
            return encode(msg);
        }
        if self.buf.capacity() < len {
            self.buf = BytesMut::with_capacity(STAGING);
        }
        msg.encode(&mut self.buf);
        self.buf.split().freeze()
    }
}

impl Outbound {
    pub(super) fn new(capacity: usize, bytes: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        Outbound {
            tx,
            rx: Mutex::new(Some(rx)),
            bytes: Budget::of(bytes),
            queued: AtomicUsize::new(0),
            empty: Notify::new(),
            room: Notify::new(),
            staging: Mutex::new(Staging {
                subject: None,
                buf: BytesMut::new(),
            }),
        }
    }

    pub(super) fn queued_bytes(&self) -> usize {
        self.bytes.used()
    }

    /// Waits until everything queued was handed to the client.
    pub(super) async fn drained(&self) {
        loop {
            let notified = self.empty.notified();
            if self.queued.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

fn encode<M: Encode>(msg: &M) -> Bytes {
    let mut buf = BytesMut::with_capacity(msg.encoded_len());
    msg.encode(&mut buf);
    buf.freeze()
}

pub(super) fn publish<P: Peer>(
    bus: &Inner<P>,
    subject: &str,
    msg: &P::Send,
) -> Result<(), BusError> {
    let result = try_queue(bus, subject, msg);
    if matches!(result, Err(BusError::Full)) {
        bus.counters.refused_full.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// As [`publish`], waiting until `timeout` for room while the queue is full (a refusal is
/// counted once, when the time is up).
pub(super) async fn publish_timeout<P: Peer>(
    bus: &Inner<P>,
    subject: &str,
    msg: &P::Send,
    timeout: std::time::Duration,
) -> Result<(), BusError> {
    match try_queue(bus, subject, msg) {
        Err(BusError::Full) => {}
        other => return other,
    }
    let now = Instant::now();
    // A time-out too long for the clock waits as long as a century does.
    let deadline = now
        .checked_add(timeout)
        .unwrap_or(now + std::time::Duration::from_secs(100 * 365 * 86_400));
    loop {
        let room = bus.outbound.room.notified();
        tokio::pin!(room);
        room.as_mut().enable();
        // Room given back between the refusal and the registration would not wake this:
        // tried again once registered.
        match try_queue(bus, subject, msg) {
            Err(BusError::Full) => {}
            other => return other,
        }
        tokio::select! {
            biased;
            _ = bus.end.cancelled() => return Err(BusError::Closed),
            () = &mut room => {}
            () = tokio::time::sleep_until(deadline) => {
                bus.counters.refused_full.fetch_add(1, Ordering::Relaxed);
                return Err(BusError::Full);
            }
        }
    }
}

/// Checks `msg` and queues it if there is room (a refusal not yet counted).
fn try_queue<P: Peer>(bus: &Inner<P>, subject: &str, msg: &P::Send) -> Result<(), BusError> {
    let out = &bus.outbound;
    // One publisher at a time stages; another, finding it in use, does without.
    let mut staging = out.staging.try_lock().ok();
    let subject = match staging.as_deref_mut() {
        Some(staging) => staging.subject(subject)?,
        None => {
            check_subject(subject)?;
            async_nats::Subject::from(subject)
        }
    };
    if bus.end.is_closed() {
        return Err(BusError::Closed);
    }
    let len = msg.encoded_len();
    if len > bus.max_message {
        return Err(BusError::TooLong(len));
    }
    // One message is let through when none waits, whatever its length.
    if !out.bytes.try_take(len, true) {
        return Err(BusError::Full);
    }
    out.queued.fetch_add(1, Ordering::AcqRel);
    let payload = match staging.as_deref_mut() {
        Some(staging) => staging.encode(msg, len),
        None => encode(msg),
    };
    drop(staging);
    let item = Out { subject, payload };
    match out.tx.try_send(item) {
        Ok(()) => Ok(()),
        Err(e) => {
            out.bytes.release(len);
            if out.queued.fetch_sub(1, Ordering::AcqRel) == 1 {
                out.empty.notify_waiters();
            }
            match e {
                mpsc::error::TrySendError::Full(_) => Err(BusError::Full),
                mpsc::error::TrySendError::Closed(_) => Err(BusError::Closed),
            }
        }
    }
}

/// The task that hands queued messages to the NATS client (which may make it wait: while
/// the connection is down, its own buffer fills). What is queued is taken at once (up to
/// `MAX_AT_ONCE`) and handed over in order; its room is given back when the whole batch is
/// with the client.
pub(super) async fn publisher<P: Peer>(bus: Arc<Inner<P>>) {
    const MAX_AT_ONCE: usize = 256;
    let Some(mut rx) = bus.outbound.rx.lock().unwrap().take() else {
        return;
    };
    let mut batch = Vec::with_capacity(MAX_AT_ONCE);
    loop {
        let taken = tokio::select! {
            biased;
            _ = bus.end.cancelled() => return,
            taken = rx.recv_many(&mut batch, MAX_AT_ONCE) => taken,
        };
        if taken == 0 {
            return;
        }
        let bytes: usize = batch.iter().map(|out| out.payload.len()).sum();
        let hand_over = async {
            let mut published = 0;
            for out in batch.drain(..) {
                match bus.client.publish(out.subject, out.payload).await {
                    Ok(()) => published += 1,
                    Err(e) => tracing::debug!("publish failed: {e}"),
                }
            }
            bus.counters
                .published
                .fetch_add(published, Ordering::Relaxed);
        };
        tokio::select! {
            biased;
            _ = bus.end.cancelled() => return,
            () = hand_over => {}
        }
        bus.outbound.bytes.release(bytes);
        if bus.outbound.queued.fetch_sub(taken, Ordering::AcqRel) == taken {
            bus.outbound.empty.notify_waiters();
        }
        bus.outbound.room.notify_waiters();
    }
}

pub(super) fn request<P: Peer>(bus: &Inner<P>, subject: &str, msg: &P::Send) -> Reply<P::Recv> {
    if let Err(e) = check_subject(subject) {
        return Reply::failed(RequestError::Refused(e.to_string()));
    }
    if bus.end.is_closed() {
        return Reply::failed(RequestError::Closed);
    }
    let len = msg.encoded_len();
    if len > bus.max_message {
        return Reply::failed(RequestError::Refused(BusError::TooLong(len).to_string()));
    }
    let Ok(permit) = bus.pending.clone().try_acquire_owned() else {
        return Reply::failed(RequestError::TooMany(bus.max_pending));
    };
    let payload = encode(msg);
    let slot = Arc::new(Slot::new());
    let (retime, mut timeout) = Retime::own(bus.request_timeout);
    let (client, token, subject) = (
        bus.client.clone(),
        bus.end.token.clone(),
        subject.to_owned(),
    );
    let filled = Filler::new(slot.clone());
    let started = Instant::now();
    tokio::spawn(async move {
        let _permit = permit;
        // This task keeps the time-out (the `Reply` may change it after this starts); a
        // reply given up closes `timeout`, which ends this task.
        let ask = async_nats::client::Request::new()
            .payload(payload)
            .timeout(None);
        let answer = client.send_request(subject, ask);
        tokio::pin!(answer);
        let outcome = loop {
            let within = *timeout.borrow_and_update();
            tokio::select! {
                biased;
                _ = token.cancelled() => break Err(RequestError::Closed),
                changed = timeout.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => return,
                },
                _ = tokio::time::sleep_until(started + within) => {
                    break Err(RequestError::TimedOut(within));
                }
                answer = &mut answer => break match answer {
                    Ok(m) => <P::Recv as Decode>::decode(m.payload).map_err(|e| {
                        RequestError::Refused(format!("the reply did not decode: {e}"))
                    }),
                    Err(e) => Err(match e.kind() {
                        async_nats::client::RequestErrorKind::NoResponders => {
                            RequestError::Refused("no responders on the subject".into())
                        }
                        _ => RequestError::Disconnected(e.to_string()),
                    }),
                },
            }
        };
        filled.fill(outcome);
    });
    Reply::waiting(slot, retime, bus.request_timeout)
}
