//! [`CapacityLimiter`]: a semaphore whose tokens are lent to named borrowers.
//!
//! # Machinery
//!
//! A `tokio::sync::Semaphore` holds the free tokens and the FIFO, cancel-safe queue. `state` holds
//! the total, the set of borrowers, and `debt`: when the total is lowered below what is lent out,
//! the difference cannot be taken back at once, so it is recorded as debt and paid by swallowing
//! tokens as borrowers return them.
//!
//! # Invariants
//!
//! - `permits + borrowers.len() == total + debt`, where `permits` counts the semaphore's free
//!   permits, the permits tokio has assigned to waiters that have not taken them yet, and the
//!   permits taken but not yet recorded (an acquirer between taking a permit and locking
//!   `state`; a returned token between leaving `borrowers` and `add_permits`).
//! - **Nobody is admitted while debt is owed.** A permit can reach an acquirer while `debt > 0`:
//!   tokio assigns a freed permit to the first waiter at once, so lowering the total cannot take
//!   it back, and a waiter cancelled after that assignment gives its permit back to the
//!   semaphore, past the debt (issue 8, bug 11). So every acquirer checks the debt under `state`
//!   when it records itself: while debt is owed, its permit pays one unit and it waits again (or,
//!   for `try_acquire`, tries again). Debt is therefore paid either when a token comes back or
//!   when a permit reaches an acquirer, and no borrower is added while the total is exceeded.
//! - **Wake after unlocking.** `add_permits` wakes waiters (tokio runs their wakers), so it is
//!   never called with `state` held: a waker that reads the limiter (`statistics()`) would
//!   deadlock on it (issue 8, bug 13). Releasing the lock first lets a concurrent lowering of
//!   the total record debt for a token about to be added; the rule above pays it.

use std::collections::HashMap;
use std::fmt;

use tokio::sync::TryAcquireError;

use crate::diagnostics::registry::{self as diag, LimiterDiag, WaitOn};
use crate::loom::sync::Mutex;
use crate::sync::error::CapacityLimiterError;
use crate::sync::lock::NEVER_CLOSED;
use crate::sync::waiters::WaiterCount;
use crate::task::TaskId;

/// Who holds a token of a [`CapacityLimiter`]: a task, or any key you choose.
///
/// AnyIO lets any object borrow; here a borrower is either a task ([`Borrower::task`], the default
/// for [`CapacityLimiter::acquire`]) or a `u64` key ([`Borrower::key`]) — a connection id, a job
/// number, the address of your own object. Task borrowers and key borrowers never compare equal.
///
/// # Examples
///
/// ```
/// use tether::Borrower;
///
/// assert_eq!(Borrower::key(7), Borrower::from(7u64));
/// assert_eq!(Borrower::current_task(), Borrower::task(tether::TaskId::current()));
/// assert_eq!(Borrower::key(7).to_string(), "borrower 7");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Borrower(BorrowerRepr);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum BorrowerRepr {
    Task(TaskId),
    Key(u64),
}

impl Borrower {
    /// The task running now ([`TaskId::current`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let me = tether::Borrower::current_task();
    /// assert_eq!(me.as_task(), Some(tether::TaskId::current()));
    /// ```
    pub fn current_task() -> Self {
        Self::task(TaskId::current())
    }

    /// A task as borrower.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = tether::TaskId::current();
    /// assert_eq!(tether::Borrower::task(id).as_task(), Some(id));
    /// ```
    pub fn task(task: TaskId) -> Self {
        Self(BorrowerRepr::Task(task))
    }

    /// A key of your own as borrower.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether::Borrower::key(3).as_key(), Some(3));
    /// ```
    pub fn key(key: u64) -> Self {
        Self(BorrowerRepr::Key(key))
    }

    /// The task, if this borrower is a task.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether::Borrower::key(3).as_task(), None);
    /// ```
    pub fn as_task(&self) -> Option<TaskId> {
        match self.0 {
            BorrowerRepr::Task(task) => Some(task),
            BorrowerRepr::Key(_) => None,
        }
    }

    /// The key, if this borrower is a key.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether::Borrower::current_task().as_key(), None);
    /// ```
    pub fn as_key(&self) -> Option<u64> {
        match self.0 {
            BorrowerRepr::Task(_) => None,
            BorrowerRepr::Key(key) => Some(key),
        }
    }
}

