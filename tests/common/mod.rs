//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod events;
pub mod nats;
pub mod python;
pub mod tools;
pub mod web;

use std::{future::Future, time::Duration};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use connhandler::{
    codec::{Framing, TcpMessageCodec},
    Decode, DecodeError, Encode, FrameStatus, Peer,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A guard so that a broken test fails instead of hanging; it asserts no time.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not finish within 30 s"),
    }
}

/// Runs a blocking step on a thread of its own and fails, saying what it waited for, when it
/// takes longer than 30 s (the thread is left behind; the test has failed anyway).
pub fn within_blocking<T: Send + 'static>(
    what: &str,
    step: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)));
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: did not finish within 30 s"),
    }
}

/// The number of descriptors this process has open now (Linux).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The reference TcpMessage writer, as `wire-format.md` describes it: chunks of `max`, a
/// full chunk (final or not) prefixed with 0, a shorter one with its length.
pub fn reference_write(msg: &[u8], max: usize) -> Vec<u8> {
    assert!(
        !msg.is_empty(),
        "the reference writer refuses empty messages"
    );
    let mut out = Vec::new();
    for chunk in msg.chunks(max) {
        let header = if chunk.len() == max {
            0
        } else {
            chunk.len() as u16
        };
        out.extend_from_slice(&header.to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// The reference TcpMessage reader: hands on each chunk by itself, never reassembling.
/// Panics (as the reference raises) on a chunk length above `max`.
pub fn reference_read_chunks(mut wire: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    while !wire.is_empty() {
        let header = usize::from(u16::from_le_bytes([wire[0], wire[1]]));
        assert!(
            header <= max,
            "the reference reader refuses chunk length {header}"
        );
        let len = if header == 0 { max } else { header };
        chunks.push(wire[2..2 + len].to_vec());
        wire = &wire[2 + len..];
    }
    chunks
}

/// A self-delimiting message: a u32 LE length, then that many bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LenPrefixed(pub Vec<u8>);

impl Encode for LenPrefixed {
    fn encoded_len(&self) -> usize {
        4 + self.0.len()
    }
    fn encode(&self, dst: &mut BytesMut) {
        dst.put_u32_le(self.0.len() as u32);
        dst.extend_from_slice(&self.0);
    }
}

impl Decode for LenPrefixed {
    fn decode(mut frame: Bytes) -> Result<Self, DecodeError> {
        if frame.len() < 4 {
            return Err(DecodeError::incomplete(4 - frame.len()));
        }
        let n = frame.get_u32_le() as usize;
        match frame.len().cmp(&n) {
            std::cmp::Ordering::Less => Err(DecodeError::incomplete(n - frame.len())),
            std::cmp::Ordering::Greater => Err(DecodeError::trailing_bytes(frame.len() - n)),
            std::cmp::Ordering::Equal => Ok(LenPrefixed(frame.to_vec())),
        }
    }

    fn frame_status(bytes: &[u8]) -> FrameStatus {
        if bytes.len() < 4 {
            return FrameStatus::Incomplete;
        }
        let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        match (bytes.len() - 4).cmp(&n) {
            std::cmp::Ordering::Less => FrameStatus::Incomplete,
            std::cmp::Ordering::Equal => FrameStatus::Complete,
            std::cmp::Ordering::Greater => FrameStatus::Unknown,
        }
    }
}

/// Deterministic test bytes of length `n`.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A plain TCP client (or a raw stream of the in-memory network) that speaks a framing by
/// hand, to test handlers from the outside.
pub struct RawClient<F: Framing = TcpMessageCodec, S = TcpStream> {
    pub stream: S,
    framing: F,
    buf: BytesMut,
}

impl RawClient<TcpMessageCodec, connhandler::testing::net::RawStream> {
    /// A client from `host` of an in-memory network to `addr` (`"login:7000"`).
    pub async fn connect_in_memory(host: &connhandler::testing::net::Host, addr: &str) -> Self {
        let stream = within("connect", host.connect(addr))
            .await
            .expect("connect");
        RawClient {
            stream,
            framing: TcpMessageCodec::new(),
            buf: BytesMut::new(),
        }
    }
}

impl RawClient {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        Self::connect_with(addr, TcpMessageCodec::new()).await
    }

    /// A client over a stream connected already (from a chosen address, say).
    pub fn over(stream: TcpStream) -> Self {
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            framing: TcpMessageCodec::new(),
            buf: BytesMut::new(),
        }
    }
}

impl<F: Framing> RawClient<F> {
    pub async fn connect_with(addr: std::net::SocketAddr, framing: F) -> Self {
        let stream = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            framing,
            buf: BytesMut::new(),
        }
    }
}

impl<F: Framing, S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> RawClient<F, S> {
    pub async fn send(&mut self, msg: &[u8]) {
        self.try_send(msg).await.expect("write");
    }

    /// As [`send`](Self::send), giving back the write's error (the server hung up) instead of
    /// failing the test.
    pub async fn try_send(&mut self, msg: &[u8]) -> std::io::Result<()> {
        let mut wire = BytesMut::new();
        self.framing.encode_message(msg, &mut wire).expect("encode");
        self.stream.write_all(&wire).await
    }

    pub async fn send_raw(&mut self, wire: &[u8]) {
        self.stream.write_all(wire).await.expect("write");
    }

    /// The next message, or `None` at the end of the stream (or a reset).
    pub async fn recv(&mut self) -> Option<Bytes> {
        within("recv", async {
            loop {
                if let Some(frame) = self.framing.decode_frame(&mut self.buf).expect("decode") {
                    return Some(frame);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
    }
}

/// Raw bytes both ways, no per-connection data.
#[derive(Default, Debug)]
pub struct Raw;

impl Peer for Raw {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "raw";
}

/// An incoming handler of raw messages on a free loopback port, with its central queue (1024
/// events) and a sender into it.
pub async fn raw_server() -> (
    connhandler::Incoming<Raw>,
    connhandler::Central<connhandler::Event<Raw>>,
    connhandler::CentralSender<connhandler::Event<Raw>>,
) {
    let (tx, central) = connhandler::central::<connhandler::Event<Raw>>(1024);
    let server = connhandler::Incoming::<Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    (server, central, tx)
}
