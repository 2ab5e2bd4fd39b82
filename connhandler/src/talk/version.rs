//! The version handshake: what a protocol's hello carries ([`Version`]), the rule two
//! versions must meet ([`Agree`]), the handler's setting ([`Handshake`]) and what a protocol
//! declares ([`Hello`], derived from `#[wire(hello)]` and `#[wire(reject)]`).

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

/// A protocol version: `major.minor.patch`, as the reference's launcher and login server
/// compare them. A protocol that numbers its versions with one integer uses `major`.
///
/// # Examples
///
/// ```
/// use connhandler::talk::Version;
///
/// let v: Version = "2.1.0".parse()?;
/// assert_eq!(v, Version::new(2, 1, 0));
/// assert_eq!("2".parse::<Version>()?, Version::new(2, 0, 0));
/// assert_eq!(v.to_string(), "2.1.0");
/// # Ok::<(), connhandler::talk::VersionError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Incompatible changes.
    pub major: u32,
    /// Compatible additions.
    pub minor: u32,
    /// Fixes.
    pub patch: u32,
}

impl Version {
    /// `major.minor.patch`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = connhandler::talk::Version::new(1, 4, 2);
    /// assert_eq!(v.minor, 4);
    /// ```
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A version text that is not `major[.minor[.patch]]`.
///
/// # Examples
///
/// ```
/// let err = "two".parse::<connhandler::talk::Version>().unwrap_err();
/// assert_eq!(err.to_string(), "`two` is not a version (major.minor.patch)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionError(String);

impl VersionError {
    /// The text as it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = "x".parse::<connhandler::talk::Version>().unwrap_err();
    /// assert_eq!(err.text(), "x");
    /// ```
    pub fn text(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a version (major.minor.patch)", self.0)
    }
}

impl std::error::Error for VersionError {}

impl FromStr for Version {
    type Err = VersionError;

    /// `major`, `major.minor` or `major.minor.patch`, each a decimal number; a leading `v`
    /// is allowed.
    fn from_str(s: &str) -> Result<Version, VersionError> {
        let bad = || VersionError(s.chars().take(64).collect());
        let text = s.strip_prefix('v').unwrap_or(s);
        let mut parts = text.split('.');
        let mut next = |required: bool| -> Result<u32, VersionError> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().map_err(|_| bad())
                }
                None if !required => Ok(0),
                _ => Err(bad()),
            }
        };
        let version = Version::new(next(true)?, next(false)?, next(false)?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(version)
    }
}

/// How a hello's field holds its version: an integer is the major version, a string is
/// `major.minor.patch` text. The derive uses it for the field marked `#[wire(version)]`.
///
/// # Examples
///
/// ```
/// use connhandler::talk::{Version, VersionField};
///
/// assert_eq!(3u16.to_version(), Ok(Version::new(3, 0, 0)));
/// assert_eq!(String::from_version(&Version::new(1, 2, 3)), "1.2.3");
/// ```
pub trait VersionField: Sized {
    /// The version the field holds; the text as sent when it does not read as one.
    ///
    /// # Errors
    ///
    /// A [`VersionError`] naming the text that is not a version.
    fn to_version(&self) -> Result<Version, VersionError>;
    /// The field's value for `version` (an integer field takes the major version).
    fn from_version(version: &Version) -> Self;
}

macro_rules! integer_version {
    ($($t:ty),*) => {$(
        impl VersionField for $t {
            fn to_version(&self) -> Result<Version, VersionError> {
                u32::try_from(*self)
                    .map(|major| Version::new(major, 0, 0))
                    .map_err(|_| VersionError(self.to_string()))
            }
            fn from_version(version: &Version) -> Self {
                <$t>::try_from(version.major).unwrap_or(<$t>::MAX)
            }
        }
    )*};
}
integer_version!(u8, u16, u32, u64);

impl VersionField for String {
    fn to_version(&self) -> Result<Version, VersionError> {
        self.parse()
    }
    fn from_version(version: &Version) -> Self {
        version.to_string()
    }
}

