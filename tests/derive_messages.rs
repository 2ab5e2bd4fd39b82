//! Derived message codecs: round trips over every field type and attribute, golden bytes
//! written by hand, strict decoding, JSON mode, fingerprints.

mod common;

use bytes::{Bytes, BytesMut};
use connhandler::{
    codec::{Framing, TcpMessageCodec},
    testing::{assert_golden, assert_roundtrip},
    wire::{Ctx, Wire},
    Decode, DecodeError, DecodeErrorKind, Encode, FrameStatus, Message,
};
use proptest::prelude::*;

#[derive(Message, Debug, Clone, PartialEq)]
struct Inner {
    x: i16,
    name: String,
}

/// A codec of our own for one field: a u16 written as 4 ASCII hex digits.
mod as_hex {
    use bytes::{Bytes, BytesMut};
    use connhandler::{wire::Ctx, DecodeError};

    pub fn encoded_len(_: &u16, _: Ctx) -> usize {
        4
    }
    pub fn encode(v: &u16, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(format!("{v:04x}").as_bytes());
    }
    pub fn decode(src: &mut Bytes, _: Ctx) -> Result<u16, DecodeError> {
        if src.len() < 4 {
            return Err(DecodeError::incomplete(4 - src.len()));
        }
        let digits = src.split_to(4);
        let text = std::str::from_utf8(&digits).map_err(|_| DecodeError::other("not hex"))?;
        u16::from_str_radix(text, 16).map_err(|_| DecodeError::other("not hex"))
    }
}

fn seven() -> u8 {
    7
}

#[derive(Message, Debug, Clone, PartialEq)]
enum Everything {
    #[wire(id = 1)]
    Ints {
        a: u8,
        b: i8,
        c: u16,
        d: i16,
        e: u32,
        f: i32,
        g: u64,
        h: i64,
        i: u128,
        j: i128,
    },
    #[wire(id = 2)]
    Floats(f32, f64, bool),
    #[wire(id = 3)]
    Texts {
        s: String,
        #[wire(len = u8)]
        short: String,
        #[wire(len = u32)]
        long: String,
    },
    #[wire(id = 4)]
    Seqs {
        v: Vec<u16>,
        raw: Vec<u8>,
        blob: Bytes,
        opt: Option<u32>,
        arr: [u8; 4],
        tup: (u8, String),
        nested_vec: Vec<Vec<u8>>,
    },
    #[wire(id = 5)]
    Nested {
        inner: Inner,
        list: Vec<Inner>,
        maybe: Option<Inner>,
    },
    #[wire(id = 6)]
    Endian {
        #[wire(endian = "big")]
        be: u32,
        le: u32,
    },
    #[wire(id = 7)]
    Skips {
        x: u8,
        #[wire(skip)]
        local: u32,
        #[wire(skip, default = seven)]
        seven: u8,
    },
    #[wire(id = 8)]
    With {
        #[wire(with = as_hex)]
        hex: u16,
    },
    #[wire(id = 9)]
    Rest {
        head: u8,
        #[wire(rest)]
        tail: Bytes,
    },
    #[wire(id = 10)]
    Unit,
    #[wire(catch_all)]
    Unknown(u16, Bytes),
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 é€]{0,20}"
}

fn inner() -> impl Strategy<Value = Inner> {
    (any::<i16>(), text()).prop_map(|(x, name)| Inner { x, name })
}

fn finite_f32() -> impl Strategy<Value = f32> {
    any::<f32>().prop_filter("finite", |f| f.is_finite())
}

