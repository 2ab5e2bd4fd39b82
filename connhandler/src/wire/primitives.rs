//! The primitive field types: numbers, `u8` and `i8`, `bool`, text, [`Bytes`] and `()`.
//! Each reads through one body, [`Wire::wire_read`]; its `wire_decode` answers with that.

use bytes::{Buf, Bytes, BytesMut};

use super::{
    fingerprint_str,
    source::{check_len, get_count, need, put_len, take, utf8},
    Ctx, Endian, LengthOverflow, Source, Wire, WireRest,
};
use crate::{
    describe::{Ty, Types},
    message::DecodeError,
};

/// `wire_decode` (and, with `in_place`, `READS_IN_PLACE`) by way of the type's `wire_read`.
macro_rules! decode_by_read {
    () => {
        #[inline(always)]
        fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
            Self::wire_read(src, ctx)
        }
    };
    (in_place) => {
        const READS_IN_PLACE: bool = true;
        decode_by_read!();
    };
}
pub(super) use decode_by_read;

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

            decode_by_read!(in_place);

            #[inline(always)]
            fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
                let bytes = take::<$size, S>(src)?;
                Ok(match ctx.endian {
                    Endian::Little => <$t>::from_le_bytes(bytes),
                    Endian::Big => <$t>::from_be_bytes(bytes),
                })
            }

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
                src.advance(N * $size);
                Ok(items)
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
    const MIN_LEN: usize = 1;

    fn describe(_: &mut Types) -> Ty {
        Ty::Int {
            bits: 8,
            signed: false,
        }
    }
    #[inline]
    fn wire_len(&self, _: Ctx) -> usize {
        1
    }
    #[inline]
    fn wire_encode(&self, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(&[*self])
    }
    decode_by_read!(in_place);
    #[inline(always)]
    fn wire_read<S: Source>(src: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        Ok(take::<1, S>(src)?[0])
    }
    /// One copy.
    fn wire_read_vec<S: Source>(src: &mut S, n: usize, _: Ctx) -> Result<Vec<Self>, DecodeError> {
        need(src, n)?;
        let items = src.rest()[..n].to_vec();
        src.advance(n);
        Ok(items)
    }
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

impl Wire for i8 {
    const FINGERPRINT: u64 = fingerprint_str("i8");
    const MIN_LEN: usize = 1;

    fn describe(_: &mut Types) -> Ty {
        Ty::Int {
            bits: 8,
            signed: true,
        }
    }
    #[inline]
    fn wire_len(&self, _: Ctx) -> usize {
        1
    }
    #[inline]
    fn wire_encode(&self, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(&self.to_le_bytes())
    }
    decode_by_read!(in_place);
    #[inline(always)]
    fn wire_read<S: Source>(src: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        Ok(i8::from_le_bytes(take::<1, S>(src)?))
    }
}

impl Wire for bool {
    const FINGERPRINT: u64 = fingerprint_str("bool");
    const MIN_LEN: usize = 1;

    fn describe(_: &mut Types) -> Ty {
        Ty::Bool
    }
    #[inline]
    fn wire_len(&self, _: Ctx) -> usize {
        1
    }
    #[inline]
    fn wire_encode(&self, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(&[u8::from(*self)])
    }
    decode_by_read!(in_place);
    #[inline(always)]
    fn wire_read<S: Source>(src: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        match take::<1, S>(src)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::invalid_bool(b)),
        }
    }
}

impl Wire for String {
    const FINGERPRINT: u64 = fingerprint_str("String");
    const MIN_LEN: usize = 1;

    fn describe(_: &mut Types) -> Ty {
        Ty::String
    }
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
    decode_by_read!(in_place);
    #[inline(always)]
    fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        let n = get_count(src, ctx, 1)?;
        let text = utf8(&src.rest()[..n])?.to_owned();
        src.advance(n);
        Ok(text)
    }
}

/// The rest of the message as text.
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
        Self::rest_read(src, ctx)
    }
    fn rest_read<S: Source>(src: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        let text = utf8(src.rest())?.to_owned();
        src.advance(src.rest().len());
        Ok(text)
    }
}

/// A block of bytes after a length prefix: shared with the frame when read from [`Bytes`],
/// copied from a borrowed slice (so it does not read in place).
impl Wire for Bytes {
    const FINGERPRINT: u64 = fingerprint_str("Bytes");
    const MIN_LEN: usize = 1;

    fn describe(_: &mut Types) -> Ty {
        Ty::Bytes
    }
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
    decode_by_read!();
    fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        let n = get_count(src, ctx, 1)?;
        Ok(src.copy_to_bytes(n))
    }
}

/// The rest of the message as bytes.
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
    fn rest_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        Self::rest_read(src, ctx)
    }
    fn rest_read<S: Source>(src: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        Ok(src.copy_to_bytes(src.remaining()))
    }
}

impl Wire for () {
    const FINGERPRINT: u64 = fingerprint_str("()");
    const MIN_LEN: usize = 0;

    fn describe(_: &mut Types) -> Ty {
        Ty::Unit
    }
    fn wire_len(&self, _: Ctx) -> usize {
        0
    }
    fn wire_encode(&self, _: Ctx, _: &mut BytesMut) {}
    decode_by_read!(in_place);
    fn wire_read<S: Source>(_: &mut S, _: Ctx) -> Result<Self, DecodeError> {
        Ok(())
    }
}
