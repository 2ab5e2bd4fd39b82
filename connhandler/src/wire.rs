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

use bytes::{Buf, Bytes, BytesMut};

pub use crate::message::LengthOverflow;
use crate::{
    describe::{Ty, Types},
    message::{DecodeError, DecodeErrorKind, FrameStatus},
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
/// Values are also read from a slice borrowed from the connection's read buffer
/// ([`wire_decode_slice`](Wire::wire_decode_slice)): a message whose fields all say
/// [`READS_IN_PLACE`](Wire::READS_IN_PLACE) is decoded there, with no reference-counted frame.
/// A hand-written impl that only writes `wire_decode` still works everywhere (the slice is
/// copied for it), and makes the messages holding it take the `Bytes` path.
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

    /// Whether [`wire_decode_slice`](Wire::wire_decode_slice) reads the value where it lies,
    /// allocating no more than `wire_decode` does: true for every built-in type but
    /// [`Bytes`] (which shares the frame instead) and for derived types made of such. A
    /// message type whose fields all say true is decoded straight from the connection's read
    /// buffer, with no reference-counted frame per message. A hand-written impl that also
    /// implements `wire_decode_slice` may say true.
    const READS_IN_PLACE: bool = false;

    /// Reads one value from the front of `src`.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`]: [`Incomplete`](DecodeErrorKind::Incomplete) when `src` ends early.
    fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError>;

    /// Reads one value from the front of a borrowed slice, moving it past the value. The
    /// default copies the rest of `src` into a [`Bytes`] for
    /// [`wire_decode`](Wire::wire_decode); implement it (and say [`READS_IN_PLACE`](Wire::READS_IN_PLACE))
    /// to read in place. A copy of the rest for each value adds up over many values: a
    /// whole frame of a type that does not read in place is better copied once and read
    /// with `wire_decode`, as [`Decode::decode_slice`](crate::Decode::decode_slice) of a
    /// derived type does.
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
    fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        via_bytes(src, |bytes| Self::wire_decode(bytes, ctx))
    }

    /// [`Source::read`], named through the type (generated code's: a field whose type has
    /// no `Wire` impl then gets one error, not one per use). Not for overriding.
    #[doc(hidden)]
    #[inline(always)]
    fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        src.read::<Self>(ctx)
    }

    /// Reads `[Self; N]`: item by item, with no `Vec` in between; numbers override it with one
    /// length check and a loop over the bytes. Generated code's and the array impl's.
    #[doc(hidden)]
    #[inline]
    fn wire_read_array<S: Source, const N: usize>(
        src: &mut S,
        ctx: Ctx,
    ) -> Result<[Self; N], DecodeError> {
        read_items(src, ctx)
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

    /// Reads `n` values; `u8` overrides it with one copy. The caller has checked that `src`
    /// can hold `n` values of at least [`MIN_LEN`](Wire::MIN_LEN) bytes.
    ///
    /// # Errors
    ///
    /// As [`wire_decode`](Wire::wire_decode).
    fn decode_vec(src: &mut Bytes, n: usize, ctx: Ctx) -> Result<Vec<Self>, DecodeError> {
        read_each(src, n, ctx)
    }

    /// As [`decode_vec`](Wire::decode_vec), from a borrowed slice.
    ///
    /// # Errors
    ///
    /// As [`wire_decode`](Wire::wire_decode).
    fn decode_vec_slice(src: &mut &[u8], n: usize, ctx: Ctx) -> Result<Vec<Self>, DecodeError> {
        read_each(src, n, ctx)
    }
}

/// `n` values read one by one (the default of `decode_vec`).
fn read_each<T: Wire, S: Source>(src: &mut S, n: usize, ctx: Ctx) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::with_capacity(n.min(src.rest().len() / T::MIN_LEN.max(1) + 1));
    for _ in 0..n {
        out.push(src.read::<T>(ctx)?);
    }
    Ok(out)
}

/// Decodes with a `Bytes`-based reader from a slice: the rest is copied, and the slice moved
/// past what the reader took. The fallback of types that do not read in place.
fn via_bytes<T>(
    src: &mut &[u8],
    read: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut bytes = Bytes::copy_from_slice(src);
    let value = read(&mut bytes)?;
    *src = &src[src.len() - bytes.len()..];
    Ok(value)
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for bytes::Bytes {}
    impl Sealed for &[u8] {}
}

