//! Panda3D's datagram framing over TCP.

use std::ops::RangeInclusive;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, Framed};

use super::{encode_checked, ConfigError, Found, FrameError, Framing, DEFAULT_MAX_FRAME_LENGTH};
use crate::message::Encode;

/// Panda3D's datagram framing (`ConnectionWriter` / `QueuedConnectionReader` on a TCP
/// connection): each datagram after a little-endian length header of `tcp_header_size` bytes.
///
/// | `header_size` | what a datagram is | longest datagram |
/// | --- | --- | --- |
/// | 2 (default, Panda3D's default) | u16 LE length, then the bytes | 65535 |
/// | 4 (`setTcpHeaderSize(4)`) | u32 LE length, then the bytes | `max_frame_length` (default 8 MiB) |
/// | 0 (raw stream) | whatever bytes have arrived | — |
///
/// An empty datagram is sent and received as a bare header of 0; with the raw stream there is
/// nothing to send, so it is refused. A header announcing more than `max_frame_length` is
/// [`FrameError::MessageTooLong`] before any of it is buffered.
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use connhandler::codec::{Decoder, Encoder, Panda3dCodec};
///
/// let mut codec = Panda3dCodec::builder().header_size(4).new_codec()?;
/// let mut wire = BytesMut::new();
/// codec.encode(Bytes::from_static(b"hello"), &mut wire)?;
/// assert_eq!(&wire[..], b"\x05\0\0\0hello");
/// assert_eq!(codec.decode(&mut wire)?, Some(Bytes::from_static(b"hello")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Panda3dCodec {
    header_size: usize,
    max_frame_length: usize,
    /// The length of the datagram whose header has been read.
    pending: Option<usize>,
}

/// Configures and builds a [`Panda3dCodec`].
///
/// # Examples
///
/// ```
/// let codec = connhandler::codec::Panda3dCodec::builder()
///     .header_size(4)
///     .max_frame_length(16 << 20)
///     .new_codec()?;
/// assert_eq!(codec.header_size(), 4);
/// # Ok::<(), connhandler::codec::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Panda3dCodecBuilder {
    header_size: usize,
    max_frame_length: usize,
}

impl Default for Panda3dCodecBuilder {
    fn default() -> Self {
        Panda3dCodecBuilder {
            header_size: 2,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
        }
    }
}

impl Panda3dCodecBuilder {
    /// The header size, Panda3D's `tcp_header_size`: 0, 2 (default) or 4.
    ///
    /// # Examples
    ///
    /// ```
    /// let codec = connhandler::codec::Panda3dCodec::builder().header_size(0).new_codec()?;
    /// assert_eq!(codec.header_size(), 0);
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn header_size(&mut self, size: usize) -> &mut Self {
        self.header_size = size;
        self
    }

    /// The longest datagram accepted: at least 1, default 8 MiB (with the 2-byte header the
    /// header itself caps it at 65535).
    ///
    /// # Examples
    ///
    /// ```
    /// let codec = connhandler::codec::Panda3dCodec::builder().max_frame_length(100).new_codec()?;
    /// assert_eq!(codec.max_frame_length(), 100);
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn max_frame_length(&mut self, len: usize) -> &mut Self {
        self.max_frame_length = len;
        self
    }

    /// Builds the codec.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a header size other than 0, 2 or 4, or a `max_frame_length` of 0.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(connhandler::codec::Panda3dCodec::builder().header_size(1).new_codec().is_err());
    /// ```
    pub fn new_codec(&self) -> Result<Panda3dCodec, ConfigError> {
        if ![0, 2, 4].contains(&self.header_size) {
            return Err(ConfigError::new(
                "header_size",
                "0, 2 or 4",
                self.header_size as u64,
            ));
        }
        if self.max_frame_length == 0 {
            return Err(ConfigError::new("max_frame_length", "at least 1", 0));
        }
        let cap = match self.header_size {
            2 => 0xFFFF,
            4 => u32::MAX as usize,
            _ => usize::MAX,
        };
        Ok(Panda3dCodec {
            header_size: self.header_size,
            max_frame_length: self.max_frame_length.min(cap),
            pending: None,
        })
    }

