//! The message traits: how a typed message becomes the bytes of one frame and back.
//!
//! A connection kind ([`Peer`](crate::Peer)) names the type it receives, which must implement
//! [`Decode`], and the type it sends, which must implement [`Encode`]. The derives of
//! `connhandler-derive` implement both; [`Bytes`] implements both with no derive (the frame is
//! the message), and so do `Vec<u8>` and [`String`] (UTF-8 checked).

use std::fmt;

use bytes::{Bytes, BytesMut};

/// A message that can be written as the body of one frame.
///
/// The framing calls [`encoded_len`](Encode::encoded_len) first, to write its header and to
/// reserve space, then [`encode`](Encode::encode), which must append exactly that many bytes.
///
/// # Examples
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use connhandler::Encode;
///
/// struct Ping(u32);
///
/// impl Encode for Ping {
///     fn encoded_len(&self) -> usize {
///         2 + 4
///     }
///     fn encode(&self, dst: &mut BytesMut) {
///         dst.put_u16_le(0x0001); // message id
///         dst.put_u32_le(self.0);
///     }
/// }
///
/// let mut buf = BytesMut::new();
/// Ping(7).encode(&mut buf);
/// assert_eq!(&buf[..], &[1, 0, 7, 0, 0, 0]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent as a message: it does not implement `connhandler::Encode`",
    note = "derive it with `#[derive(connhandler::Message)]`, or use `bytes::Bytes`"
)]
pub trait Encode {
    /// The exact number of bytes [`encode`](Encode::encode) appends.
    fn encoded_len(&self) -> usize;

    /// Appends the encoded message to `dst`.
    fn encode(&self, dst: &mut BytesMut);

    /// The encoding as one slice, for a message that already holds it (raw bytes, text);
    /// `None` (the default) otherwise.
    ///
    /// A framing that cuts a long message into chunks copies them straight from this slice
    /// instead of encoding the message first and moving it into place. When it returns
    /// `Some`, the slice must be exactly what [`encode`](Encode::encode) appends.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use connhandler::Encode;
    ///
    /// let body = Bytes::from_static(b"hello");
    /// assert_eq!(body.encoded_bytes(), Some(&b"hello"[..]));
    /// ```
    fn encoded_bytes(&self) -> Option<&[u8]> {
        None
    }

    /// Checks that the message can be encoded as its type says: every length fits the prefix
    /// it is written with (derived messages check their strings, byte fields and vectors).
    /// Sending refuses a message that fails, before anything is queued; `Ok` (the default)
    /// for types with no length prefix inside.
    ///
    /// # Errors
    ///
    /// A [`LengthOverflow`](LengthOverflow) naming the field.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::{Encode, Message};
    ///
    /// #[derive(Message)]
    /// #[wire(len = u8)]
    /// enum Chat {
    ///     #[wire(id = 1)]
    ///     Say { text: String },
    /// }
    ///
    /// assert!(Chat::Say { text: "hi".into() }.encodable().is_ok());
    /// let err = Chat::Say { text: "x".repeat(300) }.encodable().unwrap_err();
    /// assert_eq!((err.len, err.max, err.field), (300, 255, Some("text")));
    /// ```
    fn encodable(&self) -> Result<(), LengthOverflow> {
        Ok(())
    }
}