/// Where a value is decoded from: a frame held as [`Bytes`] (zero-copy fields share it), or a
/// slice borrowed from the read buffer (see [`Wire::READS_IN_PLACE`]). Generated code and the
/// built-in types read through it, so that each has one reading body for both. Sealed.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use connhandler::wire::{Ctx, Source};
///
/// fn pair<S: Source>(src: &mut S) -> (u16, u8) {
///     (src.read(Ctx::DEFAULT).unwrap(), src.read(Ctx::DEFAULT).unwrap())
/// }
/// assert_eq!(pair(&mut &[1u8, 0, 2][..]), (1, 2));
/// assert_eq!(pair(&mut Bytes::from_static(&[1, 0, 2])), (1, 2));
/// ```
pub trait Source: sealed::Sealed {
    /// The bytes not read yet.
    fn rest(&self) -> &[u8];
    /// Moves past `n` bytes, at most [`rest`](Source::rest)'s length.
    fn skip(&mut self, n: usize);
    /// Reads a `T` the way this source is read: [`Wire::wire_decode`] from `Bytes`,
    /// [`Wire::wire_decode_slice`] from a slice.
    ///
    /// # Errors
    ///
    /// As [`Wire::wire_decode`].
    fn read<T: Wire>(&mut self, ctx: Ctx) -> Result<T, DecodeError>;
    /// Reads `n` values of `T` ([`Wire::decode_vec`] or [`Wire::decode_vec_slice`]).
    ///
    /// # Errors
    ///
    /// As [`Wire::wire_decode`].
    fn read_vec<T: Wire>(&mut self, n: usize, ctx: Ctx) -> Result<Vec<T>, DecodeError>;
    /// Reads the rest as a `T` ([`WireRest::rest_decode`] or [`WireRest::rest_decode_slice`]).
    ///
    /// # Errors
    ///
    /// As [`WireRest::rest_decode`].
    fn read_rest<T: WireRest>(&mut self, ctx: Ctx) -> Result<T, DecodeError>;
    /// The next `n` bytes: shared with a `Bytes` source, copied from a slice.
    fn take_bytes(&mut self, n: usize) -> Bytes;
    /// Runs a reader written for `Bytes` (a `with` module's `decode`): on the source itself,
    /// or on a copy of a slice's rest.
    ///
    /// # Errors
    ///
    /// What `read` says.
    fn with_bytes<T>(
        &mut self,
        read: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError>;
}

impl Source for Bytes {
    #[inline(always)]
    fn rest(&self) -> &[u8] {
        self
    }
    #[inline(always)]
    fn skip(&mut self, n: usize) {
        self.advance(n);
    }
    #[inline(always)]
    fn read<T: Wire>(&mut self, ctx: Ctx) -> Result<T, DecodeError> {
        T::wire_decode(self, ctx)
    }
    #[inline(always)]
    fn read_vec<T: Wire>(&mut self, n: usize, ctx: Ctx) -> Result<Vec<T>, DecodeError> {
        T::decode_vec(self, n, ctx)
    }
    #[inline(always)]
    fn read_rest<T: WireRest>(&mut self, ctx: Ctx) -> Result<T, DecodeError> {
        T::rest_decode(self, ctx)
    }
    #[inline]
    fn take_bytes(&mut self, n: usize) -> Bytes {
        self.split_to(n)
    }
    #[inline]
    fn with_bytes<T>(
        &mut self,
        read: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        read(self)
    }
}

impl Source for &[u8] {
    #[inline(always)]
    fn rest(&self) -> &[u8] {
        self
    }
    #[inline(always)]
    fn skip(&mut self, n: usize) {
        *self = &self[n..];
    }
    #[inline(always)]
    fn read<T: Wire>(&mut self, ctx: Ctx) -> Result<T, DecodeError> {
        T::wire_decode_slice(self, ctx)
    }
    #[inline(always)]
    fn read_vec<T: Wire>(&mut self, n: usize, ctx: Ctx) -> Result<Vec<T>, DecodeError> {
        T::decode_vec_slice(self, n, ctx)
    }
    #[inline(always)]
    fn read_rest<T: WireRest>(&mut self, ctx: Ctx) -> Result<T, DecodeError> {
        T::rest_decode_slice(self, ctx)
    }
    #[inline]
    fn take_bytes(&mut self, n: usize) -> Bytes {
        let (taken, rest) = self.split_at(n);
        *self = rest;
        Bytes::copy_from_slice(taken)
    }
    #[inline]
    fn with_bytes<T>(
        &mut self,
        read: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        via_bytes(self, read)
    }
}

/// One reading body for both sources: the built-in types and derived ones implement it, and
/// their `wire_decode` and `wire_decode_slice` call it. Not an API: generated code's.
#[doc(hidden)]
pub trait ReadFrom: Wire {
    /// Reads one value.
    ///
    /// # Errors
    ///
    /// As [`Wire::wire_decode`].
    fn read_from<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError>;

