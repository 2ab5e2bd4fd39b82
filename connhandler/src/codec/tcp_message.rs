//! The reference system's TcpMessage framing.

use std::{ops::RangeInclusive, time::Duration};

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, Framed};

use super::{
    encode_checked, Chunked, ConfigError, Found, FrameError, Framing, DEFAULT_MAX_FRAME_LENGTH,
};
use crate::message::{Encode, FrameStatus, FrameStatusFn};

/// The largest `max_message_size`: a chunk length must fit the u16 header.
const MAX_CHUNK: usize = 0xFFFF;

/// The reference TcpMessage framing: a message is sent as chunks, each after a little-endian
/// u16 header holding the chunk's length, where 0 means `max_message_size`.
///
/// Defaults: `max_message_size` 65535 (the largest; settable in 1..=65535), messages
/// reassembled up to [`DEFAULT_MAX_FRAME_LENGTH`](super::DEFAULT_MAX_FRAME_LENGTH) (8 MiB),
/// a full final chunk marked with its explicit length.
///
/// # Writing
///
/// A message of `n` bytes is cut into chunks of `max_message_size` bytes, the last holding the
/// rest. A chunk shorter than `max_message_size` has its length in the header; a full chunk that
/// is followed by another of the same message has 0; a full *final* chunk has the explicit
/// value `max_message_size` (with
/// [`explicit_final_chunk(false)`](TcpMessageCodecBuilder::explicit_final_chunk): 0, byte for
/// byte what the reference writer sends). The reference reader accepts both. An empty message is
/// refused with [`FrameError::EmptyMessage`].
///
/// With the default `max_message_size` of 65535, every message of 1 to 65535 bytes is one chunk
/// with its exact length in the header: the same bytes as a Panda3D datagram with the default
/// 2-byte header.
///
/// # Where a message ends (reading)
///
/// | chunk header `h` | chunk length | the message |
/// | --- | --- | --- |
/// | `1 ..= max-1` | `h` | ends with this chunk |
/// | `max` (explicit) | `max` | ends with this chunk |
/// | `0` | `max` | continues, unless the receiving type says the bytes so far are one whole message ([`Decode::frame_status`] returns [`FrameStatus::Complete`]), or, with [`idle_end`](TcpMessageCodecBuilder::idle_end), no more bytes arrive for the configured wait |
/// | `> max` | — | [`FrameError::ChunkTooLong`]: the connection is closed |
///
/// The third row is where the format is ambiguous: the reference writer ends a message whose
/// length is an exact multiple of `max_message_size` with a 0 chunk, exactly like one that
/// continues. connhandler's own writer never does (it marks a full final chunk explicitly), and
/// for the reference writer the receiving message type decides: derived messages that tell
/// their own end do; raw [`Bytes`] cannot, so raw bytes from a reference writer whose length is
/// an exact multiple of `max_message_size` run on into the next message unless
/// [`idle_end`](TcpMessageCodecBuilder::idle_end) ends them at the pause that follows. The reference reader never
/// reassembles at all; [`reassemble(false)`](TcpMessageCodecBuilder::reassemble) gives its
/// behaviour (each chunk is a frame).
///
/// A message that would grow beyond
/// [`max_frame_length`](TcpMessageCodecBuilder::max_frame_length) is
/// [`FrameError::MessageTooLong`], raised when the header of the chunk that would cross the bound
/// arrives, before that chunk is buffered. A message of several chunks is reassembled in the
/// read buffer, which gets room for it when it starts: as much as the last such message took
/// on this stream (a length that did arrive, within `max_frame_length`), so that it is not
/// moved as it grows.
///
/// [`Decode::frame_status`]: crate::Decode::frame_status
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use connhandler::codec::{Decoder, Encoder, TcpMessageCodec};
///
/// let mut codec = TcpMessageCodec::builder().max_message_size(4).new_codec()?;
/// let mut wire = BytesMut::new();
/// codec.encode(Bytes::from_static(b"abcdefghij"), &mut wire)?;
/// // Chunks of 4, 4 and 2 bytes: the first two continue (0), the last has its length.
/// assert_eq!(&wire[..], b"\0\0abcd\0\0efgh\x02\0ij");
/// assert_eq!(codec.decode(&mut wire)?, Some(Bytes::from_static(b"abcdefghij")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TcpMessageCodec {
    max_message_size: usize,
    max_frame_length: usize,
    reassemble: bool,
    explicit_final_chunk: bool,
    frame_status: Option<FrameStatusFn>,
    idle_end: Option<Duration>,
    state: State,
    /// The message being reassembled, in the read buffer itself: its chunks so far, headers
    /// removed, are the first `assembled` bytes; then come `hole` bytes of headers not yet
    /// squeezed out, then bytes not looked at yet.
    assembled: usize,
    hole: usize,
    /// The length of the last message that took several chunks: room for one as long is made
    /// when the next such message starts, so it is not moved each time the buffer grows.
    last_long: usize,
}