    /// Builds the codec and wraps `io` in a [`Framed`] with it.
    ///
    /// # Errors
    ///
    /// As [`new_codec`](Panda3dCodecBuilder::new_codec).
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let stream = tokio::net::TcpStream::connect("127.0.0.1:4000").await?;
    /// let framed = connhandler::codec::Panda3dCodec::builder().new_framed(stream)?;
    /// # Ok(()) }
    /// ```
    pub fn new_framed<T>(&self, io: T) -> Result<Framed<T, Panda3dCodec>, ConfigError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    {
        Ok(Framed::new(io, self.new_codec()?))
    }
}

impl Default for Panda3dCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Panda3dCodec {
    /// A codec with Panda3D's default 2-byte header.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::codec::Panda3dCodec::new().header_size(), 2);
    /// ```
    pub fn new() -> Self {
        Panda3dCodec {
            header_size: 2,
            max_frame_length: 0xFFFF,
            pending: None,
        }
    }

    /// A builder to configure the codec.
    ///
    /// # Examples
    ///
    /// ```
    /// let codec = connhandler::codec::Panda3dCodec::builder().header_size(4).new_codec()?;
    /// # Ok::<(), connhandler::codec::ConfigError>(())
    /// ```
    pub fn builder() -> Panda3dCodecBuilder {
        Panda3dCodecBuilder::default()
    }

    /// The configured header size.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::codec::Panda3dCodec::default().header_size(), 2);
    /// ```
    pub fn header_size(&self) -> usize {
        self.header_size
    }

    /// The longest datagram accepted or sent.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::codec::Panda3dCodec::default().max_frame_length(), 65535);
    /// ```
    pub fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// The length the header at the front of `src` announces (`src` holds a whole header).
    #[inline]
    fn announced(&self, src: &[u8]) -> usize {
        if self.header_size == 2 {
            usize::from(u16::from_le_bytes([src[0], src[1]]))
        } else {
            u32::from_le_bytes([src[0], src[1], src[2], src[3]]) as usize
        }
    }
}

impl Panda3dCodec {
    /// Reads the header (once) and waits for the body: where the datagram lies at the front
    /// of `src`, or `None` when more bytes are needed.
    fn next_datagram(&mut self, src: &mut BytesMut) -> Result<Option<Found>, FrameError> {
        if self.header_size == 0 {
            if src.is_empty() {
                return Ok(None);
            }
            let take = src.len().min(self.max_frame_length);
            return Ok(Some(Found {
                body: 0..take,
                end: take,
            }));
        }
        let len = match self.pending {
            Some(len) => len,
            None => {
                if src.len() < self.header_size {
                    return Ok(None);
                }
                let len = self.announced(src);
                src.advance(self.header_size);
                if len > self.max_frame_length {
                    return Err(FrameError::MessageTooLong {
                        len,
                        max: self.max_frame_length,
                    });
                }
                len
            }
        };
        if src.len() < len {
            self.pending = Some(len);
            // No reservation for the announced length: the buffer grows with the bytes that
            // actually arrive (the reader's own reads), never with what a peer merely claims.
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(Found {
            body: 0..len,
            end: len,
        }))
    }
}

impl Framing for Panda3dCodec {
    // Each message found once, then cut out or lent where it lies.
    super::cut_or_lend!(next_datagram);