    /// Reads `n` values (the caller checked that `src` can hold them at `MIN_LEN` each).
    ///
    /// # Errors
    ///
    /// As [`Wire::wire_decode`].
    #[inline]
    fn read_vec_from<S: Source>(src: &mut S, n: usize, ctx: Ctx) -> Result<Vec<Self>, DecodeError> {
        read_each(src, n, ctx)
    }
}

/// `wire_decode` and `wire_decode_slice` (and the `Vec` readers, with `vec`) by way of the
/// type's [`ReadFrom`].
macro_rules! via_read_from {
    () => {
        const READS_IN_PLACE: bool = true;
        #[inline(always)]
        fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
            <Self as ReadFrom>::read_from(src, ctx)
        }
        #[inline(always)]
        fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
            <Self as ReadFrom>::read_from(src, ctx)
        }
    };
    (vec) => {
        fn decode_vec(src: &mut Bytes, n: usize, ctx: Ctx) -> Result<Vec<Self>, DecodeError> {
            <Self as ReadFrom>::read_vec_from(src, n, ctx)
        }
        fn decode_vec_slice(src: &mut &[u8], n: usize, ctx: Ctx) -> Result<Vec<Self>, DecodeError> {
            <Self as ReadFrom>::read_vec_from(src, n, ctx)
        }
    };
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

    /// As [`Wire::READS_IN_PLACE`], for [`rest_decode_slice`](WireRest::rest_decode_slice).
    const REST_READS_IN_PLACE: bool = false;

    /// Takes all of a borrowed slice; the default copies it for
    /// [`rest_decode`](WireRest::rest_decode).
    ///
    /// # Errors
    ///
    /// As [`rest_decode`](WireRest::rest_decode).
    fn rest_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        via_bytes(src, |bytes| Self::rest_decode(bytes, ctx))
    }

    /// [`Source::read_rest`], named through the type (see [`Wire::wire_read`]).
    #[doc(hidden)]
    #[inline(always)]
    fn rest_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        src.read_rest::<Self>(ctx)
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

// ---------------------------------------------------------------------------------------
// Fingerprints: FNV-1a, computed in const context.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds `s` into the fingerprint `h`.
///
/// # Examples
///
/// ```
/// use connhandler::wire::{fingerprint_mix, fingerprint_str};
/// const A: u64 = fingerprint_mix(fingerprint_str("a"), "b");
/// assert_ne!(A, fingerprint_str("ab0"));
/// ```
pub const fn fingerprint_mix(mut h: u64, s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    // A separator, so that ("ab", "c") and ("a", "bc") differ.
    h ^= 0xff;
    h.wrapping_mul(FNV_PRIME)
}

/// Folds another fingerprint into `h`.
///
/// # Examples
///
/// ```
/// use connhandler::wire::{fingerprint_combine, fingerprint_str, Wire};
/// const F: u64 = fingerprint_combine(fingerprint_str("pair"), <u8 as Wire>::FINGERPRINT);
/// ```
pub const fn fingerprint_combine(mut h: u64, other: u64) -> u64 {
    let mut i = 0;
    while i < 8 {
        h ^= (other >> (i * 8)) & 0xff;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// The fingerprint of a string.
///
/// # Examples
///
/// ```
/// use connhandler::wire::fingerprint_str;
/// const F: u64 = fingerprint_str("MyType:v1");
/// assert_eq!(F, fingerprint_str("MyType:v1"));
/// ```
pub const fn fingerprint_str(s: &str) -> u64 {
    fingerprint_mix(FNV_OFFSET, s)
}

// ---------------------------------------------------------------------------------------
// Helpers used by generated code and by impls here.

#[inline]
fn need<S: Source>(src: &S, n: usize) -> Result<(), DecodeError> {
    if src.rest().len() < n {
        Err(short(n, src.rest().len()))
    } else {
        Ok(())
    }
}

/// The error for input `have` bytes long where `n` were needed; out of the hot path.
#[cold]
#[inline(never)]
fn short(n: usize, have: usize) -> DecodeError {
    DecodeError::incomplete(n - have)
}

/// Takes `N` bytes from the front of `src`. Fixed-size reads go through here rather than
/// `Buf::get_*`, which the compiler does not inline across crates for `Bytes`.
#[inline(always)]
fn take<const N: usize, S: Source>(src: &mut S) -> Result<[u8; N], DecodeError> {
    match src.rest().first_chunk::<N>() {
        Some(bytes) => {
            let bytes = *bytes;
            src.skip(N);
            Ok(bytes)
        }
        None => Err(short(N, src.rest().len())),
    }
}

/// `bytes` as UTF-8 text.
#[inline]
fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::new(DecodeErrorKind::InvalidUtf8))
}

/// Checks that `len` fits the length prefix of `ctx`.
///
/// # Errors
///
/// A [`LengthOverflow`] when it does not.
///
/// # Examples
///
/// ```
/// use connhandler::wire::{check_len, Ctx, LenWidth};
///
/// let ctx = Ctx { len: LenWidth::U8, ..Ctx::DEFAULT };
/// assert!(check_len(255, ctx).is_ok());
/// assert_eq!(check_len(256, ctx).unwrap_err().max, 255);
/// ```
#[inline]
pub fn check_len(len: usize, ctx: Ctx) -> Result<(), LengthOverflow> {
    if len <= ctx.len.max() {
        Ok(())
    } else {
        Err(LengthOverflow {
            len,
            max: ctx.len.max(),
            field: None,
        })
    }
}