impl From<TaskId> for Borrower {
    fn from(task: TaskId) -> Self {
        Self::task(task)
    }
}

impl From<u64> for Borrower {
    fn from(key: u64) -> Self {
        Self::key(key)
    }
}

impl fmt::Display for Borrower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            BorrowerRepr::Task(task) => write!(f, "{task}"),
            BorrowerRepr::Key(key) => write!(f, "borrower {key}"),
        }
    }
}

/// With the `serde` feature a borrower serializes as its text (`"task 12"`, `"borrower 7"`).
#[cfg(feature = "serde")]
impl serde::Serialize for Borrower {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Debug for Borrower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Borrower({self})")
    }
}

/// Limits how many borrowers use a resource at once, one token each (AnyIO's `CapacityLimiter`).
///
/// The limiter has [`total_tokens`](CapacityLimiter::total_tokens); each borrower (by default the
/// current task) holds at most one. Borrowers wait in FIFO order when all tokens are lent out.
/// The total can be changed at run time with
/// [`set_total_tokens`](CapacityLimiter::set_total_tokens): raising it wakes waiters at once;
/// lowering it takes effect as tokens come back (no token is taken from its borrower).
///
/// Two forms, which can be mixed:
///
/// - **Guard form**: [`acquire`](CapacityLimiter::acquire) returns a [`CapacityToken`] that gives
///   the token back when dropped.
/// - **Explicit form** (AnyIO's `acquire()`/`release()`): [`CapacityToken::forget`] keeps the
///   token without a guard, and [`release`](CapacityLimiter::release) gives it back; likewise
///   the `_on_behalf_of` variants.
///
/// # Comparison to a `Semaphore`
///
/// A semaphore counts anonymous tokens; a limiter knows who holds each token, so a borrower taking
/// a second token or giving back one it does not hold is reported as a [`CapacityLimiterError`],
/// and its total can be moved while tokens are out.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use tether::CapacityLimiter;
///
/// let limiter = Arc::new(CapacityLimiter::new(2));
/// let mut workers = Vec::new();
/// for _ in 0..4 {
///     let limiter = limiter.clone();
///     workers.push(tokio::spawn(async move {
///         let _token = limiter.acquire().await.unwrap();
///         assert!(limiter.borrowed_tokens() <= 2);
///         tokio::task::yield_now().await;
///     }));
/// }
/// for worker in workers {
///     worker.await.unwrap();
/// }
/// assert_eq!(limiter.available_tokens(), 2);
/// # }
/// ```
pub struct CapacityLimiter {
    /// Free tokens and the FIFO queue of waiters.
    semaphore: tokio::sync::Semaphore,
    /// Total, borrowers and debt; see the module invariants.
    state: Mutex<LimiterState>,
    /// Tasks blocked in `acquire`/`token`.
    waiters: WaiterCount,
    /// Where it was created (the task tree names it by this).
    site: &'static std::panic::Location<'static>,
}

#[derive(Debug)]
struct LimiterState {
    /// The configured total.
    total: usize,
    /// Who holds a token, and whether through a guard.
    borrowers: HashMap<Borrower, Holding>,
    /// Tokens to swallow as they come back, after the total was lowered below the lent-out count.
    debt: usize,
    /// The borrowers as the task tree shows them: made on the first recorded wait (tree on),
    /// then kept in step with `borrowers` under this lock.
    diag: Option<std::sync::Arc<LimiterDiag>>,
}

impl LimiterState {
    /// Copies the borrowers to the task tree's view, if there is one (a branch otherwise).
    fn sync_diag(&self) {
        if let Some(d) = &self.diag {
            *d.borrowers.lock() = self.borrowers.keys().copied().collect();
        }
    }
}

/// Whether a permit that reached an acquirer admitted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admitted {
    /// The borrower is recorded; it holds the token.
    Yes,
    /// Debt was owed: the permit paid it, and the acquirer has nothing.
    PaidDebt,
}

/// How a borrower holds its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holding {
    /// Through a [`CapacityToken`]: only dropping it gives the token back.
    Guard,
    /// Through `acquire`: `release` gives it back.
    Explicit,
}

