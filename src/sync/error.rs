//! The errors of the synchronization primitives: one small enum per primitive.
//!
//! Every message names the misuse and the fix, in lowercase and without a final period, so it reads
//! well inside a larger report (`failed to start worker: lock is held by task 7, not by task 12; ...`).

use crate::sync::capacity_limiter::Borrower;
use crate::task::TaskId;

/// A misuse of a [`Lock`](crate::Lock), or a `try_` form that would have to wait.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{Lock, LockError};
///
/// let lock = Lock::new();
/// assert_eq!(lock.release(), Err(LockError::NotLocked { current: tether::TaskId::current() }));
/// let guard = lock.lock().await.unwrap();
/// let err = lock.lock().await.unwrap_err();
/// assert!(matches!(err, LockError::AlreadyOwned { .. }));
/// assert!(err.to_string().contains("already holds this lock"));
/// # drop(guard);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The task that holds the lock tried to acquire it again. A lock is not reentrant: waiting
    /// would deadlock, so this is reported instead.
    #[error(
        "{task} already holds this lock and tried to acquire it again; a lock is not reentrant: \
         release it first, or acquire it once and pass the guard down"
    )]
    AlreadyOwned {
        /// The task that holds the lock and asked for it again.
        task: TaskId,
    },
    /// `release()` was called by a task other than the one that acquired the lock.
    #[error(
        "lock is held by {owner}, not by {current}; only the task that acquired a lock may release it"
    )]
    NotOwner {
        /// The task that holds the lock.
        owner: TaskId,
        /// The task that called `release()`.
        current: TaskId,
    },
    /// `release()` was called while the lock was not held at all.
    #[error(
        "{current} released a lock that is not locked; call release() once per lock kept with \
         LockGuard::forget()"
    )]
    NotLocked {
        /// The task that called `release()`.
        current: TaskId,
    },
    /// `release()` was called while the lock is held through a [`LockGuard`](crate::LockGuard).
    #[error(
        "lock is held through a LockGuard taken by {owner}, so release() cannot release it; \
         drop the guard instead"
    )]
    HeldByGuard {
        /// The task that took the guard.
        owner: TaskId,
    },
    /// A `try_` form found the lock held by another task.
    #[error("try_lock would wait: the lock is held by another task")]
    WouldBlock,
}

impl LockError {
    /// Whether a `try_` form found the lock held, as opposed to a misuse.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether::LockError::WouldBlock.is_would_block());
    /// ```
    pub fn is_would_block(&self) -> bool {
        matches!(self, LockError::WouldBlock)
    }
}

/// A misuse of a [`Semaphore`](crate::Semaphore), or a `try_` form that would have to wait.
///
/// # Examples
///
/// ```
/// use tether::{Semaphore, SemaphoreError};
///
/// let sem = Semaphore::with_max(1, 1);
/// let err = sem.release().unwrap_err();
/// assert_eq!(err, SemaphoreError::Overflow { max_value: 1 });
/// assert!(err.to_string().contains("past its max_value of 1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SemaphoreError {
    /// `release()` would raise the value past `max_value` (counting tokens that guards will give
    /// back when dropped).
    #[error(
        "semaphore released past its max_value of {max_value}; release only tokens that were \
         acquired, or raise max_value with Semaphore::with_max"
    )]
    Overflow {
        /// The semaphore's `max_value`.
        max_value: usize,
    },
    /// A `try_` form found no token left.
    #[error("try_acquire would wait: the semaphore has no tokens left")]
    WouldBlock,
}

impl SemaphoreError {
    /// Whether a `try_` form found no token, as opposed to a misuse.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = tether::Semaphore::new(0);
    /// assert!(sem.try_acquire().unwrap_err().is_would_block());
    /// ```
    pub fn is_would_block(&self) -> bool {
        matches!(self, SemaphoreError::WouldBlock)
    }
}

/// A misuse of a [`CapacityLimiter`](crate::CapacityLimiter), or a `try_` form that would have
/// to wait.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{CapacityLimiter, CapacityLimiterError};
///
/// let limiter = CapacityLimiter::new(2);
/// let token = limiter.acquire().await.unwrap();
/// let err = limiter.acquire().await.unwrap_err();
/// assert!(matches!(err, CapacityLimiterError::AlreadyBorrowing { .. }));
/// # drop(token);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityLimiterError {
    /// The borrower already holds a token of this limiter.
    #[error(
        "{borrower} already holds a token of this capacity limiter; a borrower holds at most one: \
         release it first, or acquire on behalf of a distinct borrower"
    )]
    AlreadyBorrowing {
        /// The borrower that asked twice.
        borrower: Borrower,
    },
    /// The borrower tried to release a token it does not hold.
    #[error(
        "{borrower} does not hold a token of this capacity limiter; release only a token acquired \
         by the same borrower"
    )]
    NotBorrowing {
        /// The borrower that tried to release.
        borrower: Borrower,
    },
    /// `release` was called for a borrower that holds its token through a
    /// [`CapacityToken`](crate::CapacityToken).
    #[error(
        "{borrower} holds its token of this capacity limiter through a CapacityToken, so release() \
         cannot give it back; drop the CapacityToken instead"
    )]
    HeldByGuard {
        /// The borrower holding the guard.
        borrower: Borrower,
    },
    /// `set_total_tokens` was given more tokens than the limiter can count.
    #[error(
        "total_tokens of {requested} is more than the largest supported value {max}; \
         use a smaller total"
    )]
    TooManyTokens {
        /// The total that was asked for.
        requested: usize,
        /// The largest supported total.
        max: usize,
    },
    /// A `try_` form found no token available.
    #[error("try_acquire would wait: the capacity limiter has no tokens available")]
    WouldBlock,
}

impl CapacityLimiterError {
    /// Whether a `try_` form found no token, as opposed to a misuse.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = tether::CapacityLimiter::new(0);
    /// assert!(limiter.try_acquire().unwrap_err().is_would_block());
    /// ```
    pub fn is_would_block(&self) -> bool {
        matches!(self, CapacityLimiterError::WouldBlock)
    }
}

/// A misuse of a [`Condition`](crate::Condition).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{Condition, ConditionError, Lock};
///
/// let condition = Condition::new();
/// let other = Lock::new();
/// let guard = other.lock().await.unwrap();
/// let err = condition.wait(guard).await.unwrap_err();
/// assert_eq!(err, ConditionError::ForeignGuard);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConditionError {
    /// `wait` was given a guard of a different lock than the condition's.
    #[error(
        "the guard passed to wait() belongs to a different lock than this condition's; \
         pass the guard returned by this condition's lock()"
    )]
    ForeignGuard,
    /// The condition's lock was misused (not held by the caller when waiting, for example).
    #[error(transparent)]
    Lock(#[from] LockError),
}