/// Appends a length prefix.
#[doc(hidden)]
#[inline]
pub fn put_len(len: usize, ctx: Ctx, dst: &mut BytesMut) {
    match (ctx.len, ctx.endian) {
        (LenWidth::U8, _) => dst.extend_from_slice(&[len as u8]),
        (LenWidth::U16, Endian::Little) => dst.extend_from_slice(&(len as u16).to_le_bytes()),
        (LenWidth::U16, Endian::Big) => dst.extend_from_slice(&(len as u16).to_be_bytes()),
        (LenWidth::U32, Endian::Little) => dst.extend_from_slice(&(len as u32).to_le_bytes()),
        (LenWidth::U32, Endian::Big) => dst.extend_from_slice(&(len as u32).to_be_bytes()),
    }
}

/// Reads a length prefix.
///
/// # Errors
///
/// [`DecodeErrorKind::Incomplete`] when the prefix itself is cut off.
#[doc(hidden)]
#[inline]
pub fn get_len<S: Source>(src: &mut S, ctx: Ctx) -> Result<usize, DecodeError> {
    Ok(match (ctx.len, ctx.endian) {
        (LenWidth::U8, _) => usize::from(take::<1, S>(src)?[0]),
        (LenWidth::U16, Endian::Little) => usize::from(u16::from_le_bytes(take(src)?)),
        (LenWidth::U16, Endian::Big) => usize::from(u16::from_be_bytes(take(src)?)),
        (LenWidth::U32, Endian::Little) => u32::from_le_bytes(take(src)?) as usize,
        (LenWidth::U32, Endian::Big) => u32::from_be_bytes(take(src)?) as usize,
    })
}

/// Reads a length prefix for `n` elements of at least `min_len` bytes, refusing a claim the
/// rest of the input cannot hold.
#[inline]
fn get_count<S: Source>(src: &mut S, ctx: Ctx, min_len: usize) -> Result<usize, DecodeError> {
    let n = get_len(src, ctx)?;
    let needed = n.saturating_mul(min_len.max(1));
    if needed > src.rest().len() {
        return Err(DecodeError::new(DecodeErrorKind::LengthTooLarge {
            claimed: n as u64,
            available: src.rest().len(),
        }));
    }
    Ok(n)
}

/// The description of a number type named `name`, of `size` bytes.
fn number_ty(name: &str, size: usize) -> Ty {
    let bits = (size * 8) as u16;
    if name.starts_with('f') {
        Ty::Float { bits }
    } else {
        Ty::Int {
            bits,
            signed: name.starts_with('i'),
        }
    }
}

macro_rules! wire_int {
    ($($t:ty, $size:expr;)*) => {$(
        impl Wire for $t {
            const FINGERPRINT: u64 = fingerprint_str(stringify!($t));
            const MIN_LEN: usize = $size;

            fn describe(_: &mut Types) -> Ty {
                number_ty(stringify!($t), $size)
            }

            #[inline]
            fn wire_len(&self, _: Ctx) -> usize {
                $size
            }

            #[inline]
            fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
                match ctx.endian {
                    Endian::Little => dst.extend_from_slice(&self.to_le_bytes()),
                    Endian::Big => dst.extend_from_slice(&self.to_be_bytes()),
                }
            }

            via_read_from!();

            fn slice_len(items: &[Self], _: Ctx) -> usize {
                items.len() * $size
            }

            /// One length check, then a loop over the bytes.
            #[inline]
            fn wire_read_array<S: Source, const N: usize>(
                src: &mut S,
                ctx: Ctx,
            ) -> Result<[Self; N], DecodeError> {
                need(src, N * $size)?;
                let bytes = &src.rest()[..N * $size];
                let items = std::array::from_fn(|i| {
                    let b = bytes[i * $size..(i + 1) * $size].try_into().unwrap_or([0; $size]);
                    match ctx.endian {
                        Endian::Little => <$t>::from_le_bytes(b),
                        Endian::Big => <$t>::from_be_bytes(b),
                    }
                });
                src.skip(N * $size);
                Ok(items)
            }
        }

        impl ReadFrom for $t {
            #[inline(always)]
            fn read_from<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
                let bytes = take::<$size, S>(src)?;
                Ok(match ctx.endian {
                    Endian::Little => <$t>::from_le_bytes(bytes),
                    Endian::Big => <$t>::from_be_bytes(bytes),
                })
            }
        }
    )*};
}

wire_int! {
    u16, 2;
    i16, 2;
    u32, 4;
    i32, 4;
    u64, 8;
    i64, 8;
    u128, 16;
    i128, 16;
    f32, 4;
    f64, 8;
}

impl Wire for u8 {
    const FINGERPRINT: u64 = fingerprint_str("u8");

    fn describe(_: &mut Types) -> Ty {
        Ty::Int {
            bits: 8,
            signed: false,
        }
    }
    const MIN_LEN: usize = 1;

