//! For programs with no async runtime of their own (a game loop, say): the I/O runs on
//! threads of its own, the program polls the central queue once per frame.

use std::{fmt, future::Future, io};

/// A runtime that runs handlers' I/O on its own threads, for a program that is not async.
///
/// Start handlers with [`block_on`](Runtime::block_on); then poll the central queue with
/// [`Central::drain`](crate::Central::drain) or [`try_recv`](crate::Central::try_recv) each
/// frame, and reply with [`PeerHandle::send`](crate::PeerHandle::send), which never waits
/// (a peer that does not read is dealt with by the handler's queue policy). This is Panda3D's polled model:
/// `QueuedConnectionManager` + `QueuedConnectionListener` + `QueuedConnectionReader` +
/// `ConnectionWriter`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use connhandler::{blocking::Runtime, central, Event, Incoming};
/// # #[derive(Default)]
/// # struct Client;
/// # impl connhandler::Peer for Client {
/// #     type Recv = Bytes;
/// #     type Send = Bytes;
/// #     const NAME: &'static str = "client";
/// # }
///
/// let rt = Runtime::new()?;
/// let (tx, mut central) = central::<Event<Client>>(1024);
/// let server = rt.block_on(Incoming::<Client>::builder("127.0.0.1:0").listen(&tx))?;
///
/// for _frame in 0..3 {
///     for event in central.drain() {
///         if let Event::Message(peer, msg) = event {
///             let _ = peer.try_send(msg);
///         }
///     }
///     std::thread::sleep(Duration::from_millis(1)); // the rest of the frame's work
/// }
/// rt.block_on(server.shutdown());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Runtime {
    rt: tokio::runtime::Runtime,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with one I/O thread, named `connhandler-io`.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = connhandler::blocking::Runtime::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Self> {
        Self::with_threads(1)
    }

    /// A runtime with `threads` I/O threads (at least 1).
    ///
    /// # Errors
    ///
    /// When the threads cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = connhandler::blocking::Runtime::with_threads(2)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_threads(threads: usize) -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("connhandler-io")
            .enable_all()
            .build()?;
        Ok(Runtime { rt })
    }

    /// Runs `future` to completion on the runtime, blocking this thread: to start handlers,
    /// shut them down, or wait for room in a peer's queue.
    ///
    /// # Panics
    ///
    /// When called from async code, as tokio's `block_on` does.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = connhandler::blocking::Runtime::new()?;
    /// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.rt.block_on(future)
    }

    /// Starts an outgoing handler on this runtime from synchronous code (a game client's
    /// main loop): what [`OutgoingBuilder::start`](crate::OutgoingBuilder::start) does inside
    /// a runtime, without `block_on`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(Default)] struct Server;
    /// # impl connhandler::Peer for Server { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "server"; }
    /// use connhandler::{blocking::Runtime, central, Event, Outgoing};
    ///
    /// let rt = Runtime::new()?;
    /// let (tx, mut central) = central::<Event<Server>>(64);
    /// let link = rt.start_outgoing(Outgoing::<Server>::builder("127.0.0.1:1"), &tx);
    /// # drop(link);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_outgoing<P, F, H, E>(
        &self,
        builder: crate::OutgoingBuilder<P, F, H>,
        central: &crate::CentralSender<E>,
    ) -> crate::Outgoing<P>
    where
        P: crate::Peer,
        F: crate::codec::Framing,
        H: crate::handler::PeerSource<P>,
        E: From<crate::Event<P>> + Send + 'static,
    {
        let _inside = self.rt.enter();
        builder.start(central)
    }

    /// The runtime's tokio handle, to spawn tasks of the program's own onto it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = connhandler::blocking::Runtime::new()?;
    /// let task = rt.handle().spawn(async { 7 });
    /// assert_eq!(rt.block_on(task).unwrap(), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.rt.handle()
    }
}
