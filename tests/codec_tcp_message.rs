//! The TcpMessage framing against the reference system's writer and reader, and Panda3D's
//! 2-byte datagram header, as `wire-format.md` describes them.

mod common;

use bytes::{Bytes, BytesMut};
use common::{pattern, reference_read_chunks, reference_write, LenPrefixed};
use connhandler::{
    codec::{Chunked, Decoder, Encoder, FrameError, Framing, Panda3dCodec, TcpMessageCodec},
    Decode, Encode,
};
use proptest::prelude::*;

fn codec(max: usize) -> TcpMessageCodec {
    TcpMessageCodec::builder()
        .max_message_size(max)
        .new_codec()
        .unwrap()
}

/// A codec as a handler whose peer receives `LenPrefixed` sets it up.
fn codec_for_len_prefixed(max: usize) -> TcpMessageCodec {
    TcpMessageCodec::builder()
        .max_message_size(max)
        .frame_status(LenPrefixed::frame_status)
        .new_codec()
        .unwrap()
}

fn encode_ours(codec: &mut TcpMessageCodec, msg: &impl Encode) -> Vec<u8> {
    let mut wire = BytesMut::new();
    codec.encode_message(msg, &mut wire).unwrap();
    wire.to_vec()
}

fn decode_all(codec: &mut TcpMessageCodec, wire: &[u8]) -> Vec<Bytes> {
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        out.push(frame);
    }
    assert!(buf.is_empty(), "bytes left over after decoding");
    assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    out
}

