//! An incoming handler's accept loop, and a connection at the door: accepted, not yet
//! served.
//!
//! An [`Arrival`] is one object for a connection from its accept to its start: the
//! `max_connections` slot it holds, the per-address admission, the door's steps (`door.rs`),
//! then one serve tail for every path ([`Arrival::serve`]: the `make_peer` hook, the count,
//! the connection's tasks started).
//!
//! | arrival | holds | next |
//! | --- | --- | --- |
//! | accepted | the stream, the socket's address | a `max_connections` slot, or refused (`refused_full`, last words) |
//! | slotted | + the slot | an open door: admitted by the per-address caps, then served; a door to pass: a task of its own |
//! | at the door (its own task, within `handshake_timeout`) | + admission (before the door, or after a PROXY header names the client) | PROXY header, TLS, WebSocket; a failure or the time-out closes it (`failed_handshakes`) |
//! | served | the connection's tasks | `make_peer` refused (`refused_by_hook`) or `Connected` |

use std::{io, net::SocketAddr, sync::atomic::Ordering, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::sync::CancellationToken;

use super::{
    door::{InDoor, Passed},
    incoming::Counters,
    Connections,
};
use crate::{
    codec::Framing,
    conn::{Admission, Event, Opened},
    limits::{AddrSlot, Refusal},
    peer::Peer,
    reason::{Farewell, RefusedBy},
    transport::{Listener, Socket},
};

/// An incoming handler's accept loop.
pub(super) struct AcceptLoop<P: Peer, F, E> {
    pub(super) listener: Listener,
    pub(super) connections: Arc<Connections<P, F, E>>,
    pub(super) door: Arc<InDoor>,
    pub(super) limit: Option<Arc<Semaphore>>,
    /// Refused connections lingering over their last words, `MAX_LINGERING` at most.
    pub(super) lingering: Arc<Semaphore>,
    pub(super) listener_token: CancellationToken,
    pub(super) stats: Arc<Counters>,
}

impl<P, F, E> AcceptLoop<P, F, E>
where
    P: Peer,
    F: Framing,
    E: From<Event<P>> + Send + 'static,
{
    pub(super) async fn run(mut self) {
        loop {
            let accepted = tokio::select! {
                _ = self.listener_token.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, addr)) => self.arrived(stream, addr),
                Err(e) => {
                    self.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                    if is_per_connection(&e) {
                        tracing::debug!("accept: {e}");
                        continue;
                    }
                    // Out of file descriptors or memory: wait for some to be freed.
                    tracing::error!("accept failed: {e}; retrying in 100 ms");
                    tokio::select! {
                        _ = self.listener_token.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
        tracing::info!("listener closed");
    }

    /// A connection accepted: its `max_connections` slot, then served at once (an open
    /// door) or through its door in a task of its own.
    fn arrived(&self, stream: Socket, addr: SocketAddr) {
        let slot = match &self.limit {
            None => None,
            Some(limit) => match limit.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    self.stats.refused(&self.stats.refused_full);
                    tracing::debug!(%addr, "max_connections reached; connection refused");
                    self.refuse(stream, RefusedBy::MaxConnections);
                    return;
                }
            },
        };
        let arrival = Arrival {
            stream,
            addr,
            slot,
            admitted: None,
        };
        if self.door.is_open() {
            if let Some(arrival) = self.admit(arrival) {
                arrival.serve(
                    Passed::plain,
                    Opened::default(),
                    &self.connections,
                    &self.stats,
                );
            }
        } else {
            self.through_door(arrival);
        }
    }

    /// Admits an arrival by the per-address caps of its address, or refuses it (counted,
    /// and given its last words where the handler speaks plain TCP): `None`.
    fn admit(&self, mut arrival: Arrival<Socket>) -> Option<Arrival<Socket>> {
        match self.connections.admit(arrival.addr.ip()) {
            Ok(a) => {
                arrival.admitted = Some(a);
                Some(arrival)
            }
            Err(refusal) => {
                self.stats.refused_per_address(&refusal);
                tracing::debug!(addr = %arrival.addr, ?refusal, "connection refused");
                let by = match refusal {
                    Refusal::PerIp => RefusedBy::PerIp,
                    Refusal::Rate => RefusedBy::ConnectRate,
                };
                self.refuse(arrival.stream, by);
                None
            }
        }
    }

    /// A connection with a door to pass (PROXY header, TLS, WebSocket): in a task of its
    /// own, holding its `max_connections` slot, within `handshake_timeout`. Without a PROXY
    /// header the per-address caps apply before any handshake work; with one, to the
    /// client it names.
    fn through_door(&self, arrival: Arrival<Socket>) {
        let addr = arrival.addr;
        let proxied = self.door.proxy && self.door.trusts(addr.ip());
        if self.door.proxy && !proxied && !self.door.serve_direct {
            self.stats.refused(&self.stats.refused_untrusted);
            tracing::debug!(%addr, "not a trusted load balancer: refused (a PROXY header is expected)");
            return;
        }
        let arrival = if proxied {
            arrival
        } else {
            let Some(arrival) = self.admit(arrival) else {
                return;
            };
            arrival
        };
        let (door, connections, stats) = (
            self.door.clone(),
            self.connections.clone(),
            self.stats.clone(),
        );
        let stop = connections.token();
        self.connections.spawn(async move {
            let passed = tokio::select! {
                _ = stop.cancelled() => return,
                passed = tokio::time::timeout(door.timeout, arrival.pass(&door, proxied, &connections, &stats)) => passed,
            };
            match passed {
                Ok(Ok(Some((arrival, passed, opened)))) => {
                    arrival.serve(move |()| passed, opened, &connections, &stats);
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    stats.failed_handshakes.fetch_add(1, Ordering::Relaxed);
                    #[cfg(feature = "tls")]
                    if let Some(hint) = crate::transport::tls::hint(&e) {
                        tracing::warn!(%addr, "TLS handshake failed: {e}; {hint}");
                        return;
                    }
                    tracing::debug!(%addr, "handshake failed: {e}");
                }
                Err(_) => {
                    stats.failed_handshakes.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%addr, "handshake_timeout passed");
                }
            }
        });
    }

    /// Says goodbye to a connection refused at the door, when the peer kind has last words
    /// for it ([`Peer::farewell`]): written, the write side shut down, and the socket held
    /// until the peer closes or `close_timeout` passes, `MAX_LINGERING` at a time. Without
    /// last words, or with every lingering place taken (a flood), the socket just closes.
    fn refuse(&self, stream: Socket, by: RefusedBy) {
        if !self.door.is_open() {
            // Last words would go in plain TCP before a handshake the peer expects.
            return;
        }
        let Some(msg) = P::farewell(&Farewell::Refused(by)) else {
            return;
        };
        let Ok(framed) = self.connections.framer().frame(&msg) else {
            return;
        };
        let Ok(place) = self.lingering.clone().try_acquire_owned() else {
            return;
        };
        let (limit, stop) = (self.connections.close_timeout(), self.connections.token());
        self.connections.spawn(async move {
            let _place = place;
            let mut stream = stream;
            let goodbye = async {
                stream.write_all(&framed.wire).await?;
                stream.shutdown().await?;
                let mut sink = [0u8; 256];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<(), io::Error>(())
            };
            tokio::select! {
                _ = tokio::time::timeout(limit, goodbye) => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// A connection at the door (see the module's table), over the stream `S` it holds until it
/// is served.
pub(super) struct Arrival<S> {
    stream: S,
    /// The socket's peer address; the client's once a PROXY header named it.
    addr: SocketAddr,
    /// Its place under `max_connections`.
    slot: Option<OwnedSemaphorePermit>,
    /// Its admission by the per-address caps, once admitted (`Some(None)`: no cap applies).
    admitted: Option<Option<AddrSlot>>,
}

impl Arrival<Socket> {
    /// The door's steps (`door.rs`): the PROXY header (then the per-address caps for the
    /// client it names, if not admitted before), TLS, WebSocket. `Ok(None)`: refused by the
    /// caps (counted).
    async fn pass<P: Peer, F: Framing, E>(
        mut self,
        door: &InDoor,
        proxied: bool,
        connections: &Connections<P, F, E>,
        stats: &Counters,
    ) -> io::Result<Option<(Arrival<()>, Passed, Opened)>>
    where
        E: From<Event<P>> + Send + 'static,
    {
        let (client, balancer) = door
            .client_addr(&mut self.stream, self.addr, proxied)
            .await?;
        if self.admitted.is_none() {
            match connections.admit(client.ip()) {
                Ok(a) => self.admitted = Some(a),
                Err(refusal) => {
                    stats.refused_per_address(&refusal);
                    return Ok(None);
                }
            }
        }
        let mut opened = Opened::default();
        opened.info.proxied_by = balancer;
        let (passed, opened) = door.handshake(self.stream, opened).await?;
        let rest = Arrival {
            stream: (),
            addr: client,
            slot: self.slot,
            admitted: self.admitted,
        };
        Ok(Some((rest, passed, opened)))
    }
}

impl<S> Arrival<S> {
    /// The one serve tail: the `make_peer` hook (a panic refuses the connection, counted),
    /// the count, and the connection's tasks started over the stream that passed the door
    /// (`passed` makes it from the stream held, for a door with no steps).
    fn serve<P: Peer, F: Framing, E>(
        self,
        passed: impl FnOnce(S) -> Passed,
        opened: Opened,
        connections: &Connections<P, F, E>,
        stats: &Counters,
    ) where
        E: From<Event<P>> + Send + 'static,
    {
        let Some(data) = connections.make_peer(self.addr) else {
            stats.refused(&stats.refused_by_hook);
            return;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let admission = Admission {
            slot: self.slot,
            addr: self.admitted.flatten(),
        };
        connections.start_passed(passed(self.stream), self.addr, data, admission, opened);
    }
}

/// Accept errors that concern one connection only (it was reset before we took it).
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