/// The decoder's states.
///
/// | state | waiting for | next |
/// | --- | --- | --- |
/// | `Header` | 2 header bytes | `Chunk` once they are there |
/// | `Chunk` | `left` more chunk bytes | a frame is returned, or `Header` for a chunk that continues |
///
/// A chunk's bytes join the message where they were read when no header bytes lie before
/// them (`hole` 0: always, when reads stop where
/// [`read_limit`](Chunked::read_limit) says); otherwise each byte is moved once, over the hole.
#[derive(Clone, Copy, Debug)]
enum State {
    Header,
    Chunk { left: usize, continues: bool },
}

/// Configures and builds a [`TcpMessageCodec`].
///
/// # Examples
///
/// ```
/// use connhandler::codec::TcpMessageCodec;
///
/// let codec = TcpMessageCodec::builder()
///     .max_message_size(4096)
///     .max_frame_length(1 << 20)
///     .new_codec()?;
/// assert_eq!(codec.max_message_size(), 4096);
/// # Ok::<(), connhandler::codec::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TcpMessageCodecBuilder {
    max_message_size: usize,
    max_frame_length: usize,
    reassemble: bool,
    explicit_final_chunk: bool,
    frame_status: Option<FrameStatusFn>,
    idle_end: Option<Duration>,
}

impl Default for TcpMessageCodecBuilder {
    fn default() -> Self {
        TcpMessageCodecBuilder {
            max_message_size: MAX_CHUNK,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            reassemble: true,
            explicit_final_chunk: true,
            frame_status: None,
            idle_end: None,
        }
    }
}

impl TcpMessageCodecBuilder {
    /// The chunk size, the reference's `max_message_size`: 1..=65535, default 65535.
    ///
    /// # Examples
    ///
    /// ```
    /// let codec = connhandler::codec::TcpMessageCodec::builder().max_message_size(7).new_codec()?;
    /// assert_eq!(codec.max_message_size(), 7);
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn max_message_size(&mut self, size: usize) -> &mut Self {
        self.max_message_size = size;
        self
    }

    /// The longest message the decoder reassembles: at least 1, default 8 MiB. A longer one is
    /// [`FrameError::MessageTooLong`].
    ///
    /// # Examples
    ///
    /// ```
    /// let codec = connhandler::codec::TcpMessageCodec::builder().max_frame_length(1024).new_codec()?;
    /// assert_eq!(codec.max_frame_length(), 1024);
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn max_frame_length(&mut self, len: usize) -> &mut Self {
        self.max_frame_length = len;
        self
    }

