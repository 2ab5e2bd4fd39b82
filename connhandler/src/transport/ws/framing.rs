//! The WebSocket framing: each binary WebSocket message is one connhandler message.
//!
//! Frames are decoded where they were read: a fragmented message is put together in the
//! read buffer by moving each fragment's payload down over the header before it (one pass,
//! which unmasking makes anyway), so that the bytes of an unfinished message are the read
//! buffer's, counted in the handler's read budget, and a header's length is checked against
//! `max_message_size` before any of its payload is buffered.
//!
//! | frame | state | what happens |
//! | --- | --- | --- |
//! | binary, final | no message begun | the payload is the frame |
//! | binary or text, not final | no message begun | begun: its payload stays at the buffer's front |
//! | continuation | begun | its payload joins the message; final: the message is the frame |
//! | text | | refused (`FrameError::TextMessage`) unless the peer kind opts in |
//! | ping | any | a pong with its payload is owed (`take_reply`), the frame dropped |
//! | pong | any | dropped (it counts as bytes read: a heartbeat's ping frame was answered) |
//! | close | any | `FrameError::PeerClosed` with its code and reason: the connection ends, the writer answers with a close frame |
//! | reserved bits, unknown opcode, unmasked from a client, masked from a server, long or fragmented control frame, a continuation with nothing begun, a new message inside one | | `FrameError::Protocol` |

use std::{hash::BuildHasher, io::Cursor, ops::RangeInclusive};

use bytes::{Buf, Bytes, BytesMut};
use tungstenite::protocol::frame::{
    coding::{Control, Data, OpCode},
    FrameHeader,
};

use crate::{
    codec::{Found, FrameError, Framing},
    message::Encode,
};

/// Which end of the connection this framing is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Reads masked frames, writes unmasked ones.
    Server,
    /// Reads unmasked frames, writes masked ones.
    Client,
}

/// The WebSocket framing of one connection.
#[derive(Debug)]
pub(crate) struct WsFraming {
    role: Role,
    max_message: usize,
    text: bool,
    /// Bytes of a fragmented message put together at the front of the read buffer.
    begun: usize,
    /// A fragmented message is begun, of this kind (text or not).
    begun_text: Option<bool>,
    /// The pong owed for the last ping.
    reply: Option<Bytes>,
    /// The state of the masks of a client's frames.
    mask: u64,
}

impl Clone for WsFraming {
    /// A fresh framing for a new connection (nothing begun), with masks of its own.
    fn clone(&self) -> Self {
        WsFraming::new(self.role, self.max_message, self.text)
    }
}

impl WsFraming {
    pub(crate) fn new(role: Role, max_message: usize, text: bool) -> Self {
        WsFraming {
            role,
            max_message,
            text,
            begun: 0,
            begun_text: None,
            reply: None,
            mask: std::collections::hash_map::RandomState::new().hash_one(0u8) | 1,
        }
    }

    /// The next mask of a client's frame (xorshift over a random seed: masks are to be
    /// unpredictable to the page's script, which only browsers have; this is not one).
    fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.mask;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask = x;
        (x as u32).to_le_bytes()
    }

    fn header(&mut self, opcode: OpCode, len: usize, dst: &mut BytesMut) -> Option<[u8; 4]> {
        let mask = (self.role == Role::Client).then(|| self.next_mask());
        let header = FrameHeader {
            is_final: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
        };
        dst.reserve(header.len(len as u64) + len);
        header
            .format(len as u64, &mut bytes::BufMut::writer(&mut *dst))
            .expect("writing to memory");
        mask
    }

    /// Removes `len` bytes at `at` from `src`, moving what follows down.
    fn cut(src: &mut BytesMut, at: usize, len: usize) {
        if at == 0 {
            src.advance(len);
        } else {
            src.copy_within(at + len.., at);
            src.truncate(src.len() - len);
        }
    }

    fn protocol(what: &str) -> FrameError {
        FrameError::Protocol(what.to_owned())
    }
}

/// XORs `buf` with `mask`, which starts at the buffer's first byte.
fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = buf.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (b, m) in chunks.into_remainder().iter_mut().zip(mask) {
        *b ^= m;
    }
}

