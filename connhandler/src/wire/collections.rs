//! The field types made of others: `Vec<T>` (prefixed, or the rest of a message),
//! `Option<T>`, `[T; N]`, tuples and `Box<T>`. Each reads through one body,
//! [`Wire::wire_read`].

use bytes::{Bytes, BytesMut};

use super::{
    fingerprint_combine, fingerprint_str,
    primitives::decode_by_read,
    source::{check_len, get_count, need, put_len, take},
    Ctx, LengthOverflow, Source, Wire, WireRest,
};
use crate::{
    describe::{Ty, Types},
    message::{DecodeError, DecodeErrorKind},
};

/// A length prefix, then the elements.
impl<T: Wire> Wire for Vec<T> {
    const FINGERPRINT: u64 = fingerprint_combine(fingerprint_str("Vec"), T::FINGERPRINT);
    const MIN_LEN: usize = 1;
    const READS_IN_PLACE: bool = T::READS_IN_PLACE;

    fn describe(types: &mut Types) -> Ty {
        Ty::Vec(Box::new(T::describe(types)))
    }
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
    decode_by_read!();
    /// Not marked inline: a `Vec` read is a call of its own, in which the run's reader
    /// (a collect, for derived structs of fixed size) is inlined (measured: marked inline,
    /// the collect moved out of line and 64 positions decoded 7% slower).
    fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        let n = get_count(src, ctx, T::MIN_LEN)?;
        T::wire_read_vec(src, n, ctx)
    }
}

/// Elements until the end of the message.
impl<T: Wire> WireRest for Vec<T> {
    const REST_READS_IN_PLACE: bool = T::READS_IN_PLACE;

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
    fn rest_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        Self::rest_read(src, ctx)
    }
    fn rest_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        let mut out = Vec::new();
        while !src.rest().is_empty() {
            out.push(T::wire_read(src, ctx)?);
        }
        Ok(out)
    }
}

/// A byte 0 (none) or 1 (some), then the value.
impl<T: Wire> Wire for Option<T> {
    const FINGERPRINT: u64 = fingerprint_combine(fingerprint_str("Option"), T::FINGERPRINT);
    const MIN_LEN: usize = 1;
    const SELF_DELIMITING: bool = T::SELF_DELIMITING;
    const READS_IN_PLACE: bool = T::READS_IN_PLACE;

    fn describe(types: &mut Types) -> Ty {
        Ty::Option(Box::new(T::describe(types)))
    }
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
    decode_by_read!();
    fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        match take::<1, S>(src)?[0] {
            0 => Ok(None),
            1 => Ok(Some(T::wire_read(src, ctx)?)),
            tag => Err(DecodeError::new(DecodeErrorKind::InvalidOptionTag(tag))),
        }
    }
}

/// The elements in order, no prefix; read item by item with no `Vec` in between, so an array
/// field allocates nothing.
impl<T: Wire, const N: usize> Wire for [T; N] {
    const FINGERPRINT: u64 = fingerprint_combine(
        fingerprint_combine(fingerprint_str("array"), N as u64),
        T::FINGERPRINT,
    );
    const MIN_LEN: usize = N * T::MIN_LEN;
    const SELF_DELIMITING: bool = T::SELF_DELIMITING;
    const READS_IN_PLACE: bool = T::READS_IN_PLACE;

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
    decode_by_read!();
    #[inline]
    fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
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
        T::wire_read(src, ctx).map_err(|e| failed = Some(e)).ok()
    });
    if let Some(e) = failed {
        return Err(e);
    }
    // No read failed, so every item is there.
    Ok(items.map(|item| item.unwrap_or_else(|| unreachable!("every read succeeded"))))
}

macro_rules! wire_tuple {
    ($($name:ident $idx:tt),+) => {
        /// The elements in order.
        impl<$($name: Wire),+> Wire for ($($name,)+) {
            const FINGERPRINT: u64 = {
                let h = fingerprint_str("tuple");
                $(let h = fingerprint_combine(h, $name::FINGERPRINT);)+
                h
            };
            const MIN_LEN: usize = 0 $(+ $name::MIN_LEN)+;
            const SELF_DELIMITING: bool = true $(&& $name::SELF_DELIMITING)+;
            const READS_IN_PLACE: bool = true $(&& $name::READS_IN_PLACE)+;

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
            decode_by_read!();
            fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
                Ok(($($name::wire_read(src, ctx)?,)+))
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

/// As the value it holds.
impl<T: Wire> Wire for Box<T> {
    const FINGERPRINT: u64 = T::FINGERPRINT;
    const MIN_LEN: usize = T::MIN_LEN;
    const SELF_DELIMITING: bool = T::SELF_DELIMITING;
    const READS_IN_PLACE: bool = T::READS_IN_PLACE;

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
    decode_by_read!();
    fn wire_read<S: Source>(src: &mut S, ctx: Ctx) -> Result<Self, DecodeError> {
        T::wire_read(src, ctx).map(Box::new)
    }
}
