//! The field-level wire format that `#[derive(Message)]` builds messages from.
//!
//! Every field type implements [`Wire`]: integers, floats, `bool`, [`String`], [`Vec<T>`],
//! [`Option<T>`], `[T; N]`, tuples, [`Bytes`], and the types that derive `Message`. A type of
//! your own implements it by hand (or a field names a codec module with `with = path`).
//!
//! The defaults match Panda3D's `Datagram` so that a datagram built field by field in Panda3D
//! decodes with a plainly derived struct:
//!
//! | Panda3D | Rust field type | bytes |
//! | --- | --- | --- |
//! | `addUint8` / `addInt8` | `u8` / `i8` | 1 |
//! | `addUint16` / `addInt16` | `u16` / `i16` | 2, little-endian |
//! | `addUint32` / `addInt32` | `u32` / `i32` | 4, little-endian |
//! | `addUint64` / `addInt64` | `u64` / `i64` | 8, little-endian |
//! | `addFloat32` / `addFloat64` | `f32` / `f64` | 4 / 8, little-endian IEEE 754 |
//! | `addBool` | `bool` | 1: 0 or 1 |
//! | `addString` | `String` | u16 LE length, then UTF-8 bytes |
//! | `addString32` | `String` with `#[wire(len = u32)]` | u32 LE length, then bytes |
//! | `addBlob` | `Bytes` or `Vec<u8>` | u16 LE length, then the bytes |
//! | `addBeUint16`... | `#[wire(endian = "big")]` | big-endian |
//!
//! Sequences (`Vec<T>`, `String`, `Bytes`) carry a length prefix (u16 LE unless the field or
//! container says `len = u8 | u16 | u32`); `Option<T>` is a byte 0 or 1 and then the value;
//! arrays and tuples are their elements in order. A sequence longer than its prefix holds
//! (300 bytes behind a u8 prefix) cannot be written: sending it is refused with
//! [`FrameError::LengthOverflow`](crate::codec::FrameError::LengthOverflow), see
//! [`check_len`].

//!
//! # Where things are
//!
//! | file | holds |
//! | --- | --- |
//! | `mod.rs` | the settings ([`Ctx`]), the traits [`Wire`] and [`WireRest`], whole-frame decoding |
//! | `source.rs` | [`Source`], what values are read from, and the helpers every reader uses (lengths, counts) |
//! | `primitives.rs` | numbers, `bool`, text, `Bytes`, `()` |
//! | `collections.rs` | `Vec`, `Option`, arrays, tuples, `Box` |
//! | `fingerprint.rs` | the const FNV-1a fingerprints of wire shapes |
//!
//! A field type has one reading body, [`Wire::wire_read`], generic over the [`Source`]: the
//! same code reads a frame held as [`Bytes`] and a slice borrowed from the read buffer.

mod collections;
mod fingerprint;
mod primitives;
mod source;
#[cfg(test)]
mod tests;

use bytes::{Bytes, BytesMut};

pub use self::{
    collections::read_items,
    fingerprint::{fingerprint_combine, fingerprint_mix, fingerprint_str},
    source::{check_len, get_len, put_len, Source},
};
#[cfg(doc)]
use crate::message::DecodeErrorKind;
pub use crate::message::LengthOverflow;
use crate::{
    describe::{Ty, Types},
    message::{DecodeError, FrameStatus},
};

/// Byte order of integers, floats and length prefixes.
///
/// # Examples
///
/// ```
/// use connhandler::wire::{Ctx, Endian};
/// let ctx = Ctx { endian: Endian::Big, ..Ctx::DEFAULT };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Little-endian: the reference protocol's and Panda3D's default.
    Little,
    /// Big-endian (network order).
    Big,
}

/// The width of a length prefix.
///
/// # Examples
///
/// ```
/// use connhandler::wire::{Ctx, LenWidth};
/// let ctx = Ctx { len: LenWidth::U32, ..Ctx::DEFAULT };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LenWidth {
    /// One byte: up to 255 elements.
    U8,
    /// Two bytes: up to 65535 elements (the default, Panda3D's `addString`).
    U16,
    /// Four bytes.
    U32,
}