fn finite_f64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn everything() -> impl Strategy<Value = Everything> {
    prop_oneof![
        (
            any::<(u8, i8, u16, i16, u32)>(),
            any::<(i32, u64, i64, u128, i128)>()
        )
            .prop_map(|((a, b, c, d, e), (f, g, h, i, j))| Everything::Ints {
                a,
                b,
                c,
                d,
                e,
                f,
                g,
                h,
                i,
                j
            }),
        (finite_f32(), finite_f64(), any::<bool>())
            .prop_map(|(a, b, c)| Everything::Floats(a, b, c)),
        (text(), text(), text()).prop_map(|(s, short, long)| Everything::Texts { s, short, long }),
        (
            prop::collection::vec(any::<u16>(), 0..10),
            prop::collection::vec(any::<u8>(), 0..50),
            prop::collection::vec(any::<u8>(), 0..50),
            any::<Option<u32>>(),
            any::<[u8; 4]>(),
            (any::<u8>(), text()),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..5), 0..5),
        )
            .prop_map(
                |(v, raw, blob, opt, arr, tup, nested_vec)| Everything::Seqs {
                    v,
                    raw,
                    blob: Bytes::from(blob),
                    opt,
                    arr,
                    tup,
                    nested_vec
                }
            ),
        (
            inner(),
            prop::collection::vec(inner(), 0..4),
            prop::option::of(inner())
        )
            .prop_map(|(inner, list, maybe)| Everything::Nested { inner, list, maybe }),
        any::<(u32, u32)>().prop_map(|(be, le)| Everything::Endian { be, le }),
        any::<u8>().prop_map(|x| Everything::Skips {
            x,
            local: 0,
            seven: 7
        }),
        any::<u16>().prop_map(|hex| Everything::With { hex }),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(head, tail)| {
            Everything::Rest {
                head,
                tail: Bytes::from(tail),
            }
        }),
        Just(Everything::Unit),
        (100u16.., prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(id, body)| Everything::Unknown(id, Bytes::from(body))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every field type and attribute: encode, the exact length, decode back.
    #[test]
    fn prop_roundtrip_everything(msg in everything()) {
        assert_roundtrip(&msg);
    }

    /// Any bytes: decoding returns a value or an error, never panics; a value re-encodes to
    /// the same bytes.
    #[test]
    fn prop_decoding_any_bytes_is_safe(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        // From a borrowed slice: the same value or the same error.
        let from_slice = Everything::decode_slice(&bytes).map_err(|e| e.to_string());
        let from_bytes = Everything::decode(Bytes::from(bytes.clone()));
        prop_assert_eq!(&from_slice, &from_bytes.clone().map_err(|e| e.to_string()));
        if let Ok(msg) = from_bytes {
            let mut again = BytesMut::new();
            msg.encode(&mut again);
            // Skipped fields aside, the encoding is canonical.
            if !matches!(msg, Everything::Skips { .. }) {
                prop_assert_eq!(&again[..], &bytes[..]);
            }
        }
    }

    /// A protocol of fixed-size variants, whose fast path takes every valid frame (its general
    /// path only says why a frame failed): any bytes get the same answer from `Bytes` and
    /// from a slice, and a failure is one the general path found.
    #[test]
    fn prop_fixed_size_protocols_fail_as_the_general_path_says(
        bytes in prop::collection::vec(any::<u8>(), 0..12),
    ) {
        #[derive(Message, Debug, PartialEq)]
        enum Fixed {
            #[wire(id = 1)]
            A { x: u32, on: bool },
            #[wire(id = 2)]
            B(i16),
            #[wire(id = 3)]
            C,
        }
        let from_bytes = Fixed::decode(Bytes::from(bytes.clone())).map_err(|e| e.to_string());
        let from_slice = Fixed::decode_slice(&bytes).map_err(|e| e.to_string());
        prop_assert_eq!(&from_bytes, &from_slice);
        if let Err(e) = from_bytes {
            prop_assert!(!e.contains("fast path"), "{}", e);
        }
    }

    /// Derived messages from a reference writer (no explicit final chunk), any lengths
    /// including exact multiples of max_message_size, are read back one by one.
    #[test]
    fn prop_reference_writer_with_derived_messages(
        msgs in prop::collection::vec(everything().prop_filter("self-delimiting", |m| {
            !matches!(m, Everything::Rest { .. } | Everything::Unknown(..))
        }), 1..5),
        max in 1usize..40,
    ) {
        let mut wire = Vec::new();
        for m in &msgs {
            let mut body = BytesMut::new();
            m.encode(&mut body);
            wire.extend(common::reference_write(&body, max));
        }
        let mut codec = TcpMessageCodec::builder()
            .max_message_size(max)
            .frame_status(Everything::frame_status)
            .new_codec()
            .unwrap();
        let mut buf = BytesMut::from(&wire[..]);
        let mut got = Vec::new();
        while let Some(frame) = codec.decode_frame(&mut buf).unwrap() {
            got.push(Everything::decode(frame).unwrap());
        }
        prop_assert!(buf.is_empty());
        let expected: Vec<Everything> = msgs.into_iter().map(|m| match m {
            Everything::Skips { x, .. } => Everything::Skips { x, local: 0, seven: 7 },
            m => m,
        }).collect();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn golden_bytes_by_hand() {
    assert_golden(&Everything::Unit, &[10, 0]);
    assert_golden(
        &Everything::Endian {
            be: 0x0102_0304,
            le: 0x0102_0304,
        },
        &[6, 0, 1, 2, 3, 4, 4, 3, 2, 1],
    );
    assert_golden(
        &Everything::Texts {
            s: "ab".into(),
            short: "c".into(),
            long: "d".into(),
        },
        &[3, 0, 2, 0, b'a', b'b', 1, b'c', 1, 0, 0, 0, b'd'],
    );
    assert_golden(
        &Everything::Seqs {
            v: vec![1, 2],
            raw: vec![9],
            blob: Bytes::from_static(b"x"),
            opt: Some(5),
            arr: [1, 2, 3, 4],
            tup: (8, "y".into()),
            nested_vec: vec![vec![], vec![7]],
        },
        &[
            4, 0, // id
            2, 0, 1, 0, 2, 0, // v
            1, 0, 9, // raw
            1, 0, b'x', // blob
            1, 5, 0, 0, 0, // opt
            1, 2, 3, 4, // arr
            8, 1, 0, b'y', // tup
            2, 0, 0, 0, 1, 0, 7, // nested_vec
        ],
    );
    assert_golden(
        &Everything::Skips {
            x: 3,
            local: 0,
            seven: 7,
        },
        &[7, 0, 3],
    );
    assert_golden(&Everything::With { hex: 0xbeef }, b"\x08\x00beef");
    assert_golden(
        &Everything::Rest {
            head: 1,
            tail: Bytes::from_static(b"tail"),
        },
        b"\x09\x00\x01tail",
    );
    assert_golden(
        &Everything::Unknown(0x4242, Bytes::from_static(b"raw")),
        b"\x42\x42raw",
    );
    assert_golden(
        &Everything::Floats(1.0, -2.0, true),
        &[2, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0, 1],
    );
}

/// A datagram laid out the Panda3D way: addUint16(id), addString, addInt32, addBool,
/// addFloat64, addUint8, addInt16, addFloat32, addUint64.
#[test]
fn panda3d_datagram_golden() {
    #[derive(Message, Debug, PartialEq)]
    enum Game {
        #[wire(id = 0x2001)]
        State {
            name: String,
            hp: i32,
            alive: bool,
            x: f64,
            level: u8,
            dir: i16,
            speed: f32,
            serial: u64,
        },
    }
    let mut golden = vec![0x01, 0x20]; // addUint16(0x2001)
    golden.extend([3, 0]);
    golden.extend(b"bob"); // addString("bob")
    golden.extend((-5i32).to_le_bytes()); // addInt32(-5)
    golden.push(1); // addBool(True)
    golden.extend(2.5f64.to_le_bytes()); // addFloat64(2.5)
    golden.push(9); // addUint8(9)
    golden.extend((-2i16).to_le_bytes()); // addInt16(-2)
    golden.extend(0.25f32.to_le_bytes()); // addFloat32(0.25)
    golden.extend(1234567890123u64.to_le_bytes()); // addUint64
    assert_golden(
        &Game::State {
            name: "bob".into(),
            hp: -5,
            alive: true,
            x: 2.5,
            level: 9,
            dir: -2,
            speed: 0.25,
            serial: 1234567890123,
        },
        &golden,
    );
}

#[test]
fn id_types_and_big_endian_containers() {
    #[derive(Message, Debug, PartialEq)]
    #[wire(id_type = u8)]
    enum Small {
        #[wire(id = 255)]
        Max(u16),
    }
    assert_golden(&Small::Max(1), &[255, 1, 0]);

    #[derive(Message, Debug, PartialEq)]
    #[wire(id_type = u32, endian = "big", len = u8)]
    enum Big {
        #[wire(id = 0x0001_0000)]
        Text(String, u16),
    }
    assert_golden(
        &Big::Text("hi".into(), 0x0102),
        &[0, 1, 0, 0, 2, b'h', b'i', 1, 2],
    );

    #[derive(Message, Debug, PartialEq)]
    struct NoId {
        a: u8,
        b: u8,
    }
    assert_golden(&NoId { a: 1, b: 2 }, &[1, 2]);

    #[derive(Message, Debug, PartialEq)]
    #[wire(id = 0x30)]
    struct WithId(u8);
    assert_golden(&WithId(4), &[0x30, 0, 4]);
    let err = WithId::decode(Bytes::from_static(&[0x31, 0, 4])).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::UnknownId(0x31));
}

#[test]
fn generic_messages() {
    #[derive(Message, Debug, PartialEq)]
    struct Pair<T> {
        a: T,
        b: Vec<T>,
    }
    assert_golden(
        &Pair {
            a: 1u16,
            b: vec![2],
        },
        &[1, 0, 1, 0, 2, 0],
    );
    assert_roundtrip(&Pair {
        a: "x".to_owned(),
        b: vec!["y".to_owned()],
    });
    assert_ne!(
        <Pair<u16> as Wire>::FINGERPRINT,
        <Pair<u32> as Wire>::FINGERPRINT
    );
}

/// Fixed-size messages (numbers and bools only) are read straight from an exact-size frame;
/// the result, and every error, is the same as reading field by field.
#[test]
fn in_place_says_which_types_decode_from_a_borrowed_frame() {
    #[derive(Message, Debug, PartialEq)]
    enum Plain {
        #[wire(id = 1)]
        A {
            list: Vec<Inner>,
            maybe: Option<(u8, String)>,
            arr: [i32; 3],
        },
        #[wire(id = 2)]
        B {
            head: u8,
            #[wire(rest)]
            tail: String,
        },
        #[wire(id = 3)]
        C {
            #[wire(skip)]
            local: Bytes,
        },
    }
    #[derive(Message, Debug, PartialEq)]
    #[wire(id = 1)]
    struct Hex {
        #[wire(with = as_hex)]
        hex: u16,
    }
    #[derive(Message, Debug, PartialEq)]
    #[wire(id = 1)]
    struct Nested {
        blobs: Vec<Option<Bytes>>,
    }
    #[derive(Message, Debug, PartialEq)]
    enum Open {
        #[wire(id = 1)]
        A(u8),
        #[wire(catch_all)]
        Other(u16, Vec<u8>),
    }
    // Numbers, text, sequences of them, `rest` text, skipped fields: read in place.
    const { assert!(Plain::IN_PLACE && Inner::IN_PLACE && Open::IN_PLACE) };
    // A `Bytes` anywhere (it shares the frame), a `with` codec (it reads from `Bytes`): not.
    const { assert!(!Everything::IN_PLACE && !Hex::IN_PLACE && !Nested::IN_PLACE) };
    const { assert!(!<Bytes as Decode>::IN_PLACE && <String as Decode>::IN_PLACE) };
    // Either way decode_slice reads the same, errors included.
    assert_roundtrip(&Hex { hex: 0xbeef });
    assert_roundtrip(&Nested {
        blobs: vec![None, Some(Bytes::from_static(b"ab"))],
    });
    assert_roundtrip(&Open::Other(9, vec![1, 2]));
    assert_roundtrip(&Plain::B {
        head: 1,
        tail: "tail".into(),
    });
    let e = Plain::decode_slice(&[2, 0, 1, 0xff]).unwrap_err();
    assert_eq!(
        (e.kind(), e.message_id(), e.field()),
        (&DecodeErrorKind::InvalidUtf8, Some(2), Some("tail"))
    );
    let e = Hex::decode_slice(&[1, 0, b'b', b'e', b'e']).unwrap_err();
    assert_eq!((e.is_incomplete(), e.field()), (true, Some("hex")));
}

#[test]
fn fixed_size_messages_decode_alike_on_every_path() {
    #[derive(Message, Debug, PartialEq)]
    #[wire(id_type = u32, endian = "big")]
    enum Moves {
        #[wire(id = 0x0102_0304)]
        To {
            x: i16,
            #[wire(endian = "little")]
            y: u32,
            run: bool,
        },
        #[wire(id = 9)]
        Stop,
    }
    assert_golden(
        &Moves::To {
            x: -2,
            y: 0x0a0b_0c0d,
            run: true,
        },
        &[1, 2, 3, 4, 0xff, 0xfe, 0x0d, 0x0c, 0x0b, 0x0a, 1],
    );
    assert_golden(&Moves::Stop, &[0, 0, 0, 9]);
    // The right size, a bad bool: the field and the id are named.
    let e = Moves::decode(Bytes::from_static(&[1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 7])).unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::InvalidBool(7));
    assert_eq!(
        (e.message_id(), e.field()),
        (Some(0x0102_0304), Some("run"))
    );
    // One byte too many or too few: the general path's errors.
    let e = Moves::decode(Bytes::from_static(&[0, 0, 0, 9, 0])).unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes(1));
    let e = Moves::decode(Bytes::from_static(&[1, 2, 3, 4, 0, 0, 0, 0, 0, 0])).unwrap_err();
    assert_eq!((e.field(), e.is_incomplete()), (Some("run"), true));
    // A frame the size of `Stop` with another id.
    let e = Moves::decode(Bytes::from_static(&[0, 0, 0, 8])).unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::UnknownId(8));

    #[derive(Message, Debug, PartialEq)]
    #[wire(id = 0x30, endian = "big")]
    struct Tick(u16, i8);
    assert_golden(&Tick(0x0102, -1), &[0, 0x30, 1, 2, 0xff]);
    let e = Tick::decode(Bytes::from_static(&[0, 0x31, 1, 2, 0xff])).unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::UnknownId(0x31));
}

