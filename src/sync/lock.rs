//! [`Lock`]: FIFO mutual exclusion owned by a task.
//!
//! # Machinery
//!
//! A one-permit `tokio::sync::Semaphore` gives the FIFO queue and the cancel safety: a waiter that
//! is dropped leaves the queue, and a permit assigned to a waiter that is dropped before it ran
//! goes on to the next waiter. On top of it, `state` records the owner task, which tokio does not
//! know. Permits are always `forget()`-ed on acquisition and given back with `add_permits(1)` on
//! release, whether the lock was taken through a guard or explicitly.
//!
//! # Invariants
//!
//! - `state.owner.is_some()` implies the permit is taken: the owner is recorded right after the
//!   permit is obtained (no await in between) and cleared right before it is given back.
//! - Lock order: `state` is never held while calling into `semaphore` (which may wake tasks).

use std::fmt;

use tokio::sync::TryAcquireError;

use std::panic::Location;
use std::sync::Arc;

use crate::diagnostics::registry::{self as diag, LockDiag, WaitOn};
use crate::loom::sync::Mutex;
use crate::sync::error::LockError;
use crate::sync::waiters::WaiterCount;
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
    /// One permit: the lock is free when the permit is available. FIFO and cancel safe.
    semaphore: tokio::sync::Semaphore,
    /// Who holds the lock, and how.
    state: Mutex<LockState>,
    /// Tasks blocked in `lock`.
    waiters: WaiterCount,
    /// Where the lock was created (the task tree names locks by it).
    site: &'static Location<'static>,
}

/// The lock's owner, guarded by `Lock::state`.
#[derive(Debug, Default)]
struct LockState {
    /// The holder; `None` while the lock is free (or in the instant between a holder obtaining the
    /// permit and recording itself).
    owner: Option<Owner>,
    /// The lock's identity and holder as the task tree sees them; made on the first wait
    /// recorded while the tree is on, then kept in step with `owner` under this lock.
    diag: Option<Arc<LockDiag>>,
}

impl LockState {
    fn set_owner(&mut self, owner: Option<Owner>) {
        self.owner = owner;
        if let Some(d) = &self.diag {
            *d.owner.lock() = owner.map(|o| o.task);
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
            semaphore: tokio::sync::Semaphore::new(1),
            state: Mutex::new(LockState::default()),
            waiters: WaiterCount::new(),
            site: Location::caller(),
        }
    }

    /// Wait for the lock and return a guard that releases it when dropped.
    ///
    /// The current task is recorded as the owner (see [`statistics`](Lock::statistics)). Waiters
    /// are served in FIFO order.
    ///
    /// # Errors
    ///
    /// [`LockError::AlreadyOwned`] if the current task already holds this lock, in either form.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. If the future is dropped while waiting, the task does not get the lock and
    /// loses its place in the queue; nothing else is lost: if the lock was being handed to it at
    /// that moment, it passes to the next waiter. It is a cancellation point only while it waits:
    /// a free lock is taken on the first poll.
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
        let task = TaskId::current();
        self.wait_for_permit(task).await?;
        self.set_owner(task, true);
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
        self.try_permit(task)?;
        self.set_owner(task, true);
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
        let current = TaskId::current();
        {
            let mut state = self.state.lock();
            match state.owner {
                None => return Err(LockError::NotLocked { current }),
                Some(Owner {
                    task,
                    by_guard: true,
                }) => return Err(LockError::HeldByGuard { owner: task }),
                Some(Owner { task, .. }) if task != current => {
                    return Err(LockError::NotOwner {
                        owner: task,
                        current,
                    });
                }
                Some(_) => state.set_owner(None),
            }
        }
        self.semaphore.add_permits(1);
        Ok(())
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
        self.semaphore.available_permits() == 0
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
        LockStatistics {
            locked: self.is_locked(),
            owner: self.state.lock().owner.map(|owner| owner.task),
            tasks_waiting: self.waiters.get(),
        }
    }

    /// Fail if `task` already holds the lock.
    fn check_not_owner(&self, task: TaskId) -> Result<(), LockError> {
        match self.state.lock().owner {
            Some(owner) if owner.task == task => Err(LockError::AlreadyOwned { task }),
            _ => Ok(()),
        }
    }

    /// Take the permit without waiting (and forget it: `release`/guard drop give it back).
    fn try_permit(&self, task: TaskId) -> Result<(), LockError> {
        self.check_not_owner(task)?;
        match self.semaphore.try_acquire() {
            Ok(permit) => {
                permit.forget();
                Ok(())
            }
            Err(TryAcquireError::NoPermits) => Err(LockError::WouldBlock),
            Err(TryAcquireError::Closed) => unreachable!("{NEVER_CLOSED}"),
        }
    }

    /// Wait for the permit in FIFO order (and forget it).
    async fn wait_for_permit(&self, task: TaskId) -> Result<(), LockError> {
        match self.try_permit(task) {
            Err(LockError::WouldBlock) => {}
            other => return other,
        }
        let _waiting = self.waiters.enter();
        let _diag = diag::wait(|| WaitOn::Lock(self.diag()));
        // Cancel safety: tokio's `acquire` is cancel safe and hands a permit assigned to a dropped
        // waiter on to the next one. Nothing after it awaits, so once it returns the lock is ours.
        self.semaphore.acquire().await.expect(NEVER_CLOSED).forget();
        Ok(())
    }

    /// Record the owner right after taking the permit (no await in between).
    fn set_owner(&self, task: TaskId, by_guard: bool) {
        self.state.lock().set_owner(Some(Owner { task, by_guard }));
    }

    /// Give the permit back on behalf of a guard.
    fn unlock_from_guard(&self) {
        self.state.lock().set_owner(None);
        self.semaphore.add_permits(1);
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
