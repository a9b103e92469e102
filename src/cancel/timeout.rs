//! Shorthands over [`CancelScope`]: `move_on_after`, `fail_after` and `shield`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::{CancelScope, Run};

/// Runs `body` with a timeout; on timeout the body is dropped and the result is `None`.
///
/// AnyIO's `move_on_after`. The deadline is `timeout` from now (when this is called), on tokio's
/// clock. The first poll counts as made at the call: a body that completes on its first poll is
/// never timed out (as with `tokio::time::timeout`), while a zero `timeout` cancels before the
/// body runs. The returned future's [`scope`](MoveOn::scope) answers `cancel_called` and
/// `cancelled_caught` afterwards, and can cancel or move the deadline meanwhile.
///
/// # Panics
///
/// See [`CancelScope::run`]; also panics if the deadline overflows `Instant`.
///
/// # Cancel safety
///
/// On timeout the body is dropped at its pending await; whatever the body held is dropped with it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tether::move_on_after;
///
/// let fast = move_on_after(Duration::from_secs(1), async { 7 }).await;
/// assert_eq!(fast, Some(7));
///
/// let slow = move_on_after(Duration::from_millis(100), tokio::time::sleep(Duration::from_secs(1)));
/// let scope = slow.scope().clone();
/// assert_eq!(slow.await, None);
/// assert!(scope.cancel_called() && scope.cancelled_caught());
/// # }
/// ```
#[track_caller]
pub fn move_on_after<F: Future>(timeout: Duration, body: F) -> MoveOn<F> {
    let scope = CancelScope::preset(false, Some(Instant::now() + timeout));
    MoveOn {
        run: run_after(scope, timeout, body),
    }
}

/// The run of a private scope whose deadline is `timeout` after the clock read that made it.
/// With `timeout > 0` the deadline lay ahead then, and the first poll counts as made then: it
/// polls the body without reading the clock again (a body that completes at once wins, as with
/// `tokio::time::timeout`; one that is pending meets its deadline through the timer).
#[track_caller]
fn run_after<F: Future>(scope: CancelScope, timeout: Duration, body: F) -> Run<F> {
    if timeout.is_zero() {
        scope.into_run(body)
    } else {
        Run::with_deadline_ahead(scope, body)
    }
}

/// Like [`move_on_after`] with an absolute deadline.
#[track_caller]
pub fn move_on_at<F: Future>(deadline: Instant, body: F) -> MoveOn<F> {
    MoveOn {
        run: CancelScope::preset(false, Some(deadline)).into_run(body),
    }
}

pin_project! {
    /// Future returned by [`move_on_after`] and [`move_on_at`].
    #[must_use = "futures do nothing unless polled"]
    pub struct MoveOn<F> {
        #[pin]
        run: Run<F>,
    }
}

impl<F> MoveOn<F> {
    /// The scope the body runs in.
    pub fn scope(&self) -> &CancelScope {
        self.run.scope()
    }
}

impl<F: Future> Future for MoveOn<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().run.poll(cx)).ok())
    }
}

impl<F> fmt::Debug for MoveOn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MoveOn").field("run", &self.run).finish()
    }
}

/// Runs `body` with a timeout; on timeout the body is dropped and the result is
/// `Err(`[`TimeoutError`]`)`.
///
/// AnyIO's `fail_after`. The deadline is `timeout` from now; as for [`move_on_after`], the first
/// poll counts as made at the call, and a zero `timeout` fails before the body runs. The returned
/// future's [`scope`](FailAfter::scope) gives the same access
/// as [`MoveOn::scope`]: move the deadline, ask `cancel_called`/`cancelled_caught`. Cancelling it
/// by hand ends the body the way its deadline would, so that too resolves with
/// `Err(TimeoutError)` (whose [`deadline`](TimeoutError::deadline) is the scope's deadline then).
/// A cancellation of an enclosing scope drops the whole future instead, as for any scope. For a
/// scope that tells a timeout from a cancel by hand, use [`CancelScope::with_timeout`] and check
/// [`Cancelled::is_deadline`](super::Cancelled::is_deadline).
///
/// # Errors
///
/// [`TimeoutError`] when the deadline passed before the body completed.
///
/// # Panics
///
/// See [`CancelScope::run`]; also panics if the deadline overflows `Instant`.
///
/// # Cancel safety
///
/// On timeout the body is dropped at its pending await; whatever it held is dropped with it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tether::fail_after;
///
/// let err = fail_after(Duration::from_millis(10), tokio::time::sleep(Duration::from_secs(1)))
///     .await
///     .unwrap_err();
/// assert_eq!(err.to_string(), "deadline exceeded before the operation completed");
/// # }
/// ```
#[track_caller]
pub fn fail_after<F: Future>(timeout: Duration, body: F) -> FailAfter<F> {
    let deadline = Instant::now() + timeout;
    FailAfter {
        run: run_after(CancelScope::preset(false, Some(deadline)), timeout, body),
        deadline,
    }
}

