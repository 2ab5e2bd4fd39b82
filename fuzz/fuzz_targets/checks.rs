//! The checks behind the fuzz targets, shared with `tests/fuzz_corpus.rs`, which replays
//! the kept corpus through them in every test run.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use connhandler::{
    codec::{Framing, Panda3dCodec, TcpMessageCodec},
    Decode, Encode, Message,
};

/// The TcpMessage decoder on any bytes, any max_message_size, any bound, fed in any pieces:
/// it returns frames or an error, never panics, never returns a frame above the bound; and
/// what connhandler writes it reads back.
pub fn tcp_message(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let max = usize::from(u16::from_le_bytes([data[0], data[1]])).max(1);
    let bound = usize::from(u16::from_le_bytes([data[2], data[3]])).max(1) * 4;
    let piece = usize::from(data[4]).max(1);
    let input = &data[5..];
    let mut codec = TcpMessageCodec::builder()
        .max_message_size(max)
        .max_frame_length(bound)
        .new_codec()
        .unwrap();
    let mut buf = BytesMut::new();
    'feed: for chunk in input.chunks(piece) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode_frame(&mut buf) {
                Ok(Some(frame)) => assert!(frame.len() <= bound),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    // Round trip: the input as one message.
    if !input.is_empty() {
        let mut writer = TcpMessageCodec::builder()
            .max_message_size(max)
            .new_codec()
            .unwrap();
        let mut wire = BytesMut::new();
        writer.encode_message(input, &mut wire).unwrap();
        let mut reader = TcpMessageCodec::builder()
            .max_message_size(max)
            .max_frame_length(input.len())
            .new_codec()
            .unwrap();
        let frame = reader.decode_frame(&mut wire).unwrap().unwrap();
        assert_eq!(&frame[..], input);
        assert!(wire.is_empty());
    }
}

/// The Panda3D decoder (header 0, 2 or 4) on any bytes, fed in any pieces: frames or an
/// error, never a panic, never a frame above the bound.
pub fn panda3d(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let header = [0, 2, 4][usize::from(data[0]) % 3];
    let bound = usize::from(u16::from_le_bytes([data[1], data[2]])).max(1) * 16;
    let piece = usize::from(data[3]).max(1);
    let mut codec = Panda3dCodec::builder()
        .header_size(header)
        .max_frame_length(bound)
        .new_codec()
        .unwrap();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    'feed: for chunk in data[4..].chunks(piece) {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        loop {
            match codec.decode_frame(&mut buf) {
                Ok(Some(frame)) => assert!(frame.len() <= bound),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
        // Memory follows the bytes that arrived, not the length a header claims.
        assert!(
            buf.capacity() <= 4 * fed + 32 * 1024,
            "{} bytes held for {fed} fed",
            buf.capacity()
        );
    }
}

#[derive(Message, Debug, PartialEq)]
struct Inner {
    x: i16,
    tags: Vec<String>,
}

#[derive(Message, Debug, PartialEq)]
enum Sample {
    #[wire(id = 1)]
    Login {
        name: String,
        version: u16,
        token: Option<[u8; 8]>,
    },
    #[wire(id = 2)]
    State {
        pos: (f32, f32),
        hp: i32,
        alive: bool,
        inner: Vec<Inner>,
    },
    #[wire(id = 3)]
    Blob(#[wire(len = u32)] Bytes, #[wire(len = u8)] Vec<u64>),
    #[wire(id = 4)]
    Tail {
        head: u8,
        #[wire(rest)]
        tail: Bytes,
    },
    #[wire(catch_all)]
    Other(u16, Bytes),
}

#[derive(Message, Debug, PartialEq)]
#[wire(json)]
enum Json {
    #[wire(id = 0x0101)]
    Register {
        name: String,
        slots: u32,
        tags: Vec<String>,
    },
}

/// The derived decoders of a sample protocol (binary and JSON mode) on any bytes: a value or
/// an error, never a panic; a value encodes back to the same bytes (the encoding is
/// canonical) and decodes to the same value.
pub fn derived(data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    if let Ok(msg) = Sample::decode(frame.clone()) {
        let mut again = BytesMut::new();
        msg.encode(&mut again);
        assert_eq!(again.len(), msg.encoded_len());
        // Floats: NaN payloads are kept bit for bit, so the bytes still match.
        assert_eq!(&again[..], data);
    }
    let _ = Sample::frame_status(data);
    if let Ok(msg) = Json::decode(frame) {
        let mut again = BytesMut::new();
        msg.encode(&mut again);
        assert_eq!(again.len(), msg.encoded_len());
        assert_eq!(Json::decode(again.freeze()).unwrap(), msg);
    }
}
