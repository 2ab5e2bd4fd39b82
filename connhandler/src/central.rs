//! The central queue: one typed queue per program that every handler feeds.

use std::{fmt, sync::Arc};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The default bound of [`central`] queues: messages waiting for the program.
pub const DEFAULT_CENTRAL_CAPACITY: usize = 1024;

/// One queued event and, for bounded events, its place in the bound.
struct Slot<E> {
    event: E,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Creates the central queue: the sending side, handed to every handler and kept by the
/// program to post events of its own, and the receiving side, consumed by the program's
/// central task.
///
/// `capacity` (at least 1) bounds the messages and posted events waiting in the queue: when it
/// is reached, connections stop reading (so TCP pushes back on their peers) and
/// [`post`](CentralSender::post) waits. `Connected` and `Disconnected` events are never held
/// back, so a program that shuts handlers down from its central task cannot deadlock on a full
/// queue; they are bounded by the number of connections.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// enum Ev {
///     Tick(u32),
/// }
///
/// let (tx, mut central) = connhandler::central::<Ev>(64);
/// tx.post(Ev::Tick(1)).await.unwrap();
/// drop(tx);
/// while let Some(Ev::Tick(n)) = central.recv().await {
///     assert_eq!(n, 1);
/// }
/// # }
/// ```
pub fn central<E>(capacity: usize) -> (CentralSender<E>, Central<E>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(capacity.max(1)));
    (
        CentralSender {
            tx,
            permits: permits.clone(),
        },
        Central { rx },
    )
}

/// The sending side of the central queue: cheap to clone.
///
/// # Examples
///
/// ```
/// let (tx, central) = connhandler::central::<String>(8);
/// tx.try_post("hello".to_owned()).unwrap();
/// ```
pub struct CentralSender<E> {
    tx: mpsc::UnboundedSender<Slot<E>>,
    permits: Arc<Semaphore>,
}

impl<E> Clone for CentralSender<E> {
    fn clone(&self) -> Self {
        CentralSender {
            tx: self.tx.clone(),
            permits: self.permits.clone(),
        }
    }
}

impl<E> fmt::Debug for CentralSender<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CentralSender")
            .field("closed", &self.tx.is_closed())
            .field("free", &self.permits.available_permits())
            .finish()
    }
}

/// The central queue's receiving side is gone; the event is handed back.
///
/// # Examples
///
/// ```
/// let (tx, central) = connhandler::central::<u8>(1);
/// drop(central);
/// assert_eq!(tx.try_post(7).unwrap_err().into_inner(), 7);
/// ```
#[derive(PartialEq, Eq)]
pub struct PostError<E> {
    event: E,
    full: bool,
}

impl<E> PostError<E> {
    /// The event that was not posted.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, central) = connhandler::central::<&str>(1);
    /// drop(central);
    /// assert_eq!(tx.try_post("x").unwrap_err().into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> E {
        self.event
    }

    /// Whether the queue was full (only from [`try_post`](CentralSender::try_post)); otherwise
    /// it is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _central) = connhandler::central::<u8>(1);
    /// tx.try_post(1).unwrap();
    /// assert!(tx.try_post(2).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.full
    }
}

impl<E> fmt::Debug for PostError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostError")
            .field("full", &self.full)
            .finish_non_exhaustive()
    }
}

impl<E> fmt::Display for PostError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.full {
            "the central queue is full"
        } else {
            "the central queue is closed"
        })
    }
}

impl<E> std::error::Error for PostError<E> {}

