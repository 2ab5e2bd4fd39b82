//! The WebSocket framing: each binary WebSocket message is one connhandler message.
//!
//! Frames are decoded where they were read: a fragmented message is put together in the
//! read buffer, each fragment's payload moved once, down to where the message's payload so
//! far ends (over the headers and control frames between), and never the bytes after it:
//! the work is linear in the bytes received however the message is cut. The bytes of an
//! unfinished message are the read buffer's, counted in the handler's read budget, and a
//! header's length is checked against `max_message_size` before any of its payload is
//! buffered. A message of more fragments than `max_fragments` is refused: one-byte
//! fragments cost a header each.
//!
//! | frame | state | what happens |
//! | --- | --- | --- |
//! | binary, final | no message begun | the payload is the frame, where it lies |
//! | binary or text, not final | no message begun | begun: its payload stays where it lies, the message's start |
//! | continuation | begun | its payload is moved down to join the message; final: the message is the frame |
//! | data, beyond `max_fragments` | begun | refused (`FrameError::TooManyFragments`) |
//! | text | | refused (`FrameError::TextMessage`) unless the peer kind opts in |
//! | ping | any | a pong with its payload is owed (`take_reply`), the frame passed over; counted (`take_controls`) |
//! | pong | any | passed over (it counts as bytes read: a heartbeat's ping frame was answered); counted |
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
    max_fragments: usize,
    text: bool,
    /// A fragmented message is begun, of this kind (text or not).
    begun_text: Option<bool>,
    /// Where the begun message's payload starts in the read buffer, and its bytes so far.
    body_start: usize,
    body_len: usize,
    /// Where the next frame starts (past the begun message's frames).
    scan: usize,
    /// Fragments of the begun message.
    fragments: usize,
    /// The pong owed for the last ping.
    reply: Option<Bytes>,
    /// Control frames (pings, pongs) read since last asked.
    controls: u32,
    /// Bytes moved to put fragments together, in all (what keeps reassembly linear shows
    /// here).
    moved: u64,
    /// The state of the masks of a client's frames.
    mask: u64,
}

impl Clone for WsFraming {
    /// A fresh framing for a new connection (nothing begun), with masks of its own.
    fn clone(&self) -> Self {
        WsFraming::new(self.role, self.max_message, self.text).max_fragments(self.max_fragments)
    }
}

impl WsFraming {
    pub(crate) fn new(role: Role, max_message: usize, text: bool) -> Self {
        WsFraming {
            role,
            max_message,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            text,
            begun_text: None,
            body_start: 0,
            body_len: 0,
            scan: 0,
            fragments: 0,
            reply: None,
            controls: 0,
            moved: 0,
            mask: std::collections::hash_map::RandomState::new().hash_one(0u8) | 1,
        }
    }

    /// At most `max` fragments per message (at least 1).
    pub(crate) fn max_fragments(mut self, max: usize) -> Self {
        self.max_fragments = max.max(1);
        self
    }

    /// Bytes moved to put fragments together so far.
    #[cfg(test)]
    pub(crate) fn moved(&self) -> u64 {
        self.moved
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

    /// Passes over a frame of `len` bytes at `at` that is not part of a message (a control
    /// frame): dropped from the front when no message is begun, else left in the gap the
    /// message's end skips.
    fn pass_over(&mut self, src: &mut BytesMut, at: usize, len: usize) {
        if self.begun_text.is_none() && at == 0 {
            src.advance(len);
        } else {
            self.scan = at + len;
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
    /// Reads frames until a message is whole: where it lies at the front of `src` (headers
    /// skipped, payload unmasked), or `None` when more bytes are needed.
    fn next_message(&mut self, src: &mut BytesMut) -> Result<Option<Found>, FrameError> {
        loop {
            let at = self.scan;
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
            let so_far = self.body_len as u64;
            if !control && so_far.saturating_add(len) > self.max_message as u64 {
                // Refused on the header: none of the payload is buffered.
                return Err(FrameError::MessageTooLong {
                    len: usize::try_from(so_far + len).unwrap_or(usize::MAX),
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
                    self.controls = self.controls.saturating_add(1);
                    let mut pong = BytesMut::new();
                    let mask = self.header(OpCode::Control(Control::Pong), len, &mut pong);
                    let start = pong.len();
                    pong.extend_from_slice(&src[payload]);
                    if let Some(mask) = mask {
                        apply_mask(&mut pong[start..], mask);
                    }
                    self.reply = Some(pong.freeze());
                    self.pass_over(src, at, head + len);
                }
                OpCode::Control(Control::Pong) => {
                    self.controls = self.controls.saturating_add(1);
                    self.pass_over(src, at, head + len);
                }
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
                    if let Some(found) = self.join(src, payload, header.is_final, text)? {
                        return Ok(Some(found));
                    }
                }
            }
        }
    }

    /// A data frame's payload joins the message: the first stays where it lies, each later
    /// one is moved down to where the message's payload ends (its own bytes only). The
    /// message once its final fragment is in.
    fn join(
        &mut self,
        src: &mut BytesMut,
        payload: std::ops::Range<usize>,
        last: bool,
        text: bool,
    ) -> Result<Option<Found>, FrameError> {
        self.fragments += 1;
        if self.fragments > self.max_fragments {
            return Err(FrameError::TooManyFragments {
                max: self.max_fragments,
            });
        }
        if self.begun_text.is_none() {
            self.body_start = payload.start;
        } else {
            let to = self.body_start + self.body_len;
            if payload.start != to {
                src.copy_within(payload.clone(), to);
                self.moved += payload.len() as u64;
            }
        }
        self.body_len += payload.len();
        self.scan = payload.end;
        if !last {
            self.begun_text = Some(text);
            return Ok(None);
        }
        let found = Found {
            body: self.body_start..self.body_start + self.body_len,
            end: self.scan,
        };
        self.begun_text = None;
        self.body_start = 0;
        self.body_len = 0;
        self.scan = 0;
        self.fragments = 0;
        Ok(Some(found))
    }
}

/// The default bound of fragments in one WebSocket message.
pub(crate) const DEFAULT_MAX_FRAGMENTS: usize = 1024;

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
        self.begun_text.is_some()
    }
}

/// What only WebSocket's framing has: its own control frames, which the connection sends and
/// counts (reached through `Carried`, not the public [`Framing`]).
impl WsFraming {
    /// The pong owed for a ping read, taken by the connection after each batch of frames and
    /// queued if its queue has room.
    pub(crate) fn take_reply(&mut self) -> Option<Bytes> {
        self.reply.take()
    }