fn decode_err(bytes: &[u8]) -> DecodeError {
    Everything::decode(Bytes::copy_from_slice(bytes)).unwrap_err()
}

/// Strict decoding: each kind of bad input is its own error, naming the field and the id.
#[test]
fn distinct_decode_errors() {
    // Truncated: needs more bytes.
    let e = decode_err(&[6, 0, 1, 2]);
    assert!(e.is_incomplete(), "{e}");
    assert_eq!((e.message_id(), e.field()), (Some(6), Some("be")));
    // A length prefix beyond the input, refused before allocating.
    let e = decode_err(&[3, 0, 0xff, 0xff, b'a']);
    assert!(
        matches!(
            e.kind(),
            DecodeErrorKind::LengthTooLarge {
                claimed: 65535,
                available: 1
            }
        ),
        "{e}"
    );
    assert_eq!(e.field(), Some("s"));
    // Invalid UTF-8.
    let e = decode_err(&[3, 0, 1, 0, 0xff, 0, 0, 0, 0, 0]);
    assert_eq!(e.kind(), &DecodeErrorKind::InvalidUtf8);
    // A bool other than 0/1.
    let mut floats = vec![2, 0];
    floats.extend([0; 12]);
    floats.push(2);
    let e = decode_err(&floats);
    assert_eq!(e.kind(), &DecodeErrorKind::InvalidBool(2));
    assert_eq!(e.field(), Some("2"));
    // An option tag other than 0/1.
    let e = decode_err(&[4, 0, 0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(e.kind(), &DecodeErrorKind::InvalidOptionTag(9));
    // Trailing bytes: found after the value decoded, still named by its id.
    let e = decode_err(&[10, 0, 1]);
    assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes(1));
    assert_eq!(e.message_id(), Some(10), "{e}");
    assert_eq!(
        e.to_string(),
        "message 0xa: 1 trailing bytes after the message"
    );
    // A custom codec's error.
    let e = decode_err(b"\x08\x00zzzz");
    assert_eq!(e.to_string(), "message 0x8: field `hex`: not hex");
    // Nested: the innermost field is named.
    let e = decode_err(&[5, 0, 1, 0, 5, 0, b'a']);
    assert!(
        matches!(
            e.kind(),
            DecodeErrorKind::LengthTooLarge {
                claimed: 5,
                available: 1
            }
        ),
        "{e}"
    );
    assert_eq!((e.message_id(), e.field()), (Some(5), Some("name")));
    let e = decode_err(&[5, 0, 1]);
    assert!(e.is_incomplete(), "{e}");
    assert_eq!(e.field(), Some("x"));
}

/// Consecutive numbers are read after one length check; a message cut anywhere in such a
/// run still names the field that is cut and how many bytes it lacks.
#[test]
fn truncated_runs_name_the_cut_field() {
    let msg = Everything::Ints {
        a: 1,
        b: -2,
        c: 3,
        d: -4,
        e: 5,
        f: -6,
        g: 7,
        h: -8,
        i: 9,
        j: -10,
    };
    let mut buf = BytesMut::new();
    msg.encode(&mut buf);
    let sizes = [("a", 1), ("b", 1), ("c", 2), ("d", 2), ("e", 4), ("f", 4)]
        .into_iter()
        .chain([("g", 8), ("h", 8), ("i", 16), ("j", 16)]);
    let mut start = 2;
    for (name, size) in sizes {
        for cut in start..start + size {
            let e = decode_err(&buf[..cut]);
            assert!(e.is_incomplete(), "{e}");
            assert_eq!(
                (e.message_id(), e.field()),
                (Some(1), Some(name)),
                "cut {cut}"
            );
            assert_eq!(
                e.kind(),
                &DecodeErrorKind::Incomplete {
                    needed: start + size - cut
                },
                "cut {cut}"
            );
        }
        start += size;
    }
    assert_eq!(start, buf.len());
    assert_eq!(Everything::decode(buf.freeze()).unwrap(), msg);
}

#[test]
fn unknown_ids() {
    #[derive(Message, Debug, PartialEq)]
    enum Strict {
        #[wire(id = 1)]
        One,
    }
    let e = Strict::decode(Bytes::from_static(&[2, 0])).unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::UnknownId(2));
    assert_eq!(e.message_id(), Some(2));
    // With a catch-all variant the id and the raw body are kept.
    let m = Everything::decode(Bytes::from_static(&[0x99, 0, 1, 2, 3])).unwrap();
    assert_eq!(m, Everything::Unknown(0x99, Bytes::from_static(&[1, 2, 3])));
}

