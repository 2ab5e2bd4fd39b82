//! Addresses handlers listen on or connect to.

use std::{
    fmt, io,
    net::{IpAddr, SocketAddr},
};

/// A host and port: a socket address, or a host name resolved when it is used.
///
/// # Examples
///
/// ```
/// use connhandler::Address;
///
/// let a: Address = "localhost:7000".into();
/// let b: Address = ([127, 0, 0, 1], 7000).into();
/// let c: Address = ("game.example", 7000).into();
/// assert_eq!(a.to_string(), "localhost:7000");
/// assert_eq!(b.to_string(), "127.0.0.1:7000");
/// assert_eq!(c.to_string(), "game.example:7000");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address(Inner);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Inner {
    Socket(SocketAddr),
    Text(String),
}

impl Address {
    /// Resolves the address (a host name through the system resolver).
    pub(crate) async fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = match &self.0 {
            Inner::Socket(a) => vec![*a],
            Inner::Text(t) => tokio::net::lookup_host(t.as_str()).await?.collect(),
        };
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the name resolved to no address",
            ));
        }
        Ok(addrs)
    }
}

impl Address {
    /// The host part: what TLS checks the server's certificate against by default, and
    /// WebSocket's `Host` header.
    pub(crate) fn host(&self) -> String {
        match &self.0 {
            Inner::Socket(a) => a.ip().to_string(),
            Inner::Text(t) => {
                let host = t.rsplit_once(':').map_or(t.as_str(), |(h, _)| h);
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned()
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Socket(a) => a.fmt(f),
            Inner::Text(t) => f.write_str(t),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Address(Inner::Socket(a))
    }
}

impl From<&str> for Address {
    fn from(s: &str) -> Self {
        match s.parse::<SocketAddr>() {
            Ok(a) => a.into(),
            Err(_) => Address(Inner::Text(s.to_owned())),
        }
    }
}

impl From<String> for Address {
    fn from(s: String) -> Self {
        match s.parse::<SocketAddr>() {
            Ok(a) => a.into(),
            Err(_) => Address(Inner::Text(s)),
        }
    }
}

impl From<&String> for Address {
    fn from(s: &String) -> Self {
        s.as_str().into()
    }
}

impl From<(&str, u16)> for Address {
    fn from((host, port): (&str, u16)) -> Self {
        match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port).into(),
            Err(_) => Address(Inner::Text(format!("{host}:{port}"))),
        }
    }
}

impl From<(IpAddr, u16)> for Address {
    fn from((ip, port): (IpAddr, u16)) -> Self {
        SocketAddr::new(ip, port).into()
    }
}

impl From<([u8; 4], u16)> for Address {
    fn from(a: ([u8; 4], u16)) -> Self {
        SocketAddr::from(a).into()
    }
}

/// The key an address is counted under: IPv4 addresses (and IPv4-mapped IPv6 ones) as they
/// are, IPv6 addresses by their /64 prefix (one host commonly holds a whole /64).
pub(crate) fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}
