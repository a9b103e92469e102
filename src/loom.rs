//! A small shim over the synchronization types the crate's own state uses.
//!
//! Normal builds use `std` atomics, `std::sync::Arc`, `std::sync::OnceLock`, `parking_lot::Mutex`
//! and `futures`' `AtomicWaker`. In this crate's unit tests under `cfg(tether_loom)` (loom is a
//! dev-dependency, so only `cfg(all(test, tether_loom))` switches) the same names resolve to loom's
//! model-checked types, so the cancel tree, the group accounting and the `start()` handshake can
//! be checked for every interleaving (see `docs/reliability.md`). Code in the crate names these
//! types through this module only.

#[cfg(not(all(test, tether_loom)))]
pub(crate) mod sync {
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::OnceLock;
    pub(crate) use std::sync::atomic;

    /// A mutex whose `lock` returns the guard directly (no poisoning), as `parking_lot`'s does.
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
}

#[cfg(not(all(test, tether_loom)))]
pub(crate) mod future {
    pub(crate) use futures::task::AtomicWaker;
}

#[cfg(all(test, tether_loom))]
pub(crate) mod sync {
    // `std`'s `Arc` on purpose: the crate uses `self: &Arc<Self>` receivers and `Arc<str>`, which
    // loom's `Arc` cannot express, and reference counts are not what the models check (the
    // atomics, locks, once-cells and wakers below are).
    pub(crate) use loom::sync::atomic;
    pub(crate) use std::sync::Arc;

    /// loom's mutex behind the `parking_lot` calling convention (`lock` returns the guard).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    /// `std::sync::OnceLock` with its publication modelled by a loom atomic: `set` stores the
    /// value, then releases a flag; `get` acquires the flag before it looks. loom explores both
    /// orders of a racing `set` and `get` (the value itself lives in a std `OnceLock`, which only
    /// gives `get` its `&T`).
    #[derive(Debug)]
    pub(crate) struct OnceLock<T> {
        value: std::sync::OnceLock<T>,
        published: loom::sync::atomic::AtomicBool,
    }

    impl<T> OnceLock<T> {
        pub(crate) fn new() -> Self {
            Self {
                value: std::sync::OnceLock::new(),
                published: loom::sync::atomic::AtomicBool::new(false),
            }
        }

        pub(crate) fn set(&self, value: T) -> Result<(), T> {
            self.value.set(value)?;
            self.published
                .store(true, loom::sync::atomic::Ordering::Release);
            Ok(())
        }

        pub(crate) fn get(&self) -> Option<&T> {
            if self.published.load(loom::sync::atomic::Ordering::Acquire) {
                self.value.get()
            } else {
                None
            }
        }
    }

    impl<T> From<T> for OnceLock<T> {
        fn from(value: T) -> Self {
            let lock = Self::new();
            let _ = lock.set(value);
            lock
        }
    }
}

#[cfg(all(test, tether_loom))]
pub(crate) mod future {
    use std::task::Waker;

    /// loom's `AtomicWaker` behind the `futures` calling convention (`register(&Waker)`).
    #[derive(Debug)]
    pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

    impl AtomicWaker {
        pub(crate) fn new() -> Self {
            Self(loom::future::AtomicWaker::new())
        }
        pub(crate) fn register(&self, waker: &Waker) {
            self.0.register_by_ref(waker);
        }
        pub(crate) fn wake(&self) {
            self.0.wake();
        }
        pub(crate) fn take(&self) -> Option<Waker> {
            self.0.take_waker()
        }
    }
}

/// The process-wide cancel epoch: bumped after every change that can alter some node's
/// effective cancellation (a node cancelled, a shield toggled, a first deadline set), so a
/// node's cached answer (`Node::status`) is known fresh while the epoch has not moved.
#[cfg(not(all(test, tether_loom)))]
#[inline(always)]
pub(crate) fn cancel_epoch() -> &'static sync::atomic::AtomicU64 {
    static EPOCH: sync::atomic::AtomicU64 = sync::atomic::AtomicU64::new(0);
    &EPOCH
}

/// The process-wide cancel epoch (a loom static: fresh in every explored execution).
#[cfg(all(test, tether_loom))]
pub(crate) fn cancel_epoch() -> &'static sync::atomic::AtomicU64 {
    loom::lazy_static! {
        static ref EPOCH: loom::sync::atomic::AtomicU64 = loom::sync::atomic::AtomicU64::new(0);
    }
    &EPOCH
}

/// A point where a loom model may switch threads just before a step loom cannot see (a call into
/// tokio's semaphore), so the models explore what other threads do between tether releasing its
/// lock and that call. Does nothing outside the loom build.
#[inline(always)]
pub(crate) fn preemption_point() {
    #[cfg(all(test, tether_loom))]
    loom::thread::yield_now();
}
