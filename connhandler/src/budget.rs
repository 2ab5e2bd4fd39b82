//! A byte budget that many holders share, taken and given back without a lock: the
//! unfinished frames of one handler's connections (each holder's part given back when it
//! goes; [`ReadBudget`] adds a share per address and a wake-up when bytes are freed), and
//! the central queue's byte bound.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::Notify;

use crate::addr::ip_key;

/// Bytes that holders may take, in all, up to `total`.
#[derive(Debug)]
pub(crate) struct Budget {
    total: usize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `total` bytes.
    pub(crate) fn of(total: usize) -> Self {
        Budget {
            total,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes `n` bytes if they fit; with `first_always`, also when nothing is taken (so one
    /// holder larger than the whole budget can still go through).
    pub(crate) fn try_take(&self, n: usize, first_always: bool) -> bool {
        let mut cur = self.used.load(Ordering::Acquire);
        loop {
            if cur.saturating_add(n) > self.total && !(first_always && cur == 0) {
                return false;
            }
            match self
                .used
                .compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    pub(crate) fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes taken now, by all holders.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// A handler's budget for unfinished frames: the bytes all its connections may hold, at
/// most `per_addr` of them from one address (IPv6 by /64, as the caps count), and a wake-up
/// for connections waiting for room.
#[derive(Debug)]
pub(crate) struct ReadBudget {
    total: Budget,
    per_addr: Option<usize>,
    /// Bytes held per address (only those holding any are kept).
    addrs: Mutex<HashMap<IpAddr, usize>>,
    /// Whether a connection waits for bytes to be freed (notified only then).
    waiting: AtomicBool,
    freed: Notify,
}

/// Why a holder could not take more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Short {
    /// The handler's budget has not that much left.
    Budget,
    /// The holder's address would hold more than its share.
    Address,
}

impl ReadBudget {
    pub(crate) fn new(total: usize, per_addr: Option<usize>) -> Arc<Self> {
        Arc::new(ReadBudget {
            total: Budget::of(total),
            per_addr,
            addrs: Mutex::new(HashMap::new()),
            waiting: AtomicBool::new(false),
            freed: Notify::new(),
        })
    }

    /// Bytes held now, by every connection.
    pub(crate) fn used(&self) -> usize {
        self.total.used()
    }

    fn addrs(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.addrs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_take(&self, key: IpAddr, n: usize) -> Result<(), Short> {
        if let Some(max) = self.per_addr {
            let mut addrs = self.addrs();
            let held = addrs.entry(key).or_insert(0);
            if held.saturating_add(n) > max {
                if *held == 0 {
                    addrs.remove(&key);
                }
                return Err(Short::Address);
            }
            if !self.total.try_take(n, false) {
                if *held == 0 {
                    addrs.remove(&key);
                }
                return Err(Short::Budget);
            }
            *held += n;
            return Ok(());
        }
        if self.total.try_take(n, false) {
            Ok(())
        } else {
            Err(Short::Budget)
        }
    }

    fn release(&self, key: IpAddr, n: usize) {
        if self.per_addr.is_some() {
            let mut addrs = self.addrs();
            if let Some(held) = addrs.get_mut(&key) {
                *held = held.saturating_sub(n);
                if *held == 0 {
                    addrs.remove(&key);
                }
            }
        }
        self.total.release(n);
        if self.waiting.load(Ordering::Acquire) {
            self.waiting.store(false, Ordering::Release);
            self.freed.notify_waiters();
        }
    }

    /// A wake-up at the next release; enable it, then call [`wait`](Self::wait) and check
    /// again before awaiting it, so that a release between the two is not missed.
    pub(crate) fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.freed.notified()
    }

    /// Says a connection waits for a release.
    pub(crate) fn wait(&self) {
        self.waiting.store(true, Ordering::Release);
    }
}

/// One connection's part of its handler's read budget (none: unbounded).
#[derive(Debug)]
pub(crate) struct Hold {
    budget: Option<Arc<ReadBudget>>,
    /// The address the part counts under.
    key: IpAddr,
    held: usize,
}

impl Hold {
    pub(crate) fn new(budget: Option<Arc<ReadBudget>>, addr: IpAddr) -> Self {
        Hold {
            budget,
            key: ip_key(addr),
            held: 0,
        }
    }

    /// Makes this holder's part `n` bytes, taking or giving back the difference; says why
    /// not (nothing changed) when the budget or the address's share has not that much
    /// left.
    #[inline]
    pub(crate) fn set(&mut self, n: usize) -> Result<(), Short> {
        if n == self.held {
            return Ok(());
        }
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if n > self.held {
            budget.try_take(self.key, n - self.held)?;
        } else {
            budget.release(self.key, self.held - n);
        }
        self.held = n;
        Ok(())
    }

    /// The bytes held now.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// The address the part counts under (IPv6 by /64).
    pub(crate) fn key(&self) -> IpAddr {
        self.key
    }

    /// The budget, if there is one.
    pub(crate) fn budget(&self) -> Option<&Arc<ReadBudget>> {
        self.budget.as_ref()
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let _ = self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_share_the_budget_and_give_back_when_they_go() {
        let budget = ReadBudget::new(100, None);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let mut a = Hold::new(Some(budget.clone()), ip);
        let mut b = Hold::new(Some(budget.clone()), ip);
        assert!(a.set(60).is_ok());
        assert_eq!(b.set(50), Err(Short::Budget), "60 + 50 is over 100");
        assert!(b.set(40).is_ok());
        assert!(a.set(10).is_ok());
        assert!(b.set(90).is_ok());
        drop(b);
        assert_eq!(budget.used(), 10);
        drop(a);
        assert_eq!(budget.used(), 0);
        assert!(Hold::new(None, ip).set(usize::MAX).is_ok());
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let budget = ReadBudget::new(100, Some(30));
        let one: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = "2001:db8::1".parse().unwrap();
        let same_prefix: IpAddr = "2001:db8::2".parse().unwrap();
        let mut a = Hold::new(Some(budget.clone()), one);
        let mut b = Hold::new(Some(budget.clone()), one);
        assert!(a.set(20).is_ok());
        assert_eq!(b.set(20), Err(Short::Address), "20 + 20 is over 30");
        assert!(b.set(10).is_ok());
        // Another address has its own share; IPv6 counts by /64.
        let mut c = Hold::new(Some(budget.clone()), other);
        let mut d = Hold::new(Some(budget.clone()), same_prefix);
        assert!(c.set(30).is_ok());
        assert_eq!(d.set(1), Err(Short::Address));
        drop(a);
        assert!(b.set(30).is_ok(), "the share came back");
        assert_eq!(budget.used(), 60);
    }
}
