//! [`Semaphore`]: a counter of tokens with an optional upper bound.
//!
//! # Machinery
//!
//! A `tokio::sync::Semaphore` holds the available tokens and the FIFO, cancel-safe queue of
//! waiters. tokio's semaphore has no upper bound, so `bound` tracks how high the value will climb
//! once every guard is dropped, and `release` refuses to push it past `max_value`.
//!
//! # Invariants
//!
//! - `bound` counts every token in existence: available, assigned to a waiter, held by a guard,
//!   or kept without one (`kept`). Taking a token, dropping a guard, and `forget` move a token
//!   without changing `bound`; only a `release` with nothing kept creates one (`bound + 1`). So
//!   `bound <= max_value` always, and no guard drop can push the value past `max_value`.
//! - `kept` counts tokens kept by [`SemaphorePermit::forget`]; `release` gives one of those back
//!   first, without a check (it exists already). Earlier versions *lowered* `bound` when a token
//!   was taken explicitly, after taking it from tokio: a `release` of an explicitly taken token,
//!   racing another task's explicit acquire in that window, saw `bound` one too high and failed
//!   with a spurious `Overflow` (issue 8, bug 12). Now nothing is adjusted after a token is
//!   taken, so there is no window.
//! - `bound` and `kept` change only by compare-and-swap, so two racing releases cannot both pass
//!   the check, nor both give back the same kept token.

use std::fmt;

use tokio::sync::TryAcquireError;

use crate::diagnostics::registry::{self as diag, SemaphoreDiag, WaitOn};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::error::SemaphoreError;
use crate::sync::lock::NEVER_CLOSED;
use crate::sync::waiters::WaiterCount;

/// A semaphore: a number of tokens that tasks take and give back (AnyIO's `Semaphore`).
///
/// [`acquire`](Semaphore::acquire) takes a token, waiting in FIFO order while there is none;
/// [`release`](Semaphore::release) gives one back. With [`with_max`](Semaphore::with_max), the
/// value may never exceed `max_value`: a release past it is an error, which catches a token given
/// back twice. Tokens have no owner: any task may release.
///
/// Two forms, which can be mixed:
///
/// - **Guard form** (the Rust way, as tokio's): [`acquire`](Semaphore::acquire) returns a
///   [`SemaphorePermit`] that gives its token back when dropped.
/// - **Explicit form** (AnyIO's `acquire()`/`release()`): [`SemaphorePermit::forget`] keeps the
///   token without a guard, and [`release`](Semaphore::release) gives one back.
///
/// # Comparison to `tokio::sync::Semaphore`
///
/// This is tokio's semaphore underneath (same FIFO order, same cancel safety) plus an optional
/// `max_value`, AnyIO's explicit form, and statistics.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::Semaphore;
///
/// let sem = Semaphore::with_max(2, 2);
/// let a = sem.acquire().await;
/// sem.acquire().await.forget(); // explicit form: kept until release()
/// assert_eq!(sem.value(), 0);
/// assert!(sem.try_acquire().is_err());
/// drop(a);
/// sem.release().unwrap();
/// assert_eq!(sem.value(), 2);
/// # }
/// ```
pub struct Semaphore {
    /// The available tokens and the FIFO queue of waiters.
    semaphore: tokio::sync::Semaphore,
    /// `max_value`, or tokio's `MAX_PERMITS` when unbounded.
    max_value: usize,
    /// Whether `with_max` set `max_value` (for `Debug` and statistics).
    bounded: bool,
    /// Every token in existence; see the module invariants.
    bound: AtomicUsize,
    /// Tokens kept without a guard ([`SemaphorePermit::forget`]), which `release` gives back.
    kept: AtomicUsize,
    /// Tasks blocked in `acquire`.
    waiters: WaiterCount,
    /// Who holds tokens, for the task tree: made on the first acquire while the tree is on.
    diag: std::sync::OnceLock<std::sync::Arc<SemaphoreDiag>>,
    /// Where it was created (the task tree names it by this).
    site: &'static std::panic::Location<'static>,
}

/// A snapshot of a [`Semaphore`]'s state, from [`Semaphore::statistics`].
///
/// # Examples
///
/// ```
/// let sem = tether::Semaphore::with_max(1, 3);
/// let stats = sem.statistics();
/// assert_eq!((stats.value, stats.max_value, stats.tasks_waiting), (1, Some(3), 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemaphoreStatistics {
    /// Tokens available now.
    pub value: usize,
    /// The upper bound, if one was set.
    pub max_value: Option<usize>,
    /// How many tasks are waiting for a token.
    pub tasks_waiting: usize,
}

