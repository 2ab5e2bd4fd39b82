//! Framings: how the bytes of one message are cut from, and put on, a TCP byte stream.
//!
//! - [`TcpMessageCodec`]: the reference system's chunked framing (little-endian u16 chunk
//!   lengths, 0 meaning `max_message_size`).
//! - [`Panda3dCodec`]: Panda3D's datagram framing (a little-endian length header of 0, 2 or 4
//!   bytes).
//! - [`Custom`]: any tokio-util codec, plugged into the handlers.
//! - WebSocket's framing (`websocket.rs`, feature `websocket`): each binary WebSocket message
//!   one message; a handler with `websocket = "/path"` runs it in place of its own
//!   (`carried.rs`: the handler's framing or WebSocket's, what a connection runs).
//!
//! Each implements [`Framing`], the trait the handlers are generic over; the two built-in codecs
//! also implement tokio-util's [`Decoder`] and [`Encoder`], so they work with
//! [`Framed`](tokio_util::codec::Framed) on their own.

use std::{fmt, io, ops::RangeInclusive, time::Duration};

use bytes::{Buf, Bytes, BytesMut};

use crate::message::{Encode, FrameStatusFn};

mod carried;
mod custom;
mod panda3d;
mod tcp_message;
#[cfg(feature = "websocket")]
pub(crate) mod websocket;

pub(crate) use carried::Carried;
pub use custom::Custom;
pub use panda3d::{Panda3dCodec, Panda3dCodecBuilder};
pub use tcp_message::{TcpMessageCodec, TcpMessageCodecBuilder};

#[doc(no_inline)]
pub use tokio_util::codec::{Decoder, Encoder};

/// `Framing::decode_frame` and `Framing::read_frame` of a framing that finds each message
/// with `$find` (`fn(&mut self, &mut BytesMut) -> Result<Option<Found>, FrameError>`): the
/// message found once, then cut out or lent.
macro_rules! cut_or_lend {
    ($find:ident) => {
        fn decode_frame(
            &mut self,
            src: &mut bytes::BytesMut,
        ) -> Result<Option<bytes::Bytes>, $crate::codec::FrameError> {
            Ok(self.$find(src)?.map(|found| found.cut(src)))
        }

        #[inline]
        fn read_frame<T>(
            &mut self,
            src: &mut bytes::BytesMut,
            read: impl FnOnce(&[u8]) -> T,
        ) -> Result<Option<T>, $crate::codec::FrameError> {
            Ok(self.$find(src)?.map(|found| found.lend(src, read)))
        }
    };
}
pub(crate) use cut_or_lend;

/// Where a whole message lies at the front of the read buffer: its body, and how many bytes
/// it takes there (its header or the hole left by reassembly included).
pub(crate) struct Found {
    pub(crate) body: std::ops::Range<usize>,
    pub(crate) end: usize,
}

impl Found {
    /// The message cut out of `src` as shared `Bytes`.
    pub(crate) fn cut(self, src: &mut BytesMut) -> Bytes {
        let mut frame = src.split_to(self.end).freeze();
        frame.truncate(self.body.end);
        frame.advance(self.body.start);
        frame
    }

    /// The message lent to `read` where it lies, then passed over.
    pub(crate) fn lend<T>(self, src: &mut BytesMut, read: impl FnOnce(&[u8]) -> T) -> T {
        let value = read(&src[self.body]);
        src.advance(self.end);
        value
    }
}