    #[inline]
    fn wire_len(&self, _: Ctx) -> usize {
        1
    }
    #[inline]
    fn wire_encode(&self, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(&[*self])
    }
    via_read_from!();
    via_read_from!(vec);
    fn slice_len(items: &[Self], _: Ctx) -> usize {
        items.len()
    }
    /// One copy.
    #[inline]
    fn wire_read_array<S: Source, const N: usize>(
        src: &mut S,
        _: Ctx,
    ) -> Result<[Self; N], DecodeError> {
        take::<N, S>(src)
    }
    fn encode_slice(items: &[Self], _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(items)
    }
}

impl ReadFrom for u8 {
    #[inline(always)]
    fn read_from<S: Source>(src: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        Ok(take::<1, S>(src)?[0])
    }
    /// One copy.
    fn read_vec_from<S: Source>(src: &mut S, n: usize, _: Ctx) -> Result<Vec<Self>, DecodeError> {
        need(src, n)?;
        let items = src.rest()[..n].to_vec();
        src.skip(n);
        Ok(items)
    }
}

impl Wire for i8 {
    const FINGERPRINT: u64 = fingerprint_str("i8");

    fn describe(_: &mut Types) -> Ty {
        Ty::Int {
            bits: 8,
            signed: true,
        }
    }
    const MIN_LEN: usize = 1;

    #[inline]
    fn wire_len(&self, _: Ctx) -> usize {
        1
    }
    #[inline]
    fn wire_encode(&self, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(&self.to_le_bytes())
    }
    via_read_from!();
}

impl ReadFrom for i8 {
    #[inline(always)]
    fn read_from<S: Source>(src: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        Ok(i8::from_le_bytes(take::<1, S>(src)?))
    }
}

impl Wire for bool {
    const FINGERPRINT: u64 = fingerprint_str("bool");

    fn describe(_: &mut Types) -> Ty {
        Ty::Bool
    }
    const MIN_LEN: usize = 1;

    #[inline]
    fn wire_len(&self, _: Ctx) -> usize {
        1
    }
    #[inline]
    fn wire_encode(&self, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(&[u8::from(*self)])
    }
    via_read_from!();
}

impl ReadFrom for bool {
    #[inline(always)]
    fn read_from<S: Source>(src: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        match take::<1, S>(src)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::invalid_bool(b)),
        }
    }
}

impl Wire for String {
    const FINGERPRINT: u64 = fingerprint_str("String");

    fn describe(_: &mut Types) -> Ty {
        Ty::String
    }
    const MIN_LEN: usize = 1;

    #[inline]
    fn wire_len(&self, ctx: Ctx) -> usize {
        ctx.len.size() + self.len()
    }
    #[inline]
    fn wire_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        check_len(self.len(), ctx)
    }
    #[inline]
    fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
        put_len(self.len(), ctx, dst);
        dst.extend_from_slice(self.as_bytes());
    }
    via_read_from!();
}

impl ReadFrom for String {
    #[inline(always)]
    fn read_from<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        let n = get_count(src, ctx, 1)?;
        let text = utf8(&src.rest()[..n])?.to_owned();
        src.skip(n);
        Ok(text)
    }
}

impl WireRest for String {
    const REST_READS_IN_PLACE: bool = true;

    fn describe_rest(_: &mut Types) -> Ty {
        Ty::String
    }

    fn rest_len(&self, _: Ctx) -> usize {
        self.len()
    }
    fn rest_encode(&self, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(self.as_bytes());
    }
    fn rest_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        rest_text(src, ctx)
    }
    fn rest_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        rest_text(src, ctx)
    }
}

/// The rest of `src` as text.
fn rest_text<S: Source>(src: &mut S, _: Ctx) -> Result<String, DecodeError> {
    let text = utf8(src.rest())?.to_owned();
    src.skip(src.rest().len());
    Ok(text)
}

/// A block of bytes after a length prefix, decoded without copying from the frame.
impl Wire for Bytes {
    const FINGERPRINT: u64 = fingerprint_str("Bytes");

    fn describe(_: &mut Types) -> Ty {
        Ty::Bytes
    }
    const MIN_LEN: usize = 1;

    fn wire_len(&self, ctx: Ctx) -> usize {
        ctx.len.size() + self.len()
    }
    fn wire_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        check_len(self.len(), ctx)
    }
    fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
        put_len(self.len(), ctx, dst);
        dst.extend_from_slice(self);
    }
    fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        <Self as ReadFrom>::read_from(src, ctx)
    }
    /// Copies the bytes: a `Bytes` field shares the frame only when decoded from one.
    fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        <Self as ReadFrom>::read_from(src, ctx)
    }
}

impl ReadFrom for Bytes {
    fn read_from<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        let n = get_count(src, ctx, 1)?;
        Ok(src.take_bytes(n))
    }
}

impl WireRest for Bytes {
    fn describe_rest(_: &mut Types) -> Ty {
        Ty::Bytes
    }
    fn rest_len(&self, _: Ctx) -> usize {
        self.len()
    }
    fn rest_encode(&self, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(self);
    }
    fn rest_decode(src: &mut Bytes, _: Ctx) -> Result<Self, DecodeError> {
        Ok(std::mem::take(src))
    }
    fn rest_decode_slice(src: &mut &[u8], _: Ctx) -> Result<Self, DecodeError> {
        Ok(Bytes::copy_from_slice(std::mem::take(src)))
    }
}