impl Semaphore {
    /// The largest value a semaphore can hold (tokio's `Semaphore::MAX_PERMITS`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::Semaphore;
    ///
    /// let sem = Semaphore::new(Semaphore::MAX_VALUE);
    /// assert_eq!(sem.release(), Err(tether::SemaphoreError::Overflow {
    ///     max_value: Semaphore::MAX_VALUE,
    /// }));
    /// ```
    pub const MAX_VALUE: usize = tokio::sync::Semaphore::MAX_PERMITS;

    /// A semaphore holding `initial` tokens, with no upper bound but [`MAX_VALUE`](Self::MAX_VALUE).
    ///
    /// # Panics
    ///
    /// If `initial` is more than [`Semaphore::MAX_VALUE`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = tether::Semaphore::new(3);
    /// assert_eq!(sem.value(), 3);
    /// assert_eq!(sem.max_value(), None);
    /// ```
    #[track_caller]
    pub fn new(initial: usize) -> Self {
        Self::build(initial, Self::MAX_VALUE, false)
    }

    /// A semaphore holding `initial` tokens whose value may never exceed `max`.
    ///
    /// # Panics
    ///
    /// If `initial > max` or `max` is more than [`Semaphore::MAX_VALUE`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = tether::Semaphore::with_max(0, 4);
    /// assert_eq!(sem.value(), 0);
    /// assert_eq!(sem.max_value(), Some(4));
    /// ```
    #[track_caller]
    pub fn with_max(initial: usize, max: usize) -> Self {
        Self::build(initial, max, true)
    }

    #[track_caller]
    fn build(initial: usize, max: usize, bounded: bool) -> Self {
        assert!(
            max <= Self::MAX_VALUE,
            "semaphore max_value {max} is more than the largest supported value {}; use a smaller max_value",
            Self::MAX_VALUE
        );
        assert!(
            initial <= max,
            "semaphore initial value {initial} is more than its max_value {max}; start at or below max_value"
        );
        Self {
            semaphore: tokio::sync::Semaphore::new(initial),
            max_value: max,
            bounded,
            bound: AtomicUsize::new(initial),
            kept: AtomicUsize::new(0),
            waiters: WaiterCount::new(),
            diag: std::sync::OnceLock::new(),
            site: std::panic::Location::caller(),
        }
    }

