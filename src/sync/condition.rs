//! [`Condition`]: wait for a notification while giving up a [`Lock`].
//!
//! # Machinery
//!
//! Waiters queue in `state.queue` (FIFO), each with a oneshot channel. `notify(n)` pops the first
//! `n` entries under the lock and sends on their channels after releasing it (a send wakes a
//! task, and no waker runs under `state`). A waiter registers *before* it releases the lock, so
//! a notification sent after the release (by a task that then takes the lock) cannot be missed.
//!
//! # Invariants
//!
//! - An entry is in `queue` iff its waiter is registered and not yet notified. A waiter that is
//!   dropped while registered removes its entry; a waiter that is dropped after it was popped
//!   (notified, but it never went on to take the lock) passes the notification to the next
//!   entry, so a cancelled waiter never swallows a `notify(1)`.
//! - `state` is never held across an await, and never while calling into the lock.

use std::collections::VecDeque;
use std::fmt;

use tokio::sync::oneshot;

use crate::loom::sync::{Arc, Mutex};
use crate::sync::error::{ConditionError, LockError};
use crate::sync::lock::{Lock, LockGuard, LockStatistics};

/// A condition variable tied to a [`Lock`] (AnyIO's `Condition`).
///
/// A task that holds the lock calls [`wait`](Condition::wait): it releases the lock, sleeps until
/// another task calls [`notify`](Condition::notify) or [`notify_all`](Condition::notify_all), then
/// takes the lock again before returning. Waiters are woken in FIFO order. As with every condition
/// variable, check the predicate in a loop around `wait`.
///
/// A notification reaches only tasks already waiting; `notify` with nobody waiting does nothing.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use tether::Condition;
///
/// let condition = Arc::new(Condition::new());
/// let ready = Arc::new(AtomicBool::new(false));
/// let waiter = tokio::spawn({
///     let (condition, ready) = (condition.clone(), ready.clone());
///     async move {
///         let mut guard = condition.lock().await.unwrap();
///         while !ready.load(Ordering::SeqCst) {
///             guard = condition.wait(guard).await.unwrap();
///         }
///     }
/// });
/// tokio::task::yield_now().await; // the waiter is now waiting
/// {
///     let _guard = condition.lock().await.unwrap();
///     ready.store(true, Ordering::SeqCst);
///     condition.notify(1);
/// }
/// waiter.await.unwrap();
/// # }
/// ```
pub struct Condition {
    /// The lock `wait` releases and takes again.
    lock: Arc<Lock>,
    /// The waiters, FIFO.
    state: Mutex<ConditionState>,
}

#[derive(Debug, Default)]
struct ConditionState {
    /// Registered, not yet notified waiters, oldest first.
    queue: VecDeque<(u64, oneshot::Sender<()>)>,
    /// The id of the next registration.
    next_id: u64,
}

impl ConditionState {
    /// Takes the first `n` waiters out of the queue. The caller notifies them with [`wake`]
    /// after releasing the lock.
    fn pop(&mut self, n: usize) -> Vec<oneshot::Sender<()>> {
        let n = n.min(self.queue.len());
        self.queue.drain(..n).map(|(_, sender)| sender).collect()
    }
}

/// Notifies waiters taken out of the queue; called with `state` unlocked, because sending on a
/// oneshot wakes its task, and a waker that reads the condition (`statistics()`) would deadlock
/// on the lock (issue 8, bug 13). A waiter dropped in between passed the notification on when it
/// found itself out of the queue (see `Registration::drop`), so a failed send loses nothing.
fn wake(senders: Vec<oneshot::Sender<()>>) -> usize {
    let woken = senders.len();
    for sender in senders {
        let _ = sender.send(());
    }
    woken
}

/// A snapshot of a [`Condition`]'s state, from [`Condition::statistics`].
///
/// # Examples
///
/// ```
/// let stats = tether::Condition::new().statistics();
/// assert_eq!(stats.tasks_waiting, 0);
/// assert!(!stats.lock_statistics.locked);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConditionStatistics {
    /// How many tasks are waiting for a notification.
    pub tasks_waiting: usize,
    /// The state of the condition's lock.
    pub lock_statistics: LockStatistics,
}