impl VersionField for Version {
    fn to_version(&self) -> Result<Version, VersionError> {
        Ok(*self)
    }
    fn from_version(version: &Version) -> Self {
        *version
    }
}

/// How a hello's or rejection's field marked `#[wire(protocol)]` holds the messages hash
/// ([`Protocol::messages_hash`](crate::schema::Protocol::messages_hash)): a `u64`, or a
/// `String` of 16 hex digits. Zero, an empty text or one that is not a hash says none.
///
/// # Examples
///
/// ```
/// use connhandler::talk::ProtocolField;
///
/// assert_eq!(String::from_protocol(0x1f), "000000000000001f");
/// assert_eq!("000000000000001f".to_string().to_protocol(), Some(0x1f));
/// assert_eq!(String::new().to_protocol(), None);
/// assert_eq!(0u64.to_protocol(), None);
/// ```
#[diagnostic::on_unimplemented(
    message = "a `#[wire(protocol)]` field holds the messages hash: a `String` or a `u64`, not `{Self}`",
    label = "this field says the protocol's messages hash"
)]
pub trait ProtocolField: Sized {
    /// The hash the field holds; `None` when it says none.
    fn to_protocol(&self) -> Option<u64>;
    /// The field's value for `hash` (0: none).
    fn from_protocol(hash: u64) -> Self;
}

impl ProtocolField for u64 {
    fn to_protocol(&self) -> Option<u64> {
        (*self != 0).then_some(*self)
    }
    fn from_protocol(hash: u64) -> Self {
        hash
    }
}

impl ProtocolField for String {
    fn to_protocol(&self) -> Option<u64> {
        if self.len() != 16 {
            return None;
        }
        u64::from_str_radix(self, 16).ok().filter(|h| *h != 0)
    }
    fn from_protocol(hash: u64) -> Self {
        if hash == 0 {
            String::new()
        } else {
            format!("{hash:016x}")
        }
    }
}