    /// Wait for a token and return a guard that gives it back when dropped (AnyIO's
    /// `async with semaphore`; for AnyIO's bare `acquire()`, call
    /// [`forget`](SemaphorePermit::forget) on the guard and [`release`](Semaphore::release)
    /// later).
    ///
    /// Waiters are served in FIFO order. `let _permit = sem.acquire().await;` holds the token to
    /// the end of the scope, as with tokio's semaphore.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. A dropped `acquire` future never takes a token; if a token was being handed
    /// to it at that moment, it passes to the next waiter. A cancellation point only while it
    /// waits: a token that is available is taken on the first poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = tether::Semaphore::new(1);
    /// {
    ///     let _permit = sem.acquire().await;
    ///     assert_eq!(sem.value(), 0);
    /// }
    /// assert_eq!(sem.value(), 1);
    /// # }
    /// ```
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        self.wait_for_token().await;
        self.permit()
    }

    /// Take a token without waiting and return its guard, or fail (AnyIO's
    /// `acquire_nowait()`, with a guard).
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::WouldBlock`] if no token is available.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = tether::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), tether::SemaphoreError::WouldBlock);
    /// drop(permit);
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, SemaphoreError> {
        self.try_token()?;
        Ok(self.permit())
    }

    /// Give a token back, waking the first waiter (AnyIO's `release()`).
    ///
    /// A token kept with [`SemaphorePermit::forget`] is given back first. With none kept, the
    /// release adds a token, as AnyIO's does, unless that would exceed `max_value`.
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::Overflow`] if no kept token is outstanding and the value would exceed
    /// `max_value` — counting the tokens that live guards will give back, so a guard drop can
    /// never overflow. Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = tether::Semaphore::with_max(0, 1);
    /// sem.release().unwrap();
    /// assert!(sem.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), SemaphoreError> {
        let kept = self
            .kept
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |kept| {
                kept.checked_sub(1)
            });
        if kept.is_err() {
            self.bound
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bound| {
                    (bound < self.max_value).then_some(bound + 1)
                })
                .map_err(|_| SemaphoreError::Overflow {
                    max_value: self.max_value,
                })?;
        }
        if kept.is_ok()
            && let Some(d) = self.diag.get()
        {
            d.release_kept();
        }
        crate::loom::preemption_point();
        self.semaphore.add_permits(1);
        Ok(())
    }

    /// The number of tokens available now.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = tether::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn value(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// The upper bound set with [`with_max`](Semaphore::with_max), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether::Semaphore::with_max(1, 5).max_value(), Some(5));
    /// assert_eq!(tether::Semaphore::new(1).max_value(), None);
    /// ```
    pub fn max_value(&self) -> Option<usize> {
        self.bounded.then_some(self.max_value)
    }

    /// A snapshot: value, max value, waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = tether::Semaphore::new(0);
    /// assert_eq!(sem.statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> SemaphoreStatistics {
        SemaphoreStatistics {
            value: self.value(),
            max_value: self.max_value(),
            tasks_waiting: self.waiters.get(),
        }
    }

    /// The guard of a token just taken; while the tree is on, the current task is recorded as
    /// its holder (off: one relaxed load).
    fn permit(&self) -> SemaphorePermit<'_> {
        let diag_key = if diag::enabled() {
            self.diag_shared().hold()
        } else {
            0
        };
        SemaphorePermit {
            semaphore: self,
            diag_key,
        }
    }

    /// The holders' view for the task tree (made on first use while the tree is on).
    fn diag_shared(&self) -> &std::sync::Arc<SemaphoreDiag> {
        self.diag
            .get_or_init(|| std::sync::Arc::new(SemaphoreDiag::new(self.site)))
    }

    /// Take a token without waiting (forgotten: a guard or `release` gives it back).
    fn try_token(&self) -> Result<(), SemaphoreError> {
        match self.semaphore.try_acquire() {
            Ok(permit) => {
                permit.forget();
                Ok(())
            }
            Err(TryAcquireError::NoPermits) => Err(SemaphoreError::WouldBlock),
            Err(TryAcquireError::Closed) => unreachable!("{NEVER_CLOSED}"),
        }
    }

    /// Wait for a token in FIFO order (forgotten: a guard or `release` gives it back).
    async fn wait_for_token(&self) {
        if self.try_token().is_ok() {
            return;
        }
        let _waiting = self.waiters.enter();
        let _diag = diag::wait(|| {
            let d = self.diag_shared().clone();
            // Tokens out (held, kept, or being handed to a waiter) that no holder is recorded
            // for: taken while the tree was off, or just being taken.
            let out = self
                .bound
                .load(Ordering::Acquire)
                .saturating_sub(self.value());
            let untracked = out.saturating_sub(d.holders().len());
            WaitOn::Semaphore(d, untracked)
        });
        // tokio's `acquire` is cancel safe and passes a permit assigned to a dropped waiter on.
        self.semaphore.acquire().await.expect(NEVER_CLOSED).forget();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.statistics();
        f.debug_struct("Semaphore")
            .field("value", &stats.value)
            .field("max_value", &stats.max_value)
            .field("tasks_waiting", &stats.tasks_waiting)
            .finish()
    }
}

/// One token of a [`Semaphore`], given back when dropped; returned by [`Semaphore::acquire`].
///
/// # Examples
///
/// ```
/// let sem = tether::Semaphore::new(1);
/// let permit = sem.try_acquire().unwrap();
/// permit.forget(); // keep the token; give it back later with release()
/// assert_eq!(sem.value(), 0);
/// sem.release().unwrap();
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "the token is given back as soon as the permit is dropped"]
pub struct SemaphorePermit<'a> {
    /// The semaphore the token belongs to.
    semaphore: &'a Semaphore,
    /// Its key among the semaphore's recorded holders (0: not recorded, the tree was off).
    diag_key: u64,
}

impl SemaphorePermit<'_> {
    /// Keep the token without a guard: it is given back only by [`Semaphore::release`] (AnyIO's
    /// explicit `acquire()`/`release()` pair is `acquire().await.forget()` and `release()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = tether::Semaphore::with_max(1, 1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.value(), 0);
    /// sem.release().unwrap();
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn forget(self) {
        if self.diag_key != 0
            && let Some(d) = self.semaphore.diag.get()
        {
            d.keep(self.diag_key);
        }
        self.semaphore.kept.fetch_add(1, Ordering::AcqRel);
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.diag_key != 0
            && let Some(d) = self.semaphore.diag.get()
        {
            d.give_back(self.diag_key);
        }
        // `bound` already counts this token (see the invariants), so no check is needed.
        self.semaphore.semaphore.add_permits(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("semaphore", self.semaphore)
            .finish()
    }
}