    fn decode_frame_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode_frame(src)? {
            return Ok(Some(frame));
        }
        if src.is_empty() && self.pending.is_none() {
            Ok(None)
        } else {
            Err(FrameError::Truncated {
                buffered: src.len(),
            })
        }
    }

    fn encode_message<M: Encode + ?Sized>(
        &mut self,
        msg: &M,
        dst: &mut BytesMut,
    ) -> Result<(), FrameError> {
        let n = msg.encoded_len();
        if !self.sendable_lengths().contains(&n) {
            return Err(if n == 0 {
                FrameError::EmptyMessage
            } else {
                FrameError::MessageTooLong {
                    len: n,
                    max: self.max_frame_length,
                }
            });
        }
        let start = dst.len();
        dst.reserve(self.header_size + n);
        match self.header_size {
            2 => dst.extend_from_slice(&(n as u16).to_le_bytes()),
            4 => dst.extend_from_slice(&(n as u32).to_le_bytes()),
            _ => {}
        }
        encode_checked(msg, n, dst).inspect_err(|_| dst.truncate(start))
    }

    fn is_mid_frame(&self) -> bool {
        self.pending.is_some()
    }

    fn sendable_lengths(&self) -> RangeInclusive<usize> {
        let min = usize::from(self.header_size == 0);
        min..=self.max_frame_length
    }
}

impl Decoder for Panda3dCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.decode_frame(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.decode_frame_eof(src)
    }
}

impl<M: Encode> Encoder<M> for Panda3dCodec {
    type Error = FrameError;

    fn encode(&mut self, msg: M, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_message(&msg, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_header_refuses_more_than_65535() {
        let mut c = Panda3dCodec::new();
        let mut wire = BytesMut::new();
        c.encode(Bytes::from(vec![7u8; 65535]), &mut wire).unwrap();
        assert_eq!(&wire[..2], &[0xff, 0xff]);
        let before = wire.len();
        assert!(matches!(
            c.encode(Bytes::from(vec![7u8; 65536]), &mut wire),
            Err(FrameError::MessageTooLong {
                len: 65536,
                max: 65535
            })
        ));
        assert_eq!(wire.len(), before);
    }

    #[test]
    fn empty_datagram_with_header() {
        let mut c = Panda3dCodec::new();
        let mut wire = BytesMut::new();
        c.encode(Bytes::new(), &mut wire).unwrap();
        assert_eq!(&wire[..], &[0, 0]);
        assert_eq!(c.decode(&mut wire).unwrap(), Some(Bytes::new()));
    }

    #[test]
    fn four_byte_claim_above_bound_is_refused_before_buffering() {
        let mut c = Panda3dCodec::builder()
            .header_size(4)
            .max_frame_length(1000)
            .new_codec()
            .unwrap();
        let mut wire = BytesMut::from(&[0xff, 0xff, 0xff, 0x7f, 1][..]);
        assert!(matches!(
            c.decode(&mut wire),
            Err(FrameError::MessageTooLong { .. })
        ));
        assert!(wire.capacity() < 1000);
    }

    #[test]
    fn a_claim_within_the_bound_reserves_nothing() {
        // Found by fuzzing: a 68 KB claim arriving byte by byte used to reserve 64 KiB per
        // call, and BytesMut's doubling held 128 KiB after two bytes.
        let mut c = Panda3dCodec::builder().header_size(4).new_codec().unwrap();
        let mut wire = BytesMut::new();
        for byte in [0x47, 0x0a, 0x01, 0x00, 0x00, 0x00] {
            wire.extend_from_slice(&[byte]);
            assert!(c.decode(&mut wire).unwrap().is_none());
        }
        assert!(wire.capacity() < 1024, "{} bytes held", wire.capacity());
    }

    #[test]
    fn raw_stream_hands_on_what_arrived() {
        let mut c = Panda3dCodec::builder().header_size(0).new_codec().unwrap();
        let mut wire = BytesMut::from(&b"abc"[..]);
        assert_eq!(
            c.decode(&mut wire).unwrap(),
            Some(Bytes::from_static(b"abc"))
        );
        assert_eq!(c.decode(&mut wire).unwrap(), None);
        assert!(matches!(
            c.encode(Bytes::new(), &mut wire),
            Err(FrameError::EmptyMessage)
        ));
    }
}