impl WsFraming {
    /// Reads frames until a message is whole, leaving it at the front of `src` (headers cut
    /// out, payload unmasked): where it is, or `None` when more bytes are needed.
    fn next_message(&mut self, src: &mut BytesMut) -> Result<Option<Found>, FrameError> {
        loop {
            let at = self.begun;
            let mut cursor = Cursor::new(&src[at..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return Ok(None),
                Err(e) => return Err(FrameError::Protocol(e.to_string())),
            };
            let head = cursor.position() as usize;
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return Err(Self::protocol(
                    "reserved bits set (no extension was agreed)",
                ));
            }
            match (self.role, header.mask.is_some()) {
                (Role::Server, false) => return Err(Self::protocol("an unmasked client frame")),
                (Role::Client, true) => return Err(Self::protocol("a masked server frame")),
                _ => {}
            }
            let control = matches!(header.opcode, OpCode::Control(_));
            if control && (len > 125 || !header.is_final) {
                return Err(Self::protocol(
                    "a control frame longer than 125 bytes or fragmented",
                ));
            }
            if !control && (at as u64).saturating_add(len) > self.max_message as u64 {
                // Refused on the header: none of the payload is buffered.
                return Err(FrameError::MessageTooLong {
                    len: usize::try_from(at as u64 + len).unwrap_or(usize::MAX),
                    max: self.max_message,
                });
            }
            let len = len as usize;
            if src.len() - at < head + len {
                return Ok(None);
            }
            let payload = at + head..at + head + len;
            if let Some(mask) = header.mask {
                apply_mask(&mut src[payload.clone()], mask);
            }
            match header.opcode {
                OpCode::Control(Control::Ping) => {
                    let mut pong = BytesMut::new();
                    let mask = self.header(OpCode::Control(Control::Pong), len, &mut pong);
                    let start = pong.len();
                    pong.extend_from_slice(&src[payload]);
                    if let Some(mask) = mask {
                        apply_mask(&mut pong[start..], mask);
                    }
                    self.reply = Some(pong.freeze());
                    Self::cut(src, at, head + len);
                }
                OpCode::Control(Control::Pong) => Self::cut(src, at, head + len),
                OpCode::Control(Control::Close) => {
                    let body = &src[payload];
                    let (code, reason) = match body {
                        [] => (None, String::new()),
                        [_] => return Err(Self::protocol("a close frame of one byte")),
                        [hi, lo, rest @ ..] => (
                            Some(u16::from_be_bytes([*hi, *lo])),
                            String::from_utf8_lossy(rest).into_owned(),
                        ),
                    };
                    return Err(FrameError::PeerClosed { code, reason });
                }
                OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                    return Err(Self::protocol("a reserved opcode"));
                }
                OpCode::Data(data) => {
                    let text = match (data, self.begun_text) {
                        (Data::Continue, Some(text)) => text,
                        (Data::Continue, None) => {
                            return Err(Self::protocol(
                                "a continuation frame with no message begun",
                            ))
                        }
                        (_, Some(_)) => {
                            return Err(Self::protocol("a new message inside a fragmented one"))
                        }
                        (Data::Text, None) => true,
                        (_, None) => false,
                    };
                    if text && !self.text {
                        return Err(FrameError::TextMessage);
                    }
                    // The payload joins what is begun, over its own header.
                    Self::cut(src, at, head);
                    self.begun = at + len;
                    if header.is_final {
                        self.begun_text = None;
                        let whole = std::mem::take(&mut self.begun);
                        return Ok(Some(Found {
                            body: 0..whole,
                            end: whole,
                        }));
                    }
                    self.begun_text = Some(text);
                }
            }
        }
    }
}

impl Framing for WsFraming {
    // Each message found once, then cut out or lent where it lies.
    crate::codec::cut_or_lend!(next_message);

    fn encode_message<M: Encode + ?Sized>(
        &mut self,
        msg: &M,
        dst: &mut BytesMut,
    ) -> Result<(), FrameError> {
        let len = msg.encoded_len();
        if len > self.max_message {
            return Err(FrameError::MessageTooLong {
                len,
                max: self.max_message,
            });
        }
        let mask = self.header(OpCode::Data(Data::Binary), len, dst);
        let start = dst.len();
        msg.encode(dst);
        if let Some(mask) = mask {
            apply_mask(&mut dst[start..], mask);
        }
        Ok(())
    }

    fn sendable_lengths(&self) -> RangeInclusive<usize> {
        0..=self.max_message
    }

    fn is_mid_frame(&self) -> bool {
        self.begun > 0
    }

    fn take_reply(&mut self) -> Option<Bytes> {
        self.reply.take()
    }

    fn ping_frame(&mut self) -> Option<Bytes> {
        let mut ping = BytesMut::new();
        self.header(OpCode::Control(Control::Ping), 0, &mut ping);
        Some(ping.freeze())
    }