/// `Bytes` fields are decoded without copying from the frame.
#[test]
fn bytes_fields_are_zero_copy() {
    let msg = Everything::Seqs {
        v: vec![],
        raw: vec![],
        blob: Bytes::from(vec![5u8; 1000]),
        opt: None,
        arr: [0; 4],
        tup: (0, String::new()),
        nested_vec: vec![],
    };
    let mut buf = BytesMut::new();
    msg.encode(&mut buf);
    let frame = buf.freeze();
    let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    let Everything::Seqs { blob, .. } = Everything::decode(frame.clone()).unwrap() else {
        panic!()
    };
    assert!(
        range.contains(&(blob.as_ptr() as usize)),
        "the blob was copied"
    );
}

#[test]
fn frame_status_of_derived_messages() {
    let mut buf = BytesMut::new();
    Everything::Endian { be: 1, le: 2 }.encode(&mut buf);
    assert_eq!(Everything::frame_status(&buf), FrameStatus::Complete);
    assert_eq!(Everything::frame_status(&buf[..5]), FrameStatus::Incomplete);
    // A variant with a rest field, or an unknown id (the catch-all), cannot tell its end.
    assert_eq!(Everything::frame_status(&[9, 0, 1]), FrameStatus::Unknown);
    assert_eq!(
        Everything::frame_status(&[0x99, 0, 1]),
        FrameStatus::Unknown
    );
    assert_eq!(Everything::frame_status(&[6]), FrameStatus::Incomplete);
    #[derive(Message, Debug, PartialEq)]
    enum Closed {
        #[wire(id = 1)]
        A(u32),
    }
    assert_eq!(
        Closed::frame_status(&[1, 0, 1, 0, 0, 0]),
        FrameStatus::Complete
    );
    assert_eq!(Closed::frame_status(&[1, 0, 1]), FrameStatus::Incomplete);
}