    /// How many pings and pongs were read since last asked, for the connection's rate limits.
    pub(crate) fn take_controls(&mut self) -> u32 {
        std::mem::take(&mut self.controls)
    }

    /// WebSocket's own ping, which a heartbeat sends in place of the protocol's ping message.
    pub(crate) fn ping_frame(&mut self) -> Option<Bytes> {
        let mut ping = BytesMut::new();
        self.header(OpCode::Control(Control::Ping), 0, &mut ping);
        Some(ping.freeze())
    }

    /// Appends a close frame with `code` and `reason`, written after the last queued message
    /// when the connection closes.
    pub(crate) fn encode_close(&mut self, code: u16, reason: &str, dst: &mut BytesMut) {
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

    /// `n` one-byte fragments of a message, a ping after every 100th, as one buffer.
    fn one_byte_fragments(n: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        for i in 0..n {
            let opcode = if i == 0 {
                OpCode::Data(Data::Binary)
            } else {
                OpCode::Data(Data::Continue)
            };
            wire.extend_from_slice(&client_frame(opcode, i == n - 1, &[i as u8]));
            if i % 100 == 50 {
                wire.extend_from_slice(&client_frame(OpCode::Control(Control::Ping), true, b""));
            }
        }
        wire
    }

    #[test]
    fn one_byte_fragments_are_put_together_moving_each_byte_once() {
        // Bytes moved per byte of message, for messages ever longer, all read at once and
        // in pieces: constant (each payload byte moves once), not growing with the message.
        for pieces in [1, 7] {
            let mut per_byte = Vec::new();
            for n in [1_000usize, 4_000, 16_000] {
                let mut f = WsFraming::new(Role::Server, 1 << 20, false).max_fragments(n);
                let wire = one_byte_fragments(n);
                let mut src = BytesMut::new();
                let mut got = None;
                for chunk in wire.chunks(wire.len() / pieces + 1) {
                    src.extend_from_slice(chunk);
                    if let Some(frame) = f.decode_frame(&mut src).unwrap() {
                        got = Some(frame);
                    }
                }
                let want: Vec<u8> = (0..n).map(|i| i as u8).collect();
                assert_eq!(got.as_deref(), Some(&want[..]), "{n} fragments");
                assert!(src.is_empty());
                assert_eq!(
                    f.take_controls(),
                    (n / 100 + usize::from(n % 100 > 50)) as u32
                );
                per_byte.push(f.moved() as f64 / n as f64);
            }
            assert!(
                per_byte.iter().all(|&m| m <= 1.0),
                "{pieces} pieces: bytes moved per byte {per_byte:?}"
            );
        }
    }

    #[test]
    fn a_message_of_more_fragments_than_allowed_is_refused() {
        let mut f = WsFraming::new(Role::Server, 1 << 20, false).max_fragments(10);
        let mut src = BytesMut::from(&one_byte_fragments(11)[..]);
        let err = f.decode_frame(&mut src).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a WebSocket message of more than 10 fragments"
        );
        // Ten are fine, and a clone keeps the bound.
        let mut f = f.clone();
        let mut src = BytesMut::from(&one_byte_fragments(10)[..]);
        assert_eq!(f.decode_frame(&mut src).unwrap().unwrap().len(), 10);
    }
}