    /// Whether the decoder joins the chunks of a message (default `true`). With `false` every
    /// chunk is a frame of its own, as the reference reader hands them on.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use connhandler::codec::{Decoder, TcpMessageCodec};
    ///
    /// let mut codec = TcpMessageCodec::builder().max_message_size(2).reassemble(false).new_codec()?;
    /// let mut wire = BytesMut::from(&b"\0\0ab\x01\0c"[..]);
    /// assert_eq!(codec.decode(&mut wire)?, Some(Bytes::from_static(b"ab")));
    /// assert_eq!(codec.decode(&mut wire)?, Some(Bytes::from_static(b"c")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reassemble(&mut self, reassemble: bool) -> &mut Self {
        self.reassemble = reassemble;
        self
    }

    /// Whether a full final chunk is written with the explicit length `max_message_size`
    /// (default `true`, unambiguous for readers that know the rule) or with 0 (`false`, byte
    /// for byte the reference writer).
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use connhandler::codec::{Encoder, TcpMessageCodec};
    ///
    /// let mut wire = BytesMut::new();
    /// let mut ours = TcpMessageCodec::builder().max_message_size(2).new_codec()?;
    /// ours.encode(Bytes::from_static(b"ab"), &mut wire)?;
    /// let mut reference = TcpMessageCodec::builder()
    ///     .max_message_size(2)
    ///     .explicit_final_chunk(false)
    ///     .new_codec()?;
    /// reference.encode(Bytes::from_static(b"ab"), &mut wire)?;
    /// assert_eq!(&wire[..], b"\x02\0ab\0\0ab");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explicit_final_chunk(&mut self, explicit: bool) -> &mut Self {
        self.explicit_final_chunk = explicit;
        self
    }

    /// The receiving type's [`Decode::frame_status`](crate::Decode::frame_status), used to end
    /// a message on a 0 chunk. Handlers set it from their peer's message type.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::{codec::TcpMessageCodec, Decode};
    ///
    /// let codec = TcpMessageCodec::builder()
    ///     .frame_status(<bytes::Bytes as Decode>::frame_status)
    ///     .new_codec()?;
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn frame_status(&mut self, status: FrameStatusFn) -> &mut Self {
        self.frame_status = Some(status);
        self
    }

    /// Ends a message that stops on a 0 chunk when no more bytes arrive for `wait` after it
    /// (default: never, the message continues). The reference writer sends all chunks of a
    /// message at once and ends one whose length is an exact multiple of `max_message_size` on
    /// a 0 chunk: for receivers whose type cannot tell its own end (raw bytes), a pause is the
    /// only sign that such a message is whole. Handlers apply it when they have read every byte
    /// available; a stall of the sender longer than `wait` in the middle of a message would cut
    /// it in two, so choose `wait` well above the peer's pauses within a message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let codec = connhandler::codec::TcpMessageCodec::builder()
    ///     .idle_end(Duration::from_millis(100))
    ///     .new_codec()?;
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn idle_end(&mut self, wait: Duration) -> &mut Self {
        self.idle_end = Some(wait);
        self
    }

    /// Builds the codec.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `max_message_size` is outside 1..=65535 or `max_frame_length`
    /// is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::codec::TcpMessageCodec;
    /// assert!(TcpMessageCodec::builder().max_message_size(0).new_codec().is_err());
    /// ```
    pub fn new_codec(&self) -> Result<TcpMessageCodec, ConfigError> {
        if !(1..=MAX_CHUNK).contains(&self.max_message_size) {
            return Err(ConfigError::new(
                "max_message_size",
                "in 1..=65535",
                self.max_message_size as u64,
            ));
        }
        if self.max_frame_length == 0 {
            return Err(ConfigError::new("max_frame_length", "at least 1", 0));
        }
        Ok(TcpMessageCodec {
            max_message_size: self.max_message_size,
            max_frame_length: self.max_frame_length,
            reassemble: self.reassemble,
            explicit_final_chunk: self.explicit_final_chunk,
            frame_status: self.frame_status,
            idle_end: self.idle_end,
            state: State::Header,
            assembled: 0,
            hole: 0,
            last_long: 0,
        })
    }

    /// Builds the codec and wraps `io` in a [`Framed`] with it.
    ///
    /// # Errors
    ///
    /// As [`new_codec`](TcpMessageCodecBuilder::new_codec).
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let stream = tokio::net::TcpStream::connect("127.0.0.1:4000").await?;
    /// let framed = connhandler::codec::TcpMessageCodec::builder().new_framed(stream)?;
    /// # Ok(()) }
    /// ```
    pub fn new_framed<T>(&self, io: T) -> Result<Framed<T, TcpMessageCodec>, ConfigError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    {
        Ok(Framed::new(io, self.new_codec()?))
    }
}

