//! Handlers: what runs the connections of one peer kind. An incoming handler listens and
//! serves many peers; an outgoing handler connects to one, with a time-out, retries and
//! reconnection.
//!
//! | room | owns |
//! | --- | --- |
//! | `builder.rs` | [`HandlerBuilder`]: the settings every handler has, as plain methods; a kind parameter ([`Listen`], [`Connect`]) carries the settings of one kind |
//! | `incoming.rs` | the listen settings, [`Incoming`], its broadcast and stats |
//! | `accept.rs` | the accept loop, and a connection at the door (`Arrival`: its slot, its admission, the door's steps, one serve tail; a state table) |
//! | `outgoing.rs` | the connect settings, [`Outgoing`], its connect/retry/reconnect driver |
//! | `door.rs` | the steps a new connection takes before it is served: PROXY header, TLS, WebSocket upgrade |
//! | here | what both kinds share: the handle's core (name, shutdown, close on drop) and what their tasks need to start connections |
//!
//! Handlers depend on `conn` (one connection) and `central`; nothing below depends on them.

mod accept;
mod builder;
mod door;
mod incoming;
mod outgoing;

use std::{net::SocketAddr, panic::AssertUnwindSafe, sync::Arc};

use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use builder::{DefaultPeer, HandlerBuilder, Kind, PeerSource, WithHook};
pub use incoming::{BindError, Incoming, IncomingBuilder, IncomingStats, Listen};
pub use outgoing::{Connect, Outgoing, OutgoingBuilder, OutgoingStats, Retry};

use crate::{
    budget::ReadBudget,
    central::CentralSender,
    conn::Event,
    conn::{self, Admission, ConnCtx, ConnSettings, Framer, PeerHandle, Registry, Transport},
    limits::{AddrSlot, PerIp, Refusal},
    peer::Peer,
};

/// The hook that builds each connection's per-connection data from its remote address.
pub(crate) type MakePeer<P> = Arc<dyn Fn(SocketAddr) -> P + Send + Sync>;

/// Calls the user's hook that builds the per-connection data, turning a panic into `None`.
fn make_peer<P>(hook: &(dyn Fn(SocketAddr) -> P + Send + Sync), addr: SocketAddr) -> Option<P> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| hook(addr))) {
        Ok(p) => Some(p),
        Err(_) => {
            tracing::error!(%addr, "the make_peer hook panicked; connection refused");
            None
        }
    }
}

/// What the public handle of a running handler holds, whatever its kind: its name, and
/// the token, tasks and connections that shutting it down goes through. Dropping it closes
/// every connection (without waiting).
pub(crate) struct Core<P: Peer> {
    name: Arc<str>,
    id: crate::peer::HandlerId,
    token: CancellationToken,
    tracker: TaskTracker,
    registry: Arc<Registry<P>>,
}

impl<P: Peer> Core<P> {
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    pub(crate) fn id(&self) -> crate::peer::HandlerId {
        self.id
    }

    pub(crate) fn registry(&self) -> &Registry<P> {
        &self.registry
    }