/// Like [`fail_after`] with an absolute deadline.
#[track_caller]
pub fn fail_at<F: Future>(deadline: Instant, body: F) -> FailAfter<F> {
    FailAfter {
        run: CancelScope::preset(false, Some(deadline)).into_run(body),
        deadline,
    }
}

pin_project! {
    /// Future returned by [`fail_after`] and [`fail_at`].
    #[must_use = "futures do nothing unless polled"]
    pub struct FailAfter<F> {
        #[pin]
        run: Run<F>,
        deadline: Instant,
    }
}

impl<F> FailAfter<F> {
    /// The scope the body runs in (see [`fail_after`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tether::fail_after;
    ///
    /// let call = fail_after(Duration::from_secs(10), tokio::time::sleep(Duration::from_secs(60)));
    /// let scope = call.scope().clone();
    /// let start = tokio::time::Instant::now();
    /// scope.set_deadline(Some(start + Duration::from_secs(1))); // tighten it
    /// let err = call.await.unwrap_err();
    /// assert_eq!(err.deadline(), start + Duration::from_secs(1));
    /// assert!(scope.cancelled_caught());
    /// # }
    /// ```
    pub fn scope(&self) -> &CancelScope {
        self.run.scope()
    }
}

impl<F: Future> Future for FailAfter<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let set = *this.deadline;
        let result = ready!(this.run.as_mut().poll(cx));
        Poll::Ready(result.map_err(|_| {
            TimeoutError {
                deadline: this
                    .run
                    .as_ref()
                    .get_ref()
                    .scope()
                    .deadline()
                    .unwrap_or(set),
            }
        }))
    }
}

impl<F> fmt::Debug for FailAfter<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailAfter")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The deadline of a [`fail_after`] passed before its body completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("deadline exceeded before the operation completed")]
pub struct TimeoutError {
    deadline: Instant,
}

impl TimeoutError {
    /// The deadline that passed.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Runs `body` in a shielded scope: cancellation of enclosing scopes does not reach it.
///
/// An enclosing cancellation waits until the shielded body finishes and is delivered at the next
/// await after it. This is how async cleanup is written: `shield(conn.close()).await`. AnyIO's
/// `CancelScope(shield=True)`.
///
/// # Panics
///
/// See [`CancelScope::run`].
///
/// # Cancel safety
///
/// Not cancelled by enclosing scopes. Dropping the future by other means (a `select!`, an abort)
/// still drops the body.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tether::{move_on_after, shield};
///
/// let mut cleaned = false;
/// move_on_after(Duration::from_millis(10), async {
///     shield(async {
///         tokio::time::sleep(Duration::from_secs(1)).await; // outlives the deadline
///         cleaned = true;
///     })
///     .await;
///     tokio::time::sleep(Duration::from_secs(1)).await; // cut off here
///     unreachable!();
/// })
/// .await;
/// assert!(cleaned);
/// # }
/// ```
#[track_caller]
pub fn shield<F: Future>(body: F) -> Shielded<F> {
    Shielded {
        run: CancelScope::preset(true, None).into_run(body),
    }
}

pin_project! {
    /// Future returned by [`shield`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Shielded<F> {
        #[pin]
        run: Run<F>,
    }
}

impl<F: Future> Future for Shielded<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match ready!(self.project().run.poll(cx)) {
            Ok(output) => Poll::Ready(output),
            // The scope is private and has no deadline: nothing can cancel it.
            Err(_) => unreachable!("a private shielded scope was cancelled"),
        }
    }
}

impl<F> fmt::Debug for Shielded<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shielded").field("run", &self.run).finish()
    }
}