impl Default for TcpMessageCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpMessageCodec {
    /// A codec with the default settings (`max_message_size` 65535).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::codec::TcpMessageCodec::new().max_message_size(), 0xFFFF);
    /// ```
    pub fn new() -> Self {
        // The default settings are valid.
        TcpMessageCodec {
            max_message_size: MAX_CHUNK,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            reassemble: true,
            explicit_final_chunk: true,
            frame_status: None,
            idle_end: None,
            state: State::Header,
            assembled: 0,
            hole: 0,
            last_long: 0,
        }
    }

    /// A builder to configure the codec.
    ///
    /// # Examples
    ///
    /// ```
    /// let codec = connhandler::codec::TcpMessageCodec::builder().new_codec()?;
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn builder() -> TcpMessageCodecBuilder {
        TcpMessageCodecBuilder::default()
    }

    /// The configured chunk size.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::codec::TcpMessageCodec::default().max_message_size(), 65535);
    /// ```
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The configured bound on one reassembled message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::codec::TcpMessageCodec::default().max_frame_length(), 8 << 20);
    /// ```
    pub fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// The header for a chunk of `len` bytes.
    fn header(&self, len: usize, last: bool) -> u16 {
        if len < self.max_message_size || (last && self.explicit_final_chunk) {
            len as u16
        } else {
            0
        }
    }

    /// Appends a message of `n` bytes, more than one chunk, in chunks. Kept out of line: the
    /// one-chunk path in `encode_message` is the common one.
    #[inline(never)]
    fn encode_chunks<M: Encode + ?Sized>(
        &self,
        msg: &M,
        n: usize,
        dst: &mut BytesMut,
    ) -> Result<(), FrameError> {
        let max = self.max_message_size;
        let start = dst.len();
        let chunks = n.div_ceil(max);
        if let Some(body) = msg.encoded_bytes().filter(|b| b.len() == n) {
            // Raw bytes: copy the chunks straight from the message.
            dst.reserve(n + 2 * chunks);
            let mut pieces = body.chunks(max).peekable();
            while let Some(piece) = pieces.next() {
                let header = self.header(piece.len(), pieces.peek().is_none());
                dst.extend_from_slice(&header.to_le_bytes());
                dst.extend_from_slice(piece);
            }
            return Ok(());
        }
        // Encode the body in one go, then spread it out from the last chunk to the first,
        // writing each header in the gap that opens before it.
        encode_checked(msg, n, dst)?;
        dst.resize(start + n + 2 * chunks, 0);
        for i in (0..chunks).rev() {
            let from = start + i * max;
            let len = max.min(n - i * max);
            let to = start + i * (max + 2);
            dst.copy_within(from..from + len, to + 2);
            let header = self.header(len, i + 1 == chunks).to_le_bytes();
            dst[to..to + 2].copy_from_slice(&header);
        }
        Ok(())
    }

    /// The message reassembled so far, at the front of `src` with the hole after it; the
    /// codec is ready for the next one.
    fn assembled_found(&mut self) -> Found {
        let len = std::mem::take(&mut self.assembled);
        if len > self.max_message_size {
            self.last_long = len;
        }
        Found {
            body: 0..len,
            end: len + std::mem::take(&mut self.hole),
        }
    }
}

