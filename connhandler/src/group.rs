//! Groups of peers: a set of peer handles (of one peer kind, from any handlers) that a
//! message is broadcast to, framed once per handler; members leave when they disconnect.
//! Also the report of a broadcast, which [`Incoming::broadcast`](crate::Incoming::broadcast)
//! shares.

use std::{collections::HashSet, fmt, sync::Arc};

use crate::{
    codec::FrameError,
    conn::{Framed, Framer, PeerHandle, Queued},
    peer::Peer,
};

/// What a broadcast did: who got the message, and who did not and why.
///
/// # Examples
///
/// ```
/// # fn f<P: connhandler::Peer<Send = bytes::Bytes>>(server: &connhandler::Incoming<P>) -> Result<(), connhandler::codec::FrameError> {
/// let report = server.broadcast(&bytes::Bytes::from_static(b"tick"))?;
/// println!(
///     "sent to {}; {} too slow, {} closing",
///     report.sent,
///     report.slow.len(),
///     report.closing.len()
/// );
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct BroadcastReport<P: Peer> {
    /// Connections the message was queued for.
    pub sent: usize,
    /// Connections whose outgoing queue was full: they do not read fast enough. Under the
    /// default [`QueuePolicy::Disconnect`](crate::QueuePolicy::Disconnect) they are being
    /// cut for it (`QueueFull`); under `Fail` they stay.
    pub slow: Vec<PeerHandle<P>>,
    /// Connections that were closing already; their `Disconnected` is on its way.
    pub closing: Vec<PeerHandle<P>>,
}

impl<P: Peer> BroadcastReport<P> {
    pub(crate) fn new() -> Self {
        BroadcastReport {
            sent: 0,
            slow: Vec::new(),
            closing: Vec::new(),
        }
    }

    /// Queues `framed` for `peer` and records the outcome.
    pub(crate) fn queue(&mut self, peer: &PeerHandle<P>, framed: &Arc<Framed>) {
        match peer.s().try_send_framed(framed) {
            Queued::Sent => self.sent += 1,
            Queued::Slow => self.slow.push(peer.clone()),
            Queued::Closing => self.closing.push(peer.clone()),
        }
    }
}

/// A set of peers of one kind, from any handlers: "every logged-in player", "everyone in
/// this room". A broadcast frames the message once per handler among the members (once in
/// all when they share one) and queues the same bytes to each, never waiting. A member that
/// disconnects leaves the group by itself (at the group's next use); [`remove`](Group::remove)
/// takes one out before.
///
/// It is a plain value, owned by the task that uses it (the central task, typically): no
/// lock, no task.
///
/// # Examples
///
/// ```
/// use connhandler::{Event, Group, PeerHandle};
/// # #[derive(Default)] struct Player;
/// # impl connhandler::Peer for Player { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "player"; }
///
/// fn on_event(lobby: &mut Group<Player>, event: Event<Player>) {
///     match event {
///         Event::Message(player, msg) if &msg[..] == b"join" => {
///             lobby.insert(player);
///         }
///         Event::Message(_, msg) => {
///             // Everyone in the lobby, framed once.
///             let _ = lobby.broadcast(&msg);
///         }
///         // Nothing to do on `Disconnected`: the member leaves by itself.
///         _ => {}
///     }
/// }
/// ```
pub struct Group<P: Peer> {
    members: HashSet<PeerHandle<P>>,
}

impl<P: Peer> Default for Group<P> {
    fn default() -> Self {
        Group::new()
    }
}

impl<P: Peer> fmt::Debug for Group<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("kind", &P::NAME)
            .field("members", &self.members.len())
            .finish()
    }
}

impl<P: Peer> Group<P> {
    /// An empty group.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(Default)] struct Player;
    /// # impl connhandler::Peer for Player { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "player"; }
    /// let mut lobby = connhandler::Group::<Player>::new();
    /// assert!(lobby.is_empty());
    /// ```
    pub fn new() -> Self {
        Group {
            members: HashSet::new(),
        }
    }

    /// Adds `peer`; whether it was not a member already. A peer already closed is not
    /// added.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(lobby: &mut connhandler::Group<P>, peer: connhandler::PeerHandle<P>) {
    /// lobby.insert(peer);
    /// # }
    /// ```
    pub fn insert(&mut self, peer: PeerHandle<P>) -> bool {
        !peer.is_closed() && self.members.insert(peer)
    }

    /// Takes `peer` out; whether it was a member.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(lobby: &mut connhandler::Group<P>, peer: &connhandler::PeerHandle<P>) {
    /// lobby.remove(peer);
    /// # }
    /// ```
    pub fn remove(&mut self, peer: &PeerHandle<P>) -> bool {
        self.members.remove(peer)
    }

    /// Whether `peer` is a member (and still connected).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(lobby: &connhandler::Group<P>, peer: &connhandler::PeerHandle<P>) {
    /// if lobby.contains(peer) { /* ... */ }
    /// # }
    /// ```
    pub fn contains(&self, peer: &PeerHandle<P>) -> bool {
        self.members.contains(peer) && !peer.is_closed()
    }

    /// How many members are still connected (those that disconnected are dropped at the
    /// group's next change or broadcast).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(lobby: &connhandler::Group<P>) {
    /// println!("{} in the lobby", lobby.len());
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no member is still connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(lobby: &connhandler::Group<P>) {
    /// if lobby.is_empty() { /* close the room */ }
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The members still connected, in no order.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f<P: connhandler::Peer>(lobby: &connhandler::Group<P>) {
    /// for player in lobby.iter() {
    ///     println!("{player}");
    /// }
    /// # }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &PeerHandle<P>> + '_ {
        self.members.iter().filter(|p| !p.is_closed())
    }

    /// Queues `msg` for every member, framing it once per handler among them (the bytes
    /// are shared, not copied per peer). It never waits: a member whose queue is full is
    /// listed as slow in the report (and, under the default policy, cut), one closing as
    /// closing; members that disconnected leave first.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when a member's framing cannot carry the message (an empty one with
    /// TcpMessage framing, say); nothing is queued then.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(lobby: &mut connhandler::Group<impl connhandler::Peer<Send = bytes::Bytes>>) -> Result<(), connhandler::codec::FrameError> {
    /// let report = lobby.broadcast(&bytes::Bytes::from_static(b"round starts"))?;
    /// println!("{} got it, {} too slow", report.sent, report.slow.len());
    /// # Ok(()) }
    /// ```
    pub fn broadcast(&mut self, msg: &P::Send) -> Result<BroadcastReport<P>, FrameError> {
        self.prune();
        // Framed once per handler: members of one handler share its framer.
        let mut framed: Vec<(*const Framer<P::Send>, Arc<Framed>)> = Vec::new();
        for peer in &self.members {
            let framer = peer.s().framer();
            if !framed
                .iter()
                .any(|(f, _)| std::ptr::eq(*f, Arc::as_ptr(framer)))
            {
                framed.push((Arc::as_ptr(framer), framer.frame(msg)?));
            }
        }
        let mut report = BroadcastReport::new();
        for peer in &self.members {
            let framer = Arc::as_ptr(peer.s().framer());
            if let Some((_, bytes)) = framed.iter().find(|(f, _)| std::ptr::eq(*f, framer)) {
                report.queue(peer, bytes);
            }
        }
        Ok(report)
    }

    /// Drops the members that disconnected.
    fn prune(&mut self) {
        self.members.retain(|p| !p.is_closed());
    }
}