/// A framing that handlers can run a connection over: it finds a message in the bytes read
/// and cuts it out (or lends it where it lies), and puts one message on the wire.
///
/// One value is cloned for every connection, so it holds the configuration and the per-stream
/// decoding state. Implement it for a new transport framing (two methods: find and cut one
/// frame, encode one), or wrap a tokio-util codec in [`Custom`]. What only a framing of
/// chunks needs (reading no further than the next chunk, ending a message that only a pause
/// can end) is a second trait, [`Chunked`], reached through [`chunked`](Framing::chunked).
///
/// # Examples
///
/// The built-in TcpMessage framing:
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use connhandler::codec::{Framing, TcpMessageCodec};
///
/// let mut framing = TcpMessageCodec::new();
/// let mut wire = BytesMut::new();
/// framing.encode_message(&Bytes::from_static(b"hi"), &mut wire).unwrap();
/// assert_eq!(&wire[..], &[2, 0, b'h', b'i']);
/// assert_eq!(framing.decode_frame(&mut wire).unwrap(), Some(Bytes::from_static(b"hi")));
/// ```
///
/// A framing of your own: each message ends with a zero byte (and holds none).
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use connhandler::{codec::{FrameError, Framing}, Encode};
///
/// #[derive(Clone, Default)]
/// struct ZeroEnded;
///
/// impl Framing for ZeroEnded {
///     fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
///         let Some(end) = src.iter().position(|&b| b == 0) else {
///             return Ok(None); // more bytes needed
///         };
///         let frame = src.split_to(end + 1).freeze();
///         Ok(Some(frame.slice(..end)))
///     }
///
///     fn encode_message<M: Encode + ?Sized>(
///         &mut self,
///         msg: &M,
///         dst: &mut BytesMut,
///     ) -> Result<(), FrameError> {
///         let start = dst.len();
///         msg.encode(dst);
///         if dst[start..].contains(&0) {
///             dst.truncate(start);
///             return Err(FrameError::Other("a zero byte in the message".into()));
///         }
///         dst.extend_from_slice(&[0]);
///         Ok(())
///     }
/// }
///
/// let mut framing = ZeroEnded;
/// let mut wire = BytesMut::new();
/// framing.encode_message(&Bytes::from_static(b"hi"), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"hi\0");
/// assert_eq!(framing.decode_frame(&mut wire).unwrap(), Some(Bytes::from_static(b"hi")));
/// ```
pub trait Framing: Clone + Send + 'static {
    /// Cuts the next whole message body out of `src`, or returns `Ok(None)` when more bytes
    /// are needed.
    ///
    /// `src` is the same buffer on every call for one stream, with new bytes appended: a
    /// framing may leave bytes it has looked at in it between calls (as tokio-util's
    /// `LinesCodec` does), and [`TcpMessageCodec`] reassembles a message of several chunks
    /// there instead of copying it out.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when the stream breaks the framing's rules; the connection is then
    /// closed.
    fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError>;

    /// Like [`decode_frame`](Framing::decode_frame), lending the frame to `read` where it
    /// lies in `src` instead of cutting a reference-counted [`Bytes`] out of the buffer, and
    /// returning what `read` returns. Connections use it for message types that decode in
    /// place ([`Decode::IN_PLACE`](crate::Decode::IN_PLACE)).
    ///
    /// The default cuts the frame with `decode_frame` and lends that; the built-in framings
    /// lend every frame where it lies (a message of several TcpMessage chunks or WebSocket
    /// fragments where they were joined). Frames found at the end of the stream or after a
    /// pause are cut (`decode_frame_eof`, `end_pending`).
    ///
    /// # Errors
    ///
    /// As [`decode_frame`](Framing::decode_frame).
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use connhandler::codec::{Framing, TcpMessageCodec};
    ///
    /// let mut framing = TcpMessageCodec::new();
    /// let mut wire = BytesMut::from(&[2, 0, b'h', b'i', 1, 0][..]);
    /// let first = framing.read_frame(&mut wire, |frame| frame.to_vec()).unwrap();
    /// assert_eq!(first.as_deref(), Some(&b"hi"[..]));
    /// // The second frame's byte has not come yet.
    /// assert_eq!(framing.read_frame(&mut wire, |frame| frame.len()).unwrap(), None);
    /// wire.extend_from_slice(b"!");
    /// assert_eq!(framing.read_frame(&mut wire, |frame| frame.to_vec()).unwrap(), Some(b"!".to_vec()));
    /// ```
    fn read_frame<T>(
        &mut self,
        src: &mut BytesMut,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, FrameError> {
        Ok(self.decode_frame(src)?.map(|frame| read(&frame)))
    }

    /// Like [`decode_frame`](Framing::decode_frame), called once the stream has ended.
    ///
    /// The default decodes what it can and reports bytes that do not form a whole message as
    /// [`FrameError::Truncated`].
    ///
    /// # Errors
    ///
    /// As [`decode_frame`](Framing::decode_frame), and [`FrameError::Truncated`].
    fn decode_frame_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode_frame(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                buffered: src.len(),
            }),
        }
    }

    /// Appends `msg`, framed, to `dst`.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when the framing cannot carry the message (an empty message, or one
    /// longer than the header can say); nothing is appended then.
    fn encode_message<M: Encode + ?Sized>(
        &mut self,
        msg: &M,
        dst: &mut BytesMut,
    ) -> Result<(), FrameError>;

    /// The message lengths this framing can send, checked when a message is queued so that the
    /// sender, not the connection, gets the error.
    fn sendable_lengths(&self) -> RangeInclusive<usize> {
        0..=usize::MAX
    }

    /// Whether the framing holds part of a frame (for `frame_timeout`); bytes still in the
    /// read buffer count anyway. The default says no.
    fn is_mid_frame(&self) -> bool {
        false
    }

    /// The framing's [`Chunked`] side, if it has one (its chunks or pauses need more than
    /// cutting frames); the default has none. [`TcpMessageCodec`] answers `Some(self)`.
    fn chunked(&mut self) -> Option<&mut dyn Chunked> {
        None
    }
}