/// A protocol's hello and rejection, as `#[derive(Message)]` writes them from
/// `#[wire(hello)]` (a variant with one field marked `#[wire(version)]`) and
/// `#[wire(reject)]` (optional; its `#[wire(version)]` field gets our version, a field marked
/// `#[wire(reason)]` the reason as text). Other fields of both take `Default::default()`,
/// but for a field marked `#[wire(protocol)]` (a `String` or `u64`, optional, in either):
/// with it, each side's hello says the hash of the protocol's messages, and a peer that
/// says the same version with other messages is refused at the door
/// ([`DisconnectReason::ProtocolMismatch`](crate::DisconnectReason::ProtocolMismatch))
/// rather than misread at its first message. The hash is
/// [`Protocol::messages_hash`](crate::schema::Protocol::messages_hash): reordering variants
/// in the source changes it for no one; swapping two fields changes it.
///
/// # Examples
///
/// ```
/// use connhandler::{talk::{Hello, Version}, Message};
///
/// #[derive(Message, Debug, PartialEq)]
/// enum Greeting {
///     #[wire(id = 1, hello)]
///     Hello { #[wire(version)] version: String },
///     #[wire(id = 2, reject)]
///     Rejected { #[wire(version)] wanted: String, #[wire(reason)] reason: String },
/// }
///
/// let ours = Version::new(2, 1, 0);
/// let hello = Greeting::hello(&ours);
/// assert_eq!(hello, Greeting::Hello { version: "2.1.0".into() });
/// assert_eq!(hello.hello_version(), Some(Ok(ours)));
/// let no = Greeting::reject(&ours, "1.0.0").unwrap();
/// assert_eq!(
///     no,
///     Greeting::Rejected { wanted: "2.1.0".into(), reason: "version 1.0.0 is not accepted (ours is 2.1.0)".into() }
/// );
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no hello: a version handshake needs a `#[wire(hello)]` variant",
    label = "this message type declares no `#[wire(hello)]` variant",
    note = "add a hello with a version field to the protocol, on both message types of the peer kind: `#[wire(id = .., hello)] Hello {{ #[wire(version)] version: String }},` (and a `#[wire(reject)]` variant to tell a refused peer why)"
)]
pub trait Hello: Sized {
    /// Our hello, saying `version`.
    fn hello(version: &Version) -> Self;
    /// Our hello, saying `version` and, in a `#[wire(protocol)]` field, the messages hash
    /// `protocol` (0: none). The default says no hash.
    fn hello_with(version: &Version, protocol: u64) -> Self {
        let _ = protocol;
        Self::hello(version)
    }
    /// The messages hash a received hello or rejection says (its `#[wire(protocol)]`
    /// field), if it says one.
    fn protocol_of(&self) -> Option<u64> {
        None
    }
    /// The version a received message says, if it is a hello (`Err` with the text when it
    /// does not read as a version); `None` for every other message.
    fn hello_version(&self) -> Option<Result<Version, VersionError>>;
    /// The protocol's rejection, if it declares one: sent before the close when the peer's
    /// version is not accepted (`theirs` as the peer sent it).
    fn reject(ours: &Version, theirs: &str) -> Option<Self> {
        let _ = (ours, theirs);
        None
    }
    /// The rejection, saying our messages hash `protocol` too (0: none). The default is
    /// [`reject`](Self::reject)'s.
    fn reject_with(ours: &Version, theirs: &str, protocol: u64) -> Option<Self> {
        let _ = protocol;
        Self::reject(ours, theirs)
    }
    /// The message type's description (derived types: their
    /// [`Wire::describe`](crate::wire::Wire::describe)), from which the handshake computes the
    /// messages hash it says and shows in its reasons; `None` (the default) for a protocol
    /// that does not describe itself.
    fn describe_messages(types: &mut crate::describe::Types) -> Option<crate::describe::Ty> {
        let _ = types;
        None
    }
    /// Whether a received message is the protocol's rejection (the peer did not accept our
    /// version).
    fn is_rejection(&self) -> bool {
        false
    }
}

/// The text a derived rejection's `#[wire(reason)]` field carries.
///
/// # Examples
///
/// ```
/// use connhandler::talk::{rejection_reason, Version};
/// assert_eq!(
///     rejection_reason(&Version::new(2, 0, 0), "1.0.0"),
///     "version 1.0.0 is not accepted (ours is 2.0.0)"
/// );
/// ```
pub fn rejection_reason(ours: &Version, theirs: &str) -> String {
    format!("version {theirs} is not accepted (ours is {ours})")
}

/// A program's own rule for [`Agree::With`]: called with `(ours, theirs)`.
pub type Rule = Arc<dyn Fn(&Version, &Version) -> bool + Send + Sync>;

/// The rule a peer's version must meet.
///
/// # Examples
///
/// ```
/// use connhandler::talk::{Agree, Version};
///
/// let ours = Version::new(2, 1, 0);
/// assert!(Agree::SameMajor.accepts(&ours, &Version::new(2, 0, 7)));
/// assert!(!Agree::Exact.accepts(&ours, &Version::new(2, 0, 7)));
/// let at_least = Agree::with(|ours, theirs| theirs >= ours);
/// assert!(at_least.accepts(&ours, &Version::new(3, 0, 0)));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Agree {
    /// The same `major.minor.patch`.
    Exact,
    /// The same major version (the default).
    SameMajor,
    /// The program's rule: `(ours, theirs)`.
    With(Rule),
}

impl Agree {
    /// The program's rule, called with `(ours, theirs)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let newer_minor_ok = connhandler::talk::Agree::with(|ours, theirs| {
    ///     ours.major == theirs.major && theirs.minor >= ours.minor
    /// });
    /// ```
    pub fn with(rule: impl Fn(&Version, &Version) -> bool + Send + Sync + 'static) -> Agree {
        Agree::With(Arc::new(rule))
    }

