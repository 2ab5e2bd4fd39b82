//! A byte budget that many holders share, taken and given back without a lock: the
//! unfinished frames of one handler's connections (each holder's part given back when it
//! goes), and the central queue's byte bound.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

/// Bytes that holders may take, in all, up to `total`.
#[derive(Debug)]
pub(crate) struct Budget {
    total: usize,
    used: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(total: usize) -> Arc<Self> {
        Arc::new(Budget::of(total))
    }

    /// A budget held in place (not shared through an `Arc`).
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

/// One holder's part of a budget (none: unbounded).
#[derive(Debug, Default)]
pub(crate) struct Hold {
    budget: Option<Arc<Budget>>,
    held: usize,
}

impl Hold {
    pub(crate) fn new(budget: Option<Arc<Budget>>) -> Self {
        Hold { budget, held: 0 }
    }

    /// Makes this holder's part `n` bytes, taking or giving back the difference; false
    /// (nothing changed) when the budget has not that much left.
    #[inline]
    pub(crate) fn set(&mut self, n: usize) -> bool {
        if n == self.held {
            return true;
        }
        let Some(budget) = &self.budget else {
            return true;
        };
        if n > self.held {
            if !budget.try_take(n - self.held, false) {
                return false;
            }
        } else {
            budget.release(self.held - n);
        }
        self.held = n;
        true
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_share_the_budget_and_give_back_when_they_go() {
        let budget = Budget::new(100);
        let mut a = Hold::new(Some(budget.clone()));
        let mut b = Hold::new(Some(budget.clone()));
        assert!(a.set(60));
        assert!(!b.set(50), "60 + 50 is over 100");
        assert!(b.set(40));
        assert!(a.set(10));
        assert!(b.set(90));
        drop(b);
        assert_eq!(budget.used(), 10);
        drop(a);
        assert_eq!(budget.used(), 0);
        assert!(Hold::new(None).set(usize::MAX));
    }
}