/// What only a framing of chunks needs beyond [`Framing`]: reading no further than its
/// next chunk (so a message of several chunks is put together where it is read), and ending
/// a message that only a pause can end (a writer's last chunk that is exactly full). A
/// framing that has them answers [`Framing::chunked`] with itself; every method has a
/// default that does nothing.
///
/// # Examples
///
/// ```
/// use connhandler::codec::{Chunked, Framing, TcpMessageCodec};
///
/// let mut framing = TcpMessageCodec::new();
/// let chunked: &mut dyn Chunked = framing.chunked().expect("TcpMessage is chunked");
/// assert_eq!(chunked.pending_end_after(), None, "nothing pending");
/// ```
pub trait Chunked {
    /// How long a connection waits, once it has read every byte available, before ending a
    /// message whose end the bytes cannot tell ([`end_pending`](Chunked::end_pending)); `None`
    /// (the default) when no such message is pending or the framing never ends one this way.
    fn pending_end_after(&self) -> Option<Duration> {
        None
    }

    /// The most bytes the connection should read next, when reading more would make the
    /// framing move bytes it has already seen; `None` (the default) for no limit.
    ///
    /// [`TcpMessageCodec`] asks for a chunk that continues and the next header, so that a
    /// message of several chunks is reassembled where it is read, without moving it. Reads are
    /// still free to return fewer bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use connhandler::codec::{Chunked, Framing, TcpMessageCodec};
    ///
    /// let mut framing = TcpMessageCodec::builder().max_message_size(4).new_codec()?;
    /// // The first chunk of a long message (header 0: more chunks follow), half read.
    /// let mut buf = BytesMut::from(&b"\0\0ab"[..]);
    /// assert_eq!(framing.decode_frame(&mut buf)?, None);
    /// // Two more bytes for the chunk, two for the next header.
    /// assert_eq!(framing.read_limit(&buf), Some(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn read_limit(&self, src: &BytesMut) -> Option<usize> {
        let _ = src;
        None
    }

    /// Ends the pending message after the wait of
    /// [`pending_end_after`](Chunked::pending_end_after) passed with no more bytes; `src` is
    /// the buffer [`decode_frame`](Framing::decode_frame) reads from.
    fn end_pending(&mut self, src: &mut BytesMut) -> Option<Bytes> {
        let _ = src;
        None
    }

    /// Gives the framing the receiving message type's [`Decode::frame_status`]: a framing
    /// that cannot always tell where a message ends uses it; the default ignores it.
    ///
    /// [`Decode::frame_status`]: crate::Decode::frame_status
    fn set_frame_status(&mut self, status: FrameStatusFn) {
        let _ = status;
    }
}