impl TcpMessageCodec {
    /// Reads headers and chunks until a message is whole at the front of `src`: where it is,
    /// or `None` when more bytes are needed.
    fn next_message(&mut self, src: &mut BytesMut) -> Result<Option<Found>, FrameError> {
        loop {
            match self.state {
                State::Header => {
                    let at = self.assembled + self.hole;
                    if src.len() < at + 2 {
                        return Ok(None);
                    }
                    let header = usize::from(u16::from_le_bytes([src[at], src[at + 1]]));
                    if header > self.max_message_size {
                        return Err(FrameError::ChunkTooLong {
                            len: header,
                            max: self.max_message_size,
                        });
                    }
                    let (len, continues) = if header == 0 {
                        (self.max_message_size, self.reassemble)
                    } else {
                        (header, false)
                    };
                    let total = self.assembled + len;
                    if total > self.max_frame_length {
                        return Err(FrameError::MessageTooLong {
                            len: total,
                            max: self.max_frame_length,
                        });
                    }
                    if at == 0 {
                        if !continues && src.len() >= 2 + len {
                            // A whole one-chunk message is here, after its header.
                            return Ok(Some(Found {
                                body: 2..2 + len,
                                end: 2 + len,
                            }));
                        }
                        src.advance(2);
                        if continues && self.last_long > len {
                            // Probably as long as the last long one: room for all its chunks
                            // now (it was received, and is within max_frame_length).
                            let wire = self.last_long + 2 * (self.last_long / len);
                            src.reserve(wire.saturating_sub(src.len()));
                        }
                    } else if src.len() == at + 2 {
                        // Nothing read after the header: drop it, no hole.
                        src.truncate(at);
                    } else {
                        self.hole += 2;
                    }
                    self.state = State::Chunk {
                        left: len,
                        continues,
                    };
                }
                State::Chunk { left, continues } => {
                    let start = self.assembled + self.hole;
                    let take = left.min(src.len() - start);
                    if self.hole > 0 {
                        src.copy_within(start..start + take, self.assembled);
                    }
                    self.assembled += take;
                    let left = left - take;
                    if self.hole > 0 && src.len() == start + take {
                        // Everything read is in place: the hole is at the end, drop it.
                        src.truncate(self.assembled);
                        self.hole = 0;
                    }
                    if left > 0 {
                        self.state = State::Chunk { left, continues };
                        // The rest of the chunk, and the next header if one follows.
                        let want = left + if continues { 2 } else { 0 };
                        if src.capacity() < src.len() + want {
                            // Grow by the message so far at least, so that a long message is
                            // moved a few times, not once per chunk; bounded by what has
                            // arrived, one chunk (at most 65535 bytes) and max_frame_length.
                            let grow = self
                                .assembled
                                .min(self.max_frame_length - (self.assembled + left));
                            src.reserve(want.max(grow));
                        }
                        return Ok(None);
                    }
                    self.state = State::Header;
                    if !continues {
                        return Ok(Some(self.assembled_found()));
                    }
                    if let Some(status) = self.frame_status {
                        if status(&src[..self.assembled]) == FrameStatus::Complete {
                            return Ok(Some(self.assembled_found()));
                        }
                    }
                }
            }
        }
    }
}

impl Framing for TcpMessageCodec {
    // Each message found once, then cut out or lent where it lies.
    super::cut_or_lend!(next_message);

    fn decode_frame_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode_frame(src)? {
            return Ok(Some(frame));
        }
        let buffered = src.len() - self.hole;
        if buffered == 0 && matches!(self.state, State::Header) {
            Ok(None)
        } else {
            Err(FrameError::Truncated { buffered })
        }
    }

    fn encode_message<M: Encode + ?Sized>(
        &mut self,
        msg: &M,
        dst: &mut BytesMut,
    ) -> Result<(), FrameError> {
        let n = msg.encoded_len();
        if n == 0 {
            return Err(FrameError::EmptyMessage);
        }
        let max = self.max_message_size;
        let start = dst.len();
        if n <= max {
            dst.reserve(2 + n);
            dst.extend_from_slice(&self.header(n, true).to_le_bytes());
            return encode_checked(msg, n, dst).inspect_err(|_| dst.truncate(start));
        }
        self.encode_chunks(msg, n, dst)
    }

    fn sendable_lengths(&self) -> RangeInclusive<usize> {
        1..=usize::MAX
    }

    fn is_mid_frame(&self) -> bool {
        !matches!(self.state, State::Header) || self.assembled > 0
    }

    fn chunked(&mut self) -> Option<&mut dyn Chunked> {
        Some(self)
    }
}