/// Sizes around every multiple of `max` up to `multiples` times it.
fn sizes_around(max: usize, multiples: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = (1..=max.min(8)).collect();
    for k in 1..=multiples {
        for d in [-1i64, 0, 1] {
            let n = (k * max) as i64 + d;
            if n >= 1 {
                sizes.push(n as usize);
            }
        }
    }
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// Every message the reference writer produces, for every size from 1 to several times
/// `max_message_size` (exact multiples included), followed by another message, is read back
/// as the same message by a receiver whose type tells its own end.
#[test]
fn reads_every_reference_message_back() {
    for max in [1usize, 2, 7, 64] {
        let limit = 4 * max + 6;
        for body_len in 0..limit {
            // `LenPrefixed` adds 4 bytes, so message sizes run 4..limit+4, through every
            // multiple of `max` in that range.
            let first = LenPrefixed(pattern(body_len, 1));
            let second = LenPrefixed(pattern(3, 2));
            let mut wire = Vec::new();
            for msg in [&first, &second] {
                let mut body = BytesMut::new();
                msg.encode(&mut body);
                wire.extend(reference_write(&body, max));
            }
            let frames = decode_all(&mut codec_for_len_prefixed(max), &wire);
            let msgs: Vec<LenPrefixed> = frames
                .into_iter()
                .map(|f| LenPrefixed::decode(f).unwrap())
                .collect();
            assert_eq!(msgs, [first, second], "max {max}, body {body_len}");
        }
    }
}

#[test]
fn reads_reference_messages_back_at_the_default_max() {
    let max = 0xFFFF;
    for n in sizes_around(max, 3) {
        if n < 4 {
            continue;
        }
        let msg = LenPrefixed(pattern(n - 4, 9));
        let mut body = BytesMut::new();
        msg.encode(&mut body);
        let mut wire = reference_write(&body, max);
        wire.extend(reference_write(&[0, 0, 0, 0], max)); // an empty LenPrefixed after it
        let frames = decode_all(&mut codec_for_len_prefixed(max), &wire);
        assert_eq!(frames.len(), 2, "size {n}");
        assert_eq!(LenPrefixed::decode(frames[0].clone()).unwrap(), msg);
    }
}

/// Raw bytes from the reference writer: every size that is not an exact multiple is read
/// back alone; the reference reader's own mode (no reassembly) reads each chunk.
#[test]
fn raw_bytes_from_the_reference_writer() {
    for max in [1usize, 7, 64] {
        for n in 1..4 * max + 3 {
            let msg = pattern(n, 3);
            let wire = reference_write(&msg, max);
            if n % max != 0 {
                let frames = decode_all(&mut codec(max), &wire);
                assert_eq!(frames, [Bytes::from(msg.clone())], "max {max}, size {n}");
            }
            let mut chunked = TcpMessageCodec::builder()
                .max_message_size(max)
                .reassemble(false)
                .new_codec()
                .unwrap();
            let chunks: Vec<Vec<u8>> = decode_all(&mut chunked, &wire)
                .into_iter()
                .map(|b| b.to_vec())
                .collect();
            assert_eq!(chunks, reference_read_chunks(&wire, max));
        }
    }
}

/// What connhandler writes, the reference reader reads: its chunks, concatenated, are the
/// message; and connhandler reads it back as one message whatever the type.
#[test]
fn reference_reader_reads_what_we_write() {
    for max in [1usize, 2, 7, 64, 0xFFFF] {
        let sizes = if max == 0xFFFF {
            sizes_around(max, 3)
        } else {
            (1..=4 * max + 2).collect()
        };
        for n in sizes {
            let msg = Bytes::from(pattern(n, 5));
            let wire = encode_ours(&mut codec(max), &msg);
            assert_eq!(reference_read_chunks(&wire, max).concat(), msg.to_vec());
            assert_eq!(
                decode_all(&mut codec(max), &wire),
                std::slice::from_ref(&msg)
            );
            // Byte for byte the reference writer with explicit_final_chunk(false).
            let mut reference_mode = TcpMessageCodec::builder()
                .max_message_size(max)
                .explicit_final_chunk(false)
                .new_codec()
                .unwrap();
            assert_eq!(
                encode_ours(&mut reference_mode, &msg),
                reference_write(&msg, max)
            );
        }
    }
}

/// A message of 1..=65535 bytes is one Panda3D datagram with the default 2-byte header.
#[test]
fn panda3d_reads_one_datagram_per_message() {
    let mut sizes: Vec<usize> = (1..=300).collect();
    sizes.extend([1000, 4096, 65533, 65534, 65535]);
    for n in sizes {
        let msg = Bytes::from(pattern(n, 7));
        let wire = encode_ours(&mut TcpMessageCodec::new(), &msg);
        let mut buf = BytesMut::from(&wire[..]);
        let mut panda = Panda3dCodec::new();
        assert_eq!(panda.decode(&mut buf).unwrap(), Some(msg), "size {n}");
        assert!(buf.is_empty(), "size {n}: one datagram only");
    }
}

/// The end-of-message rule at the boundaries: max-1, max, max+1, 2*max.
#[test]
fn headers_at_the_boundaries() {
    for max in [1usize, 7, 0xFFFF] {
        let header_of = |wire: &[u8], at: usize| u16::from_le_bytes([wire[at], wire[at + 1]]);
        let ours = |n: usize| encode_ours(&mut codec(max), &Bytes::from(pattern(n, 0)));

        if max > 1 {
            let w = ours(max - 1);
            assert_eq!(header_of(&w, 0) as usize, max - 1);
            assert_eq!(w.len(), 2 + max - 1);
        }
        // Exactly max: one chunk, explicit length (65535 for the default max).
        let w = ours(max);
        assert_eq!(header_of(&w, 0) as usize, max);
        assert_eq!(w.len(), 2 + max);
        // max+1: a continuing full chunk (0), then 1 byte.
        let w = ours(max + 1);
        assert_eq!(header_of(&w, 0), 0);
        assert_eq!(header_of(&w, 2 + max), 1);
        assert_eq!(w.len(), 4 + max + 1);
        // 2*max: 0 then an explicit final max.
        let w = ours(2 * max);
        assert_eq!(header_of(&w, 0), 0);
        assert_eq!(header_of(&w, 2 + max) as usize, max);
        assert_eq!(w.len(), 4 + 2 * max);

        for n in [max.saturating_sub(1), max, max + 1, 2 * max] {
            if n == 0 {
                continue;
            }
            // Back to back with a second message: each read back alone.
            let a = Bytes::from(pattern(n, 1));
            let b = Bytes::from(pattern(3, 2));
            let mut wire = encode_ours(&mut codec(max), &a);
            wire.extend(encode_ours(&mut codec(max), &b));
            assert_eq!(
                decode_all(&mut codec(max), &wire),
                [a, b],
                "max {max}, n {n}"
            );
        }
    }
}

#[test]
fn refusals() {
    // Out-of-range settings are refused when the codec is built.
    assert!(TcpMessageCodec::builder()
        .max_message_size(0)
        .new_codec()
        .is_err());
    assert!(TcpMessageCodec::builder()
        .max_message_size(0x10000)
        .new_codec()
        .is_err());
    assert!(TcpMessageCodec::builder()
        .max_frame_length(0)
        .new_codec()
        .is_err());
    // An empty message is refused when sent, nothing written.
    let mut wire = BytesMut::new();
    assert!(matches!(
        codec(7).encode(Bytes::new(), &mut wire),
        Err(FrameError::EmptyMessage)
    ));
    assert!(wire.is_empty());
    // A chunk length above the maximum.
    let mut buf = BytesMut::from(&[8u8, 0][..]);
    assert!(matches!(
        codec(7).decode(&mut buf),
        Err(FrameError::ChunkTooLong { len: 8, max: 7 })
    ));
}

/// A reassembled message above the bound fails when the header of the chunk that crosses it
/// arrives; the decoder never buffers more than the bound.
#[test]
fn reassembly_bound_allocates_nothing_beyond_it() {
    let mut c = TcpMessageCodec::builder()
        .max_message_size(1000)
        .max_frame_length(2500)
        .new_codec()
        .unwrap();
    // Two full continuing chunks (2000 bytes) are fine, the third header crosses 2500.
    let mut wire = Vec::new();
    for _ in 0..2 {
        wire.extend([0, 0]);
        wire.extend(vec![1u8; 1000]);
    }
    wire.extend([0, 0]);
    let mut buf = BytesMut::from(&wire[..]);
    match c.decode(&mut buf) {
        Err(FrameError::MessageTooLong { len, max }) => {
            assert_eq!((len, max), (3000, 2500));
        }
        other => panic!("expected MessageTooLong, got {other:?}"),
    }
}

fn arb_messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..8)
}

