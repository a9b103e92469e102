//! [`Lock`]: FIFO mutual exclusion owned by a task.
//!
//! # Machinery
//!
//! One `parking_lot` mutex around [`LockState`]: the owner, and a FIFO queue of the tasks
//! waiting, each with its waker. Releasing the lock with a waiter queued **hands it over
//! directly**: under the mutex the releaser takes the first waiter out of the queue, records
//! that waiter's task as the owner, and wakes it; the woken future only collects what is already
//! its own. So the owner is known at every instant (there is no window in which the lock is
//! held and nobody owns it, as there was when a tokio semaphore handed its permit over and the
//! waiter recorded itself only when its task next ran), and a newcomer can never take a lock
//! that was released while someone waited (FIFO, no barging).
//!
//! A waiting future that is dropped leaves the queue. One that was handed the lock and is
//! dropped before it collected it passes the lock on to the next waiter (or frees it): a
//! cancelled waiter never keeps the lock.
//!
//! # Invariants (hold whenever the mutex is released)
//!
//! 1. The lock is held iff `owner` is `Some`; `statistics()`, `is_locked()` and the errors all
//!    read `owner`, so they agree.
//! 2. If the queue is not empty, the lock is held (a release with a waiter queued never frees
//!    it). So a free lock has nobody waiting for it, and `try_lock` on a free lock is fair.
//! 3. Queue keys increase from front to back (keys are handed out in push order and only the
//!    front is popped or an entry removed), so a waiter is found by binary search.
//! 4. A waiting future whose key is no longer in the queue was handed the lock: it is the
//!    owner, recorded as holding a guard, until the future collects it (then a [`LockGuard`]
//!    exists) or is dropped (then the lock passes on).
//! 5. A waiter's record in the task tree ends when it leaves the queue, under the mutex and
//!    before the owner changes to it, so the tree never shows a task waiting for a lock it
//!    holds because of a hand-off (it would read as a one-task lock cycle).
//!
//! # Lock order
//!
//! `state`, then (inside) the task tree's locks: an entry's wait list and its lock-wait list
//! when a handed waiter's record ends (invariant 5), and the `LockDiag` owner lock when the
//! owner changes. Nothing takes `state` while holding one of those. Wakers are woken, and
//! replaced or removed wakers dropped, after `state` is released: a waker's `wake` or `drop`
//! may run arbitrary code, and code that reads the lock would deadlock under `state`.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::diagnostics::registry::{self as diag, LockDiag, WaitOn, WaitToken};
use crate::loom::sync::Mutex;
use crate::sync::error::LockError;
use crate::task::TaskId;

/// The message of the `expect` on `Semaphore::acquire`: tether never closes its semaphores.
pub(crate) const NEVER_CLOSED: &str = "tether never closes the semaphore inside a sync primitive";