/// A snapshot of a [`CapacityLimiter`]'s state, from [`CapacityLimiter::statistics`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{Borrower, CapacityLimiter};
///
/// let limiter = CapacityLimiter::new(3);
/// limiter.acquire_on_behalf_of(Borrower::key(1)).await.unwrap().forget();
/// let stats = limiter.statistics();
/// assert_eq!(stats.borrowed_tokens, 1);
/// assert_eq!(stats.total_tokens, 3);
/// assert_eq!(stats.borrowers, vec![Borrower::key(1)]);
/// assert_eq!(stats.tasks_waiting, 0);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapacityLimiterStatistics {
    /// Tokens lent out now.
    pub borrowed_tokens: usize,
    /// The configured total.
    pub total_tokens: usize,
    /// Who holds the tokens, in no particular order.
    pub borrowers: Vec<Borrower>,
    /// How many tasks are waiting for a token.
    pub tasks_waiting: usize,
}

impl CapacityLimiter {
    /// The largest supported total (tokio's `Semaphore::MAX_PERMITS`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::CapacityLimiter;
    ///
    /// let limiter = CapacityLimiter::new(1);
    /// assert!(limiter.set_total_tokens(CapacityLimiter::MAX_TOTAL_TOKENS).is_ok());
    /// assert!(limiter.set_total_tokens(CapacityLimiter::MAX_TOTAL_TOKENS + 1).is_err());
    /// ```
    pub const MAX_TOTAL_TOKENS: usize = tokio::sync::Semaphore::MAX_PERMITS;

    /// A limiter with `total_tokens` tokens.
    ///
    /// A total of 0 is allowed: nobody gets a token until it is raised.
    ///
    /// # Panics
    ///
    /// If `total_tokens` is more than [`CapacityLimiter::MAX_TOTAL_TOKENS`].
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = tether::CapacityLimiter::new(4);
    /// assert_eq!(limiter.total_tokens(), 4);
    /// ```
    #[track_caller]
    pub fn new(total_tokens: usize) -> Self {
        assert!(
            total_tokens <= Self::MAX_TOTAL_TOKENS,
            "capacity limiter total_tokens {total_tokens} is more than the largest supported value {}; \
             use a smaller total",
            Self::MAX_TOTAL_TOKENS
        );
        Self {
            semaphore: tokio::sync::Semaphore::new(total_tokens),
            state: Mutex::new(LimiterState {
                total: total_tokens,
                borrowers: HashMap::new(),
                debt: 0,
                diag: None,
            }),
            waiters: WaiterCount::new(),
            site: std::panic::Location::caller(),
        }
    }

