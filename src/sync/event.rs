//! [`Event`]: a one-shot flag that tasks can wait for.

use std::fmt;

use tokio::sync::Notify;

use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicBool, Ordering};

/// A one-shot event: starts unset, is [`set`](Event::set) once, and stays set.
///
/// Every [`wait`](Event::wait) that started before the event was set returns once it is set;
/// every `wait` after that returns at once. Setting it again does nothing. This is AnyIO's and
/// Trio's `Event`; there is no `clear()` (make a new `Event` instead, as Trio advises).
///
/// `Event` is a cheap handle: clones share one event, so hand a clone to each task that sets or
/// waits for it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::Event;
///
/// let ready = Event::new();
/// let waiter = tokio::spawn({
///     let ready = ready.clone();
///     async move {
///         ready.wait().await;
///         "saw it"
///     }
/// });
/// ready.set();
/// assert_eq!(waiter.await.unwrap(), "saw it");
/// assert!(ready.is_set());
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Arc<Inner>,
}

/// The state every clone of one [`Event`] shares.
///
/// # Invariants
///
/// - `set` goes from `false` to `true` once and never back.
/// - No lost wakeup: a waiter registers with `notify` (`Notified::enable`) *before* it reads `set`,
///   and `set()` stores `set` *before* it calls `notify_waiters`. So either the waiter reads `true`,
///   or it was registered when `notify_waiters` ran and is woken.
#[derive(Default)]
struct Inner {
    /// Whether the event has been set.
    set: AtomicBool,
    /// Wakes the tasks blocked in `wait()`.
    notify: Notify,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = tether::Event::new();
    /// assert!(!event.is_set());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the event, waking every task waiting for it.
    ///
    /// Idempotent: setting a set event does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = tether::Event::new();
    /// event.set();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        // SeqCst pairs with the load in `wait` after `enable()`; see the invariants on `Inner`.
        if !self.inner.set.swap(true, Ordering::SeqCst) {
            self.inner.notify.notify_waiters();
        }
    }

    /// Whether the event has been set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = tether::Event::new();
    /// assert!(!event.is_set());
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.set.load(Ordering::SeqCst)
    }

    /// Wait until the event is set; returns at once if it already is.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing (the event stays as it is, and other waiters
    /// are still woken). It is a cancellation point only while the event is unset: once it is set,
    /// `wait` completes on its first poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let event = tether::Event::new();
    /// event.set();
    /// event.wait().await; // already set: returns at once
    /// # }
    /// ```
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Register before reading the flag, so a `set()` in between cannot be missed.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            let _diag =
                crate::diagnostics::registry::wait(|| crate::diagnostics::registry::WaitOn::Event);
            notified.await;
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