/// A message that can be read from the body of one frame.
///
/// # Examples
///
/// ```
/// use bytes::{Buf, Bytes};
/// use connhandler::{Decode, DecodeError};
///
/// #[derive(Debug, PartialEq)]
/// struct Ping(u32);
///
/// impl Decode for Ping {
///     fn decode(mut frame: Bytes) -> Result<Self, DecodeError> {
///         if frame.len() < 6 {
///             return Err(DecodeError::incomplete(6 - frame.len()));
///         }
///         let id = frame.get_u16_le();
///         if id != 1 {
///             return Err(DecodeError::unknown_id(id.into()));
///         }
///         let value = frame.get_u32_le();
///         if !frame.is_empty() {
///             return Err(DecodeError::trailing_bytes(frame.len()).with_message_id(1));
///         }
///         Ok(Ping(value))
///     }
/// }
///
/// assert_eq!(Ping::decode(Bytes::from_static(&[1, 0, 7, 0, 0, 0])).unwrap(), Ping(7));
/// assert!(Ping::decode(Bytes::from_static(&[1, 0, 7])).unwrap_err().is_incomplete());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be received as a message: it does not implement `connhandler::Decode`",
    note = "derive it with `#[derive(connhandler::Message)]`, or use `bytes::Bytes`"
)]
pub trait Decode: Sized {
    /// Decodes one whole message from the body of one frame.
    ///
    /// The whole frame must be used: bytes left over are an error
    /// ([`DecodeErrorKind::TrailingBytes`]), and a frame that ends too early is
    /// [`DecodeErrorKind::Incomplete`].
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] saying why the bytes are not a message of this type.
    fn decode(frame: Bytes) -> Result<Self, DecodeError>;

    /// Whether [`decode_slice`](Decode::decode_slice) reads the message where it lies,
    /// allocating no more than [`decode`](Decode::decode) does. The connection's reader then
    /// lends each frame from its read buffer instead of cutting a reference-counted
    /// [`Bytes`] per message. Derived types say true unless a field shares the frame (a
    /// [`Bytes`] field) or is read by a hand-written codec that does not read in place.
    const IN_PLACE: bool = false;

    /// Decodes one whole message from a frame borrowed from the read buffer, with the same
    /// rules as [`decode`](Decode::decode). The default copies the frame into a [`Bytes`].
    ///
    /// # Errors
    ///
    /// As [`decode`](Decode::decode).
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::Decode;
    ///
    /// #[derive(connhandler::Message, Debug, PartialEq)]
    /// #[wire(id = 1)]
    /// struct Ping(u32);
    ///
    /// const { assert!(Ping::IN_PLACE) };
    /// assert_eq!(Ping::decode_slice(&[1, 0, 7, 0, 0, 0]).unwrap(), Ping(7));
    /// assert!(Ping::decode_slice(&[1, 0, 7, 0, 0, 0, 0]).is_err());
    /// ```
    fn decode_slice(frame: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(Bytes::copy_from_slice(frame))
    }

    /// Tells whether `bytes` already form one whole message.
    ///
    /// Framings whose format cannot mark the end of every message call this to find it: the
    /// reference TcpMessage writer sends a message whose length is an exact multiple of the
    /// chunk size ending on a chunk that looks like one that continues (see
    /// [`TcpMessageCodec`](crate::codec::TcpMessageCodec)). Only a type whose encoding tells its
    /// own end can answer; the default, [`FrameStatus::Unknown`], leaves the framing's own rule
    /// in force.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::{Decode, FrameStatus};
    /// use bytes::Bytes;
    ///
    /// assert_eq!(<Bytes as Decode>::frame_status(b"any bytes"), FrameStatus::Unknown);
    /// ```
    fn frame_status(bytes: &[u8]) -> FrameStatus {
        let _ = bytes;
        FrameStatus::Unknown
    }
}

/// What a message type can tell about a run of bytes: see [`Decode::frame_status`].
///
/// # Examples
///
/// ```
/// use connhandler::FrameStatus;
///
/// // A format whose first byte is the body length.
/// fn status(bytes: &[u8]) -> FrameStatus {
///     match bytes.first() {
///         Some(&n) if bytes.len() == 1 + n as usize => FrameStatus::Complete,
///         Some(&n) if bytes.len() < 1 + n as usize => FrameStatus::Incomplete,
///         _ => FrameStatus::Unknown,
///     }
/// }
/// assert_eq!(status(&[2, 9, 9]), FrameStatus::Complete);
/// assert_eq!(status(&[2, 9]), FrameStatus::Incomplete);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameStatus {
    /// The bytes are exactly one whole message.
    Complete,
    /// The bytes are the start of a message that needs more bytes.
    Incomplete,
    /// The type cannot tell (not self-delimiting), or the bytes are invalid.
    Unknown,
}

/// The signature of [`Decode::frame_status`], as framings store it.
pub type FrameStatusFn = fn(&[u8]) -> FrameStatus;

/// Why bytes could not be decoded as a message, with the message id where it is known.
///
/// Decoding tells "needs more bytes" ([`is_incomplete`](DecodeError::is_incomplete)) apart from
/// bytes that can never become a valid message.
///
/// # Examples
///
/// ```
/// use connhandler::{DecodeError, DecodeErrorKind};
///
/// let err = DecodeError::invalid_bool(7).with_message_id(0x1000);
/// assert_eq!(err.kind(), &DecodeErrorKind::InvalidBool(7));
/// assert_eq!(err.message_id(), Some(0x1000));
/// assert_eq!(err.to_string(), "message 0x1000: invalid bool byte 7 (expected 0 or 1)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Boxed: every field's decode returns `Result<T, DecodeError>`, and a one-pointer error
    /// keeps the success path (the only one that matters for speed) in registers.
    inner: Box<ErrorInner>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ErrorInner {
    kind: DecodeErrorKind,
    message_id: Option<u32>,
    field: Option<&'static str>,
}