    fn encode_close(&mut self, code: u16, reason: &str, dst: &mut BytesMut) {
        // A close frame's reason: at most 123 bytes, cut at a character boundary.
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let reason = &reason[..end];
        let mask = self.header(OpCode::Control(Control::Close), 2 + reason.len(), dst);
        let start = dst.len();
        dst.extend_from_slice(&code.to_be_bytes());
        dst.extend_from_slice(reason.as_bytes());
        if let Some(mask) = mask {
            apply_mask(&mut dst[start..], mask);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as a browser sends it: masked.
    fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = WsFraming::new(Role::Client, 1 << 20, true);
        let mut dst = BytesMut::new();
        let mask = f.next_mask();
        let header = FrameHeader {
            is_final: fin,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: Some(mask),
        };
        header
            .format(payload.len() as u64, &mut bytes::BufMut::writer(&mut dst))
            .unwrap();
        let start = dst.len();
        dst.extend_from_slice(payload);
        apply_mask(&mut dst[start..], mask);
        dst.to_vec()
    }

    fn server() -> WsFraming {
        WsFraming::new(Role::Server, 64, false)
    }

    #[test]
    fn a_binary_frame_is_one_message_and_a_ping_owes_a_pong() {
        let mut f = server();
        let mut src = BytesMut::new();
        src.extend_from_slice(&client_frame(OpCode::Control(Control::Ping), true, b"hi"));
        src.extend_from_slice(&client_frame(
            OpCode::Data(Data::Binary),
            true,
            b"\x01\x00abc",
        ));
        assert_eq!(
            f.decode_frame(&mut src).unwrap().unwrap(),
            &b"\x01\x00abc"[..]
        );
        assert!(src.is_empty());
        assert_eq!(f.take_reply().unwrap(), &[0x8a, 2, b'h', b'i'][..]);
    }

    #[test]
    fn fragments_with_a_ping_between_are_put_together_in_place() {
        let mut f = server();
        let mut src = BytesMut::new();
        src.extend_from_slice(&client_frame(OpCode::Data(Data::Binary), false, b"abc"));
        src.extend_from_slice(&client_frame(OpCode::Control(Control::Ping), true, b""));
        let cont = client_frame(OpCode::Data(Data::Continue), true, b"def");
        src.extend_from_slice(&cont[..3]);
        assert_eq!(f.decode_frame(&mut src).unwrap(), None);
        assert!(f.is_mid_frame());
        assert_eq!(&src[..3], b"abc");
        src.extend_from_slice(&cont[3..]);
        assert_eq!(f.decode_frame(&mut src).unwrap().unwrap(), &b"abcdef"[..]);
        assert!(!f.is_mid_frame() && src.is_empty());
    }

    #[test]
    fn what_breaks_the_rules_is_refused_with_what_it_was() {
        let long = client_frame(OpCode::Data(Data::Binary), true, &[0; 65]);
        // Only the header has arrived: refused on it.
        let err = server()
            .decode_frame(&mut BytesMut::from(&long[..6]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "message of 65 bytes exceeds the limit of 64 bytes"
        );
        let text = client_frame(OpCode::Data(Data::Text), true, b"{}");
        let err = server()
            .decode_frame(&mut BytesMut::from(&text[..]))
            .unwrap_err();
        assert!(matches!(err, FrameError::TextMessage));
        let mut unmasked = BytesMut::from(&[0x82, 1, 7][..]);
        let err = server().decode_frame(&mut unmasked).unwrap_err();
        assert_eq!(err.to_string(), "protocol error: an unmasked client frame");
        let close = client_frame(OpCode::Control(Control::Close), true, b"\x03\xe8bye");
        let err = server()
            .decode_frame(&mut BytesMut::from(&close[..]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the peer closed the stream (code 1000: bye)"
        );
    }

    #[test]
    fn a_client_masks_what_it_writes_and_a_server_reads_it() {
        let mut client = WsFraming::new(Role::Client, 64, false);
        let mut wire = BytesMut::new();
        client
            .encode_message(&Bytes::from_static(b"\x02\x00xyz"), &mut wire)
            .unwrap();
        client.encode_close(1000, "done", &mut wire);
        let mut server = server();
        assert_eq!(
            server.decode_frame(&mut wire).unwrap().unwrap(),
            &b"\x02\x00xyz"[..]
        );
        let err = server.decode_frame(&mut wire).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the peer closed the stream (code 1000: done)"
        );
    }
}