impl<E> CentralSender<E> {
    /// Posts an event of the program's own (a timer, a command), waiting while the queue is
    /// full. Do not await this from the central task itself on a full queue: only the central
    /// task makes room.
    ///
    /// # Errors
    ///
    /// A [`PostError`] holding the event when the receiving side is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, mut central) = connhandler::central::<u32>(4);
    /// tx.post(5).await.unwrap();
    /// assert_eq!(central.recv().await, Some(5));
    /// # }
    /// ```
    pub async fn post(&self, event: E) -> Result<(), PostError<E>> {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return Err(PostError { event, full: false });
        };
        self.push(event, Some(permit))
    }

    /// Posts an event if the queue has room.
    ///
    /// # Errors
    ///
    /// A [`PostError`] holding the event when the queue is full or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut central) = connhandler::central::<u32>(4);
    /// tx.try_post(5).unwrap();
    /// assert_eq!(central.try_recv(), Some(5));
    /// ```
    pub fn try_post(&self, event: E) -> Result<(), PostError<E>> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => self.push(event, Some(permit)),
            Err(TryAcquireError::NoPermits) => Err(PostError { event, full: true }),
            Err(TryAcquireError::Closed) => Err(PostError { event, full: false }),
        }
    }

    /// Whether the receiving side is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, central) = connhandler::central::<u8>(1);
    /// assert!(!tx.is_closed());
    /// drop(central);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits for room for one bounded event; `None` once the queue is closed.
    pub(crate) async fn reserve(&self) -> Option<OwnedSemaphorePermit> {
        if self.tx.is_closed() {
            return None;
        }
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Queues an event, bounded when it carries a permit.
    pub(crate) fn push(
        &self,
        event: E,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(), PostError<E>> {
        self.tx
            .send(Slot {
                event,
                _permit: permit,
            })
            .map_err(|e| PostError {
                event: e.0.event,
                full: false,
            })
    }
}

/// The receiving side of the central queue, consumed by the program's central task.
///
/// Events of one connection arrive in order: `Connected` first, then its messages as they were
/// received, then `Disconnected`, exactly once. Events of different connections interleave.
///
/// Async programs call [`recv`](Central::recv); game loops call [`try_recv`](Central::try_recv)
/// or [`drain`](Central::drain) once per frame, which never wait.
///
/// # Examples
///
/// ```
/// let (tx, mut central) = connhandler::central::<u32>(8);
/// for n in 0..3 {
///     tx.try_post(n).unwrap();
/// }
/// let this_frame: Vec<u32> = central.drain().collect();
/// assert_eq!(this_frame, [0, 1, 2]);
/// ```
pub struct Central<E> {
    rx: mpsc::UnboundedReceiver<Slot<E>>,
}

impl<E> fmt::Debug for Central<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Central")
            .field("queued", &self.rx.len())
            .finish()
    }
}

impl<E> Central<E> {
    /// Waits for the next event; `None` once every sender (handlers and the program's own
    /// [`CentralSender`]s) is gone and the queue is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, mut central) = connhandler::central::<u8>(1);
    /// drop(tx);
    /// assert_eq!(central.recv().await, None);
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<E> {
        self.rx.recv().await.map(|slot| slot.event)
    }

    /// The next event if one is queued, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut central) = connhandler::central::<u8>(1);
    /// assert_eq!(central.try_recv(), None);
    /// ```
    pub fn try_recv(&mut self) -> Option<E> {
        self.rx.try_recv().ok().map(|slot| slot.event)
    }

    /// The events queued now, without waiting: at most as many as were queued when it was
    /// called, so a frame's work stays bounded while handlers keep producing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut central) = connhandler::central::<u8>(8);
    /// tx.try_post(1).unwrap();
    /// assert_eq!(central.drain().count(), 1);
    /// assert_eq!(central.drain().count(), 0);
    /// ```
    pub fn drain(&mut self) -> Drain<'_, E> {
        let left = self.rx.len();
        Drain {
            central: self,
            left,
        }
    }

    /// Blocks the current thread until the next event, for programs with no async runtime of
    /// their own (see [`blocking::Runtime`](crate::blocking::Runtime)); `None` once closed.
    ///
    /// # Panics
    ///
    /// When called from async code (inside a tokio runtime), as tokio's blocking calls do.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut central) = connhandler::central::<u8>(1);
    /// tx.try_post(3).unwrap();
    /// assert_eq!(central.recv_blocking(), Some(3));
    /// ```
    pub fn recv_blocking(&mut self) -> Option<E> {
        self.rx.blocking_recv().map(|slot| slot.event)
    }

    /// The number of events waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, central) = connhandler::central::<u8>(4);
    /// tx.try_post(1).unwrap();
    /// assert_eq!(central.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no event is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, central) = connhandler::central::<u8>(4);
    /// assert!(central.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// The events [`Central::drain`] takes: see there.
#[derive(Debug)]
pub struct Drain<'a, E> {
    central: &'a mut Central<E>,
    left: usize,
}

impl<E> Iterator for Drain<'_, E> {
    type Item = E;

    fn next(&mut self) -> Option<E> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.central.try_recv()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}
