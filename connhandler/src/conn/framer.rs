//! Framing a message once for many connections (a broadcast): each handler has one
//! `Framer`, shared by its connections, so a group that spans handlers frames a message once
//! per handler and shares the bytes among that handler's connections.

use std::sync::{Arc, Mutex};

use bytes::BytesMut;

use super::queue::Framed;
use crate::{
    codec::{FrameError, Framing},
    message::Encode,
};

type FrameFn<S> = Box<dyn Fn(&S) -> Result<Arc<Framed>, FrameError> + Send + Sync>;

/// A handler's framing, for messages framed once and queued to many of its connections.
pub(crate) struct Framer<S> {
    frame: FrameFn<S>,
}

impl<S: Encode + 'static> Framer<S> {
    /// Frames with `framing`; keeps the body too when a tap wants to see it.
    pub(crate) fn new<F: Framing>(framing: F, tap: bool) -> Self {
        // A framing need not be `Sync`: each broadcast frames with a clone of it.
        let framing = Mutex::new(framing);
        Framer {
            frame: Box::new(move |msg: &S| {
                let mut framing = framing.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut wire = BytesMut::new();
                framing.encode_message(msg, &mut wire)?;
                let body = tap.then(|| {
                    let mut body = BytesMut::with_capacity(msg.encoded_len());
                    msg.encode(&mut body);
                    body.freeze()
                });
                Ok(Arc::new(Framed {
                    wire: wire.freeze(),
                    body,
                }))
            }),
        }
    }
}

impl<S> Framer<S> {
    /// The message framed for any connection of this handler.
    pub(crate) fn frame(&self, msg: &S) -> Result<Arc<Framed>, FrameError> {
        (self.frame)(msg)
    }
}
