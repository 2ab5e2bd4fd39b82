//! What values are read from ([`Source`]), and the small readers every type uses: bytes
//! needed, fixed-size takes, text, length prefixes and element counts.

use bytes::{Buf, Bytes, BytesMut};

use super::{Ctx, Endian, LenWidth, LengthOverflow, Wire, WireRest};
use crate::message::{DecodeError, DecodeErrorKind};

mod sealed {
    pub trait Sealed {}
    impl Sealed for bytes::Bytes {}
    impl Sealed for &[u8] {}
}

/// Where a value is decoded from: a frame held as [`Bytes`] (zero-copy fields share it), or a
/// slice borrowed from the read buffer (see [`Wire::READS_IN_PLACE`]). Both are contiguous
/// [`Buf`]s, so a reader moves on with [`Buf::advance`] and takes a block with
/// [`Buf::copy_to_bytes`] (shared from `Bytes`, copied from a slice). Generated code and the
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
pub trait Source: Buf + Sized + sealed::Sealed {
    /// The bytes not read yet, all of them (a source is one contiguous chunk).
    #[inline(always)]
    fn rest(&self) -> &[u8] {
        self.chunk()
    }

    /// Reads a `T` ([`Wire::wire_read`]).
    ///
    /// # Errors
    ///
    /// As [`Wire::wire_decode`].
    #[inline(always)]
    fn read<T: Wire>(&mut self, ctx: Ctx) -> Result<T, DecodeError> {
        T::wire_read(self, ctx)
    }

    /// Reads `n` values of `T` ([`Wire::wire_read_vec`]).
    ///
    /// # Errors
    ///
    /// As [`Wire::wire_decode`].
    #[inline(always)]
    fn read_vec<T: Wire>(&mut self, n: usize, ctx: Ctx) -> Result<Vec<T>, DecodeError> {
        T::wire_read_vec(self, n, ctx)
    }

    /// Reads the rest as a `T` ([`WireRest::rest_read`]).
    ///
    /// # Errors
    ///
    /// As [`WireRest::rest_decode`].
    #[inline(always)]
    fn read_rest<T: WireRest>(&mut self, ctx: Ctx) -> Result<T, DecodeError> {
        T::rest_read(self, ctx)
    }

    /// Runs a reader written for `Bytes` (a hand-written `wire_decode`, a `with` module's
    /// `decode`): on the source itself, or on a copy of a slice's rest, moving the slice past
    /// what the reader took.
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
    #[inline]
    fn with_bytes<T>(
        &mut self,
        read: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        read(self)
    }
}

impl Source for &[u8] {
    #[inline]
    fn with_bytes<T>(
        &mut self,
        read: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let mut bytes = Bytes::copy_from_slice(self);
        let value = read(&mut bytes)?;
        *self = &self[self.len() - bytes.len()..];
        Ok(value)
    }
}

/// `n` values read one by one (the default of `wire_read_vec`).
pub(super) fn read_each<T: Wire, S: Source>(
    src: &mut S,
    n: usize,
    ctx: Ctx,
) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::with_capacity(n.min(src.rest().len() / T::MIN_LEN.max(1) + 1));
    for _ in 0..n {
        out.push(T::wire_read(src, ctx)?);
    }
    Ok(out)
}

/// Checks that `src` holds `n` more bytes.
#[inline]
pub(super) fn need<S: Source>(src: &S, n: usize) -> Result<(), DecodeError> {
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
pub(super) fn take<const N: usize, S: Source>(src: &mut S) -> Result<[u8; N], DecodeError> {
    match src.rest().first_chunk::<N>() {
        Some(bytes) => {
            let bytes = *bytes;
            src.advance(N);
            Ok(bytes)
        }
        None => Err(short(N, src.rest().len())),
    }
}

/// `bytes` as UTF-8 text.
#[inline]
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
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
pub(super) fn get_count<S: Source>(
    src: &mut S,
    ctx: Ctx,
    min_len: usize,
) -> Result<usize, DecodeError> {
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