impl Default for Condition {
    fn default() -> Self {
        Self::new()
    }
}

impl Condition {
    /// A condition with a lock of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// let condition = tether::Condition::new();
    /// assert!(!condition.lock_handle().is_locked());
    /// ```
    pub fn new() -> Self {
        Self::with_lock(Arc::new(Lock::new()))
    }

    /// A condition over an existing lock (shared with other code or other conditions).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tether::{Condition, Lock};
    ///
    /// let lock = Arc::new(Lock::new());
    /// let not_empty = Condition::with_lock(lock.clone());
    /// let not_full = Condition::with_lock(lock.clone());
    /// assert!(Arc::ptr_eq(not_empty.lock_handle(), not_full.lock_handle()));
    /// ```
    pub fn with_lock(lock: Arc<Lock>) -> Self {
        Self {
            lock,
            state: Mutex::new(ConditionState::default()),
        }
    }

    /// The condition's lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let condition = tether::Condition::new();
    /// condition.lock_handle().try_lock().unwrap().forget();
    /// condition.release().unwrap();
    /// ```
    pub fn lock_handle(&self) -> &Arc<Lock> {
        &self.lock
    }

    /// Take the condition's lock, as [`Lock::lock`].
    ///
    /// # Errors
    ///
    /// As [`Lock::lock`]: [`LockError::AlreadyOwned`] if the current task holds it.
    ///
    /// # Cancel safety
    ///
    /// As [`Lock::lock`]: cancel safe, nothing is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let condition = tether::Condition::new();
    /// let guard = condition.lock().await.unwrap();
    /// drop(guard);
    /// # }
    /// ```
    pub async fn lock(&self) -> Result<LockGuard<'_>, LockError> {
        self.lock.lock().await
    }

    /// Release the condition's lock, as [`Lock::release`].
    ///
    /// # Errors
    ///
    /// As [`Lock::release`].
    ///
    /// # Examples
    ///
    /// ```
    /// let condition = tether::Condition::new();
    /// assert!(condition.release().is_err()); // not locked
    /// ```
    pub fn release(&self) -> Result<(), LockError> {
        self.lock.release()
    }

    /// Release the lock held by `guard`, wait for a notification, take the lock again and return
    /// the new guard.
    ///
    /// The current task is queued before the lock is released, so a notification sent by a task
    /// that takes the lock after that is never missed. Waiters are woken in FIFO order.
    ///
    /// # Errors
    ///
    /// - [`ConditionError::ForeignGuard`] if `guard` holds another lock (that guard is dropped,
    ///   releasing its lock);
    /// - [`ConditionError::Lock`] if taking the lock again fails.
    ///
    /// # Cancel safety
    ///
    /// A cancellation point. If the future is dropped, **the lock is not held on exit**: the guard
    /// was given to `wait`, which released it. A notification that was handed to this waiter
    /// before it could act on it passes to the next waiter, so cancelling never loses a
    /// `notify(1)`. Once the waiter has been notified and is taking the lock back, cancelling it
    /// consumes the notification.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::Arc;
    /// use tether::Condition;
    ///
    /// let condition = Arc::new(Condition::new());
    /// let waiter = tokio::spawn({
    ///     let condition = condition.clone();
    ///     async move {
    ///         let guard = condition.lock().await.unwrap();
    ///         let _guard = condition.wait(guard).await.unwrap();
    ///     }
    /// });
    /// tokio::task::yield_now().await;
    /// assert_eq!(condition.statistics().tasks_waiting, 1);
    /// condition.notify_all();
    /// waiter.await.unwrap();
    /// # }
    /// ```
    pub async fn wait<'a>(&self, guard: LockGuard<'a>) -> Result<LockGuard<'a>, ConditionError> {
        let lock = guard.lock_ref();
        if !lock.same_as(&self.lock) {
            return Err(ConditionError::ForeignGuard);
        }
        let registration = self.register();
        drop(guard);
        {
            let _diag = crate::diagnostics::registry::wait(|| {
                crate::diagnostics::registry::WaitOn::Condition
            });
            registration.notified().await;
        }
        Ok(lock.lock().await?)
    }

    /// The explicit form of [`wait`](Condition::wait) (AnyIO's `wait()`): the current task holds the
    /// lock without a guard ([`LockGuard::forget`]); it is released while waiting and held again,
    /// still without a guard, on success.
    ///
    /// # Errors
    ///
    /// [`ConditionError::Lock`] with the error of [`Lock::release`] if the current task does not
    /// keep the lock without a guard ([`LockGuard::forget`]; nothing changes then), or of
    /// [`Lock::lock`] when taking it back.
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Condition::wait): a cancellation point; if cancelled, the current task no longer
    /// holds the lock, and a notification handed to it passes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::Arc;
    /// use tether::Condition;
    ///
    /// let condition = Arc::new(Condition::new());
    /// let waiter = tokio::spawn({
    ///     let condition = condition.clone();
    ///     async move {
    ///         condition.lock().await.unwrap().forget();
    ///         condition.wait_acquired().await.unwrap();
    ///         condition.release().unwrap();
    ///     }
    /// });
    /// tokio::task::yield_now().await;
    /// condition.notify(1);
    /// waiter.await.unwrap();
    /// # }
    /// ```
    pub async fn wait_acquired(&self) -> Result<(), ConditionError> {
        let registration = self.register();
        // On error `registration` is dropped: it leaves the queue (or passes a notification on).
        self.lock.release()?;
        {
            let _diag = crate::diagnostics::registry::wait(|| {
                crate::diagnostics::registry::WaitOn::Condition
            });
            registration.notified().await;
        }
        self.lock.lock().await?.forget();
        Ok(())
    }

    /// Wake up to `n` waiting tasks, oldest first; returns how many were woken.
    ///
    /// AnyIO requires the lock to be held; tether does not, because a notification is a plain
    /// message here and cannot be lost to a race with the waiters' registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let condition = tether::Condition::new();
    /// assert_eq!(condition.notify(3), 0); // nobody waiting: nothing happens
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        let senders = self.state.lock().pop(n);
        wake(senders)
    }

    /// Wake every waiting task; returns how many were woken.
    ///
    /// # Examples
    ///
    /// ```
    /// let condition = tether::Condition::new();
    /// assert_eq!(condition.notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        let senders = self.state.lock().pop(usize::MAX);
        wake(senders)
    }

    /// A snapshot: waiters and the lock's statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// let condition = tether::Condition::new();
    /// assert_eq!(condition.statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> ConditionStatistics {
        ConditionStatistics {
            tasks_waiting: self.state.lock().queue.len(),
            lock_statistics: self.lock.statistics(),
        }
    }

    /// Queue the current task for a notification.
    fn register(&self) -> Registration<'_> {
        let (sender, receiver) = oneshot::channel();
        let mut state = self.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.queue.push_back((id, sender));
        Registration {
            condition: self,
            id,
            receiver,
            done: false,
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("tasks_waiting", &self.state.lock().queue.len())
            .field("lock", &self.lock)
            .finish()
    }
}

/// One waiter's place in the queue; leaves it (or passes its notification on) when dropped.
struct Registration<'a> {
    condition: &'a Condition,
    id: u64,
    receiver: oneshot::Receiver<()>,
    /// Whether the notification was received (then dropping passes nothing on).
    done: bool,
}

impl Registration<'_> {
    async fn notified(mut self) {
        // The sender is never dropped unsent while queued, so `Err` cannot happen; treat it as a
        // notification anyway rather than hang.
        let _ = (&mut self.receiver).await;
        self.done = true;
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let next = {
            let mut state = self.condition.state.lock();
            if let Some(position) = state.queue.iter().position(|(id, _)| *id == self.id) {
                state.queue.remove(position);
                Vec::new()
            } else {
                // Popped by `notify`: this waiter was chosen but is going away; wake the next one.
                state.pop(1)
            }
        };
        wake(next);
    }
}