impl LenWidth {
    /// The prefix's size in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::wire::LenWidth::U32.size(), 4);
    /// ```
    pub const fn size(self) -> usize {
        match self {
            LenWidth::U8 => 1,
            LenWidth::U16 => 2,
            LenWidth::U32 => 4,
        }
    }

    /// The largest length the prefix can hold.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::wire::LenWidth::U8.max(), 255);
    /// ```
    pub const fn max(self) -> usize {
        match self {
            LenWidth::U8 => u8::MAX as usize,
            LenWidth::U16 => u16::MAX as usize,
            LenWidth::U32 => u32::MAX as usize,
        }
    }
}

/// The settings a field is encoded with: the container's, overridden by the field's
/// attributes. Nested derived types use their own.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use connhandler::wire::{Ctx, Endian, Wire};
///
/// let mut buf = BytesMut::new();
/// 0x0102u16.wire_encode(Ctx { endian: Endian::Big, ..Ctx::DEFAULT }, &mut buf);
/// assert_eq!(&buf[..], &[1, 2]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ctx {
    /// Byte order.
    pub endian: Endian,
    /// Length-prefix width of sequences.
    pub len: LenWidth,
}

impl Ctx {
    /// Little-endian, u16 length prefixes.
    pub const DEFAULT: Ctx = Ctx {
        endian: Endian::Little,
        len: LenWidth::U16,
    };
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx::DEFAULT
    }
}

/// A value with a wire encoding: what every field of a derived message implements.
///
/// `wire_encode` must append exactly `wire_len` bytes; `wire_decode` reads one value from the
/// front of `src`, failing with [`DecodeErrorKind::Incomplete`] when `src` ends too early,
/// and never allocating more than `src` can fill.
///
/// Every type reads through one body, [`wire_read`](Wire::wire_read), generic over the
/// [`Source`]: a frame held as [`Bytes`] or a slice borrowed from the connection's read buffer.
/// A message whose fields all say [`READS_IN_PLACE`](Wire::READS_IN_PLACE) is decoded from
/// that slice, with no reference-counted frame. A hand-written impl that only writes
/// `wire_decode` (the one decoding method it must write) still works everywhere (a slice's
/// rest is copied for it), and makes the messages holding it take the `Bytes` path.
///
/// # Examples
///
/// A hand-written impl for a type of your own, usable as a field of derived messages:
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use connhandler::wire::{self, Ctx, Wire};
/// use connhandler::DecodeError;
///
/// /// A position packed as three i16 in tenths of a unit.
/// #[derive(Debug, PartialEq)]
/// struct Pos(f32, f32, f32);
///
/// impl Wire for Pos {
///     const FINGERPRINT: u64 = wire::fingerprint_str("Pos:i16x3");
///     const MIN_LEN: usize = 6;
///     fn wire_len(&self, _: Ctx) -> usize {
///         6
///     }
///     fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
///         for v in [self.0, self.1, self.2] {
///             ((v * 10.0) as i16).wire_encode(ctx, dst);
///         }
///     }
///     fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
///         let mut v = [0f32; 3];
///         for x in &mut v {
///             *x = f32::from(i16::wire_decode(src, ctx)?) / 10.0;
///         }
///         Ok(Pos(v[0], v[1], v[2]))
///     }
/// }
///
/// let mut buf = BytesMut::new();
/// Pos(1.0, -2.5, 0.0).wire_encode(Ctx::DEFAULT, &mut buf);
/// let back = Pos::wire_decode(&mut buf.freeze(), Ctx::DEFAULT).unwrap();
/// assert_eq!(back, Pos(1.0, -2.5, 0.0));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no wire encoding: it does not implement `connhandler::wire::Wire`",
    label = "this field's type cannot be encoded",
    note = "derive `connhandler::Message` for it, implement `connhandler::wire::Wire` by hand, or give the field #[wire(with = path)]"
)]
pub trait Wire: Sized {
    /// A fingerprint of the wire shape: it changes when the bytes a value is written as
    /// would change (field types, order, ids, settings).
    const FINGERPRINT: u64;