/// A FIFO lock whose owner is a task (AnyIO's `Lock`).
///
/// At most one task holds the lock. Tasks waiting for it get it in the order they started waiting.
/// Two forms, which can be mixed on one lock:
///
/// - **Guard form**: [`lock`](Lock::lock) returns a [`LockGuard`]; dropping the guard releases the
///   lock. This is the form to use in Rust: the lock cannot be left held by an early return or a
///   panic.
/// - **Explicit form** (AnyIO's `acquire()`/`release()`): [`LockGuard::forget`] keeps the lock
///   without a guard, its owner the task that locked it ([`TaskId::current`]), and only that task
///   may [`release`](Lock::release) it.
///
/// The owner is a task, as in AnyIO: a task that holds the lock (in either form) and asks for it
/// again gets [`LockError::AlreadyOwned`] at once instead of a deadlock. This includes two futures
/// of one task (under `join!` or `select!`) contending for the lock: spawn them as tasks, or use
/// `tokio::sync::Mutex` for contention inside one task.
///
/// Share a lock between tasks with an `Arc`.
///
/// # Fairness
///
/// Strictly FIFO, as AnyIO's and Trio's locks: a release with tasks waiting hands the lock to
/// the first of them at that instant (it is the owner before its task runs again), so neither a
/// newcomer's [`lock`](Lock::lock) nor its [`try_lock`](Lock::try_lock) can take a lock someone
/// waits for: `try_lock` succeeds only on a lock that is free and has nobody waiting. A waiter
/// that is cancelled leaves the queue, or, if the lock was already handed to it, passes it to
/// the next waiter. One difference from AnyIO: AnyIO's `acquire()` always yields to the event
/// loop (a checkpoint) even when the lock is free; here a free lock is taken without yielding.
///
/// # Comparison to `tokio::sync::Mutex`
///
/// tokio's mutex guards a value and has no owner: a re-lock from the holder deadlocks silently. A
/// `Lock` guards a critical section, knows its owner task, and reports misuse as a [`LockError`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use tether::Lock;
///
/// let lock = Arc::new(Lock::new());
/// let guard = lock.lock().await.unwrap();
/// let other = tokio::spawn({
///     let lock = lock.clone();
///     async move {
///         let _guard = lock.lock().await.unwrap(); // waits for the first guard
///     }
/// });
/// tokio::task::yield_now().await;
/// assert_eq!(lock.statistics().tasks_waiting, 1);
/// drop(guard);
/// other.await.unwrap();
/// assert!(!lock.is_locked());
/// # }
/// ```
pub struct Lock {
    /// Who holds the lock, and who waits for it (see the module invariants).
    state: Mutex<LockState>,
    /// Where the lock was created (the task tree names locks by it).
    site: &'static Location<'static>,
}

/// The lock's owner and waiters, guarded by `Lock::state`.
#[derive(Debug, Default)]
struct LockState {
    /// The holder; `None` exactly while the lock is free (invariant 1).
    owner: Option<Owner>,
    /// The tasks blocked in `lock`, oldest first, keys increasing (invariant 3).
    queue: VecDeque<Waiter>,
    /// The key the next waiter gets.
    next_key: u64,
    /// The lock's identity and holder as the task tree sees them; made on the first wait
    /// recorded while the tree is on, then kept in step with `owner` under this lock.
    diag: Option<Arc<LockDiag>>,
}

/// A task blocked in `lock`.
#[derive(Debug)]
struct Waiter {
    /// Names the waiting future's place (increasing in queue order).
    key: u64,
    /// The task that waits; it becomes the owner when the lock is handed to it.
    task: TaskId,
    /// Woken when the lock is handed to it.
    waker: Waker,
    /// Its wait as the task tree shows it (when the tree is on); ended when it leaves the
    /// queue, before it becomes the owner (invariant 5).
    wait: Option<WaitToken>,
}

impl LockState {
    fn set_owner(&mut self, owner: Option<Owner>) {
        self.owner = owner;
        if let Some(d) = &self.diag {
            *d.owner.lock() = owner.map(|o| o.task);
        }
    }

    /// Where the waiter `key` is in the queue, if it is still queued.
    fn position(&self, key: u64) -> Option<usize> {
        self.queue.binary_search_by_key(&key, |w| w.key).ok()
    }

    /// The current owner lets go: the lock goes to the first waiter, whose waker is returned
    /// (to wake after unlocking), or becomes free.
    fn pass_on(&mut self) -> Option<Waker> {
        match self.queue.pop_front() {
            Some(waiter) => {
                // Invariant 5: the wait ends before the waiter owns the lock.
                drop(waiter.wait);
                self.set_owner(Some(Owner {
                    task: waiter.task,
                    by_guard: true,
                }));
                Some(waiter.waker)
            }
            None => {
                self.set_owner(None);
                None
            }
        }
    }