/// A message of several chunks is put together where it is read; an exact multiple written
/// the reference's way (no final 0) is ended by a pause (`idle_end`).
impl Chunked for TcpMessageCodec {
    fn read_limit(&self, src: &BytesMut) -> Option<usize> {
        match self.state {
            // The rest of a chunk that continues, and the next header: no byte read after
            // that header, so none has to be moved.
            State::Chunk {
                left,
                continues: true,
            } => Some(left + 2),
            State::Header if self.assembled > 0 => Some(
                (self.assembled + self.hole + 2)
                    .saturating_sub(src.len())
                    .max(1),
            ),
            _ => None,
        }
    }

    fn pending_end_after(&self) -> Option<Duration> {
        // Pending: between chunks, with chunks of a message that ended on a 0 chunk.
        match self.state {
            State::Header if self.assembled > 0 => self.idle_end,
            _ => None,
        }
    }

    fn end_pending(&mut self, src: &mut BytesMut) -> Option<Bytes> {
        match self.state {
            State::Header if self.assembled > 0 && self.idle_end.is_some() => {
                Some(self.assembled_found().cut(src))
            }
            _ => None,
        }
    }

    fn set_frame_status(&mut self, status: FrameStatusFn) {
        self.frame_status = Some(status);
    }
}

impl Decoder for TcpMessageCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.decode_frame(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.decode_frame_eof(src)
    }
}

impl<M: Encode> Encoder<M> for TcpMessageCodec {
    type Error = FrameError;

    fn encode(&mut self, msg: M, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_message(&msg, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(max: usize) -> TcpMessageCodec {
        TcpMessageCodec::builder()
            .max_message_size(max)
            .new_codec()
            .unwrap()
    }

    #[test]
    fn headers_at_the_boundaries() {
        let mut c = codec(7);
        let mut wire = BytesMut::new();
        c.encode(Bytes::from(vec![1u8; 6]), &mut wire).unwrap();
        assert_eq!(&wire[..2], &[6, 0]);
        wire.clear();
        c.encode(Bytes::from(vec![1u8; 7]), &mut wire).unwrap();
        assert_eq!(&wire[..2], &[7, 0], "a full final chunk is explicit");
        wire.clear();
        c.encode(Bytes::from(vec![1u8; 8]), &mut wire).unwrap();
        assert_eq!(wire.len(), 8 + 4);
        assert_eq!(&wire[..2], &[0, 0]);
        assert_eq!(&wire[9..11], &[1, 0]);
        wire.clear();
        c.encode(Bytes::from(vec![1u8; 14]), &mut wire).unwrap();
        assert_eq!(&wire[..2], &[0, 0]);
        assert_eq!(&wire[9..11], &[7, 0]);
    }

    /// Encodes like `[u8]` but has no `encoded_bytes`, so the codec takes the other path.
    struct Opaque<'a>(&'a [u8]);

    impl Encode for Opaque<'_> {
        fn encoded_len(&self) -> usize {
            self.0.len()
        }
        fn encode(&self, dst: &mut BytesMut) {
            dst.extend_from_slice(self.0);
        }
    }

    #[test]
    fn raw_bytes_and_encoded_messages_are_chunked_alike() {
        for explicit in [true, false] {
            let mut c = TcpMessageCodec::builder()
                .max_message_size(5)
                .explicit_final_chunk(explicit)
                .new_codec()
                .unwrap();
            for n in 1usize..=21 {
                let body: Vec<u8> = (0..n as u8).collect();
                let (mut raw, mut encoded) = (BytesMut::from(&b"x"[..]), BytesMut::from(&b"x"[..]));
                c.encode_message(&body[..], &mut raw).unwrap();
                c.encode_message(&Opaque(&body), &mut encoded).unwrap();
                assert_eq!(raw, encoded, "{n} bytes, explicit final chunk {explicit}");
                assert_eq!(raw.len(), 1 + n + 2 * n.div_ceil(5));
            }
        }
    }