    /// The fewest bytes any value takes (used to refuse length prefixes that claim more
    /// elements than the input could hold, before allocating).
    const MIN_LEN: usize;

    /// Whether the encoding tells its own end (false for types that take the rest of the
    /// input).
    const SELF_DELIMITING: bool = true;

    /// The exact number of bytes `wire_encode` appends.
    fn wire_len(&self, ctx: Ctx) -> usize;

    /// Appends the value.
    fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut);

    /// Whether [`wire_read`](Wire::wire_read) reads the value where it lies in a borrowed
    /// slice, allocating no more than from `Bytes`: true for every built-in type but
    /// [`Bytes`] (which shares the frame instead) and for derived types made of such. A
    /// message type whose fields all say true is decoded straight from the connection's read
    /// buffer, with no reference-counted frame per message. A hand-written impl that also
    /// implements `wire_read` may say true.
    const READS_IN_PLACE: bool = false;

    /// Reads one value from the front of a frame held as [`Bytes`]: the decoding method a
    /// hand-written impl must write. Built-in and derived types answer with
    /// [`wire_read`](Wire::wire_read).
    ///
    /// # Errors
    ///
    /// A [`DecodeError`]: [`Incomplete`](DecodeErrorKind::Incomplete) when `src` ends early.
    fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError>;

    /// Reads one value from the front of any [`Source`], moving it past the value: the one
    /// reading body of every built-in and derived type, and what derived messages call for
    /// each field. The default runs [`wire_decode`](Wire::wire_decode) (on a copy of the rest
    /// when the source is a slice). A hand-written impl that reads in place implements this
    /// instead, says [`READS_IN_PLACE`](Wire::READS_IN_PLACE), and answers `wire_decode` with
    /// `Self::wire_read(src, ctx)`.
    ///
    /// # Errors
    ///
    /// As [`wire_decode`](Wire::wire_decode).
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use connhandler::wire::{Ctx, Wire};
    ///
    /// let mut src: &[u8] = &[7, 0, 0, 0, 9];
    /// assert_eq!(u32::wire_read(&mut src, Ctx::DEFAULT).unwrap(), 7);
    /// assert_eq!(src, &[9]);
    /// let mut frame = Bytes::from_static(&[7, 0, 0, 0, 9]);
    /// assert_eq!(u32::wire_read(&mut frame, Ctx::DEFAULT).unwrap(), 7);
    /// ```
    #[inline]
    fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        src.with_bytes(|bytes| Self::wire_decode(bytes, ctx))
    }

    /// [`wire_read`](Wire::wire_read) from a borrowed slice, for callers holding one (not
    /// a method to implement: it always answers with `wire_read`).
    ///
    /// # Errors
    ///
    /// As [`wire_decode`](Wire::wire_decode).
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::wire::{Ctx, Wire};
    ///
    /// let mut src: &[u8] = &[7, 0, 0, 0, 9];
    /// assert_eq!(u32::wire_decode_slice(&mut src, Ctx::DEFAULT).unwrap(), 7);
    /// assert_eq!(src, &[9]);
    /// ```
    #[inline(always)]
    fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        Self::wire_read(src, ctx)
    }

    /// Reads `[Self; N]`: item by item, with no `Vec` in between; numbers override it with one
    /// length check and a loop over the bytes. Generated code's and the array impl's.
    #[doc(hidden)]
    #[inline]
    fn wire_read_array<S: Source, const N: usize>(
        src: &mut S,
        ctx: Ctx,
    ) -> Result<[Self; N], DecodeError> {
        collections::read_items(src, ctx)
    }

    /// Checks that every length in the value fits the prefix it is written with (a `String`
    /// of 70,000 bytes does not fit a u16 prefix): [`wire_encode`](Wire::wire_encode) of a
    /// value that does not would write a wrong prefix. Types with no length prefix inside
    /// keep the default, which checks nothing.
    ///
    /// # Errors
    ///
    /// A [`LengthOverflow`] naming the length, the most the prefix holds, and the field.
    #[inline]
    fn wire_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        let _ = ctx;
        Ok(())
    }

    /// Describes the type's wire layout for a protocol document ([`crate::schema`]): the
    /// built-in types and derived ones say what they are (a derived type adds its definition
    /// to `types` and answers with its name); the default says [`Ty::Opaque`], a named hook
    /// that a generated peer asks its user to supply.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::{describe::{Ty, Types}, wire::Wire};
    /// let mut types = Types::default();
    /// assert_eq!(<Option<bool> as Wire>::describe(&mut types), Ty::Option(Box::new(Ty::Bool)));
    /// ```
    fn describe(types: &mut Types) -> Ty {
        let _ = types;
        Ty::opaque::<Self>()
    }

    /// The encoded length of a slice of values; a type may answer faster than the loop.
    fn slice_len(items: &[Self], ctx: Ctx) -> usize {
        items.iter().map(|i| i.wire_len(ctx)).sum()
    }

    /// Appends a slice of values; `u8` overrides it with one copy.
    fn encode_slice(items: &[Self], ctx: Ctx, dst: &mut BytesMut) {
        for item in items {
            item.wire_encode(ctx, dst);
        }
    }

    /// Reads `n` values (a `Vec`'s items); `u8` overrides it with one copy, derived structs
    /// of fixed size with one length check. The caller has checked that `src` can hold `n`
    /// values of at least [`MIN_LEN`](Wire::MIN_LEN) bytes.
    ///
    /// # Errors
    ///
    /// As [`wire_decode`](Wire::wire_decode).
    #[inline]
    fn wire_read_vec<S: Source>(src: &mut S, n: usize, ctx: Ctx) -> Result<Vec<Self>, DecodeError> {
        source::read_each(src, n, ctx)
    }
}