    /// A token cancelled when the handler shuts down (or earlier, on its own).
    pub(crate) fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }

    /// A handler's own task (the accept loop, the connect driver), tracked for shutdown.
    pub(crate) fn spawn_task<T>(&self, task: T)
    where
        T: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Closes every connection (queued messages are written first, within each
    /// connection's `close_timeout`) and waits until every task has ended.
    pub(crate) async fn shutdown(&self) {
        self.registry.close_all(&self.token);
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl<P: Peer> Drop for Core<P> {
    fn drop(&mut self) {
        self.registry.close_all(&self.token);
    }
}

/// What a handler's task needs to start connections: the settings each one gets and where
/// its events go.
pub(crate) struct Connections<P: Peer, F, E> {
    name: Arc<str>,
    id: crate::peer::HandlerId,
    settings: Arc<ConnSettings>,
    /// The handler's framing, or WebSocket's in its place; cloned for each connection
    /// (behind a lock: a framing need not be `Sync`, and door tasks share this).
    framing: std::sync::Mutex<crate::codec::Carried<F>>,
    token: CancellationToken,
    central: CentralSender<E>,
    tracker: TaskTracker,
    registry: Arc<Registry<P>>,
    per_ip: Option<PerIp>,
    /// The budget for unfinished frames that all the connections share.
    budget: Option<Arc<ReadBudget>>,
    /// The handler's framing for broadcasts, shared by its connections.
    framer: Arc<Framer<P::Send>>,
    make_peer: MakePeer<P>,
    /// Requests, the version handshake and the heartbeat.
    talk: Arc<crate::talk::Talk<P>>,
}

impl<P, F, E> Connections<P, F, E>
where
    P: Peer,
    F: crate::codec::Framing,
    E: From<Event<P>> + Send + 'static,
{
    /// Builds the per-connection data for a connection from `addr` (`None`: the hook
    /// panicked, the connection is refused).
    pub(crate) fn make_peer(&self, addr: SocketAddr) -> Option<P> {
        make_peer(&*self.make_peer, addr)
    }

    /// Admits a connection from `ip` by the per-address caps, or says why not.
    pub(crate) fn admit(&self, ip: std::net::IpAddr) -> Result<Option<AddrSlot>, Refusal> {
        match &self.per_ip {
            Some(per_ip) if per_ip.is_active() => per_ip.admit(ip).map(Some),
            _ => Ok(None),
        }
    }

    /// Runs `task` as one of the handler's tasks (shutdown waits for it).
    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// How long a closing connection may take (`close_timeout`).
    pub(crate) fn close_timeout(&self) -> std::time::Duration {
        self.settings.close_timeout
    }

    /// The handler's framer (broadcasts).
    pub(crate) fn framer(&self) -> Arc<Framer<P::Send>> {
        self.framer.clone()
    }

    /// The read budget the connections share, if any.
    pub(crate) fn budget(&self) -> Option<Arc<ReadBudget>> {
        self.budget.clone()
    }

    /// Whether the handler is shutting down.
    pub(crate) fn is_closed(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The handler's token, cancelled when it shuts down.
    pub(crate) fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// The central queue, for events of the handler's own (`ConnectFailed`).
    pub(crate) fn central(&self) -> &CentralSender<E> {
        &self.central
    }

    /// Starts the tasks of a new connection over `stream` (see `conn::spawn`).
    pub(crate) fn start<T: Transport>(
        &self,
        stream: T,
        addr: SocketAddr,
        data: P,
        admission: Admission,
        opened: conn::Opened,
    ) -> (PeerHandle<P>, JoinHandle<bool>) {
        let framing = self
            .framing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let ctx = ConnCtx {
            handler: &self.name,
            handler_id: self.id,
            settings: &self.settings,
            framing: &framing,
            parent: &self.token,
            central: &self.central,
            tracker: &self.tracker,
            registry: &self.registry,
            budget: self.budget.as_ref(),
            framer: &self.framer,
            talk: &self.talk,
        };
        conn::spawn(ctx, stream, addr, data, admission, opened)
    }

    /// Starts a connection that passed its door (see `door.rs`).
    pub(crate) fn start_passed(
        &self,
        passed: door::Passed,
        addr: SocketAddr,
        data: P,
        admission: Admission,
        opened: conn::Opened,
    ) -> (PeerHandle<P>, JoinHandle<bool>) {
        match passed {
            door::Passed::Tcp(s) => self.start(s, addr, data, admission, opened),
            #[cfg(feature = "testing")]
            door::Passed::Mem(s) => self.start(s, addr, data, admission, opened),
            #[cfg(feature = "tls")]
            door::Passed::Tls(s) => self.start(s, addr, data, admission, opened),
        }
    }
}
