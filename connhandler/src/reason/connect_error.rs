//! Why an outgoing handler gave up connecting: what `Event::ConnectFailed` carries.

use std::{fmt, io, time::Duration};

/// An outgoing handler could not connect.
///
/// # Examples
///
/// ```
/// # fn f(e: connhandler::ConnectError) {
/// eprintln!("{e}"); // cannot connect to login:7198 after 3 attempts: connection refused
/// if e.is_timeout() { /* ... */ }
/// # }
/// ```
#[derive(Debug)]
pub struct ConnectError {
    addr: String,
    attempts: u32,
    kind: ConnectErrorKind,
}

/// Why an attempt to connect failed.
#[derive(Debug)]
pub(crate) enum ConnectErrorKind {
    Resolve(io::Error),
    TimedOut(Duration),
    Io(io::Error),
    /// The TLS handshake failed (the server's certificate, most often).
    Tls(io::Error),
    /// The WebSocket upgrade failed.
    WebSocket(io::Error),
    /// The `make_peer` hook panicked; the connection was closed.
    MakePeer,
    Cancelled,
}

impl fmt::Display for ConnectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectErrorKind::Resolve(e) => write!(f, "cannot resolve the host name: {e}"),
            ConnectErrorKind::TimedOut(t) => write!(f, "timed out after {t:?}"),
            ConnectErrorKind::Io(e) => e.fmt(f),
            ConnectErrorKind::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ConnectErrorKind::WebSocket(e) => write!(f, "WebSocket upgrade failed: {e}"),
            ConnectErrorKind::MakePeer => {
                f.write_str("connected, but the make_peer hook panicked (see the log)")
            }
            ConnectErrorKind::Cancelled => f.write_str("the handler shut down"),
        }
    }
}

impl ConnectError {
    pub(crate) fn new(addr: String, attempts: u32, kind: ConnectErrorKind) -> Self {
        ConnectError {
            addr,
            attempts,
            kind,
        }
    }

    /// The address as it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// println!("{}", e.addr());
    /// # }
    /// ```
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// How many attempts were made.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// println!("gave up after {}", e.attempts());
    /// # }
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether the last attempt timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// let slow = e.is_timeout();
    /// # }
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ConnectErrorKind::TimedOut(_))
    }

    /// Whether the last attempt failed to resolve the host name.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// let typo = e.is_resolve();
    /// # }
    /// ```
    pub fn is_resolve(&self) -> bool {
        matches!(self.kind, ConnectErrorKind::Resolve(_))
    }

    /// The I/O error of the last attempt, if it was one (refused, unreachable...).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(e: connhandler::ConnectError) {
    /// let refused = e.io_error().map(|e| e.kind()) == Some(std::io::ErrorKind::ConnectionRefused);
    /// # }
    /// ```
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            ConnectErrorKind::Io(e) | ConnectErrorKind::Resolve(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}", self.addr)?;
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io_error().map(|e| e as _)
    }
}