/// A field type that can take the rest of the message, with no length prefix (`#[wire(rest)]`
/// on the last field).
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use connhandler::wire::{Ctx, WireRest};
///
/// let mut buf = BytesMut::new();
/// Bytes::from_static(b"tail").rest_encode(Ctx::DEFAULT, &mut buf);
/// assert_eq!(&buf[..], b"tail");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot take the rest of a message",
    label = "a `rest` field must be `Bytes`, `Vec<u8>`, `String` or `Vec<T>`",
    note = "`rest` (and the body of a `catch_all` variant) implement `connhandler::wire::WireRest`"
)]
pub trait WireRest: Sized {
    /// The exact number of bytes `rest_encode` appends.
    fn rest_len(&self, ctx: Ctx) -> usize;
    /// Appends the value with no prefix.
    fn rest_encode(&self, ctx: Ctx, dst: &mut BytesMut);
    /// Takes all of `src`.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the bytes are not a valid value.
    fn rest_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError>;

    /// As [`Wire::READS_IN_PLACE`], for [`rest_read`](WireRest::rest_read).
    const REST_READS_IN_PLACE: bool = false;

    /// Takes all of any [`Source`]: the one reading body, as [`Wire::wire_read`]. The default
    /// runs [`rest_decode`](WireRest::rest_decode) (on a copy of a slice).
    ///
    /// # Errors
    ///
    /// As [`rest_decode`](WireRest::rest_decode).
    #[inline]
    fn rest_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        src.with_bytes(|bytes| Self::rest_decode(bytes, ctx))
    }

    /// [`rest_read`](WireRest::rest_read) from a borrowed slice (not a method to implement).
    ///
    /// # Errors
    ///
    /// As [`rest_decode`](WireRest::rest_decode).
    #[inline(always)]
    fn rest_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        Self::rest_read(src, ctx)
    }

    /// As [`Wire::describe`], for the rest of the message (the field's kind says it has no
    /// prefix): the default says opaque.
    fn describe_rest(types: &mut Types) -> Ty {
        let _ = types;
        Ty::opaque::<Self>()
    }

    /// As [`Wire::wire_check`], for the rest of the message (which has no prefix of its own).
    ///
    /// # Errors
    ///
    /// A [`LengthOverflow`].
    #[inline]
    fn rest_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        let _ = ctx;
        Ok(())
    }
}