/// Why a stream or a message breaks a framing's rules.
///
/// # Examples
///
/// ```
/// use connhandler::codec::FrameError;
///
/// let err = FrameError::ChunkTooLong { len: 70, max: 64 };
/// assert_eq!(err.to_string(), "chunk length 70 exceeds max_message_size 64");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum FrameError {
    /// Reading or writing the stream failed.
    Io(io::Error),
    /// A chunk header of the TcpMessage framing holds a length above `max_message_size`.
    ChunkTooLong {
        /// The length the header holds.
        len: usize,
        /// The configured `max_message_size`.
        max: usize,
    },
    /// A message (reassembled, or announced by its header) is longer than the configured
    /// bound. Nothing beyond the bound was buffered.
    MessageTooLong {
        /// The length reached, or announced.
        len: usize,
        /// The configured bound.
        max: usize,
    },
    /// An empty message cannot be sent with this framing.
    EmptyMessage,
    /// The stream ended inside a message.
    Truncated {
        /// Bytes of the unfinished message that had arrived.
        buffered: usize,
    },
    /// A length in the message does not fit the prefix it is written with (see
    /// [`Encode::encodable`]): it cannot be encoded, and nothing was written.
    LengthOverflow(crate::message::LengthOverflow),
    /// The peer closed the stream with a closing message of the framing's own (a WebSocket
    /// close frame): a close, not an error.
    PeerClosed {
        /// The close code, if the peer gave one.
        code: Option<u16>,
        /// The reason the peer gave (may be empty).
        reason: String,
    },
    /// The peer broke the framing's protocol (a WebSocket frame with reserved bits set, an
    /// unmasked client frame, a control frame too long...).
    Protocol(String),
    /// A WebSocket text message, on a connection that takes binary messages only.
    TextMessage,
    /// A WebSocket message came in more fragments than the bound allows.
    TooManyFragments {
        /// The bound.
        max: usize,
    },
    /// An error from a custom codec.
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "i/o error: {e}"),
            FrameError::ChunkTooLong { len, max } => {
                write!(f, "chunk length {len} exceeds max_message_size {max}")
            }
            FrameError::MessageTooLong { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max} bytes")
            }
            FrameError::EmptyMessage => f.write_str("an empty message cannot be sent"),
            FrameError::Truncated { buffered } => write!(
                f,
                "stream ended inside a message ({buffered} bytes of it had arrived)"
            ),
            FrameError::LengthOverflow(e) => write!(f, "message cannot be encoded: {e}"),
            FrameError::PeerClosed { code, reason } => {
                f.write_str("the peer closed the stream")?;
                match (code, reason.is_empty()) {
                    (None, _) => Ok(()),
                    (Some(c), true) => write!(f, " (code {c})"),
                    (Some(c), false) => write!(f, " (code {c}: {reason})"),
                }
            }
            FrameError::Protocol(what) => write!(f, "protocol error: {what}"),
            FrameError::TextMessage => f.write_str(
                "a WebSocket text message, on a connection that takes binary messages only",
            ),
            FrameError::TooManyFragments { max } => {
                write!(f, "a WebSocket message of more than {max} fragments")
            }
            FrameError::Other(e) => write!(f, "framing error: {e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            FrameError::LengthOverflow(e) => Some(e),
            FrameError::Other(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// A codec setting that is out of range, refused when the codec is built.
///
/// # Examples
///
/// ```
/// use connhandler::codec::TcpMessageCodec;
///
/// let err = TcpMessageCodec::builder().max_message_size(0x1_0000).new_codec().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "max_message_size must be in 1..=65535, got 65536"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    setting: &'static str,
    expected: &'static str,
    got: u64,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, expected: &'static str, got: u64) -> Self {
        ConfigError {
            setting,
            expected,
            got,
        }
    }

    /// The name of the setting that was refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::codec::Panda3dCodec;
    /// let err = Panda3dCodec::builder().header_size(3).new_codec().unwrap_err();
    /// assert_eq!(err.setting(), "header_size");
    /// ```
    pub fn setting(&self) -> &'static str {
        self.setting
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must be {}, got {}",
            self.setting, self.expected, self.got
        )
    }
}

impl std::error::Error for ConfigError {}

/// The default bound on one whole message, for framings that can carry more than one chunk
/// or a 4-byte length: 8 MiB, as tokio-util's `LengthDelimitedCodec`.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

/// Appends `msg` (announced as `len` bytes) to `dst`, refusing a message whose lengths do not
/// fit their prefixes and an encoder that breaks its word: a wrong length would corrupt every
/// frame after it, so nothing is appended then.
pub(crate) fn encode_checked<M: Encode + ?Sized>(
    msg: &M,
    len: usize,
    dst: &mut BytesMut,
) -> Result<(), FrameError> {
    msg.encodable().map_err(FrameError::LengthOverflow)?;
    let start = dst.len();
    dst.reserve(len);
    msg.encode(dst);
    let wrote = dst.len() - start;
    if wrote == len {
        Ok(())
    } else {
        dst.truncate(start);
        Err(FrameError::Other(
            format!("Encode::encode wrote {wrote} bytes but Encode::encoded_len said {len}").into(),
        ))
    }
}