    /// Takes the lock for `task` if it is free.
    fn try_take(&mut self, task: TaskId) -> Result<(), LockError> {
        match self.owner {
            None => {
                self.set_owner(Some(Owner {
                    task,
                    by_guard: true,
                }));
                Ok(())
            }
            Some(owner) if owner.task == task => Err(LockError::AlreadyOwned { task }),
            Some(_) => Err(LockError::WouldBlock),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Owner {
    /// The task that acquired the lock.
    task: TaskId,
    /// Whether a [`LockGuard`] holds it (then only dropping the guard releases it).
    by_guard: bool,
}

/// A snapshot of a [`Lock`]'s state, from [`Lock::statistics`] (AnyIO's `LockStatistics`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let lock = tether::Lock::new();
/// lock.lock().await.unwrap().forget();
/// let stats = lock.statistics();
/// assert!(stats.locked);
/// assert_eq!(stats.owner, Some(tether::TaskId::current()));
/// assert_eq!(stats.tasks_waiting, 0);
/// # lock.release().unwrap();
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStatistics {
    /// Whether the lock is held.
    pub locked: bool,
    /// The task that holds it, if any.
    pub owner: Option<TaskId>,
    /// How many tasks are waiting to acquire it.
    pub tasks_waiting: usize,
}

impl Default for Lock {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = tether::Lock::new();
    /// assert!(!lock.is_locked());
    /// ```
    #[track_caller]
    pub fn new() -> Self {
        Self {
            state: Mutex::new(LockState::default()),
            site: Location::caller(),
        }
    }

    /// Wait for the lock and return a guard that releases it when dropped.
    ///
    /// The current task is recorded as the owner (see [`statistics`](Lock::statistics)). Waiters
    /// are served in FIFO order. A release with tasks waiting hands the lock to the first of
    /// them at once: from that moment it is that task's (its owner in `statistics()`, and a
    /// `release()` by anyone else is [`LockError::NotOwner`]), even before its task runs again.
    ///
    /// # Errors
    ///
    /// [`LockError::AlreadyOwned`] if the current task already holds this lock, in either form.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. If the future is dropped while waiting, the task does not get the lock and
    /// loses its place in the queue; nothing else is lost: if the lock had been handed to it and
    /// it had not run yet to collect it, the lock passes to the next waiter (or is freed). It is
    /// a cancellation point only while it waits: a free lock is taken on the first poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let lock = tether::Lock::new();
    /// {
    ///     let _guard = lock.lock().await.unwrap();
    ///     assert!(lock.is_locked());
    /// }
    /// assert!(!lock.is_locked());
    /// # }
    /// ```
    pub async fn lock(&self) -> Result<LockGuard<'_>, LockError> {
        self.lock_as(TaskId::current()).await
    }

    /// [`lock`](Lock::lock) on behalf of `task`.
    async fn lock_as(&self, task: TaskId) -> Result<LockGuard<'_>, LockError> {
        self.acquire(task).await?;
        Ok(LockGuard { lock: self, task })
    }

    /// Take the lock without waiting and return a guard, or fail.
    ///
    /// # Errors
    ///
    /// [`LockError::AlreadyOwned`] if the current task holds it; [`LockError::WouldBlock`] if
    /// another task holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = tether::Lock::new();
    /// let guard = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_err());
    /// drop(guard);
    /// assert!(lock.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> Result<LockGuard<'_>, LockError> {
        let task = TaskId::current();
        self.state.lock().try_take(task)?;
        Ok(LockGuard { lock: self, task })
    }

    /// Release a lock the current task keeps without a guard ([`LockGuard::forget`], AnyIO's
    /// `acquire()`), handing it to the first waiter (AnyIO's `release()`).
    ///
    /// # Errors
    ///
    /// - [`LockError::NotLocked`] if the lock is not held;
    /// - [`LockError::NotOwner`] if another task holds it (the message names both tasks);
    /// - [`LockError::HeldByGuard`] if it is held through a [`LockGuard`]: drop the guard instead.
    ///
    /// On error nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::Arc;
    /// use tether::{Lock, LockError};
    ///
    /// let lock = Arc::new(Lock::new());
    /// lock.lock().await.unwrap().forget();
    /// let err = tokio::spawn({
    ///     let lock = lock.clone();
    ///     async move { lock.release() }
    /// })
    /// .await
    /// .unwrap()
    /// .unwrap_err();
    /// assert!(matches!(err, LockError::NotOwner { .. }));
    /// lock.release().unwrap();
    /// # }
    /// ```
    pub fn release(&self) -> Result<(), LockError> {
        self.release_as(TaskId::current())
    }