/// Decodes a whole frame as `T`, refusing trailing bytes. Used by derived `Decode` impls.
///
/// # Errors
///
/// What `T::wire_decode` says, or [`DecodeErrorKind::TrailingBytes`].
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::wire::{decode_whole, Ctx};
/// assert_eq!(decode_whole::<u16>(Bytes::from_static(&[1, 0]), Ctx::DEFAULT).unwrap(), 1);
/// assert!(decode_whole::<u16>(Bytes::from_static(&[1, 0, 0]), Ctx::DEFAULT).is_err());
/// ```
#[inline]
pub fn decode_whole<T: Wire>(frame: Bytes, ctx: Ctx) -> Result<T, DecodeError> {
    decode_whole_with_id(frame, ctx, |_| None)
}

/// Like [`decode_whole`], naming the message (by `id_of` the decoded value) in the
/// trailing-bytes error, the one error found after the value decoded. Used by derived
/// `Decode` impls; the id is looked up only on that error path. The frame is a [`Bytes`] or
/// a borrowed slice (see [`Source`]).
///
/// # Errors
///
/// As [`decode_whole`].
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::wire::{decode_whole_with_id, Ctx};
/// let err = decode_whole_with_id::<u16, _>(Bytes::from_static(&[1, 0, 0]), Ctx::DEFAULT, |_| Some(7))
///     .unwrap_err();
/// assert_eq!(err.to_string(), "message 0x7: 1 trailing bytes after the message");
/// let from_slice = decode_whole_with_id::<u16, &[u8]>(&[1, 0], Ctx::DEFAULT, |_| None);
/// assert_eq!(from_slice.unwrap(), 1);
/// ```
#[inline]
pub fn decode_whole_with_id<T: Wire, S: Source>(
    mut frame: S,
    ctx: Ctx,
    id_of: impl FnOnce(&T) -> Option<u32>,
) -> Result<T, DecodeError> {
    let value = frame.read::<T>(ctx)?;
    if frame.rest().is_empty() {
        return Ok(value);
    }
    let err = DecodeError::trailing_bytes(frame.rest().len());
    Err(match id_of(&value) {
        Some(id) => err.with_message_id(id),
        None => err,
    })
}

/// [`Decode::frame_status`](crate::Decode::frame_status) for a [`Wire`] type: decodes the
/// bytes to see whether they are one whole message.
///
/// # Examples
///
/// ```
/// use connhandler::{wire::{frame_status, Ctx}, FrameStatus};
/// assert_eq!(frame_status::<u32>(&[1, 2, 3, 4], Ctx::DEFAULT), FrameStatus::Complete);
/// assert_eq!(frame_status::<u32>(&[1, 2], Ctx::DEFAULT), FrameStatus::Incomplete);
/// ```
pub fn frame_status<T: Wire>(bytes: &[u8], ctx: Ctx) -> FrameStatus {
    if !T::SELF_DELIMITING {
        return FrameStatus::Unknown;
    }
    frame_status_decoding::<T>(bytes, ctx)
}

/// Like [`frame_status`], for a caller that knows these bytes are of a self-delimiting kind
/// (a derived enum's variant without `rest` fields, say) although `T` as a whole is not.
#[doc(hidden)]
pub fn frame_status_decoding<T: Wire>(bytes: &[u8], ctx: Ctx) -> FrameStatus {
    // A type that reads fields from `Bytes` only gets one copy of the whole frame.
    let decoded = if T::READS_IN_PLACE {
        decode_whole_with_id::<T, &[u8]>(bytes, ctx, |_| None)
    } else {
        decode_whole::<T>(Bytes::copy_from_slice(bytes), ctx)
    };
    match decoded {
        Ok(_) => FrameStatus::Complete,
        Err(e) if e.is_incomplete() => FrameStatus::Incomplete,
        Err(_) => FrameStatus::Unknown,
    }
}
