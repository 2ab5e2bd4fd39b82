//! Limits that protect a server from its peers: rate limits (token buckets), what to do
//! when a peer's outgoing queue is full, and the per-IP accounting behind them.

use crate::addr::ip_key;
use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A rate limit on what a peer sends: messages and/or bytes per period, as token buckets
/// that hold one period's amount (the burst) and refill continuously. A peer over the limit
/// is disconnected with [`DisconnectReason::RateLimited`](crate::DisconnectReason::RateLimited).
///
/// Bytes are counted as they are read (framing headers and garbage included); messages as
/// they are decoded.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use connhandler::RateLimit;
///
/// // 50 messages and 64 KiB per second, bursts of that size.
/// let limit = RateLimit::messages(50, Duration::from_secs(1)).and_bytes(64 * 1024, Duration::from_secs(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    messages: Option<(u64, Duration)>,
    bytes: Option<(u64, Duration)>,
}

impl RateLimit {
    const NONE: RateLimit = RateLimit {
        messages: None,
        bytes: None,
    };

    /// At most `n` messages per `period`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = connhandler::RateLimit::messages(10, std::time::Duration::from_secs(1));
    /// ```
    pub fn messages(n: u64, period: Duration) -> Self {
        RateLimit {
            messages: Some((n, period)),
            bytes: None,
        }
    }

    /// At most `n` bytes per `period`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = connhandler::RateLimit::bytes(1 << 20, std::time::Duration::from_secs(1));
    /// ```
    pub fn bytes(n: u64, period: Duration) -> Self {
        RateLimit {
            messages: None,
            bytes: Some((n, period)),
        }
    }

    /// Adds a message limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let limit = connhandler::RateLimit::bytes(4096, Duration::from_secs(1))
    ///     .and_messages(20, Duration::from_secs(1));
    /// ```
    pub fn and_messages(mut self, n: u64, period: Duration) -> Self {
        self.messages = Some((n, period));
        self
    }

    /// Adds a byte limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let limit = connhandler::RateLimit::messages(20, Duration::from_secs(1))
    ///     .and_bytes(4096, Duration::from_secs(1));
    /// ```
    pub fn and_bytes(mut self, n: u64, period: Duration) -> Self {
        self.bytes = Some((n, period));
        self
    }
}

/// What [`PeerHandle::send`](crate::PeerHandle::send) does when a peer's outgoing queue is
/// full (by count or by bytes: the peer does not read fast enough). It never waits: the
/// central task serves every peer, and one slow peer must not hold it up.
///
/// # Examples
///
/// ```
/// # #[derive(Default)] struct Client;
/// # impl connhandler::Peer for Client { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "c"; }
/// use connhandler::{Incoming, QueuePolicy};
/// // Keep slow peers and hand their messages back instead of cutting them.
/// let builder = Incoming::<Client>::builder("127.0.0.1:0").queue_policy(QueuePolicy::Fail);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueuePolicy {
    /// The peer is disconnected with
    /// [`DisconnectReason::QueueFull`](crate::DisconnectReason::QueueFull) and `send` fails
    /// with [`SendError::Closed`](crate::SendError::Closed); so is a peer that a broadcast
    /// finds full (the default).
    #[default]
    Disconnect,
    /// `send` fails at once with [`SendError::Full`](crate::SendError::Full), handing the
    /// message back; the peer stays connected. A program that would rather pause than cut
    /// watches [`PeerHandle::is_writable`](crate::PeerHandle::is_writable).
    Fail,
}

/// Which limit a peer went over.
///
/// # Examples
///
/// ```
/// use connhandler::Limited;
/// assert_eq!(Limited::Bytes.to_string(), "bytes");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limited {
    /// The message rate.
    Messages,
    /// The byte rate.
    Bytes,
    /// The rate of control frames: WebSocket pings and pongs, and the protocol's heartbeat
    /// pings and pongs.
    ControlFrames,
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limited::Messages => "messages",
            Limited::Bytes => "bytes",
            Limited::ControlFrames => "control frames",
        })
    }
}

