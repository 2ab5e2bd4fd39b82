//! Limits that protect a server from its peers: rate limits (token buckets), what to do
//! when a peer's outgoing queue is full, and the per-IP accounting behind them.

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

/// What `send` does when a peer's outgoing queue is full (the peer does not read fast
/// enough).
///
/// # Examples
///
/// ```
/// # #[derive(Default)] struct Client;
/// # impl connhandler::Peer for Client { type Recv = bytes::Bytes; type Send = bytes::Bytes; const NAME: &'static str = "c"; }
/// use connhandler::{Incoming, QueuePolicy};
/// let builder = Incoming::<Client>::bind("127.0.0.1:0").queue_policy(QueuePolicy::Disconnect);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueuePolicy {
    /// `send` waits for room (the default).
    #[default]
    Wait,
    /// `send` fails at once with [`SendError::Full`](crate::SendError::Full).
    Fail,
    /// The peer is disconnected with
    /// [`DisconnectReason::QueueFull`](crate::DisconnectReason::QueueFull) and `send` fails
    /// with [`SendError::Closed`](crate::SendError::Closed); so is a peer that a broadcast
    /// finds full.
    Disconnect,
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
pub enum Limited {
    /// The message rate.
    Messages,
    /// The byte rate.
    Bytes,
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limited::Messages => "messages",
            Limited::Bytes => "bytes",
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
        };
        bucket.as_mut().is_none_or(|b| b.take(n, now))
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.messages.as_mut().is_none_or(|b| b.is_full(now))
            && self.bytes.as_mut().is_none_or(|b| b.is_full(now))
    }
}

/// One IP address's shared buckets and its number of open connections.
#[derive(Debug)]
struct IpEntry {
    buckets: Buckets,
    connections: usize,
}

/// The per-IP buckets of an incoming handler.
#[derive(Debug)]
pub(crate) struct PerIp {
    limit: RateLimit,
    entries: Mutex<HashMap<IpAddr, Arc<Mutex<IpEntry>>>>,
}

impl PerIp {
    pub(crate) fn new(limit: RateLimit) -> Self {
        PerIp {
            limit,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The entry of `ip`, counting one more connection. An address keeps its buckets while
    /// it has connections or its buckets are not full again, so reconnecting does not reset
    /// a limit.
    fn join(&self, ip: IpAddr) -> Arc<Mutex<IpEntry>> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= 1024 && entries.len().is_power_of_two() {
            entries.retain(|_, e| {
                let mut e = e.lock().unwrap_or_else(|p| p.into_inner());
                e.connections > 0 || !e.buckets.is_full(now)
            });
        }
        let entry = entries
            .entry(ip)
            .or_insert_with(|| {
                Arc::new(Mutex::new(IpEntry {
                    buckets: Buckets::new(&self.limit, now),
                    connections: 0,
                }))
            })
            .clone();
        entry.lock().unwrap_or_else(|p| p.into_inner()).connections += 1;
        entry
    }
}

/// The limits one connection's reader applies.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    own: Option<Buckets>,
    ip: Option<Arc<Mutex<IpEntry>>>,
}

impl Limiter {
    pub(crate) fn new(own: Option<&RateLimit>, per_ip: Option<&PerIp>, ip: IpAddr) -> Self {
        let now = Instant::now();
        Limiter {
            own: own.map(|l| Buckets::new(l, now)),
            ip: per_ip.map(|p| p.join(ip)),
        }
    }

    fn is_active(&self) -> bool {
        self.own.is_some() || self.ip.is_some()
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
        if let Some(ip) = &self.ip {
            let mut entry = ip.lock().unwrap_or_else(|p| p.into_inner());
            if !entry.buckets.take(what, n, now) {
                return Err(true);
            }
        }
        Ok(())
    }
}

impl Drop for Limiter {
    fn drop(&mut self) {
        if let Some(ip) = &self.ip {
            let mut entry = ip.lock().unwrap_or_else(|p| p.into_inner());
            entry.connections = entry.connections.saturating_sub(1);
        }
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
        let per_ip = PerIp::new(RateLimit::messages(3, Duration::from_secs(3600)));
        let ip: IpAddr = [10, 0, 0, 1].into();
        let mut a = Limiter::new(None, Some(&per_ip), ip);
        let mut b = Limiter::new(None, Some(&per_ip), ip);
        assert!(a.take(Limited::Messages, 2).is_ok());
        assert_eq!(b.take(Limited::Messages, 2), Err(true));
        drop((a, b));
        let mut again = Limiter::new(None, Some(&per_ip), ip);
        assert!(again.take(Limited::Messages, 1).is_ok());
        assert_eq!(again.take(Limited::Messages, 1), Err(true));
    }
}
