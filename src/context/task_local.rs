//! Propagation of tokio `task_local!` values into tether children.
//!
//! A key registered with [`propagate_task_local`] is read at every [`capture`](super::capture);
//! if the spawning task has a value, the snapshot keeps a clone, and the child is polled inside
//! `key.sync_scope(value.clone(), ..)` — so the child reads the same value, and a
//! `key.scope(..)` of its own inside shadows it as usual.
//!
//! # Invariants
//!
//! - `REGISTERED` equals `REGISTRY.len()` after each registration; `capture` reads it first so
//!   that with nothing registered it takes no lock.
//! - A key is registered at most once (compared by address).

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;
use tokio::task::LocalKey;

/// A registered key, type-erased.
trait Propagate: Send + Sync {
    fn capture(&self) -> Option<Box<dyn CapturedLocal>>;
    fn address(&self) -> usize;
}

struct Key<T: 'static>(&'static LocalKey<T>);

impl<T: Clone + Send + Sync + 'static> Propagate for Key<T> {
    fn capture(&self) -> Option<Box<dyn CapturedLocal>> {
        let value = self.0.try_with(T::clone).ok()?;
        Some(Box::new(Captured { key: self.0, value }))
    }

    fn address(&self) -> usize {
        std::ptr::from_ref(self.0) as usize
    }
}

/// A task-local value captured from the spawner.
pub(super) trait CapturedLocal: Send + Sync {
    /// Runs `f` with the key holding (a clone of) the captured value.
    fn enter(&self, f: &mut dyn FnMut());
}

struct Captured<T: 'static> {
    key: &'static LocalKey<T>,
    value: T,
}

impl<T: Clone + Send + Sync + 'static> CapturedLocal for Captured<T> {
    fn enter(&self, f: &mut dyn FnMut()) {
        self.key.sync_scope(self.value.clone(), f);
    }
}

static REGISTRY: RwLock<Vec<Box<dyn Propagate>>> = RwLock::new(Vec::new());
static REGISTERED: AtomicUsize = AtomicUsize::new(0);

/// Registers a tokio `task_local!` key for propagation: from now on, a tether child (and any
/// future run in a [`capture`](super::capture)d [`Snapshot`](super::Snapshot)) runs inside the
/// value the spawning task had, if it had one.
///
/// Registering the same key again does nothing. The value is cloned once at spawn time and
/// once per poll of the child (`sync_scope` takes it by value), so make it cheap to clone (an
/// `Arc`, a small id).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// tokio::task_local! {
///     static REQUEST_ID: u64;
/// }
/// tether::propagate_task_local(&REQUEST_ID);
///
/// REQUEST_ID
///     .scope(7, async {
///         tether::task_group(async |tg| {
///             tg.spawn(async { assert_eq!(REQUEST_ID.get(), 7) });
///         })
///         .await
///         .unwrap();
///     })
///     .await;
/// # }
/// ```
pub fn propagate_task_local<T: Clone + Send + Sync + 'static>(key: &'static LocalKey<T>) {
    let key = Key(key);
    let mut registry = REGISTRY.write();
    if registry
        .iter()
        .any(|known| known.address() == key.address())
    {
        return;
    }
    registry.push(Box::new(key));
    REGISTERED.store(registry.len(), Ordering::Release);
}

/// No key is registered (so `capture` returns nothing).
pub(super) fn none_registered() -> bool {
    REGISTERED.load(Ordering::Acquire) == 0
}

/// The registered keys' values in the current task (no lock, no allocation when none is
/// registered).
pub(super) fn capture() -> Vec<Box<dyn CapturedLocal>> {
    if REGISTERED.load(Ordering::Acquire) == 0 {
        return Vec::new();
    }
    REGISTRY
        .read()
        .iter()
        .filter_map(|key| key.capture())
        .collect()
}

/// Runs `f` inside every captured value, outermost first.
pub(super) fn enter_all(locals: &[Box<dyn CapturedLocal>], f: &mut dyn FnMut()) {
    match locals.split_first() {
        None => f(),
        Some((first, rest)) => first.enter(&mut || enter_all(rest, f)),
    }
}