/// A token bucket holding one period's amount, refilled continuously.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn new((amount, period): (u64, Duration), now: Instant) -> Self {
        let capacity = amount as f64;
        Bucket {
            capacity,
            tokens: capacity,
            per_second: capacity / period.as_secs_f64().max(1e-9),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    fn take(&mut self, n: u64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

#[derive(Debug)]
struct Buckets {
    messages: Option<Bucket>,
    bytes: Option<Bucket>,
}

impl Buckets {
    fn new(limit: &RateLimit, now: Instant) -> Self {
        Buckets {
            messages: limit.messages.map(|m| Bucket::new(m, now)),
            bytes: limit.bytes.map(|b| Bucket::new(b, now)),
        }
    }

    fn take(&mut self, what: Limited, n: u64, now: Instant) -> bool {
        let bucket = match what {
            Limited::Messages => &mut self.messages,
            Limited::Bytes => &mut self.bytes,
            Limited::ControlFrames => return true,
        };
        bucket.as_mut().is_none_or(|b| b.take(n, now))
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.messages.as_mut().is_none_or(|b| b.is_full(now))
            && self.bytes.as_mut().is_none_or(|b| b.is_full(now))
    }
}

/// One address's shared buckets, its connect bucket and its number of open connections.
#[derive(Debug)]
struct IpEntry {
    buckets: Buckets,
    connects: Option<Bucket>,
    connections: usize,
}

impl IpEntry {
    /// Whether the entry can go: no connection, and every bucket full again (so
    /// reconnecting does not reset a limit).
    fn is_spent(&mut self, now: Instant) -> bool {
        self.connections == 0
            && self.buckets.is_full(now)
            && self.connects.as_mut().is_none_or(|b| b.is_full(now))
    }
}

/// Why an incoming handler refused a connection at the door, before it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The address (an IPv6 one by its /64 prefix) has `max_connections_per_ip` open.
    PerIp,
    /// The address went over `connect_rate_per_ip`.
    Rate,
}

/// A network of addresses: an address and a prefix length (`10.0.0.0/8`, `2001:db8::/32`;
/// an address alone is a network of one). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`)
/// belong to the IPv4 networks that hold them.
///
/// # Examples
///
/// ```
/// use connhandler::IpNet;
///
/// let lan: IpNet = "10.0.0.0/8".parse()?;
/// assert!(lan.contains("10.1.2.3".parse()?));
/// assert!(lan.contains("::ffff:10.1.2.3".parse()?));
/// assert!(!lan.contains("11.0.0.1".parse()?));
/// let one: IpNet = "2001:db8::1".parse()?;
/// assert_eq!(one.to_string(), "2001:db8::1/128");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network of `addr`'s first `prefix` bits.
    ///
    /// # Errors
    ///
    /// A prefix longer than the address (32 bits for IPv4, 128 for IPv6).
    ///
    /// # Examples
    ///
    /// ```
    /// let net = connhandler::IpNet::new([192, 168, 0, 0].into(), 16).unwrap();
    /// assert!(net.contains([192, 168, 7, 1].into()));
    /// ```
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, String> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!(
                "a prefix of {prefix} bits for {addr} (at most {max})"
            ));
        }
        Ok(IpNet { addr, prefix })
    }

    /// Whether `ip` is in this network.
    ///
    /// # Examples
    ///
    /// ```
    /// let net: connhandler::IpNet = "fc00::/7".parse().unwrap();
    /// assert!(net.contains("fd12::1".parse().unwrap()));
    /// ```
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// Loopback and the private networks (RFC 1918, IPv6 unique local addresses): where a
    /// load balancer in front of a server usually is, and what
    /// [`proxy_protocol`](crate::IncomingBuilder::proxy_protocol) trusts unless told
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let nets = connhandler::IpNet::private();
    /// assert!(nets.iter().any(|n| n.contains([172, 20, 0, 1].into())));
    /// assert!(!nets.iter().any(|n| n.contains([8, 8, 8, 8].into())));
    /// ```
    pub fn private() -> Vec<IpNet> {
        [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "::1/128",
            "fc00::/7",
        ]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an address or a network (ADDR/BITS)"))?;
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .map_err(|_| format!("`{s}`: the prefix is not a number of bits"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What an incoming handler keeps per peer address: connections open, connects lately, and
/// the shared rate-limit buckets.
#[derive(Debug)]
pub(crate) struct PerIp {
    /// The rate limit shared by an address's connections (`per_ip_rate_limit`).
    limit: Option<RateLimit>,
    max_connections: Option<usize>,
    /// Connects allowed per period, as a bucket of that many.
    connect_rate: Option<(u64, Duration)>,
    entries: Mutex<HashMap<IpAddr, Arc<Mutex<IpEntry>>>>,
}

impl PerIp {
    pub(crate) fn new(
        limit: Option<RateLimit>,
        max_connections: Option<usize>,
        connect_rate: Option<(u64, Duration)>,
    ) -> Self {
        PerIp {
            limit,
            max_connections,
            connect_rate,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether there is anything to keep per address.
    pub(crate) fn is_active(&self) -> bool {
        self.limit.is_some() || self.max_connections.is_some() || self.connect_rate.is_some()
    }

    /// Admits a connection from `ip`, counting it, or says why not.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<AddrSlot, Refusal> {
        let now = Instant::now();
        let key = ip_key(ip);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= 1024 && entries.len().is_power_of_two() {
            entries.retain(|_, e| !e.lock().unwrap_or_else(|p| p.into_inner()).is_spent(now));
        }
        let entry = entries
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Mutex::new(IpEntry {
                    buckets: Buckets::new(&self.limit.unwrap_or(RateLimit::NONE), now),
                    connects: self.connect_rate.map(|r| Bucket::new(r, now)),
                    connections: 0,
                }))
            })
            .clone();
        drop(entries);
        let mut e = entry.lock().unwrap_or_else(|p| p.into_inner());
        if self.max_connections.is_some_and(|max| e.connections >= max) {
            return Err(Refusal::PerIp);
        }
        if let Some(connects) = &mut e.connects {
            if !connects.take(1, now) {
                return Err(Refusal::Rate);
            }
        }
        e.connections += 1;
        drop(e);
        Ok(AddrSlot {
            entry,
            limited: self.limit.is_some(),
        })
    }
}

/// One connection's place in its address's entry: counted until it goes.
#[derive(Debug)]
pub(crate) struct AddrSlot {
    entry: Arc<Mutex<IpEntry>>,
    /// Whether the entry's buckets hold a rate limit (else the reader never locks it).
    limited: bool,
}

impl AddrSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, IpEntry> {
        self.entry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for AddrSlot {
    fn drop(&mut self) {
        let mut entry = self.lock();
        entry.connections = entry.connections.saturating_sub(1);
    }
}

/// The limits one connection's reader applies.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    /// Boxed: most connections have no rate limit of their own, and the reader (one per
    /// connection) stays small.
    own: Option<Box<Buckets>>,
    ip: Option<AddrSlot>,
    /// Control frames per period (`control_rate_limit`): asked only when one arrives, so
    /// messages pay nothing for it.
    control: Option<Box<Bucket>>,
}

impl Limiter {
    pub(crate) fn new(
        own: Option<&RateLimit>,
        addr: Option<AddrSlot>,
        control: Option<(u64, Duration)>,
    ) -> Self {
        let now = Instant::now();
        Limiter {
            own: own.map(|l| Box::new(Buckets::new(l, now))),
            ip: addr,
            control: control.map(|c| Box::new(Bucket::new(c, now))),
        }
    }

    /// Takes `n` control frames from the control bucket and, unless they were counted as
    /// messages already (`counted`: the protocol's pings and pongs, which are messages),
    /// from the message rate limits; `Err((what, per_ip))` when a limit is exceeded.
    #[cold]
    pub(crate) fn take_controls(&mut self, n: u64, counted: bool) -> Result<(), (Limited, bool)> {
        if let Some(control) = &mut self.control {
            if !control.take(n, Instant::now()) {
                return Err((Limited::ControlFrames, false));
            }
        }
        if counted {
            return Ok(());
        }
        self.take(Limited::Messages, n)
            .map_err(|per_ip| (Limited::Messages, per_ip))
    }

    fn is_active(&self) -> bool {
        self.own.is_some() || self.ip.as_ref().is_some_and(|a| a.limited)
    }

    /// Takes `n` of `what`; `Err(per_ip)` when a limit is exceeded. Free when no limit is
    /// set (no clock read).
    #[inline]
    pub(crate) fn take(&mut self, what: Limited, n: u64) -> Result<(), bool> {
        if !self.is_active() {
            return Ok(());
        }
        self.take_limited(what, n)
    }

    fn take_limited(&mut self, what: Limited, n: u64) -> Result<(), bool> {
        let now = Instant::now();
        if let Some(own) = &mut self.own {
            if !own.take(what, n, now) {
                return Err(false);
            }
        }
        if let Some(ip) = self.ip.as_ref().filter(|a| a.limited) {
            if !ip.lock().buckets.take(what, n, now) {
                return Err(true);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_refills() {
        let t0 = Instant::now();
        let mut b = Bucket::new((10, Duration::from_secs(1)), t0);
        for _ in 0..10 {
            assert!(b.take(1, t0));
        }
        assert!(!b.take(1, t0));
        assert!(b.take(5, t0 + Duration::from_millis(500)));
        assert!(!b.take(1, t0 + Duration::from_millis(500)));
        assert!(b.is_full(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn per_ip_buckets_are_shared_and_outlive_reconnects() {
        let per_ip = PerIp::new(
            Some(RateLimit::messages(3, Duration::from_secs(3600))),
            None,
            None,
        );
        let ip: IpAddr = [10, 0, 0, 1].into();
        let mut a = Limiter::new(None, per_ip.admit(ip).ok(), None);
        let mut b = Limiter::new(None, per_ip.admit(ip).ok(), None);
        assert!(a.take(Limited::Messages, 2).is_ok());
        assert_eq!(b.take(Limited::Messages, 2), Err(true));
        drop((a, b));
        let mut again = Limiter::new(None, per_ip.admit(ip).ok(), None);
        assert!(again.take(Limited::Messages, 1).is_ok());
        assert_eq!(again.take(Limited::Messages, 1), Err(true));
    }

    #[test]
    fn an_address_is_capped_by_count_and_rate_and_ipv6_by_prefix() {
        let per_ip = PerIp::new(None, Some(2), Some((3, Duration::from_secs(3600))));
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let first = per_ip.admit(a).unwrap();
        let _second = per_ip.admit(b).unwrap();
        assert_eq!(per_ip.admit(a).unwrap_err(), Refusal::PerIp, "the same /64");
        let _elsewhere = per_ip.admit(other).unwrap();
        drop(first);
        let _third = per_ip.admit(b).unwrap();
        drop(_third);
        assert_eq!(
            per_ip.admit(a).unwrap_err(),
            Refusal::Rate,
            "3 connects per hour"
        );
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_key(mapped), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn control_frames_have_their_own_bucket_and_count_as_messages() {
        let mut limiter = Limiter::new(
            Some(&RateLimit::messages(10, Duration::from_secs(3600))),
            None,
            Some((4, Duration::from_secs(3600))),
        );
        assert!(limiter.take_controls(3, false).is_ok());
        assert!(limiter.take_controls(1, true).is_ok());
        assert_eq!(
            limiter.take_controls(1, false),
            Err((Limited::ControlFrames, false))
        );
        // The three not counted before counted as messages too: seven more fit, not eight.
        assert!(limiter.take(Limited::Messages, 7).is_ok());
        assert!(limiter.take(Limited::Messages, 1).is_err());
    }
}
