//! The wire format's unit tests: layouts, errors, both sources.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::message::DecodeErrorKind;

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
    let e = String::wire_decode(&mut Bytes::from_static(&[1, 0, 0xff]), Ctx::DEFAULT).unwrap_err();
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

/// A type written by hand with `wire_decode` alone: read from either source, inside the
/// built-in collections, with the same values and errors.
#[derive(Debug, PartialEq)]
struct Even(u16);

impl Wire for Even {
    const FINGERPRINT: u64 = fingerprint_str("Even");
    const MIN_LEN: usize = 2;
    fn wire_len(&self, _: Ctx) -> usize {
        2
    }
    fn wire_encode(&self, ctx: Ctx, dst: &mut BytesMut) {
        self.0.wire_encode(ctx, dst);
    }
    fn wire_decode(src: &mut Bytes, ctx: Ctx) -> Result<Self, DecodeError> {
        match u16::wire_decode(src, ctx)? {
            n if n % 2 == 0 => Ok(Even(n)),
            n => Err(DecodeError::other(format!("{n} is odd"))),
        }
    }
}

#[test]
fn a_hand_written_decode_reads_from_both_sources_inside_collections() {
    const { assert!(!<Vec<Even> as Wire>::READS_IN_PLACE) };
    assert_eq!(roundtrip(Even(4), Ctx::DEFAULT), [4, 0]);
    assert_eq!(
        roundtrip(vec![Even(2), Even(6)], Ctx::DEFAULT),
        [2, 0, 2, 0, 6, 0]
    );
    assert_eq!(roundtrip((Some(Even(8)), 1u8), Ctx::DEFAULT), [1, 8, 0, 1]);
    assert_eq!(roundtrip([Even(0), Even(2)], Ctx::DEFAULT), [0, 0, 2, 0]);
    let e = both_ways::<Vec<Even>>(&[2, 0, 2, 0, 3, 0]).unwrap_err();
    assert_eq!(e.to_string(), "3 is odd");
    // A slice moves past exactly what the hand-written reader took.
    let mut src: &[u8] = &[4, 0, 9];
    assert_eq!(Even::wire_read(&mut src, Ctx::DEFAULT).unwrap(), Even(4));
    assert_eq!(src, &[9]);
}
