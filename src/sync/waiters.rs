//! Counting the tasks blocked in an `acquire`, for `statistics()`.
//!
//! tokio's semaphore keeps its queue private, so each primitive counts its own waiters: a waiter
//! enters the count only after its non-blocking attempt failed, and leaves it through a drop guard,
//! so a cancelled waiter (its future dropped) leaves the count as surely as one that acquired.
//!
//! # Invariants
//!
//! - `count` equals the number of live [`Waiting`] guards. The count is statistics only: no
//!   decision is taken on it, so `Relaxed` ordering is enough.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};

/// The number of tasks blocked on one primitive.
#[derive(Debug, Default)]
pub(crate) struct WaiterCount {
    /// Live [`Waiting`] guards.
    count: AtomicUsize,
}

impl WaiterCount {
    pub(crate) fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
        }
    }

    /// Count the caller as waiting until the returned guard is dropped.
    pub(crate) fn enter(&self) -> Waiting<'_> {
        self.count.fetch_add(1, Ordering::Relaxed);
        Waiting { count: self }
    }

    /// How many tasks are waiting now.
    pub(crate) fn get(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

/// One waiter in a [`WaiterCount`]; leaves the count when dropped (acquired or cancelled).
#[derive(Debug)]
pub(crate) struct Waiting<'a> {
    count: &'a WaiterCount,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.count.fetch_sub(1, Ordering::Relaxed);
    }
}
