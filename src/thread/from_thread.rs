//! Calls from a `to_thread` worker back into the async world (AnyIO's `anyio.from_thread`).
//!
//! Code running inside [`to_thread`](crate::thread::to_thread) can run async code
//! ([`run`]) or a synchronous callback ([`run_sync`]) on the runtime that awaited the
//! `to_thread` call, and wait for the result; [`check_cancelled`] lets a loop in the thread stop
//! once the calling scope is cancelled.
//!
//! # Cancellation
//!
//! Every call sees the cancellation of the scope that awaited `to_thread` (the *caller scope*):
//! a call made after it was cancelled returns
//! [`FromThreadError::Cancelled`] without running anything, and async work started by [`run`]
//! runs in a fresh cancel scope that is cancelled when the caller scope is (shields inside it
//! are honoured, so a nested shielded `to_thread` is waited for). A `to_thread` future dropped
//! by other means makes later calls return [`FromThreadError::Abandoned`].
//!
//! # Threads tether did not start
//!
//! Any other thread gets [`FromThreadError::NotInWorkerThread`] naming it; such code should
//! use a [`BlockingPortal`](crate::thread::BlockingPortal).

use std::future::Future;
use std::panic::resume_unwind;
use std::pin::pin;

use super::error::FromThreadError;
use super::worker::{self, caller_cancel_reason};
use crate::cancel::{CancelScope, Cancelled};

/// Runs `future` on the runtime that awaited this thread's `to_thread` call, blocks until it
/// completes, and returns its output (AnyIO's `from_thread.run`).
///
/// The future runs in a new tokio task, inside a fresh cancel scope that is cancelled when the
/// caller scope is. Nested calls work: the future may itself call `to_thread`, whose thread may
/// call `from_thread` again.
///
/// # Errors
///
/// - [`FromThreadError::NotInWorkerThread`] if this thread was not started by `to_thread`.
/// - [`FromThreadError::Cancelled`] if the caller scope is cancelled before or while the future
///   runs (the future is not started, or is dropped at its pending `.await`).
/// - [`FromThreadError::Abandoned`] if the `to_thread` future was dropped (nothing is run).
/// - [`FromThreadError::RuntimeShutdown`] if the runtime is shutting down.
///
/// # Panics
///
/// A panic in `future` resumes here with the original payload (and from here, in the
/// `to_thread` caller).
///
/// # Cancel safety
///
/// Blocking call; not async. What the future loses when the caller scope cuts it off is what it
/// loses when dropped at its pending `.await`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{from_thread, to_thread};
///
/// let answer = to_thread(|| {
///     // blocking code that needs one async step
///     from_thread::run(async {
///         tokio::task::yield_now().await;
///         42
///     })
/// })
/// .await;
/// assert_eq!(answer, Ok(42));
/// # }
/// ```
pub fn run<F>(future: F) -> Result<F::Output, FromThreadError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let ctx = worker::current()?;
    ctx.check()?;
    let caller = ctx.caller.clone();
    // In the thread's context: the copy of the caller's that `to_thread` entered.
    let context = crate::context::capture();
    let task = ctx
        .handle
        .spawn(context.scope(run_following(caller, future)));
    match futures::executor::block_on(task) {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(cancelled)) => Err(FromThreadError::Cancelled(cancelled)),
        Err(err) => match err.try_into_panic() {
            Ok(payload) => resume_unwind(payload),
            Err(_) => Err(FromThreadError::RuntimeShutdown),
        },
    }
}

/// Runs `future` in a fresh scope that is cancelled when `caller` is; reports the caller's
/// reason when that cut the future off.
async fn run_following<F: Future>(
    caller: Option<CancelScope>,
    future: F,
) -> Result<F::Output, Cancelled> {
    let scope = CancelScope::new();
    let Some(caller) = caller else {
        return scope.run(future).await;
    };
    let mut run = pin!(scope.run(future));
    tokio::select! {
        biased;
        out = &mut run => return out,
        () = caller.cancelled() => {}
    }
    let reason = caller_cancel_reason(Some(&caller));
    scope.cancel_with("the scope that called to_thread was cancelled");
    // Keep polling: shields inside (a nested default-mode to_thread) finish first.
    match run.await {
        Ok(output) => Ok(output),
        Err(cancelled) => Err(reason.map(Cancelled::new).unwrap_or(cancelled)),
    }
}

/// Runs the synchronous callback `f` in a task on the runtime that awaited this thread's
/// `to_thread` call, blocks until it returns, and returns its value (AnyIO's
/// `from_thread.run_sync`).
///
/// Use it for work that must happen inside the runtime (spawning a task, touching a
/// `!Send` resource's owner task through a channel, reading a `tokio::time::Instant`).
///
/// # Errors
///
/// As [`run`]: [`FromThreadError::Cancelled`] if the caller scope was cancelled before the call
/// (a callback that started always runs to the end), and the other variants.
///
/// # Panics
///
/// A panic in `f` resumes here with the original payload.
///
/// # Cancel safety
///
/// Blocking call; not async.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{from_thread, to_thread};
///
/// let on_runtime = to_thread(|| {
///     from_thread::run_sync(|| tokio::runtime::Handle::try_current().is_ok())
/// })
/// .await;
/// assert_eq!(on_runtime, Ok(true));
/// # }
/// ```
pub fn run_sync<F, T>(f: F) -> Result<T, FromThreadError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let ctx = worker::current()?;
    ctx.check()?;
    let context = crate::context::capture();
    let task = ctx.handle.spawn(context.scope(async move { f() }));
    match futures::executor::block_on(task) {
        Ok(value) => Ok(value),
        Err(err) => match err.try_into_panic() {
            Ok(payload) => resume_unwind(payload),
            Err(_) => Err(FromThreadError::RuntimeShutdown),
        },
    }
}

/// Returns `Err` once the scope that awaited this thread's `to_thread` call is cancelled
/// (AnyIO's `from_thread.check_cancelled`): call it in loops so the thread stops early.
///
/// # Errors
///
/// [`FromThreadError::Cancelled`] (the caller scope is cancelled),
/// [`FromThreadError::Abandoned`] (the `to_thread` future was dropped),
/// [`FromThreadError::NotInWorkerThread`] (not a `to_thread` thread).
///
/// # Cancel safety
///
/// Not async; a plain read.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use tether::CancelScope;
/// use tether::{from_thread, to_thread};
///
/// let scope = CancelScope::new().with_timeout(Duration::from_millis(10));
/// let steps = scope
///     .run(to_thread(|| {
///         let mut steps = 0u64;
///         while from_thread::check_cancelled().is_ok() {
///             steps += 1; // a slice of blocking work
///             std::thread::sleep(Duration::from_millis(1));
///         }
///         steps
///     }))
///     .await;
/// // The wait was shielded: the loop ran until it saw the deadline, and its value came back
/// // because nothing in the scope awaited after it.
/// assert!(steps.is_ok());
/// assert!(scope.cancel_called());
/// # }
/// ```
pub fn check_cancelled() -> Result<(), FromThreadError> {
    worker::current()?.check()
}
