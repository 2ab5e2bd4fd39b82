//! What goes out over the bus: publishing that never waits (a queue bounded in messages and
//! bytes, handed to the NATS client by a task of its own, which may wait on it) and
//! requests (a task each, bounded by `max_pending`, answered into a [`Reply`]).

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
    subject: String,
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
    check_subject(subject)?;
    if bus.token.is_cancelled() {
        return Err(BusError::Closed);
    }
    let len = msg.encoded_len();
    if len > bus.max_message {
        return Err(BusError::TooLong(len));
    }
    let out = &bus.outbound;
    // One message is let through when none waits, whatever its length.
    if !out.bytes.try_take(len, true) {
        bus.counters.refused_full.fetch_add(1, Ordering::Relaxed);
        return Err(BusError::Full);
    }
    out.queued.fetch_add(1, Ordering::AcqRel);
    let item = Out {
        subject: subject.to_owned(),
        payload: encode(msg),
    };
    match out.tx.try_send(item) {
        Ok(()) => Ok(()),
        Err(e) => {
            out.bytes.release(len);
            if out.queued.fetch_sub(1, Ordering::AcqRel) == 1 {
                out.empty.notify_waiters();
            }
            match e {
                mpsc::error::TrySendError::Full(_) => {
                    bus.counters.refused_full.fetch_add(1, Ordering::Relaxed);
                    Err(BusError::Full)
                }
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
            _ = bus.token.cancelled() => return,
            taken = rx.recv_many(&mut batch, MAX_AT_ONCE) => taken,
        };
        if taken == 0 {
            return;
        }
        let bytes: usize = batch.iter().map(|out| out.payload.len()).sum();
        let hand_over = async {
            for out in batch.drain(..) {
                match bus.client.publish(out.subject, out.payload).await {
                    Ok(()) => {
                        bus.counters.published.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => tracing::debug!("publish failed: {e}"),
                }
            }
        };
        tokio::select! {
            biased;
            _ = bus.token.cancelled() => return,
            () = hand_over => {}
        }
        bus.outbound.bytes.release(bytes);
        if bus.outbound.queued.fetch_sub(taken, Ordering::AcqRel) == taken {
            bus.outbound.empty.notify_waiters();
        }
    }
}

pub(super) fn request<P: Peer>(bus: &Inner<P>, subject: &str, msg: &P::Send) -> Reply<P::Recv> {
    if let Err(e) = check_subject(subject) {
        return Reply::failed(RequestError::Refused(e.to_string()));
    }
    if bus.token.is_cancelled() {
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
    let (client, token, subject) = (bus.client.clone(), bus.token.clone(), subject.to_owned());
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