/// The fingerprint changes with anything that changes the bytes on the wire, and not with
/// what does not.
#[test]
fn fingerprints_follow_the_wire_shape() {
    #[derive(Message)]
    #[allow(dead_code)]
    enum Base {
        #[wire(id = 1)]
        A { x: u16, s: String },
    }
    #[derive(Message)]
    #[allow(dead_code)]
    enum Renamed {
        #[wire(id = 1)]
        Other { y: u16, t: String },
    }
    #[derive(Message)]
    #[allow(dead_code)]
    enum OtherId {
        #[wire(id = 2)]
        A { x: u16, s: String },
    }
    #[derive(Message)]
    #[allow(dead_code)]
    enum OtherType {
        #[wire(id = 1)]
        A { x: u32, s: String },
    }
    #[derive(Message)]
    #[allow(dead_code)]
    enum OtherOrder {
        #[wire(id = 1)]
        A { s: String, x: u16 },
    }
    #[derive(Message)]
    #[allow(dead_code)]
    #[wire(endian = "big")]
    enum OtherEndian {
        #[wire(id = 1)]
        A { x: u16, s: String },
    }
    #[derive(Message)]
    #[allow(dead_code)]
    enum OtherLen {
        #[wire(id = 1)]
        A {
            x: u16,
            #[wire(len = u8)]
            s: String,
        },
    }
    const BASE: u64 = <Base as Wire>::FINGERPRINT;
    // Frozen in a const: a change to the protocol's wire shape fails to compile.
    const _: () = assert!(<Renamed as Wire>::FINGERPRINT == BASE);
    for (name, other) in [
        ("id", <OtherId as Wire>::FINGERPRINT),
        ("type", <OtherType as Wire>::FINGERPRINT),
        ("order", <OtherOrder as Wire>::FINGERPRINT),
        ("endian", <OtherEndian as Wire>::FINGERPRINT),
        ("len", <OtherLen as Wire>::FINGERPRINT),
    ] {
        assert_ne!(
            other, BASE,
            "a change of {name} must change the fingerprint"
        );
    }
}

