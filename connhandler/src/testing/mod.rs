//! Helpers for tests: round trips and golden bytes of a protocol; with the feature
//! `testing`, an in-memory network (`testing::net`) to test whole programs on, with faults and
//! tokio's paused clock.

#[cfg(feature = "testing")]
pub mod net;

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};

use crate::message::{Decode, Encode};

/// Encodes `msg`, checks that `encoded_len` was exact, decodes the bytes both ways (from
/// [`Bytes`] and from a borrowed slice, see [`Decode::decode_slice`]) and checks that each
/// result equals `msg`; returns the bytes.
///
/// # Panics
///
/// When any of those checks fails: it is meant for tests.
///
/// # Examples
///
/// ```
/// use connhandler::{testing::assert_roundtrip, Message};
///
/// #[derive(Message, Debug, PartialEq)]
/// enum Ping {
///     #[wire(id = 1)]
///     Ping(u32),
/// }
///
/// let bytes = assert_roundtrip(&Ping::Ping(7));
/// assert_eq!(bytes.len(), 6);
/// ```
pub fn assert_roundtrip<M>(msg: &M) -> Bytes
where
    M: Encode + Decode + PartialEq + Debug,
{
    let mut buf = BytesMut::new();
    msg.encode(&mut buf);
    assert_eq!(
        buf.len(),
        msg.encoded_len(),
        "encoded_len() says {} bytes but encode() wrote {} for {msg:?}",
        msg.encoded_len(),
        buf.len()
    );
    let bytes = buf.freeze();
    match M::decode(bytes.clone()) {
        Ok(back) => assert_eq!(&back, msg, "decoded value differs from the original"),
        Err(e) => panic!(
            "{msg:?} encoded as {:02x?} does not decode: {e}",
            &bytes[..]
        ),
    }
    match M::decode_slice(&bytes) {
        Ok(back) => assert_eq!(&back, msg, "decoded from a slice, the value differs"),
        Err(e) => panic!(
            "{msg:?} encoded as {:02x?} does not decode from a slice: {e}",
            &bytes[..]
        ),
    }
    bytes
}

/// Checks that `msg` encodes to exactly `golden` and that `golden` decodes to `msg`.
///
/// # Panics
///
/// When it does not: it is meant for tests.
///
/// # Examples
///
/// ```
/// use connhandler::{testing::assert_golden, Message};
///
/// #[derive(Message, Debug, PartialEq)]
/// #[wire(id = 0x0102)]
/// struct Hello {
///     name: String,
/// }
///
/// assert_golden(&Hello { name: "a".into() }, &[0x02, 0x01, 1, 0, b'a']);
/// ```
pub fn assert_golden<M>(msg: &M, golden: &[u8])
where
    M: Encode + Decode + PartialEq + Debug,
{
    let bytes = assert_roundtrip(msg);
    assert_eq!(
        &bytes[..],
        golden,
        "{msg:?} encodes as {:02x?}, expected {golden:02x?}",
        &bytes[..]
    );
    match M::decode(Bytes::copy_from_slice(golden)) {
        Ok(back) => assert_eq!(&back, msg),
        Err(e) => panic!("the golden bytes do not decode: {e}"),
    }
}
