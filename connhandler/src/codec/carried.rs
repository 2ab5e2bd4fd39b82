//! The framing a connection runs: the handler's own stream framing, or WebSocket's in its
//! place (each WebSocket message one frame, with no framing of ours inside).

use std::ops::RangeInclusive;

use bytes::{Bytes, BytesMut};

use super::{Chunked, FrameError, Framing};
use crate::message::Encode;

/// The handler's framing `F`, or WebSocket's.
#[derive(Clone, Debug)]
pub(crate) enum Carried<F> {
    Stream(F),
    #[cfg(feature = "websocket")]
    WebSocket(super::websocket::WsFraming),
}

/// Calls `$call` on whichever framing it is.
macro_rules! each {
    ($self:expr, $f:ident => $call:expr) => {
        match $self {
            Carried::Stream($f) => $call,
            #[cfg(feature = "websocket")]
            Carried::WebSocket($f) => $call,
        }
    };
}

impl<F: Framing> Framing for Carried<F> {
    #[inline]
    fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        each!(self, f => f.decode_frame(src))
    }

    #[inline]
    fn read_frame<T>(
        &mut self,
        src: &mut BytesMut,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, FrameError> {
        each!(self, f => f.read_frame(src, read))
    }

    fn decode_frame_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        each!(self, f => f.decode_frame_eof(src))
    }

    #[inline]
    fn encode_message<M: Encode + ?Sized>(
        &mut self,
        msg: &M,
        dst: &mut BytesMut,
    ) -> Result<(), FrameError> {
        each!(self, f => f.encode_message(msg, dst))
    }

    fn sendable_lengths(&self) -> RangeInclusive<usize> {
        each!(self, f => f.sendable_lengths())
    }

    #[inline]
    fn is_mid_frame(&self) -> bool {
        each!(self, f => f.is_mid_frame())
    }

    #[inline]
    fn chunked(&mut self) -> Option<&mut dyn Chunked> {
        match self {
            Carried::Stream(f) => f.chunked(),
            #[cfg(feature = "websocket")]
            Carried::WebSocket(_) => None,
        }
    }
}

/// A connection's side of its framing's own control frames (WebSocket's pongs, pings, close
/// frames and their count): none for a stream framing.
impl<F> Carried<F> {
    /// The bytes owed to the peer after decoding (a pong), if any.
    #[inline]
    pub(crate) fn take_reply(&mut self) -> Option<Bytes> {
        match self {
            Carried::Stream(_) => None,
            #[cfg(feature = "websocket")]
            Carried::WebSocket(ws) => ws.take_reply(),
        }
    }

    /// How many control frames were read since last asked.
    #[inline]
    pub(crate) fn take_controls(&mut self) -> u32 {
        match self {
            Carried::Stream(_) => 0,
            #[cfg(feature = "websocket")]
            Carried::WebSocket(ws) => ws.take_controls(),
        }
    }

    /// The framing's own ping, which a heartbeat sends in place of the protocol's.
    pub(crate) fn ping_frame(&mut self) -> Option<Bytes> {
        match self {
            Carried::Stream(_) => None,
            #[cfg(feature = "websocket")]
            Carried::WebSocket(ws) => ws.ping_frame(),
        }
    }

    /// Appends the framing's closing words (a close frame) to `dst`.
    pub(crate) fn encode_close(&mut self, code: u16, reason: &str, dst: &mut BytesMut) {
        match self {
            Carried::Stream(_) => {
                let _ = (code, reason, dst);
            }
            #[cfg(feature = "websocket")]
            Carried::WebSocket(ws) => ws.encode_close(code, reason, dst),
        }
    }
}