    /// Whether the lock is held (AnyIO's `locked()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = tether::Lock::new();
    /// let guard = lock.try_lock().unwrap();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.state.lock().owner.is_some()
    }

    /// A snapshot of the lock's state: held or not, the owner task, the number of waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = tether::Lock::new();
    /// let stats = lock.statistics();
    /// assert!(!stats.locked);
    /// assert_eq!(stats.owner, None);
    /// ```
    pub fn statistics(&self) -> LockStatistics {
        let state = self.state.lock();
        LockStatistics {
            locked: state.owner.is_some(),
            owner: state.owner.map(|owner| owner.task),
            tasks_waiting: state.queue.len(),
        }
    }

    /// [`release`](Lock::release) on behalf of `current`.
    fn release_as(&self, current: TaskId) -> Result<(), LockError> {
        let next = {
            let mut state = self.state.lock();
            match state.owner {
                None => return Err(LockError::NotLocked { current }),
                Some(Owner { task, .. }) if task != current => {
                    return Err(LockError::NotOwner {
                        owner: task,
                        current,
                    });
                }
                Some(Owner {
                    task,
                    by_guard: true,
                }) => return Err(LockError::HeldByGuard { owner: task }),
                Some(_) => state.pass_on(),
            }
        };
        if let Some(waker) = next {
            waker.wake();
        }
        Ok(())
    }

    /// The future that takes the lock for `task`, waiting in FIFO order.
    fn acquire(&self, task: TaskId) -> Acquire<'_> {
        Acquire {
            lock: self,
            task,
            key: None,
        }
    }

    /// Record `task` as the owner, holding a guard or not (the lock is held by `task`).
    fn set_owner(&self, task: TaskId, by_guard: bool) {
        self.state.lock().set_owner(Some(Owner { task, by_guard }));
    }

    /// Let go on behalf of a guard: the lock goes to the first waiter, or is freed.
    fn unlock_from_guard(&self) {
        let next = self.state.lock().pass_on();
        if let Some(waker) = next {
            waker.wake();
        }
    }

    /// The lock's identity for the task tree (made on first use).
    fn diag(&self) -> Arc<LockDiag> {
        let mut state = self.state.lock();
        let owner = state.owner.map(|o| o.task);
        state
            .diag
            .get_or_insert_with(|| {
                Arc::new(LockDiag {
                    id: diag::next_id(),
                    site: self.site,
                    owner: parking_lot::Mutex::new(owner),
                })
            })
            .clone()
    }

    /// Whether `self` and `other` are the same lock.
    pub(crate) fn same_as(&self, other: &Lock) -> bool {
        std::ptr::eq(self, other)
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.statistics();
        f.debug_struct("Lock")
            .field("locked", &stats.locked)
            .field("owner", &stats.owner)
            .field("tasks_waiting", &stats.tasks_waiting)
            .finish()
    }
}

/// The loom models' seam: every model thread has the same `TaskId::current()`, so the models
/// say which task each call acts for.
#[cfg(all(test, tether_loom))]
impl Lock {
    pub(crate) fn lock_for(
        &self,
        task: TaskId,
    ) -> impl Future<Output = Result<LockGuard<'_>, LockError>> + Send + '_ {
        self.lock_as(task)
    }

    pub(crate) fn release_for(&self, task: TaskId) -> Result<(), LockError> {
        self.release_as(task)
    }
}

/// Takes a [`Lock`] for a task, waiting in its FIFO queue (the machinery of [`Lock::lock`]).
///
/// First poll: take the lock if it is free, else join the queue. Later polls: a key no longer
/// in the queue means the lock was handed over (invariant 4), and the future completes. Dropped
/// while queued, it leaves the queue; dropped after the hand-off and before completing, it
/// passes the lock on.
struct Acquire<'a> {
    /// The lock to take.
    lock: &'a Lock,
    /// The task that takes it.
    task: TaskId,
    /// The waiter's key while it is queued or handed the lock and not yet completed.
    key: Option<u64>,
}