/// The kinds of [`DecodeError`].
///
/// # Examples
///
/// ```
/// use connhandler::{DecodeError, DecodeErrorKind};
///
/// assert!(matches!(
///     DecodeError::unknown_id(9).kind(),
///     DecodeErrorKind::UnknownId(9)
/// ));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended early; at least `needed` more bytes are wanted.
    Incomplete {
        /// The number of bytes missing, at least.
        needed: usize,
    },
    /// The message id is not one the type knows.
    UnknownId(u32),
    /// A string field is not valid UTF-8.
    InvalidUtf8,
    /// A bool field holds a byte other than 0 or 1.
    InvalidBool(u8),
    /// An `Option` field's tag byte is neither 0 (none) nor 1 (some).
    InvalidOptionTag(u8),
    /// A length prefix claims more bytes than the input has left.
    LengthTooLarge {
        /// The length the prefix claims.
        claimed: u64,
        /// The bytes left in the input.
        available: usize,
    },
    /// Bytes are left over after a whole message.
    TrailingBytes(usize),
    /// A JSON body could not be parsed.
    Json(String),
    /// Anything else, said by a hand-written decoder.
    Other(String),
}

impl DecodeError {
    /// Creates an error of the given kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::{DecodeError, DecodeErrorKind};
    ///
    /// let err = DecodeError::new(DecodeErrorKind::InvalidUtf8);
    /// assert_eq!(err.to_string(), "invalid UTF-8 in a string");
    /// ```
    #[cold]
    pub fn new(kind: DecodeErrorKind) -> Self {
        DecodeError {
            inner: Box::new(ErrorInner {
                kind,
                message_id: None,
                field: None,
            }),
        }
    }

    /// The input ended `needed` bytes (at least) too early.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(connhandler::DecodeError::incomplete(3).is_incomplete());
    /// ```
    pub fn incomplete(needed: usize) -> Self {
        Self::new(DecodeErrorKind::Incomplete { needed })
    }

    /// The message id `id` is not known.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = connhandler::DecodeError::unknown_id(0x42);
    /// assert_eq!(err.message_id(), Some(0x42));
    /// ```
    pub fn unknown_id(id: u32) -> Self {
        Self::new(DecodeErrorKind::UnknownId(id)).with_message_id(id)
    }

    /// `n` bytes were left after a whole message.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = connhandler::DecodeError::trailing_bytes(2);
    /// assert_eq!(err.to_string(), "2 trailing bytes after the message");
    /// ```
    pub fn trailing_bytes(n: usize) -> Self {
        Self::new(DecodeErrorKind::TrailingBytes(n))
    }

    /// A bool field held `byte`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!connhandler::DecodeError::invalid_bool(2).is_incomplete());
    /// ```
    pub fn invalid_bool(byte: u8) -> Self {
        Self::new(DecodeErrorKind::InvalidBool(byte))
    }

    /// A free-form error from a hand-written decoder.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = connhandler::DecodeError::other("version 0 is not supported");
    /// assert_eq!(err.to_string(), "version 0 is not supported");
    /// ```
    pub fn other(msg: impl Into<String>) -> Self {
        Self::new(DecodeErrorKind::Other(msg.into()))
    }

    /// Attaches the id of the message being decoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = connhandler::DecodeError::incomplete(1).with_message_id(5);
    /// assert_eq!(err.message_id(), Some(5));
    /// ```
    pub fn with_message_id(mut self, id: u32) -> Self {
        self.inner.message_id = Some(id);
        self
    }

