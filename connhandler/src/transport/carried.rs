//! The framing a connection runs: the handler's own stream framing, or WebSocket's in its
//! place (each WebSocket message one frame, with no framing of ours inside).

use std::{ops::RangeInclusive, time::Duration};

use bytes::{Bytes, BytesMut};

use crate::{
    codec::{FrameError, Framing},
    message::{Encode, FrameStatusFn},
};

/// The handler's framing `F`, or WebSocket's.
#[derive(Clone, Debug)]
pub(crate) enum Carried<F> {
    Stream(F),
    #[cfg(feature = "websocket")]
    WebSocket(super::ws::WsFraming),
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

    fn pending_end_after(&self) -> Option<Duration> {
        each!(self, f => f.pending_end_after())
    }

    #[inline]
    fn read_limit(&self, src: &BytesMut) -> Option<usize> {
        each!(self, f => f.read_limit(src))
    }

    fn end_pending(&mut self, src: &mut BytesMut) -> Option<Bytes> {
        each!(self, f => f.end_pending(src))
    }

    #[inline]
    fn take_reply(&mut self) -> Option<Bytes> {
        each!(self, f => f.take_reply())
    }

    #[inline]
    fn take_controls(&mut self) -> u32 {
        each!(self, f => f.take_controls())
    }

    fn ping_frame(&mut self) -> Option<Bytes> {
        each!(self, f => f.ping_frame())
    }

    fn encode_close(&mut self, code: u16, reason: &str, dst: &mut BytesMut) {
        each!(self, f => f.encode_close(code, reason, dst))
    }

    fn set_frame_status(&mut self, status: FrameStatusFn) {
        each!(self, f => f.set_frame_status(status))
    }
}