/// Messages in JSON mode: `<u16 LE id><JSON object of the fields>`.
mod json {
    use super::*;

    #[derive(Message, Debug, PartialEq)]
    #[wire(json)]
    enum Internal {
        #[wire(id = 0x0101)]
        Register {
            name: String,
            level: u32,
            tags: Vec<String>,
        },
        #[wire(id = 0x0102)]
        Heartbeat,
        #[wire(id = 0x0103)]
        Cached {
            key: String,
            #[wire(skip)]
            hits: u32,
        },
        #[wire(catch_all)]
        Other(u16, Bytes),
    }

    #[test]
    fn golden() {
        assert_golden(
            &Internal::Register {
                name: "ann".into(),
                level: 3,
                tags: vec!["a".into()],
            },
            b"\x01\x01{\"name\":\"ann\",\"level\":3,\"tags\":[\"a\"]}",
        );
        assert_golden(&Internal::Heartbeat, b"\x02\x01{}");
        assert_golden(
            &Internal::Cached {
                key: "k".into(),
                hits: 0,
            },
            b"\x03\x01{\"key\":\"k\"}",
        );
    }

    #[test]
    fn reads_json_written_by_others() {
        let m = Internal::decode(Bytes::from_static(
            b"\x01\x01 { \"tags\": [], \"level\": 9, \"name\": \"b\" } ",
        ))
        .unwrap();
        assert_eq!(
            m,
            Internal::Register {
                name: "b".into(),
                level: 9,
                tags: vec![]
            }
        );
        let other = Internal::decode(Bytes::from_static(b"\x09\x09{\"x\":1}")).unwrap();
        assert_eq!(
            other,
            Internal::Other(0x0909, Bytes::from_static(b"{\"x\":1}"))
        );
    }

