//! A request on one connection: registered with the connection's waiting requests and
//! queued under the same lock (so that by-order pairing follows the order on the wire),
//! then awaited or posted by the caller (`talk::Reply`).

use std::sync::Arc;

use super::{send::SendError, shared::Shared};
use crate::{
    peer::Peer,
    talk::{Correlated, CorrelationField, Reply, Request, RequestError, Slot},
};

impl<P: Peer> Shared<P>
where
    P::Send: Request<P::Recv>,
    P::Recv: Correlated,
{
    /// `PeerHandle::request`.
    pub(crate) fn request(&self, msg: P::Send) -> Reply<P::Recv> {
        let Some(pairing) = msg.pairing() else {
            return Reply::failed(RequestError::NotARequest);
        };
        if self.closing().is_closing() {
            return Reply::failed(RequestError::Closed);
        }
        let pending = self.pending_or_new(<P::Recv as Correlated>::correlation);
        let slot = Arc::new(Slot::new());
        let timeout = self.talk().request_timeout;
        let registered = pending.register(
            msg,
            pairing,
            |msg, id| msg.set_correlation(id),
            |msg| {
                self.send(msg).map_err(|e| match e {
                    SendError::Full(_) => RequestError::Full,
                    SendError::Closed(_) => RequestError::Closed,
                    SendError::Refused(_, why) => RequestError::Refused(why.to_string()),
                })
            },
            slot.clone(),
            timeout,
        );
        match registered {
            Ok(()) => Reply::waiting(slot, pending.retime(), timeout),
            Err(e) => Reply::failed(e),
        }
    }

    /// `PeerHandle::request_with`.
    pub(crate) fn request_with<T: CorrelationField>(
        &self,
        make: impl FnOnce(T) -> P::Send,
    ) -> Reply<P::Recv> {
        if self.closing().is_closing() {
            return Reply::failed(RequestError::Closed);
        }
        let pending = self.pending_or_new(<P::Recv as Correlated>::correlation);
        let slot = Arc::new(Slot::new());
        let timeout = self.talk().request_timeout;
        let registered = pending.register_with(
            |id| make(T::from_id(id)),
            |id| T::from_id(id).id(),
            |msg| msg.pairing(),
            |msg| {
                self.send(msg).map_err(|e| match e {
                    SendError::Full(_) => RequestError::Full,
                    SendError::Closed(_) => RequestError::Closed,
                    SendError::Refused(_, why) => RequestError::Refused(why.to_string()),
                })
            },
            slot.clone(),
            timeout,
        );
        match registered {
            Ok(()) => Reply::waiting(slot, pending.retime(), timeout),
            Err(e) => Reply::failed(e),
        }
    }
}