    /// Attaches the name of the field being decoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = connhandler::DecodeError::invalid_bool(3).with_field("ready");
    /// assert_eq!(err.field(), Some("ready"));
    /// ```
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.inner.field = Some(field);
        self
    }

    /// What went wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::{DecodeError, DecodeErrorKind};
    /// assert_eq!(DecodeError::trailing_bytes(1).kind(), &DecodeErrorKind::TrailingBytes(1));
    /// ```
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.inner.kind
    }

    /// The id of the message being decoded, where it was read before the error.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::DecodeError::trailing_bytes(1).message_id(), None);
    /// ```
    pub fn message_id(&self) -> Option<u32> {
        self.inner.message_id
    }

    /// The field being decoded, where known.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(connhandler::DecodeError::invalid_bool(9).field(), None);
    /// ```
    pub fn field(&self) -> Option<&'static str> {
        self.inner.field
    }

    /// Whether the input merely ended too early (more bytes could make it valid).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(connhandler::DecodeError::incomplete(1).is_incomplete());
    /// assert!(!connhandler::DecodeError::unknown_id(1).is_incomplete());
    /// ```
    pub fn is_incomplete(&self) -> bool {
        matches!(self.inner.kind, DecodeErrorKind::Incomplete { .. })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = self.inner.message_id {
            write!(f, "message {id:#x}: ")?;
        }
        if let Some(field) = self.inner.field {
            write!(f, "field `{field}`: ")?;
        }
        match &self.inner.kind {
            DecodeErrorKind::Incomplete { needed } => {
                write!(f, "message ends early: {needed} more bytes needed at least")
            }
            DecodeErrorKind::UnknownId(id) => write!(f, "unknown message id {id:#x}"),
            DecodeErrorKind::InvalidUtf8 => f.write_str("invalid UTF-8 in a string"),
            DecodeErrorKind::InvalidBool(b) => {
                write!(f, "invalid bool byte {b} (expected 0 or 1)")
            }
            DecodeErrorKind::InvalidOptionTag(b) => {
                write!(f, "invalid option tag {b} (expected 0 or 1)")
            }
            DecodeErrorKind::LengthTooLarge { claimed, available } => write!(
                f,
                "length prefix claims {claimed} bytes but only {available} are left"
            ),
            DecodeErrorKind::TrailingBytes(n) => write!(f, "{n} trailing bytes after the message"),
            DecodeErrorKind::Json(msg) => write!(f, "invalid JSON body: {msg}"),
            DecodeErrorKind::Other(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The frame itself is the message: no copy, no validation.
impl Encode for Bytes {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(self);
    }
    fn encoded_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// The frame itself is the message: no copy, no validation.
impl Decode for Bytes {
    fn decode(frame: Bytes) -> Result<Self, DecodeError> {
        Ok(frame)
    }
}

impl Encode for Vec<u8> {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(self);
    }
    fn encoded_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl Decode for Vec<u8> {
    const IN_PLACE: bool = true;
    fn decode(frame: Bytes) -> Result<Self, DecodeError> {
        Ok(frame.into())
    }
    fn decode_slice(frame: &[u8]) -> Result<Self, DecodeError> {
        Ok(frame.to_vec())
    }
}

impl Encode for [u8] {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(self);
    }
    fn encoded_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// A frame holding UTF-8 text, for line-like protocols.
impl Encode for String {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(self.as_bytes());
    }
    fn encoded_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

impl Encode for str {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(self.as_bytes());
    }
    fn encoded_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

/// A frame holding UTF-8 text; invalid UTF-8 is [`DecodeErrorKind::InvalidUtf8`].
impl Decode for String {
    const IN_PLACE: bool = true;
    fn decode(frame: Bytes) -> Result<Self, DecodeError> {
        String::from_utf8(frame.into()).map_err(|_| DecodeError::new(DecodeErrorKind::InvalidUtf8))
    }
    fn decode_slice(frame: &[u8]) -> Result<Self, DecodeError> {
        std::str::from_utf8(frame)
            .map(str::to_owned)
            .map_err(|_| DecodeError::new(DecodeErrorKind::InvalidUtf8))
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        (**self).encode(dst)
    }
    fn encoded_bytes(&self) -> Option<&[u8]> {
        (**self).encoded_bytes()
    }
}

impl<T: Encode + ?Sized> Encode for std::sync::Arc<T> {
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        (**self).encode(dst)
    }
    fn encoded_bytes(&self) -> Option<&[u8]> {
        (**self).encoded_bytes()
    }
}

impl<T: Encode + ?Sized> Encode for Box<T> {
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        (**self).encode(dst)
    }
    fn encoded_bytes(&self) -> Option<&[u8]> {
        (**self).encoded_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_rejects_invalid_utf8() {
        let err = String::decode(Bytes::from_static(&[0xff, 0xfe])).unwrap_err();
        assert_eq!(err.kind(), &DecodeErrorKind::InvalidUtf8);
        assert_eq!(String::decode(Bytes::from_static(b"hi")).unwrap(), "hi");
    }

    #[test]
    fn display_names_id_and_field() {
        let err = DecodeError::new(DecodeErrorKind::LengthTooLarge {
            claimed: 10,
            available: 2,
        })
        .with_message_id(0x10)
        .with_field("name");
        assert_eq!(
            err.to_string(),
            "message 0x10: field `name`: length prefix claims 10 bytes but only 2 are left"
        );
    }
}

/// A length too large for the prefix it is written with: a `String` of 70,000 bytes in a
/// field with a u16 prefix. Such a message cannot be encoded as its type says, so sending it
/// is refused (`SendError::Refused` with
/// [`FrameError::LengthOverflow`](crate::codec::FrameError::LengthOverflow)).
///
/// # Examples
///
/// ```
/// use connhandler::wire::LengthOverflow;
///
/// let err = LengthOverflow { len: 70_000, max: 65_535, field: Some("text") };
/// assert_eq!(
///     err.to_string(),
///     "field `text`: length 70000 does not fit its length prefix (at most 65535)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthOverflow {
    /// The length: bytes of a string or byte field, elements of a vector.
    pub len: usize,
    /// The most the prefix holds.
    pub max: usize,
    /// The field that holds it (the innermost named one), when known.
    pub field: Option<&'static str>,
}

impl fmt::Display for LengthOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(field) = self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(
            f,
            "length {} does not fit its length prefix (at most {})",
            self.len, self.max
        )
    }
}

impl std::error::Error for LengthOverflow {}
