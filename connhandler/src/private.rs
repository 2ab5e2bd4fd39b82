//! What generated code refers to, by absolute path (`::connhandler::__private::...`): not a
//! public API.

pub use bytes::{Bytes, BytesMut};
pub use core::{
    default::Default,
    option::Option::{self, None, Some},
    result::Result::{self, Err, Ok},
};

pub use crate::{
    message::{Decode, DecodeError, Encode, FrameStatus},
    wire::{
        decode_whole, fingerprint_combine, fingerprint_mix, fingerprint_str, frame_status,
        frame_status_decoding, Ctx, Endian, LenWidth, Wire, WireRest,
    },
};

/// Names the field (and message id) a decode error happened in, keeping the innermost ones.
pub fn context(e: DecodeError, field: &'static str, id: Option<u64>) -> DecodeError {
    let e = if e.field().is_none() {
        e.with_field(field)
    } else {
        e
    };
    match (e.message_id(), id) {
        (None, Some(id)) => e.with_message_id(id as u32),
        _ => e,
    }
}

/// Names the message id a decode error happened in, keeping an inner one.
pub fn in_message(e: DecodeError, id: u64) -> DecodeError {
    if e.message_id().is_none() {
        e.with_message_id(id as u32)
    } else {
        e
    }
}

/// A codec whose settings the attribute macro checked at compile time.
pub fn checked_codec<C>(built: Result<C, crate::codec::ConfigError>) -> C {
    match built {
        Ok(codec) => codec,
        Err(e) => unreachable!("codec settings are checked at compile time: {e}"),
    }
}

#[cfg(feature = "json")]
pub use serde;

/// The length of `value` as JSON.
#[cfg(feature = "json")]
pub fn json_len<T: serde::Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A failing Serialize impl writes less than it should; the framing's length check
    // then refuses the message rather than sending a corrupt frame.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Appends `value` as JSON.
#[cfg(feature = "json")]
pub fn json_encode<T: serde::Serialize>(value: &T, dst: &mut BytesMut) {
    use bytes::BufMut;
    let _ = serde_json::to_writer(dst.writer(), value);
}

/// Reads the rest of `src` as a JSON value.
#[cfg(feature = "json")]
pub fn json_decode<T: serde::de::DeserializeOwned>(src: &mut Bytes) -> Result<T, DecodeError> {
    let body = std::mem::take(src);
    serde_json::from_slice(&body).map_err(|e| {
        if e.is_eof() {
            DecodeError::incomplete(1)
        } else {
            DecodeError::new(crate::message::DecodeErrorKind::Json(e.to_string()))
        }
    })
}
