//! A small shim over the synchronization types the crate's own state uses.
//!
//! Normal builds use `std` atomics, `std::sync::Arc` and `parking_lot::Mutex`. Under `cfg(loom)` the
//! same names resolve to loom's model-checked types, so the cancel tree, the group accounting and
//! the stream state can be checked for every interleaving (see `docs/reliability.md`). Code in the
//! crate names these types through this module only.

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic;

    /// A mutex whose `lock` returns the guard directly (no poisoning), as `parking_lot`'s does.
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    #[allow(dead_code)]
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic;

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
}