    /// Wait for a token for the current task, and return a guard that gives it back when dropped
    /// (AnyIO's `async with limiter`; for AnyIO's bare `acquire()`, call
    /// [`forget`](CapacityToken::forget) on the guard and [`release`](CapacityLimiter::release)
    /// later).
    ///
    /// `let _token = limiter.acquire().await?;` holds the token to the end of the scope.
    ///
    /// # Errors
    ///
    /// [`CapacityLimiterError::AlreadyBorrowing`] if the current task already holds a token.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. A dropped `acquire` future never takes a token; one handed to it at that
    /// moment passes to the next waiter. A cancellation point only while it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limiter = tether::CapacityLimiter::new(1);
    /// {
    ///     let _token = limiter.acquire().await.unwrap();
    ///     assert_eq!(limiter.available_tokens(), 0);
    /// }
    /// assert_eq!(limiter.available_tokens(), 1);
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<CapacityToken<'_>, CapacityLimiterError> {
        self.acquire_on_behalf_of(Borrower::current_task()).await
    }

    /// Wait for a token for `borrower`, and return a guard that gives it back when dropped.
    ///
    /// # Errors
    ///
    /// [`CapacityLimiterError::AlreadyBorrowing`] if `borrower` already holds a token.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tether::{Borrower, CapacityLimiter};
    ///
    /// let limiter = CapacityLimiter::new(2);
    /// let a = limiter.acquire_on_behalf_of(Borrower::key(1)).await.unwrap();
    /// let b = limiter.acquire_on_behalf_of(Borrower::key(2)).await.unwrap();
    /// assert_eq!(limiter.borrowed_tokens(), 2);
    /// assert_eq!(a.borrower(), Borrower::key(1));
    /// drop((a, b));
    /// # }
    /// ```
    pub async fn acquire_on_behalf_of(
        &self,
        borrower: Borrower,
    ) -> Result<CapacityToken<'_>, CapacityLimiterError> {
        self.acquire_as(borrower).await?;
        Ok(CapacityToken {
            limiter: self,
            borrower,
        })
    }

    /// Take a token for the current task without waiting (AnyIO's `acquire_nowait()`, with a
    /// guard).
    ///
    /// # Errors
    ///
    /// [`CapacityLimiterError::AlreadyBorrowing`] if the current task holds one;
    /// [`CapacityLimiterError::WouldBlock`] if none is available.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = tether::CapacityLimiter::new(0);
    /// assert_eq!(limiter.try_acquire().unwrap_err(), tether::CapacityLimiterError::WouldBlock);
    /// ```
    pub fn try_acquire(&self) -> Result<CapacityToken<'_>, CapacityLimiterError> {
        self.try_acquire_on_behalf_of(Borrower::current_task())
    }

    /// Take a token for `borrower` without waiting.
    ///
    /// # Errors
    ///
    /// [`CapacityLimiterError::AlreadyBorrowing`] if `borrower` holds one;
    /// [`CapacityLimiterError::WouldBlock`] if none is available.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::{Borrower, CapacityLimiter};
    ///
    /// let limiter = CapacityLimiter::new(1);
    /// let token = limiter.try_acquire_on_behalf_of(Borrower::key(1)).unwrap();
    /// assert!(limiter.try_acquire_on_behalf_of(Borrower::key(2)).is_err());
    /// drop(token);
    /// ```
    pub fn try_acquire_on_behalf_of(
        &self,
        borrower: Borrower,
    ) -> Result<CapacityToken<'_>, CapacityLimiterError> {
        self.check_not_borrowing(borrower)?;
        loop {
            self.try_permit()?;
            match self.insert_borrower(borrower)? {
                Admitted::Yes => {
                    return Ok(CapacityToken {
                        limiter: self,
                        borrower,
                    });
                }
                // The permit paid debt; try the next free one, if any.
                Admitted::PaidDebt => {}
            }
        }
    }

    /// Give back the current task's token (AnyIO's `release()`).
    ///
    /// # Errors
    ///
    /// [`CapacityLimiterError::NotBorrowing`] if the current task holds no token;
    /// [`CapacityLimiterError::HeldByGuard`] if it holds it through a [`CapacityToken`] (drop the
    /// guard instead). Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = tether::CapacityLimiter::new(1);
    /// assert!(limiter.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), CapacityLimiterError> {
        self.release_on_behalf_of(Borrower::current_task())
    }

    /// Give back `borrower`'s token, waking the first waiter (or paying debt after the total was
    /// lowered).
    ///
    /// # Errors
    ///
    /// [`CapacityLimiterError::NotBorrowing`] if `borrower` holds no token;
    /// [`CapacityLimiterError::HeldByGuard`] if it holds it through a [`CapacityToken`] (drop the
    /// guard instead). Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::{Borrower, CapacityLimiter, CapacityLimiterError};
    ///
    /// let limiter = CapacityLimiter::new(1);
    /// let err = limiter.release_on_behalf_of(Borrower::key(9)).unwrap_err();
    /// assert_eq!(err, CapacityLimiterError::NotBorrowing { borrower: Borrower::key(9) });
    /// ```
    pub fn release_on_behalf_of(&self, borrower: Borrower) -> Result<(), CapacityLimiterError> {
        self.give_back(borrower, Holding::Explicit)
    }

    /// The configured total.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether::CapacityLimiter::new(5).total_tokens(), 5);
    /// ```
    pub fn total_tokens(&self) -> usize {
        self.state.lock().total
    }

    /// Change the total at run time.
    ///
    /// Raising it hands the new tokens to waiters at once, in FIFO order. Lowering it takes free
    /// tokens away at once and the rest as borrowers give tokens back; no borrower loses its token.
    ///
    /// # Errors
    ///
    /// [`CapacityLimiterError::TooManyTokens`] if `total` is more than
    /// [`CapacityLimiter::MAX_TOTAL_TOKENS`]. Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = tether::CapacityLimiter::new(1);
    /// limiter.try_acquire().unwrap().forget();
    /// limiter.set_total_tokens(0).unwrap();
    /// assert_eq!(limiter.borrowed_tokens(), 1); // still lent out
    /// limiter.release().unwrap();
    /// assert_eq!(limiter.available_tokens(), 0);
    /// limiter.set_total_tokens(2).unwrap();
    /// assert_eq!(limiter.available_tokens(), 2);
    /// ```
    pub fn set_total_tokens(&self, total: usize) -> Result<(), CapacityLimiterError> {
        if total > Self::MAX_TOTAL_TOKENS {
            return Err(CapacityLimiterError::TooManyTokens {
                requested: total,
                max: Self::MAX_TOTAL_TOKENS,
            });
        }
        let added = {
            let mut state = self.state.lock();
            let old = state.total;
            state.total = total;
            if total >= old {
                let raise = total - old;
                let paid = raise.min(state.debt);
                state.debt -= paid;
                raise - paid
            } else {
                let lower = old - total;
                let forgotten = self.semaphore.forget_permits(lower);
                state.debt += lower - forgotten;
                0
            }
        };
        // After unlocking: it wakes waiters (see the module invariants).
        if added > 0 {
            crate::loom::preemption_point();
            self.semaphore.add_permits(added);
        }
        Ok(())
    }

    /// How many tokens are lent out now.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = tether::CapacityLimiter::new(2);
    /// limiter.try_acquire().unwrap().forget();
    /// assert_eq!(limiter.borrowed_tokens(), 1);
    /// ```
    pub fn borrowed_tokens(&self) -> usize {
        self.state.lock().borrowers.len()
    }

    /// How many tokens could be lent out now: the total minus those lent out (0 while the total
    /// is below the number lent out).
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = tether::CapacityLimiter::new(2);
    /// limiter.try_acquire().unwrap().forget();
    /// assert_eq!(limiter.available_tokens(), 1);
    /// ```
    pub fn available_tokens(&self) -> usize {
        let state = self.state.lock();
        state.total.saturating_sub(state.borrowers.len())
    }

    /// A snapshot: lent-out tokens, total, borrowers, waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// let stats = tether::CapacityLimiter::new(2).statistics();
    /// assert_eq!((stats.borrowed_tokens, stats.total_tokens), (0, 2));
    /// ```
    pub fn statistics(&self) -> CapacityLimiterStatistics {
        let state = self.state.lock();
        CapacityLimiterStatistics {
            borrowed_tokens: state.borrowers.len(),
            total_tokens: state.total,
            borrowers: state.borrowers.keys().copied().collect(),
            tasks_waiting: self.waiters.get(),
        }
    }

    fn check_not_borrowing(&self, borrower: Borrower) -> Result<(), CapacityLimiterError> {
        if self.state.lock().borrowers.contains_key(&borrower) {
            return Err(CapacityLimiterError::AlreadyBorrowing { borrower });
        }
        Ok(())
    }

    /// Take a free permit without waiting (forgotten: `give_back` accounts for it).
    fn try_permit(&self) -> Result<(), CapacityLimiterError> {
        match self.semaphore.try_acquire() {
            Ok(permit) => {
                permit.forget();
                Ok(())
            }
            Err(TryAcquireError::NoPermits) => Err(CapacityLimiterError::WouldBlock),
            Err(TryAcquireError::Closed) => unreachable!("{NEVER_CLOSED}"),
        }
    }

    async fn acquire_as(&self, borrower: Borrower) -> Result<(), CapacityLimiterError> {
        self.check_not_borrowing(borrower)?;
        if self.try_permit().is_ok() {
            match self.insert_borrower(borrower)? {
                Admitted::Yes => return Ok(()),
                Admitted::PaidDebt => {}
            }
        }
        let _waiting = self.waiters.enter();
        loop {
            // tokio's `acquire` is cancel safe and passes a permit assigned to a dropped waiter
            // on. Nothing after it awaits.
            let _diag = diag::wait(|| WaitOn::CapacityLimiter(self.diag()));
            self.semaphore.acquire().await.expect(NEVER_CLOSED).forget();
            match self.insert_borrower(borrower)? {
                Admitted::Yes => return Ok(()),
                // Our permit paid debt (the total was lowered): wait for another.
                Admitted::PaidDebt => {}
            }
        }
    }

    /// Record `borrower` as holding the permit just taken, unless debt is owed (then the permit
    /// pays it and the caller must wait again); if it raced with another acquire for the same
    /// borrower, give the permit back and fail.
    fn insert_borrower(&self, borrower: Borrower) -> Result<Admitted, CapacityLimiterError> {
        let add = {
            let mut state = self.state.lock();
            if state.debt > 0 {
                state.debt -= 1;
                return Ok(Admitted::PaidDebt);
            }
            if let std::collections::hash_map::Entry::Vacant(entry) =
                state.borrowers.entry(borrower)
            {
                entry.insert(Holding::Guard);
                state.sync_diag();
                return Ok(Admitted::Yes);
            }
            Self::take_back(&mut state)
        };
        self.add_free(add);
        Err(CapacityLimiterError::AlreadyBorrowing { borrower })
    }

    fn give_back(&self, borrower: Borrower, holding: Holding) -> Result<(), CapacityLimiterError> {
        let add = {
            let mut state = self.state.lock();
            match state.borrowers.get(&borrower) {
                Some(held) if *held == holding => {}
                Some(_) => return Err(CapacityLimiterError::HeldByGuard { borrower }),
                None => return Err(CapacityLimiterError::NotBorrowing { borrower }),
            }
            state.borrowers.remove(&borrower);
            state.sync_diag();
            Self::take_back(&mut state)
        };
        self.add_free(add);
        Ok(())
    }

    /// The borrowers' view for the task tree (made on the first recorded wait).
    fn diag(&self) -> std::sync::Arc<LimiterDiag> {
        let mut state = self.state.lock();
        let borrowers = state.borrowers.keys().copied().collect();
        state
            .diag
            .get_or_insert_with(|| {
                std::sync::Arc::new(LimiterDiag {
                    id: diag::next_id(),
                    site: self.site,
                    borrowers: parking_lot::Mutex::new(borrowers),
                })
            })
            .clone()
    }

    /// A token came back: pay debt with it (returns `false`), or say it must become free
    /// (`true`): the caller adds it with [`add_free`](Self::add_free) after unlocking.
    fn take_back(state: &mut LimiterState) -> bool {
        if state.debt > 0 {
            state.debt -= 1;
            false
        } else {
            true
        }
    }

    /// Makes a returned token free, waking the first waiter. Never called with `state` held.
    fn add_free(&self, add: bool) {
        if add {
            crate::loom::preemption_point();
            self.semaphore.add_permits(1);
        }
    }
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("CapacityLimiter")
            .field("total_tokens", &state.total)
            .field("borrowed_tokens", &state.borrowers.len())
            .field("tasks_waiting", &self.waiters.get())
            .finish()
    }
}