impl Future for Acquire<'_> {
    type Output = Result<(), LockError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let lock = this.lock;
        if let Some(key) = this.key {
            let mut state = lock.state.lock();
            return match state.position(key) {
                Some(at) => {
                    let waker = &mut state.queue[at].waker;
                    if !waker.will_wake(cx.waker()) {
                        // The old waker is dropped after unlocking: a waker's drop may run
                        // arbitrary code, which may read this lock.
                        let old = std::mem::replace(waker, cx.waker().clone());
                        drop(state);
                        drop(old);
                    }
                    Poll::Pending
                }
                None => {
                    // Handed over: the lock is already ours (invariant 4).
                    this.key = None;
                    Poll::Ready(Ok(()))
                }
            };
        }
        // First poll. The wait is recorded for the task tree before joining the queue, without
        // the state lock (making the lock's tree identity takes it), so the state is looked at
        // again after.
        let mut wait: Option<WaitToken> = None;
        let mut recorded = false;
        loop {
            let mut state = lock.state.lock();
            match state.try_take(this.task) {
                Err(LockError::WouldBlock) => {}
                done => {
                    drop(state);
                    drop(wait);
                    return Poll::Ready(done);
                }
            }
            if !recorded && diag::enabled() {
                drop(state);
                recorded = true;
                wait = diag::wait(|| WaitOn::Lock(lock.diag()));
                continue;
            }
            let key = state.next_key;
            state.next_key += 1;
            state.queue.push_back(Waiter {
                key,
                task: this.task,
                waker: cx.waker().clone(),
                wait,
            });
            this.key = Some(key);
            return Poll::Pending;
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key else {
            return;
        };
        let (next, left) = {
            let mut state = self.lock.state.lock();
            match state.position(key) {
                // Still queued: leave the queue (the lock is held by someone else, invariant 2,
                // so nobody is to be woken).
                Some(at) => (None, state.queue.remove(at)),
                // Handed the lock and never collected it: pass it on.
                None => (state.pass_on(), None),
            }
        };
        // Its waker and its tree record are dropped after unlocking.
        drop(left);
        if let Some(waker) = next {
            waker.wake();
        }
    }
}

/// Holds a [`Lock`] until dropped; returned by [`Lock::lock`] and [`Lock::try_lock`].
///
/// Dropping the guard releases the lock and hands it to the first waiter, from any task (a guard
/// may be moved to another task; the lock's recorded owner stays the task that locked it).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let lock = tether::Lock::new();
/// let guard = lock.lock().await.unwrap();
/// assert_eq!(guard.owner(), tether::TaskId::current());
/// drop(guard);
/// assert!(!lock.is_locked());
/// # }
/// ```
///
/// A guard cannot outlive its lock:
///
/// ```compile_fail,E0597
/// let guard = {
///     let lock = tether::Lock::new();
///     lock.try_lock().unwrap()
/// };
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    /// The lock this guard holds.
    lock: &'a Lock,
    /// The task that locked it.
    task: TaskId,
}

impl<'a> LockGuard<'a> {
    /// The task that took this guard.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = tether::Lock::new();
    /// let guard = lock.try_lock().unwrap();
    /// assert_eq!(guard.owner(), tether::TaskId::current());
    /// ```
    pub fn owner(&self) -> TaskId {
        self.task
    }

    /// Keep the lock without a guard: the task that locked it stays its owner, and only that
    /// task's [`Lock::release`] gives it back (AnyIO's explicit `acquire()`/`release()` pair is
    /// `lock().await?.forget()` and `release()`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let lock = tether::Lock::new();
    /// lock.lock().await.unwrap().forget();
    /// assert_eq!(lock.statistics().owner, Some(tether::TaskId::current()));
    /// lock.release().unwrap();
    /// assert!(!lock.is_locked());
    /// # }
    /// ```
    pub fn forget(self) {
        self.lock.set_owner(self.task, false);
        std::mem::forget(self);
    }

    /// The lock this guard holds.
    pub(crate) fn lock_ref(&self) -> &'a Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.unlock_from_guard();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("owner", &self.task)
            .finish()
    }
}