    /// Whether `theirs` is accepted beside `ours`.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::talk::{Agree, Version};
    /// assert!(Agree::Exact.accepts(&Version::new(1, 0, 0), &Version::new(1, 0, 0)));
    /// ```
    pub fn accepts(&self, ours: &Version, theirs: &Version) -> bool {
        match self {
            Agree::Exact => ours == theirs,
            Agree::SameMajor => ours.major == theirs.major,
            Agree::With(rule) => rule(ours, theirs),
        }
    }
}

impl fmt::Debug for Agree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Agree::Exact => f.write_str("Exact"),
            Agree::SameMajor => f.write_str("SameMajor"),
            Agree::With(_) => f.write_str("With(..)"),
        }
    }
}

/// A handler's version handshake: each side's first message is its protocol's hello, saying
/// its version; `Connected` reaches the central queue only once the peer's hello is
/// accepted. A peer whose version is not accepted is sent the protocol's rejection (if it
/// declares one) and closed with
/// [`DisconnectReason::VersionMismatch`](crate::DisconnectReason::VersionMismatch) naming
/// both versions; a first message that is not a hello closes it with
/// [`DisconnectReason::NoHello`](crate::DisconnectReason::NoHello); a peer that says nothing
/// within the time-out (default 10 s) is cut with
/// [`Timeout::Handshake`](crate::Timeout::Handshake). Such a connection's only event is its
/// `Disconnected`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use connhandler::talk::{Agree, Handshake, Version};
///
/// let handshake = Handshake::new(Version::new(2, 1, 0))
///     .agree(Agree::SameMajor)
///     .timeout(Duration::from_secs(5));
/// assert_eq!(handshake.version(), Version::new(2, 1, 0));
/// ```
#[derive(Clone, Debug)]
pub struct Handshake {
    version: Version,
    agree: Agree,
    timeout: Duration,
}

impl Handshake {
    /// Our version, accepting the same major version within 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = connhandler::talk::Handshake::new(connhandler::talk::Version::new(3, 0, 0));
    /// ```
    pub fn new(version: Version) -> Handshake {
        Handshake {
            version,
            agree: Agree::SameMajor,
            timeout: Duration::from_secs(10),
        }
    }

    /// The rule the peer's version must meet (default [`Agree::SameMajor`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::talk::{Agree, Handshake, Version};
    /// let h = Handshake::new(Version::new(3, 0, 0)).agree(Agree::Exact);
    /// ```
    pub fn agree(mut self, agree: Agree) -> Handshake {
        self.agree = agree;
        self
    }

    /// How long the peer has to send its hello, from the connection's start (default 10 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use connhandler::talk::{Handshake, Version};
    /// let h = Handshake::new(Version::new(3, 0, 0)).timeout(Duration::from_secs(3));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Handshake {
        self.timeout = timeout;
        self
    }

    /// Our version.
    ///
    /// # Examples
    ///
    /// ```
    /// use connhandler::talk::{Handshake, Version};
    /// assert_eq!(Handshake::new(Version::new(3, 0, 0)).version().major, 3);
    /// ```
    pub fn version(&self) -> Version {
        self.version
    }

    pub(crate) fn accepts(&self, theirs: &Version) -> bool {
        self.agree.accepts(&self.version, theirs)
    }

    pub(crate) fn time_limit(&self) -> Duration {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_strictly() {
        assert_eq!("v1.2.3".parse(), Ok(Version::new(1, 2, 3)));
        assert_eq!("1.2".parse(), Ok(Version::new(1, 2, 0)));
        for bad in [
            "",
            "1.",
            ".1",
            "1.2.3.4",
            "1.x",
            "-1",
            "1 .2",
            "99999999999",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
        assert_eq!(300u64.to_version(), Ok(Version::new(300, 0, 0)));
        assert!(u64::MAX.to_version().is_err());
        assert_eq!(u8::from_version(&Version::new(300, 0, 0)), u8::MAX);
    }
}
