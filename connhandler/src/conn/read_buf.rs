//! The reader's buffer and how much room it makes for each read.
//!
//! | state | buffer | room made for the next read |
//! | --- | --- | --- |
//! | idle (the last read found nothing, nothing buffered) | none, or the small one messages were read into | `FIRST_READ` (the small one again, in place, once its messages are gone) |
//! | reading | what is not decoded yet | none while the last read left room; `read_size` once it is full or the last read filled its room and little is left |
//! | `read_size` | | a few of the last messages (`4 x longest`), within `READ_CHUNK..=MAX_READ`: long messages are read and handed on a few at a time |
//!
//! Reads also stop where the framing asks (`Chunked::read_limit`), so that it need not move
//! what it has read.

use std::io;

use bytes::BytesMut;

use crate::transport::{read_now, ReadHalf};

/// Room made for a read, unless the last messages ask for more (see `MAX_READ`).
const READ_CHUNK: usize = 8 * 1024;
/// Room made for the first read after a pause.
const FIRST_READ: usize = 1024;
/// Room made for one read at most.
const MAX_READ: usize = 256 * 1024;

/// The bytes read and not decoded yet, with the policy that sizes each read.
pub(crate) struct ReadBuf {
    buf: BytesMut,
    /// Room made for each read: a few of the last messages, so that long messages are read
    /// (and handed on) a few at a time; small ones in reads of `READ_CHUNK`.
    read_size: usize,
    /// Whether the last read found nothing.
    paused: bool,
    /// Which buffer is the small one of the first read after a pause.
    small: SmallBuffer,
    /// Whether the last read filled the room it had: then more is likely waiting.
    filled: bool,
    /// Whether the last read found nothing and registered the task (see `take_registered`).
    registered: bool,
}

impl ReadBuf {
    /// A buffer holding `initial` (bytes read before the connection's tasks started).
    pub(crate) fn with(initial: BytesMut) -> Self {
        ReadBuf {
            buf: initial,
            read_size: READ_CHUNK,
            paused: false,
            small: SmallBuffer::NONE,
            filled: false,
            registered: false,
        }
    }

    /// What was read and not decoded yet, for the framing to cut frames from.
    #[inline]
    pub(crate) fn bytes(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The longest message decoded from the last read sizes the next reads.
    pub(crate) fn saw_longest(&mut self, longest: usize) {
        if longest > 0 {
            self.read_size = (longest * 4).clamp(READ_CHUNK, MAX_READ);
        }
    }

    /// Reads what is there now, at most `limit` bytes (where the framing asks reads to
    /// stop: see `Chunked::read_limit`); `WouldBlock` when nothing is. Room is made first
    /// ([`make_room`](Self::make_room)).
    pub(crate) async fn read<R: ReadHalf>(
        &mut self,
        read: &mut R,
        limit: Option<usize>,
    ) -> io::Result<usize> {
        let room = limit
            .unwrap_or(usize::MAX)
            .min(self.buf.capacity() - self.buf.len());
        let got = match read_now(read, &mut self.buf, limit).await {
            Some(got) => got,
            None => {
                self.registered = true;
                Err(io::ErrorKind::WouldBlock.into())
            }
        };
        self.filled = matches!(got, Ok(n) if n >= room);
        got
    }

    /// Whether the last read found nothing and left the task registered for readiness
    /// (then the first look at readiness can be skipped: the task is woken when it comes).
    /// Asked once, by the wait after that read.
    pub(crate) fn take_registered(&mut self) -> bool {
        std::mem::replace(&mut self.registered, false)
    }

    /// Makes room for the next read, by the policy in the module's table.
    pub(crate) fn make_room(&mut self) {
        let paused = std::mem::replace(&mut self.paused, false);
        let buf = &mut self.buf;
        if paused && buf.is_empty() && self.small.is(buf) {
            // The first read after a pause, into the small buffer kept through it: used
            // again in place once the messages read into it are gone.
            if !buf.try_reclaim(FIRST_READ) {
                *buf = BytesMut::with_capacity(FIRST_READ);
                self.small = SmallBuffer::of(buf);
            }
        } else if buf.capacity() == 0 {
            // The first read after a pause: most often one small message (a request),
            // which a small buffer holds (and the allocator serves fastest).
            buf.reserve(FIRST_READ);
            self.small = SmallBuffer::of(buf);
        } else if buf.capacity() == buf.len()
            || (self.filled && buf.capacity() - buf.len() < self.read_size / 4)
        {
            // More is coming than the room left holds. (After a read that left room, the
            // next most often finds nothing: no need to make room for it.)
            buf.reserve(self.read_size);
        }
    }

    /// The last read found nothing: the reader is about to wait.
    pub(crate) fn pause(&mut self) {
        self.paused = true;
        if self.buf.is_empty() && !(self.small.is(&self.buf) && self.buf.capacity() < FIRST_READ) {
            // Idle: hold no buffer while waiting, except the small one that messages were
            // read into. Those messages are most often still on their way through the
            // central task; if this handle went, the last of them would free the buffer on
            // another thread (where the allocator takes a lock that this thread's next
            // allocation contends for), and the next read would allocate again. Kept, it is
            // used again in place: at most FIRST_READ held by a quiet connection.
            self.buf = BytesMut::new();
        }
    }
}

/// Which buffer the reader allocated with `FIRST_READ` bytes: known by where its allocation
/// ends, which taking bytes from its front does not move; reallocating does.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SmallBuffer(usize);

impl SmallBuffer {
    const NONE: SmallBuffer = SmallBuffer(0);

    fn of(buf: &BytesMut) -> SmallBuffer {
        SmallBuffer(buf.as_ptr() as usize + buf.capacity())
    }

    /// Whether `buf` still lives in the small allocation (and nothing else).
    fn is(self, buf: &BytesMut) -> bool {
        buf.capacity() != 0 && self == SmallBuffer::of(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the reader relies on to keep its small buffer through a pause: the buffer is
    /// still known after messages are split off its front, is used again in place once they
    /// are gone, and is not while one is held.
    #[test]
    fn the_small_read_buffer_is_known_and_reclaimed_in_place() {
        let mut buf = BytesMut::with_capacity(FIRST_READ);
        let small = SmallBuffer::of(&buf);
        buf.extend_from_slice(&[7; 40]);
        let frame = buf.split_to(40).freeze();
        assert!(buf.is_empty() && small.is(&buf));
        assert!(
            buf.capacity() < FIRST_READ,
            "a kept buffer is one that was read into"
        );

        // A message still held: not reclaimed, nothing allocated.
        assert!(!buf.try_reclaim(FIRST_READ));
        assert!(small.is(&buf));
        drop(frame);
        // Gone: the same allocation, whole again.
        let start = buf.as_ptr();
        assert!(buf.try_reclaim(FIRST_READ));
        assert!(small.is(&buf));
        assert_eq!(buf.capacity(), FIRST_READ);
        assert_ne!(
            start,
            buf.as_ptr(),
            "reclaimed from the front of the allocation"
        );

        // Grown: another allocation, no longer the small one.
        buf.reserve(READ_CHUNK);
        assert!(!small.is(&buf));
        assert!(!SmallBuffer::NONE.is(&BytesMut::new()));
    }
}