    #[test]
    fn reads_as_limited_reassemble_in_place() {
        let mut c = codec(5);
        let mut wire = BytesMut::new();
        for n in [23, 5, 11, 1] {
            c.encode_message(&vec![n as u8; n][..], &mut wire).unwrap();
        }
        let mut c = codec(5);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        while !wire.is_empty() {
            // Reads of 4 bytes at most, fewer where the codec asks.
            let n = 4.min(c.read_limit(&buf).unwrap_or(4)).min(wire.len());
            buf.extend_from_slice(&wire.split_to(n));
            while let Some(frame) = c.decode_frame(&mut buf).unwrap() {
                got.push(frame.len());
            }
            assert_eq!(c.hole, 0, "no header bytes left inside a message");
        }
        assert_eq!(got, [23, 5, 11, 1]);
        // A read past the next header leaves a hole, squeezed out as bytes arrive.
        let mut c = codec(5);
        let mut buf = BytesMut::new();
        c.encode_message(&[7u8; 12][..], &mut buf).unwrap();
        let whole = buf.split_off(15);
        assert_eq!(c.decode_frame(&mut buf).unwrap(), None);
        assert_eq!((c.assembled, c.hole), (10, 2));
        buf.extend_from_slice(&whole);
        assert_eq!(
            c.decode_frame(&mut buf).unwrap(),
            Some(Bytes::from(vec![7u8; 12]))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn max_65535_is_explicit_ffff() {
        let mut c = TcpMessageCodec::new();
        let mut wire = BytesMut::new();
        c.encode(Bytes::from(vec![0u8; 65535]), &mut wire).unwrap();
        assert_eq!(&wire[..2], &[0xff, 0xff]);
        assert_eq!(wire.len(), 65537);
    }

    #[test]
    fn empty_message_is_refused_and_nothing_written() {
        let mut c = TcpMessageCodec::new();
        let mut wire = BytesMut::from(&b"x"[..]);
        assert!(matches!(
            c.encode(Bytes::new(), &mut wire),
            Err(FrameError::EmptyMessage)
        ));
        assert_eq!(&wire[..], b"x");
    }

    #[test]
    fn chunk_above_max_is_an_error() {
        let mut c = codec(7);
        let mut wire = BytesMut::from(&[8u8, 0, 1, 2][..]);
        assert!(matches!(
            c.decode(&mut wire),
            Err(FrameError::ChunkTooLong { len: 8, max: 7 })
        ));
    }

    #[test]
    fn bound_is_checked_before_buffering() {
        let mut c = TcpMessageCodec::builder()
            .max_message_size(4)
            .max_frame_length(6)
            .new_codec()
            .unwrap();
        let mut wire = BytesMut::from(&b"\0\0abcd\0\0"[..]);
        assert!(matches!(
            c.decode(&mut wire),
            Err(FrameError::MessageTooLong { len: 8, max: 6 })
        ));
        assert_eq!(c.assembled, 4);
    }

    #[test]
    fn idle_end_ends_only_a_message_pending_on_a_zero_chunk() {
        let mut c = TcpMessageCodec::builder()
            .max_message_size(2)
            .idle_end(Duration::from_millis(1))
            .new_codec()
            .unwrap();
        let mut wire = BytesMut::from(&b"\0\0ab"[..]);
        assert!(c.decode(&mut wire).unwrap().is_none());
        assert!(c.pending_end_after().is_some());
        assert_eq!(c.end_pending(&mut wire), Some(Bytes::from_static(b"ab")));
        assert!(c.pending_end_after().is_none());
        // Mid-chunk: nothing is pending.
        let mut wire = BytesMut::from(&b"\0\0a"[..]);
        assert!(c.decode(&mut wire).unwrap().is_none());
        assert!(c.pending_end_after().is_none());
        assert!(c.end_pending(&mut wire).is_none());
    }

    #[test]
    fn truncated_at_eof() {
        let mut c = codec(7);
        let mut wire = BytesMut::from(&[5u8, 0, 1, 2][..]);
        assert!(c.decode(&mut wire).unwrap().is_none());
        assert!(matches!(
            c.decode_eof(&mut wire),
            Err(FrameError::Truncated { buffered: 2 })
        ));
        let mut c = codec(7);
        assert!(c.decode_eof(&mut BytesMut::new()).unwrap().is_none());
    }
}
