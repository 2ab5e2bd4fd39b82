//! The connections of one handler: what broadcast, listing and shutdown go through.

use std::{collections::HashMap, sync::Mutex};

use tokio_util::sync::CancellationToken;

use super::handle::PeerHandle;
use crate::peer::{Peer, PeerId};

/// The connections of one handler, for broadcast, listing and shutdown.
pub(crate) struct Registry<P: Peer> {
    peers: Mutex<HashMap<PeerId, PeerHandle<P>>>,
}

impl<P: Peer> Registry<P> {
    pub(crate) fn new() -> Self {
        Registry {
            peers: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, PeerHandle<P>>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn snapshot(&self) -> Vec<PeerHandle<P>> {
        self.lock().values().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Adds a connection.
    pub(crate) fn insert(&self, peer: PeerHandle<P>) {
        self.lock().insert(peer.id(), peer);
    }

    /// Removes a connection (its reader does, as it ends).
    pub(crate) fn remove(&self, id: PeerId) {
        self.lock().remove(&id);
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&PeerHandle<P>)) {
        for peer in self.lock().values() {
            f(peer);
        }
    }

    /// Closes every connection of the handler whose token is `token`: marks each connection
    /// closing (the flag readers and senders check without a lock), then cancels the token,
    /// holding the registry meanwhile. So a connection's flag is always set before its token
    /// is cancelled (what `CloseWait` relies on): one registered after this finds its token
    /// cancelled and marks itself before its tasks start (see `spawn`).
    pub(crate) fn close_all(&self, token: &CancellationToken) {
        let peers = self.lock();
        for peer in peers.values() {
            peer.s().closing().mark();
        }
        token.cancel();
    }
}