/// A token of a [`CapacityLimiter`], given back when dropped; returned by
/// [`CapacityLimiter::acquire`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limiter = tether::CapacityLimiter::new(1);
/// let token = limiter.acquire().await.unwrap();
/// assert_eq!(token.borrower(), tether::Borrower::current_task());
/// drop(token);
/// assert_eq!(limiter.borrowed_tokens(), 0);
/// # }
/// ```
#[must_use = "the token is given back as soon as it is dropped"]
pub struct CapacityToken<'a> {
    /// The limiter the token belongs to.
    limiter: &'a CapacityLimiter,
    /// Who holds it.
    borrower: Borrower,
}

impl CapacityToken<'_> {
    /// Keep the token without a guard: it is given back only by
    /// [`CapacityLimiter::release_on_behalf_of`] (or [`release`](CapacityLimiter::release) for the
    /// current task). AnyIO's explicit `acquire()`/`release()` pair is `acquire().await?.forget()`
    /// and `release()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = tether::CapacityLimiter::new(1);
    /// limiter.try_acquire().unwrap().forget();
    /// assert_eq!(limiter.borrowed_tokens(), 1);
    /// limiter.release().unwrap();
    /// assert_eq!(limiter.borrowed_tokens(), 0);
    /// ```
    pub fn forget(self) {
        if let Some(held) = self.limiter.state.lock().borrowers.get_mut(&self.borrower) {
            *held = Holding::Explicit;
        }
        std::mem::forget(self);
    }

    /// The borrower holding this token.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tether::{Borrower, CapacityLimiter};
    /// let limiter = CapacityLimiter::new(1);
    /// let token = limiter.acquire_on_behalf_of(Borrower::key(5)).await.unwrap();
    /// assert_eq!(token.borrower(), Borrower::key(5));
    /// # }
    /// ```
    pub fn borrower(&self) -> Borrower {
        self.borrower
    }
}

impl Drop for CapacityToken<'_> {
    fn drop(&mut self) {
        // Cannot fail: only this guard can remove a `Holding::Guard` entry.
        let result = self.limiter.give_back(self.borrower, Holding::Guard);
        debug_assert!(result.is_ok(), "{result:?}");
    }
}

impl fmt::Debug for CapacityToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapacityToken")
            .field("borrower", &self.borrower)
            .finish()
    }
}
