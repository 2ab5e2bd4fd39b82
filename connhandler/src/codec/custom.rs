//! Any tokio-util codec as a [`Framing`].

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{encode_checked, FrameError, Framing};
use crate::message::Encode;

/// Plugs any tokio-util codec into the handlers: its [`Decoder`] cuts frames, its
/// [`Encoder<Bytes>`] frames each encoded message.
///
/// A message is encoded into a buffer that the adapter keeps and reuses, then handed to the
/// codec; the codec's errors become [`FrameError::Other`] (or [`FrameError::Io`]).
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use connhandler::codec::{Custom, Framing};
/// use tokio_util::codec::LengthDelimitedCodec;
///
/// let mut framing = Custom::new(LengthDelimitedCodec::builder().length_field_length(2).new_codec());
/// let mut wire = BytesMut::new();
/// framing.encode_message(&Bytes::from_static(b"hey"), &mut wire)?;
/// assert_eq!(&wire[..], b"\0\x03hey");
/// assert_eq!(framing.decode_frame(&mut wire)?, Some(Bytes::from_static(b"hey")));
/// # Ok::<(), connhandler::codec::FrameError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Custom<C> {
    codec: C,
    scratch: BytesMut,
}

impl<C> Custom<C> {
    /// Wraps `codec`.
    ///
    /// # Examples
    ///
    /// ```
    /// let framing = connhandler::codec::Custom::new(tokio_util::codec::BytesCodec::new());
    /// ```
    pub fn new(codec: C) -> Self {
        Custom {
            codec,
            scratch: BytesMut::new(),
        }
    }

    /// The wrapped codec.
    ///
    /// # Examples
    ///
    /// ```
    /// let framing = connhandler::codec::Custom::new(tokio_util::codec::BytesCodec::new());
    /// let _codec: &tokio_util::codec::BytesCodec = framing.get_ref();
    /// ```
    pub fn get_ref(&self) -> &C {
        &self.codec
    }
}

fn other<E>(e: E) -> FrameError
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let boxed = e.into();
    match boxed.downcast::<std::io::Error>() {
        Ok(io) => FrameError::Io(*io),
        Err(boxed) => match boxed.downcast::<FrameError>() {
            Ok(frame) => *frame,
            Err(boxed) => FrameError::Other(boxed),
        },
    }
}

impl<C> Framing for Custom<C>
where
    C: Decoder + Encoder<Bytes> + Clone + Send + 'static,
    <C as Decoder>::Item: Into<Bytes>,
    <C as Decoder>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    <C as Encoder<Bytes>>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.codec
            .decode(src)
            .map(|item| item.map(Into::into))
            .map_err(other)
    }

    fn decode_frame_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.codec
            .decode_eof(src)
            .map(|item| item.map(Into::into))
            .map_err(other)
    }

    fn encode_message<M: Encode + ?Sized>(
        &mut self,
        msg: &M,
        dst: &mut BytesMut,
    ) -> Result<(), FrameError> {
        self.scratch.clear();
        encode_checked(msg, msg.encoded_len(), &mut self.scratch)?;
        let body = self.scratch.split().freeze();
        let start = dst.len();
        let result = self.codec.encode(body, dst).map_err(other);
        if result.is_err() {
            dst.truncate(start);
        }
        // `body` is dropped by now unless the codec kept it: the next `reserve` on `scratch`
        // then reclaims the same allocation.
        result
    }
}
