//! What generated code refers to, by absolute path (`::connhandler::__private_v0_1::...`):
//! not a public API. The module's name carries the crate's version (see `lib.rs`).

pub use bytes::{Bytes, BytesMut};
pub use core::array::from_fn as array_from_fn;
pub use std::vec::Vec;

pub use core::{
    default::Default,
    option::Option::{self, None, Some},
    result::Result::{self, Err, Ok},
};

pub use crate::{
    addr::Address,
    central::CentralSender,
    codec::{Framing, Panda3dCodec, TcpMessageCodec},
    conn::Event,
    conn::PeerHandle,
    describe,
    handler::{BindError, Incoming, IncomingBuilder, Outgoing, OutgoingBuilder, Retry, WithHook},
    message::{Decode, DecodeError, Encode, FrameStatus},
    peer::Peer,
    reason::ConnectError,
    talk,
    wire::{
        decode_whole, decode_whole_with_id, fingerprint_combine, fingerprint_mix, fingerprint_str,
        frame_status, frame_status_decoding, read_items, Ctx, Endian, LenWidth, LengthOverflow,
        Source, Wire, WireRest,
    },
};

/// WebSocket settings (`websocket = "/path"`), with the `websocket` feature.
#[cfg(feature = "websocket")]
pub use crate::ws::WebSocket;

/// Why a frame failed, for types whose fast path takes every valid frame (so the general
/// path, [`decode_whole_with_id`], only sees frames that fail): out of line, and returning
/// the error alone, so that the fast path's value is not merged with this call's result in
/// memory.
#[cold]
#[inline(never)]
pub fn decode_whole_error<T: Wire, S: Source>(
    frame: S,
    ctx: Ctx,
    id_of: impl FnOnce(&T) -> Option<u32>,
) -> DecodeError {
    match decode_whole_with_id(frame, ctx, id_of) {
        Err(e) => e,
        // The fast path refused a frame the general path reads: they disagree on a layout,
        // which the derive's tests rule out. Refused here too rather than let through.
        Ok(_) => DecodeError::other("the fixed-size fast path refused a frame"),
    }
}

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

/// Names the field a length overflow is in, unless a field inside it was named already.
pub fn overflow_in(mut e: LengthOverflow, field: &'static str) -> LengthOverflow {
    e.field.get_or_insert(field);
    e
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
pub fn json_decode<T: serde::de::DeserializeOwned, S: Source>(
    src: &mut S,
) -> Result<T, DecodeError> {
    let parsed = serde_json::from_slice(src.rest());
    src.advance(src.rest().len());
    parsed.map_err(|e| {
        if e.is_eof() {
            DecodeError::incomplete(1)
        } else {
            DecodeError::new(crate::message::DecodeErrorKind::Json(e.to_string()))
        }
    })
}

/// A primitive the derive writes and reads in runs: consecutive fixed-size fields are
/// written as one array and one append, and read after one length check.
pub trait Prim: Copy {
    /// The value's bytes: `[u8; size_of::<Self>()]`.
    type Bytes: AsRef<[u8]> + AsMut<[u8]> + Default;
    /// Little-endian bytes.
    fn le(self) -> Self::Bytes;
    /// Big-endian bytes.
    fn be(self) -> Self::Bytes;
    /// From little-endian bytes.
    fn from_le(b: Self::Bytes) -> Result<Self, DecodeError>;
    /// From big-endian bytes.
    fn from_be(b: Self::Bytes) -> Result<Self, DecodeError>;
}

macro_rules! prim {
    ($($t:ty, $n:expr;)*) => {$(
        impl Prim for $t {
            type Bytes = [u8; $n];
            #[inline(always)]
            fn le(self) -> [u8; $n] {
                self.to_le_bytes()
            }
            #[inline(always)]
            fn be(self) -> [u8; $n] {
                self.to_be_bytes()
            }
            #[inline(always)]
            fn from_le(b: [u8; $n]) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(b))
            }
            #[inline(always)]
            fn from_be(b: [u8; $n]) -> Result<Self, DecodeError> {
                Ok(<$t>::from_be_bytes(b))
            }
        }
    )*};
}

prim! {
    u8, 1; i8, 1; u16, 2; i16, 2; u32, 4; i32, 4; u64, 8; i64, 8; u128, 16; i128, 16;
    f32, 4; f64, 8;
}

impl Prim for bool {
    type Bytes = [u8; 1];
    #[inline(always)]
    fn le(self) -> [u8; 1] {
        [u8::from(self)]
    }
    #[inline(always)]
    fn be(self) -> [u8; 1] {
        [u8::from(self)]
    }
    #[inline(always)]
    fn from_le(b: [u8; 1]) -> Result<Self, DecodeError> {
        match b[0] {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::invalid_bool(other)),
        }
    }
    #[inline(always)]
    fn from_be(b: [u8; 1]) -> Result<Self, DecodeError> {
        Self::from_le(b)
    }
}

/// Writes `v` at `at` in a run's array.
#[inline(always)]
pub fn put_prim<T: Prim>(run: &mut [u8], at: usize, v: T, big_endian: bool) {
    let bytes = if big_endian { v.be() } else { v.le() };
    let bytes = bytes.as_ref();
    run[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Reads a `T` at `at` in a run's array.
#[inline(always)]
pub fn get_prim<T: Prim>(run: &[u8], at: usize, big_endian: bool) -> Result<T, DecodeError> {
    let mut bytes = T::Bytes::default();
    let n = bytes.as_ref().len();
    bytes.as_mut().copy_from_slice(&run[at..at + n]);
    if big_endian {
        T::from_be(bytes)
    } else {
        T::from_le(bytes)
    }
}

/// Moves the cursor `n` bytes on (a run of items read in place).
#[inline(always)]
pub fn advance<S: Source>(src: &mut S, n: usize) {
    src.advance(n);
}

/// Reads a number at `at` in a run's array: for numbers reading cannot fail (only `bool`s
/// can), so a run of numbers is read with no `Result` per item.
#[inline(always)]
pub fn get_num<T: Prim + Default>(run: &[u8], at: usize, big_endian: bool) -> T {
    get_prim::<T>(run, at, big_endian).unwrap_or_default()
}

/// Takes a run of `N` bytes from the front of `src`; `None` if it is shorter.
#[inline(always)]
pub fn take_run<const N: usize>(src: &mut impl Source) -> Option<[u8; N]> {
    let run = *src.rest().first_chunk::<N>()?;
    src.advance(N);
    Some(run)
}

/// The error for a run cut short: the first field (name, end offset in the run) that the
/// `have` remaining bytes do not hold, as reading field by field would have reported it.
#[cold]
#[inline(never)]
pub fn short_run(have: usize, ends: &[(&'static str, usize)], id: Option<u64>) -> DecodeError {
    let (field, end) = ends
        .iter()
        .copied()
        .find(|&(_, end)| end > have)
        .unwrap_or(("", have + 1));
    context(DecodeError::incomplete(end - have), field, id)
}

/// Whether two strings are equal, in a constant (the derive's compile-time checks).
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// What a derived enum says of one of its variants' correlation id, for a request's
/// compile-time check of its replies: the variant is not there (the request's own code
/// reports that), it has none, or it has one.
pub const CORRELATION_UNKNOWN: u8 = 0;
/// See [`CORRELATION_UNKNOWN`].
pub const CORRELATION_NONE: u8 = 1;
/// See [`CORRELATION_UNKNOWN`].
pub const CORRELATION_SOME: u8 = 2;