impl<T: Wire> Wire for Vec<T> {
    const FINGERPRINT: u64 = fingerprint_combine(fingerprint_str("Vec"), T::FINGERPRINT);

    fn describe(types: &mut Types) -> Ty {
        Ty::Vec(Box::new(T::describe(types)))
    }
    const MIN_LEN: usize = 1;

    fn wire_len(&self, ctx: Ctx) -> usize {
        ctx.len.size() + T::slice_len(self, ctx)
    }
    fn wire_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        check_len(self.len(), ctx)?;
        self.iter().try_for_each(|item| item.wire_check(ctx))
    }
    fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
        put_len(self.len(), ctx, dst);
        T::encode_slice(self, ctx, dst);
    }
    const READS_IN_PLACE: bool = T::READS_IN_PLACE;
    fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        <Self as ReadFrom>::read_from(src, ctx)
    }
    fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        <Self as ReadFrom>::read_from(src, ctx)
    }
}

impl<T: Wire> ReadFrom for Vec<T> {
    #[inline]
    fn read_from<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        let n = get_count(src, ctx, T::MIN_LEN)?;
        src.read_vec::<T>(n, ctx)
    }
}

/// Elements until the end of the message.
impl<T: Wire> WireRest for Vec<T> {
    fn describe_rest(types: &mut Types) -> Ty {
        Ty::Vec(Box::new(T::describe(types)))
    }
    fn rest_len(&self, ctx: Ctx) -> usize {
        T::slice_len(self, ctx)
    }
    fn rest_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        self.iter().try_for_each(|item| item.wire_check(ctx))
    }
    fn rest_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
        T::encode_slice(self, ctx, dst);
    }
    const REST_READS_IN_PLACE: bool = T::READS_IN_PLACE;
    fn rest_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        rest_items(src, ctx)
    }
    fn rest_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        rest_items(src, ctx)
    }
}

/// Items until the end of `src`.
fn rest_items<T: Wire, S: Source>(src: &mut S, ctx: Ctx) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    while !src.rest().is_empty() {
        out.push(src.read::<T>(ctx)?);
    }
    Ok(out)
}

/// A byte 0 (none) or 1 (some), then the value.
impl<T: Wire> Wire for Option<T> {
    const FINGERPRINT: u64 = fingerprint_combine(fingerprint_str("Option"), T::FINGERPRINT);

    fn describe(types: &mut Types) -> Ty {
        Ty::Option(Box::new(T::describe(types)))
    }
    const MIN_LEN: usize = 1;
    const SELF_DELIMITING: bool = T::SELF_DELIMITING;

    fn wire_len(&self, ctx: Ctx) -> usize {
        1 + self.as_ref().map_or(0, |v| v.wire_len(ctx))
    }
    fn wire_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        self.as_ref().map_or(Ok(()), |v| v.wire_check(ctx))
    }
    fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
        match self {
            None => dst.extend_from_slice(&[0]),
            Some(v) => {
                dst.extend_from_slice(&[1]);
                v.wire_encode(ctx, dst);
            }
        }
    }
    const READS_IN_PLACE: bool = T::READS_IN_PLACE;
    fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        <Self as ReadFrom>::read_from(src, ctx)
    }
    fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        <Self as ReadFrom>::read_from(src, ctx)
    }
}

impl<T: Wire> ReadFrom for Option<T> {
    fn read_from<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        match take::<1, S>(src)?[0] {
            0 => Ok(None),
            1 => Ok(Some(src.read::<T>(ctx)?)),
            tag => Err(DecodeError::new(DecodeErrorKind::InvalidOptionTag(tag))),
        }
    }
}

/// The elements in order, no prefix.
impl<T: Wire, const N: usize> Wire for [T; N] {
    const FINGERPRINT: u64 = fingerprint_combine(
        fingerprint_combine(fingerprint_str("array"), N as u64),
        T::FINGERPRINT,
    );
    const MIN_LEN: usize = N * T::MIN_LEN;
    const SELF_DELIMITING: bool = T::SELF_DELIMITING;

    fn describe(types: &mut Types) -> Ty {
        Ty::Array(N, Box::new(T::describe(types)))
    }

    fn wire_len(&self, ctx: Ctx) -> usize {
        T::slice_len(self, ctx)
    }
    fn wire_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        self.iter().try_for_each(|item| item.wire_check(ctx))
    }
    fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
        T::encode_slice(self, ctx, dst);
    }
    const READS_IN_PLACE: bool = T::READS_IN_PLACE;
    fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        <Self as ReadFrom>::read_from(src, ctx)
    }
    fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        <Self as ReadFrom>::read_from(src, ctx)
    }
}

/// Read in place, item by item: no `Vec` in between, so an array field allocates nothing.
impl<T: Wire, const N: usize> ReadFrom for [T; N] {
    #[inline]
    fn read_from<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        need(src, Self::MIN_LEN)?;
        T::wire_read_array(src, ctx)
    }
}