    #[test]
    fn invalid_json_is_a_decode_error() {
        let e = Internal::decode(Bytes::from_static(b"\x01\x01{\"name\":3}")).unwrap_err();
        assert!(matches!(e.kind(), DecodeErrorKind::Json(_)), "{e}");
        let e = Internal::decode(Bytes::from_static(b"\x01\x01{\"name\":\"a\"")).unwrap_err();
        assert!(e.is_incomplete(), "{e}");
        // A `null` body names the message, not the derive's helper type.
        let e = Internal::decode(Bytes::from_static(b"\x01\x01null")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("`Register`") && !text.contains("__"),
            "{text}"
        );
    }

    #[test]
    fn json_struct_message() {
        #[derive(Message, Debug, PartialEq)]
        #[wire(json, id = 7)]
        struct Status {
            ok: bool,
        }
        assert_golden(&Status { ok: true }, b"\x07\x00{\"ok\":true}");
        // JSON names are part of the wire here, so the fingerprint follows them.
        #[derive(Message, Debug, PartialEq)]
        #[wire(json, id = 7)]
        struct Renamed {
            fine: bool,
        }
        assert_ne!(
            <Status as Wire>::FINGERPRINT,
            <Renamed as Wire>::FINGERPRINT
        );
    }

    #[test]
    fn frame_status_of_json_messages() {
        #[derive(Message, Debug, PartialEq)]
        #[wire(json)]
        enum Closed {
            #[wire(id = 1)]
            A { s: String },
        }
        let mut buf = BytesMut::new();
        Closed::A { s: "x".repeat(100) }.encode(&mut buf);
        assert_eq!(Closed::frame_status(&buf), FrameStatus::Complete);
        assert_eq!(Closed::frame_status(&buf[..50]), FrameStatus::Incomplete);
    }
}

#[test]
fn nested_derived_types_use_their_own_settings() {
    #[derive(Message, Debug, PartialEq)]
    #[wire(endian = "big")]
    struct BigInner(u16);
    #[derive(Message, Debug, PartialEq)]
    struct Outer {
        a: u16,
        inner: BigInner,
    }
    assert_golden(
        &Outer {
            a: 1,
            inner: BigInner(1),
        },
        &[1, 0, 0, 1],
    );
    let ctx = Ctx::DEFAULT;
    assert_eq!(BigInner(1).wire_len(ctx), 2);
}