/// `msgs` as one stream, each framed by a codec with `max_message_size` `max`.
fn encode_all(msgs: &[Vec<u8>], max: usize) -> BytesMut {
    let mut writer = codec(max);
    let mut wire = BytesMut::new();
    for m in msgs {
        writer.encode_message(&m[..], &mut wire).unwrap();
    }
    wire
}

/// Cuts `wire` at the given points and feeds the pieces one by one: the frames cut out, or
/// the first error.
fn feed_in_pieces(
    framing: &mut impl Framing,
    wire: &[u8],
    cuts: Vec<usize>,
) -> Result<Vec<Bytes>, FrameError> {
    match frames_in_pieces(framing, wire, cuts, |f, buf| f.decode_frame(buf), |b| b) {
        (frames, None) => Ok(frames),
        (_, Some(e)) => Err(e),
    }
}

/// `wire` fed to `framing` in pieces cut at `cuts`, each whole frame taken by `next` (lent
/// or cut out), then the frames found at the end (`eof` makes them `T`): the frames, and the
/// error that stopped them if one did.
fn frames_in_pieces<F: Framing, T>(
    framing: &mut F,
    wire: &[u8],
    mut cuts: Vec<usize>,
    next: impl Fn(&mut F, &mut BytesMut) -> Result<Option<T>, FrameError>,
    eof: impl Fn(Bytes) -> T,
) -> (Vec<T>, Option<FrameError>) {
    cuts.retain(|&c| c < wire.len());
    cuts.sort_unstable();
    cuts.push(wire.len());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    for cut in cuts {
        buf.extend_from_slice(&wire[at..cut]);
        at = cut;
        loop {
            match next(framing, &mut buf) {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    loop {
        match framing.decode_frame_eof(&mut buf) {
            Ok(Some(frame)) => out.push(eof(frame)),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Each frame lent by `read_frame` (the reader's path for types that decode in place),
/// copied; the error as text, to compare.
fn lend_in_pieces(
    framing: &mut impl Framing,
    wire: &[u8],
    cuts: Vec<usize>,
) -> (Vec<Vec<u8>>, Option<String>) {
    let (frames, e) = frames_in_pieces(
        framing,
        wire,
        cuts,
        |f, buf| f.read_frame(buf, |frame| frame.to_vec()),
        |b| b.to_vec(),
    );
    (frames, e.map(|e| e.to_string()))
}

/// Each frame cut out by `decode_frame`, copied; the error as text.
fn cut_in_pieces(
    framing: &mut impl Framing,
    wire: &[u8],
    cuts: Vec<usize>,
) -> (Vec<Vec<u8>>, Option<String>) {
    let (frames, e) = frames_in_pieces(
        framing,
        wire,
        cuts,
        |f, buf| Ok(f.decode_frame(buf)?.map(|frame| frame.to_vec())),
        |b| b.to_vec(),
    );
    (frames, e.map(|e| e.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Frames lent in place (`read_frame`) are the frames cut out (`decode_frame`), and the
    /// errors the same, for well-formed streams of any chunking and for garbage, with any
    /// limits: TcpMessage, then Panda3D with each header size.
    #[test]
    fn prop_lending_agrees_with_cutting(
        msgs in arb_messages(),
        garbage in prop::collection::vec(any::<u8>(), 0..600),
        use_garbage in any::<bool>(),
        max in 1usize..=300,
        bound in 1usize..700,
        header in prop::sample::select(vec![0usize, 2, 4]),
        cuts in prop::collection::vec(0usize..4000, 0..20),
    ) {
        let wire = if use_garbage { garbage.clone() } else { encode_all(&msgs, max).to_vec() };
        let tcp = || TcpMessageCodec::builder()
            .max_message_size(max)
            .max_frame_length(bound)
            .new_codec()
            .unwrap();
        prop_assert_eq!(
            lend_in_pieces(&mut tcp(), &wire, cuts.clone()),
            cut_in_pieces(&mut tcp(), &wire, cuts.clone())
        );
        let mut writer = Panda3dCodec::builder().header_size(header.max(2)).new_codec().unwrap();
        let mut datagrams = BytesMut::new();
        for m in &msgs {
            writer.encode_message(&m[..], &mut datagrams).unwrap();
        }
        let wire = if use_garbage || header == 0 { garbage } else { datagrams.to_vec() };
        let panda = || Panda3dCodec::builder()
            .header_size(header)
            .max_frame_length(bound)
            .new_codec()
            .unwrap();
        prop_assert_eq!(
            lend_in_pieces(&mut panda(), &wire, cuts.clone()),
            cut_in_pieces(&mut panda(), &wire, cuts)
        );
    }

    /// Any messages, any max_message_size, any chunking of the stream: read back the same.
    #[test]
    fn prop_roundtrip_any_chunking(
        msgs in arb_messages(),
        max in 1usize..=80,
        cuts in prop::collection::vec(0usize..4000, 0..20),
    ) {
        let wire = encode_all(&msgs, max);
        let got = feed_in_pieces(&mut codec(max), &wire, cuts).unwrap();
        let got: Vec<Vec<u8>> = got.into_iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(got, msgs);
    }

    /// Reads that stop where `read_limit` asks (and sometimes earlier), as the connection's
    /// reader does: the same messages.
    #[test]
    fn prop_roundtrip_reads_as_limited(
        msgs in arb_messages(),
        max in 1usize..=80,
        reads in prop::collection::vec(1usize..500, 1..40),
    ) {
        let wire = encode_all(&msgs, max);
        let mut reader = codec(max);
        let (mut buf, mut got, mut at) = (BytesMut::new(), Vec::new(), 0);
        for read in reads.iter().cycle() {
            if at == wire.len() {
                break;
            }
            let n = (*read).min(reader.read_limit(&buf).unwrap_or(usize::MAX)).min(wire.len() - at);
            buf.extend_from_slice(&wire[at..at + n]);
            at += n;
            while let Some(frame) = reader.decode_frame(&mut buf).unwrap() {
                got.push(frame.to_vec());
            }
        }
        prop_assert!(reader.decode_frame_eof(&mut buf).unwrap().is_none());
        prop_assert_eq!(got, msgs);
    }

    /// The reference writer's stream, any chunking, a self-delimiting type: the same messages.
    #[test]
    fn prop_reference_writer_any_chunking(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..6),
        max in 1usize..=40,
        cuts in prop::collection::vec(0usize..3000, 0..20),
    ) {
        let msgs: Vec<LenPrefixed> = bodies.into_iter().map(LenPrefixed).collect();
        let mut wire = Vec::new();
        for m in &msgs {
            let mut body = BytesMut::new();
            m.encode(&mut body);
            wire.extend(reference_write(&body, max));
        }
        let got = feed_in_pieces(&mut codec_for_len_prefixed(max), &wire, cuts).unwrap();
        let got: Vec<LenPrefixed> = got.into_iter().map(|f| LenPrefixed::decode(f).unwrap()).collect();
        prop_assert_eq!(got, msgs);
    }

    /// Any bytes at all: the decoder returns frames or an error, never panics, and never
    /// holds more than the bound.
    #[test]
    fn prop_garbage_is_safe(
        wire in prop::collection::vec(any::<u8>(), 0..2000),
        max in 1usize..=0xFFFF,
        bound in 1usize..5000,
        cuts in prop::collection::vec(0usize..2000, 0..10),
    ) {
        let mut c = TcpMessageCodec::builder()
            .max_message_size(max)
            .max_frame_length(bound)
            .new_codec()
            .unwrap();
        if let Ok(frames) = feed_in_pieces(&mut c, &wire, cuts) {
            for f in frames {
                prop_assert!(f.len() <= bound);
            }
        }
    }

    /// The Panda3D codec, header 2 and 4: any datagrams (empty ones too), any chunking.
    #[test]
    fn prop_panda3d_roundtrip(
        msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8),
        four in any::<bool>(),
        cuts in prop::collection::vec(0usize..3000, 0..20),
    ) {
        let header = if four { 4 } else { 2 };
        let mk = || Panda3dCodec::builder().header_size(header).new_codec().unwrap();
        let mut writer = mk();
        let mut wire = BytesMut::new();
        for m in &msgs {
            writer.encode_message(&m[..], &mut wire).unwrap();
        }
        let got = feed_in_pieces(&mut mk(), &wire, cuts).unwrap();
        let got: Vec<Vec<u8>> = got.into_iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(got, msgs);
    }

    /// Panda3D decoder on garbage: never panics, never returns more than the bound.
    #[test]
    fn prop_panda3d_garbage_is_safe(
        wire in prop::collection::vec(any::<u8>(), 0..2000),
        header in prop::sample::select(vec![0usize, 2, 4]),
        bound in 1usize..5000,
        cuts in prop::collection::vec(0usize..2000, 0..10),
    ) {
        let mut c = Panda3dCodec::builder()
            .header_size(header)
            .max_frame_length(bound)
            .new_codec()
            .unwrap();
        if let Ok(frames) = feed_in_pieces(&mut c, &wire, cuts) {
            for f in frames {
                prop_assert!(f.len() <= bound);
            }
        }
    }
}