/// `N` items read one by one into an array, with no `Vec` in between (the default of
/// `wire_read_array`). Generated code's.
#[doc(hidden)]
#[inline]
pub fn read_items<T: Wire, S: Source, const N: usize>(
    src: &mut S,
    ctx: Ctx,
) -> Result<[T; N], DecodeError> {
    let mut failed = None;
    let items: [Option<T>; N] = std::array::from_fn(|_| {
        if failed.is_some() {
            return None;
        }
        src.read::<T>(ctx).map_err(|e| failed = Some(e)).ok()
    });
    if let Some(e) = failed {
        return Err(e);
    }
    // No read failed, so every item is there.
    Ok(items.map(|item| item.unwrap_or_else(|| unreachable!("every read succeeded"))))
}

impl Wire for () {
    const FINGERPRINT: u64 = fingerprint_str("()");

    fn describe(_: &mut Types) -> Ty {
        Ty::Unit
    }
    const MIN_LEN: usize = 0;

    fn wire_len(&self, _: Ctx) -> usize {
        0
    }
    fn wire_encode(&self, _: Ctx, _: &mut BytesMut) {}
    via_read_from!();
}

impl ReadFrom for () {
    fn read_from<S: Source>(_: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        Ok(())
    }
}

macro_rules! wire_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Wire),+> Wire for ($($name,)+) {
            const FINGERPRINT: u64 = {
                let h = fingerprint_str("tuple");
                $(let h = fingerprint_combine(h, $name::FINGERPRINT);)+
                h
            };
            const MIN_LEN: usize = 0 $(+ $name::MIN_LEN)+;
            const SELF_DELIMITING: bool = true $(&& $name::SELF_DELIMITING)+;

            fn describe(types: &mut Types) -> Ty {
                Ty::Tuple(vec![$($name::describe(types)),+])
            }

            fn wire_len(&self, ctx: Ctx) -> usize {
                0 $(+ self.$idx.wire_len(ctx))+
            }
            fn wire_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
                $(self.$idx.wire_check(ctx)?;)+
                Ok(())
            }
            fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
                $(self.$idx.wire_encode(ctx, dst);)+
            }
            const READS_IN_PLACE: bool = true $(&& $name::READS_IN_PLACE)+;
            fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
                <Self as ReadFrom>::read_from(src, ctx)
            }
            fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
                <Self as ReadFrom>::read_from(src, ctx)
            }
        }

        impl<$($name: Wire),+> ReadFrom for ($($name,)+) {
            fn read_from<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
                Ok(($(src.read::<$name>(ctx)?,)+))
            }
        }
    };
}

wire_tuple!(A 0);
wire_tuple!(A 0, B 1);
wire_tuple!(A 0, B 1, C 2);
wire_tuple!(A 0, B 1, C 2, D 3);
wire_tuple!(A 0, B 1, C 2, D 3, E 4);
wire_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
wire_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
wire_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

impl<T: Wire> Wire for Box<T> {
    const FINGERPRINT: u64 = T::FINGERPRINT;
    const MIN_LEN: usize = T::MIN_LEN;
    const SELF_DELIMITING: bool = T::SELF_DELIMITING;

    fn describe(types: &mut Types) -> Ty {
        T::describe(types)
    }