/// A length that does not fit its prefix cannot be encoded as the type says (the prefix
/// would be cut to its low bits and the peer would read garbage): `encodable` says so, naming
/// the innermost field, and the framing refuses the message without writing a byte.
#[test]
fn lengths_beyond_their_prefix_are_refused_not_cut() {
    #[derive(Message, Debug, Clone, PartialEq)]
    struct Entry {
        #[wire(len = u8)]
        tag: String,
        score: u32,
    }

    #[derive(Message, Debug, Clone, PartialEq)]
    #[wire(len = u8)]
    enum Report {
        #[wire(id = 1)]
        Text { title: String, body: Option<Bytes> },
        #[wire(id = 2)]
        Table(Vec<Entry>),
        #[wire(id = 3)]
        Wide(#[wire(len = u16)] Vec<u8>),
    }

    let fits = Report::Text {
        title: "t".repeat(255),
        body: Some(Bytes::from(vec![1; 255])),
    };
    assert_eq!(fits.encodable(), Ok(()));

    let cases = [
        (
            Report::Text {
                title: "t".repeat(256),
                body: None,
            },
            256,
            255,
            "title",
        ),
        (
            Report::Text {
                title: String::new(),
                body: Some(Bytes::from(vec![1; 300])),
            },
            300,
            255,
            "body",
        ),
        (
            Report::Table(vec![
                Entry {
                    tag: "ok".into(),
                    score: 1,
                };
                256
            ]),
            256,
            255,
            "0",
        ),
        (
            // The inner field is named, not the vector that holds it.
            Report::Table(vec![Entry {
                tag: "x".repeat(1000),
                score: 2,
            }]),
            1000,
            255,
            "tag",
        ),
        (Report::Wide(vec![0; 70_000]), 70_000, 65_535, "0"),
    ];
    for (msg, len, max, field) in cases {
        let err = msg.encodable().unwrap_err();
        assert_eq!((err.len, err.max, err.field), (len, max, Some(field)));

        let mut codec = TcpMessageCodec::new();
        let mut dst = BytesMut::from(&b"before"[..]);
        let refused = codec.encode_message(&msg, &mut dst).unwrap_err();
        assert!(
            matches!(&refused, connhandler::codec::FrameError::LengthOverflow(e) if *e == err),
            "{refused}"
        );
        assert_eq!(&dst[..], b"before", "nothing written");
    }
    // A vector of exactly the most its prefix holds still goes.
    assert_eq!(Report::Wide(vec![0; 65_535]).encodable(), Ok(()));
}

/// A fixed-size item (numbers and a bool) in a `Vec`: read as one run.
#[derive(Message, Debug, Clone, PartialEq)]
struct Spot {
    id: u32,
    x: f32,
    up: bool,
    kind: u16,
}

#[derive(Message, Debug, Clone, PartialEq)]
#[wire(id = 0x51)]
struct Spots {
    items: Vec<Spot>,
    after: u8,
}

#[test]
fn a_run_of_fixed_size_items_round_trips_and_fails_as_item_by_item_would() {
    for n in [0usize, 1, 2, 100] {
        let msg = Spots {
            items: (0..n)
                .map(|i| Spot {
                    id: i as u32,
                    x: i as f32 * 1.5,
                    up: i % 2 == 0,
                    kind: (i * 3) as u16,
                })
                .collect(),
            after: 9,
        };
        connhandler::testing::assert_roundtrip(&msg);
    }
    let msg = Spots {
        items: vec![
            Spot {
                id: 1,
                x: 0.5,
                up: true,
                kind: 2,
            };
            3
        ],
        after: 7,
    };
    let mut wire = bytes::BytesMut::new();
    connhandler::Encode::encode(&msg, &mut wire);
    // <u16 id><u16 count><11 B per item><u8>: the third item's bool is at 4 + 2*11 + 8.
    let mut bad = wire.to_vec();
    bad[4 + 2 * 11 + 8] = 2;
    let e = Spots::decode(Bytes::from(bad)).unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::InvalidBool(2));
    assert_eq!(e.field(), Some("up"));
    // Cut inside the run: the count claims more than the bytes hold, refused before any
    // item is read.
    let short = Bytes::copy_from_slice(&wire[..4 + 2 * 11 + 5]);
    let e = Spots::decode(short).unwrap_err();
    assert!(
        matches!(e.kind(), DecodeErrorKind::LengthTooLarge { .. }),
        "{e}"
    );
    assert_eq!(e.field(), Some("items"));
    // A count that claims more items than the bytes hold is refused before allocating.
    let mut liar = wire.to_vec();
    liar[2..4].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(Spots::decode(Bytes::from(liar)).is_err());
}

#[test]
fn an_array_of_fixed_size_items_reads_as_one_run() {
    /// Numbers only: an array of them is read after one length check.
    #[derive(Message, Debug, Clone, Copy, PartialEq)]
    #[wire(endian = "big")]
    struct Corner {
        x: i32,
        #[wire(endian = "little")]
        y: u16,
    }
    #[derive(Message, Debug, PartialEq)]
    #[wire(id = 0x21)]
    struct Quad {
        corners: [Corner; 4],
        tag: u8,
    }
    let quad = Quad {
        corners: [
            Corner { x: -1, y: 2 },
            Corner { x: 3, y: 400 },
            Corner { x: 5, y: 6 },
            Corner {
                x: i32::MIN,
                y: u16::MAX,
            },
        ],
        tag: 9,
    };
    let bytes = assert_roundtrip(&quad);
    // <u16 id><4 x (i32 BE, u16 LE)><u8>
    assert_eq!(&bytes[..8], &[0x21, 0, 0xff, 0xff, 0xff, 0xff, 2, 0]);
    assert_eq!(bytes.len(), 2 + 4 * 6 + 1);
    // Cut inside the array: incomplete, from Bytes and from a slice alike.
    for cut in [3, 10, 26] {
        let e = Quad::decode(bytes.slice(..cut)).unwrap_err();
        assert!(e.is_incomplete(), "{cut}: {e}");
        assert_eq!(
            e.to_string(),
            Quad::decode_slice(&bytes[..cut]).unwrap_err().to_string()
        );
    }
}