    fn wire_len(&self, ctx: Ctx) -> usize {
        (**self).wire_len(ctx)
    }
    fn wire_check(&self, ctx: Ctx) -> Result<(), LengthOverflow> {
        (**self).wire_check(ctx)
    }
    fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
        (**self).wire_encode(ctx, dst)
    }
    const READS_IN_PLACE: bool = T::READS_IN_PLACE;
    fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        T::wire_decode(src, ctx).map(Box::new)
    }
    fn wire_decode_slice(src: &mut &[u8], ctx: Ctx) -> Result<Self, DecodeError> {
        T::wire_decode_slice(src, ctx).map(Box::new)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Wire + PartialEq + std::fmt::Debug>(v: T, ctx: Ctx) -> Vec<u8> {
        let mut buf = BytesMut::new();
        v.wire_encode(ctx, &mut buf);
        assert_eq!(buf.len(), v.wire_len(ctx));
        let bytes = buf.to_vec();
        assert_eq!(decode_whole::<T>(buf.freeze(), ctx).unwrap(), v);
        let from_slice = decode_whole_with_id::<T, &[u8]>(&bytes, ctx, |_| None);
        assert_eq!(from_slice.unwrap(), v, "decoded from a slice");
        bytes
    }

    /// Both sources, the same answer: a value, or the same error.
    fn both_ways<T: Wire + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Result<T, DecodeError> {
        let from_bytes = decode_whole::<T>(Bytes::copy_from_slice(bytes), Ctx::DEFAULT);
        let from_slice = decode_whole_with_id::<T, &[u8]>(bytes, Ctx::DEFAULT, |_| None);
        assert_eq!(
            from_bytes.as_ref().map_err(ToString::to_string),
            from_slice.as_ref().map_err(ToString::to_string)
        );
        from_bytes
    }

    #[test]
    fn arrays_read_item_by_item_and_fail_at_the_bad_one() {
        assert_eq!(roundtrip([1u16, 2, 3], Ctx::DEFAULT), [1, 0, 2, 0, 3, 0]);
        // Numbers in one run, in either byte order; bytes in one copy.
        let big = Ctx {
            endian: Endian::Big,
            ..Ctx::DEFAULT
        };
        assert_eq!(roundtrip([1u32, 2], big), [0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(roundtrip([-1.5f32, 2.0], Ctx::DEFAULT).len(), 8);
        assert_eq!(roundtrip([7u8, 8, 9], Ctx::DEFAULT), [7, 8, 9]);
        assert_eq!(roundtrip([[1i16, -1], [2, -2]], Ctx::DEFAULT).len(), 8);
        let e = both_ways::<[u8; 4]>(&[1, 2, 3]).unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::Incomplete { needed: 1 });
        let e = both_ways::<[u32; 2]>(&[1, 2, 3, 4, 5]).unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::Incomplete { needed: 3 });
        assert_eq!(
            both_ways::<[bool; 3]>(&[1, 0, 1]).unwrap(),
            [true, false, true]
        );
        let e = both_ways::<[bool; 3]>(&[1, 2, 1]).unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::InvalidBool(2));
        assert!(both_ways::<[u16; 3]>(&[1, 0, 2, 0, 3])
            .unwrap_err()
            .is_incomplete());
        // Items of varying size: the array's MIN_LEN is checked first, then each item.
        let e = both_ways::<[String; 2]>(&[1, 0, b'a', 3, 0, b'b']).unwrap_err();
        assert_eq!(
            e.kind(),
            &DecodeErrorKind::LengthTooLarge {
                claimed: 3,
                available: 1
            }
        );
        assert_eq!(
            both_ways::<[String; 2]>(&[1, 0, b'a', 1, 0, b'b']).unwrap(),
            ["a".to_owned(), "b".to_owned()]
        );
        assert_eq!(both_ways::<[u8; 0]>(&[]).unwrap(), [0u8; 0]);
    }

    #[test]
    fn layouts() {
        let big = Ctx {
            endian: Endian::Big,
            ..Ctx::DEFAULT
        };
        assert_eq!(roundtrip(0x0102u16, Ctx::DEFAULT), [2, 1]);
        assert_eq!(roundtrip(0x0102u16, big), [1, 2]);
        assert_eq!(
            roundtrip(String::from("hi"), Ctx::DEFAULT),
            [2, 0, b'h', b'i']
        );
        assert_eq!(
            roundtrip(
                vec![1u8, 2],
                Ctx {
                    len: LenWidth::U8,
                    ..Ctx::DEFAULT
                }
            ),
            [2, 1, 2]
        );
        assert_eq!(roundtrip(Some(7u8), Ctx::DEFAULT), [1, 7]);
        assert_eq!(roundtrip(None::<u8>, Ctx::DEFAULT), [0]);
        assert_eq!(roundtrip([1u16, 2], Ctx::DEFAULT), [1, 0, 2, 0]);
        assert_eq!(roundtrip((1u8, true), Ctx::DEFAULT), [1, 1]);
    }

    #[test]
    fn claims_beyond_the_input_fail_before_allocating() {
        let mut src = Bytes::from_static(&[0xff, 0xff, 0xff, 0x7f, 1, 2]);
        let ctx = Ctx {
            len: LenWidth::U32,
            ..Ctx::DEFAULT
        };
        let err = Vec::<u64>::wire_decode(&mut src, ctx).unwrap_err();
        assert!(matches!(err.kind(), DecodeErrorKind::LengthTooLarge { .. }));
    }

    #[test]
    fn distinct_errors() {
        let e = bool::wire_decode(&mut Bytes::from_static(&[2]), Ctx::DEFAULT).unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::InvalidBool(2));
        let e =
            String::wire_decode(&mut Bytes::from_static(&[1, 0, 0xff]), Ctx::DEFAULT).unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::InvalidUtf8);
        let e = u32::wire_decode(&mut Bytes::from_static(&[1]), Ctx::DEFAULT).unwrap_err();
        assert!(e.is_incomplete());
        let e = decode_whole::<u8>(Bytes::from_static(&[1, 2]), Ctx::DEFAULT).unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes(1));
    }

    #[test]
    fn fingerprints_differ() {
        assert_ne!(<u16 as Wire>::FINGERPRINT, <i16 as Wire>::FINGERPRINT);
        assert_ne!(
            <Vec<u8> as Wire>::FINGERPRINT,
            <Vec<u16> as Wire>::FINGERPRINT
        );
        assert_ne!(
            <[u8; 2] as Wire>::FINGERPRINT,
            <[u8; 3] as Wire>::FINGERPRINT
        );
    }
}
