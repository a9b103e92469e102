//! `to_thread`: run a blocking closure on tokio's blocking pool under a capacity limiter.

use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::runtime::Handle;

use super::worker::{self, CallState, WorkerContext};
use crate::cancel::shield;
use crate::sync::{Borrower, CapacityLimiter, CapacityLimiterError};

/// AnyIO's default number of worker threads running at once.
const DEFAULT_THREAD_TOKENS: usize = 40;

/// The process-wide limiter `to_thread` uses unless given another one (AnyIO's
/// `to_thread.current_default_thread_limiter()`), with 40 tokens, AnyIO's default.
///
/// Change its total with [`CapacityLimiter::set_total_tokens`] to allow more or fewer threads at
/// once. AnyIO keeps one default limiter per event loop; tether keeps one per process, because a
/// tokio blocking pool is not tied to one runtime's lifetime in a way user code can see.
///
/// # Examples
///
/// ```
/// let limiter = tether::default_thread_limiter();
/// assert_eq!(limiter.total_tokens(), 40);
/// ```
pub fn default_thread_limiter() -> Arc<CapacityLimiter> {
    static DEFAULT: OnceLock<Arc<CapacityLimiter>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| Arc::new(CapacityLimiter::new(DEFAULT_THREAD_TOKENS)))
        .clone()
}

/// Runs the blocking closure `f` on tokio's blocking pool and returns its result (AnyIO's
/// `to_thread.run_sync`).
///
/// The call first takes a token from a [`CapacityLimiter`] — [`default_thread_limiter`] (40
/// tokens) unless [`ToThread::limiter`] gives another — and the *thread* holds it until `f`
/// returns, so the limiter bounds the threads really running, abandoned ones included. Inside
/// `f`, [`from_thread`](crate::thread::from_thread) calls back into the async world and sees the
/// cancellation of the scope that awaited this call.
///
/// # Cancellation
///
/// By default the wait for the thread is *shielded*: when the enclosing scope is cancelled (or
/// its deadline passes) while `f` runs, the caller keeps waiting until `f` returns, and
/// `from_thread::check_cancelled()` and every later `from_thread` call in the thread report
/// [`FromThreadError::Cancelled`](crate::thread::FromThreadError::Cancelled) so `f` can stop
/// early. Once `f` returns, this future still resolves with `f`'s value (as in AnyIO, where the
/// shielded wait returns and the cancellation is raised at the next checkpoint); the
/// cancellation is delivered at the caller's next `.await` that does not complete at once (or
/// next [`checkpoint`](crate::checkpoint)): the cancelled scope drops its body there and
/// resolves with `Err(Cancelled)` as usual. So no thread's work is ever silently abandoned, and
/// the caller may still look at the value before its scope stops it.
///
/// With [`abandon_on_cancel(true)`](ToThread::abandon_on_cancel) the wait is not shielded: the
/// cancellation drops this future at once, the thread keeps running until `f` returns, its
/// result is dropped, and its `from_thread` calls report the cancellation. Its limiter token is
/// given back when the thread really finishes (AnyIO gives it back at once).
///
/// Waiting for a limiter token is a cancellation point in both modes; a call cancelled there
/// never starts its thread.
///
/// # Panics
///
/// A panic in `f` resumes in the caller with the original payload
/// ([`std::panic::resume_unwind`]). Panics if awaited outside a tokio runtime, or if the runtime
/// shuts down before the blocking pool ran `f`.
///
/// # Cancel safety
///
/// Dropping the future by tether's cancellation is described above. Dropping it any other way
/// (a `select!` branch that lost, an aborted task) cannot wait in `Drop`: the thread runs on,
/// abandoned, its result is dropped, and its `from_thread` calls report
/// [`FromThreadError::Abandoned`](crate::thread::FromThreadError::Abandoned).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::to_thread;
///
/// let sum = to_thread(|| (1..=10u64).sum::<u64>()).await;
/// assert_eq!(sum, 55);
///
/// // With a limiter of your own, abandoning the thread on cancellation:
/// let limiter = std::sync::Arc::new(tether::CapacityLimiter::new(2));
/// let len = to_thread(|| "blocking".len()).limiter(limiter).abandon_on_cancel(true).await;
/// assert_eq!(len, 8);
/// # }
/// ```
pub fn to_thread<F, T>(f: F) -> ToThread<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    ToThread {
        config: Some(Config {
            f,
            limiter: None,
            abandon_on_cancel: false,
        }),
        running: None,
    }
}

/// The future of a [`to_thread`] call, configurable until it is first polled.
///
/// Resolves to the closure's value. See [`to_thread`] for cancellation and panics.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let call = tether::to_thread(|| 1 + 1).abandon_on_cancel(false);
/// assert_eq!(call.await, 2);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct ToThread<F, T> {
    /// The closure and its options, until the first poll.
    config: Option<Config<F>>,
    /// The running call, from the first poll on.
    running: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

struct Config<F> {
    f: F,
    limiter: Option<Arc<CapacityLimiter>>,
    abandon_on_cancel: bool,
}

// `F` is never pinned: it is moved into the call on the first poll.
impl<F, T> Unpin for ToThread<F, T> {}

impl<F, T> ToThread<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn config(&mut self) -> &mut Config<F> {
        self.config
            .as_mut()
            .expect("to_thread options are set before the call is first polled")
    }

    /// Takes the token from `limiter` instead of [`default_thread_limiter`].
    ///
    /// # Panics
    ///
    /// Panics if the call was already polled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::Arc;
    /// let limiter = Arc::new(tether::CapacityLimiter::new(1));
    /// let inside = limiter.clone();
    /// let seen = tether::to_thread(move || inside.borrowed_tokens())
    ///     .limiter(limiter.clone())
    ///     .await;
    /// assert_eq!(seen, 1); // the thread held the only token
    /// assert_eq!(limiter.borrowed_tokens(), 0);
    /// # }
    /// ```
    #[track_caller]
    pub fn limiter(mut self, limiter: Arc<CapacityLimiter>) -> Self {
        self.config().limiter = Some(limiter);
        self
    }

    /// Whether a cancellation of the caller returns at once and leaves the thread running
    /// (`true`), or waits for the thread first (`false`, the default). See [`to_thread`].
    ///
    /// # Panics
    ///
    /// Panics if the call was already polled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(tether::to_thread(|| 7).abandon_on_cancel(true).await, 7);
    /// # }
    /// ```
    #[track_caller]
    pub fn abandon_on_cancel(mut self, abandon: bool) -> Self {
        self.config().abandon_on_cancel = abandon;
        self
    }
}

impl<F, T> Future for ToThread<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        if let Some(config) = this.config.take() {
            this.running = Some(Box::pin(run(
                config.f,
                config.limiter,
                config.abandon_on_cancel,
            )));
        }
        this.running
            .as_mut()
            .expect("`ToThread` polled after it completed")
            .as_mut()
            .poll(cx)
    }
}

impl<F, T> fmt::Debug for ToThread<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ToThread");
        match &self.config {
            Some(config) => d
                .field("limiter", &config.limiter)
                .field("abandon_on_cancel", &config.abandon_on_cancel),
            None => d.field("running", &true),
        };
        d.finish_non_exhaustive()
    }
}

/// Borrower keys for worker threads: from the top half of the `u64` range, one per call, so a
/// thread's token never collides with a task's (or with small keys a user picks).
fn next_borrower() -> Borrower {
    static NEXT: AtomicU64 = AtomicU64::new(1 << 63);
    Borrower::key(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Takes a token for `borrower` in the limiter's *explicit* form: kept until
/// `release_on_behalf_of` (the worker thread gives it back through [`ThreadToken`]).
///
/// The one place that depends on the shape of `acquire_on_behalf_of`: it returns a guard, which
/// is forgotten here because the token is handed to the worker thread and released explicitly
/// when the closure returns (the thread, not this future, owns it).
async fn acquire_explicit(
    limiter: &CapacityLimiter,
    borrower: Borrower,
) -> Result<(), CapacityLimiterError> {
    limiter
        .acquire_on_behalf_of(borrower)
        .await
        .map(crate::CapacityToken::forget)
}

/// A limiter token held by a worker thread: given back when the thread's closure returns.
struct ThreadToken {
    limiter: Arc<CapacityLimiter>,
    borrower: Borrower,
}

impl Drop for ThreadToken {
    fn drop(&mut self) {
        let result = self.limiter.release_on_behalf_of(self.borrower);
        debug_assert!(result.is_ok(), "{result:?}");
    }
}

/// Marks the call abandoned if the future is dropped before it saw the thread finish.
struct AbandonOnDrop(Option<Arc<CallState>>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.abandon();
        }
    }
}

async fn run<F, T>(f: F, limiter: Option<Arc<CapacityLimiter>>, abandon_on_cancel: bool) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // Runs during the first poll, inside the caller's scope: capture it.
    let caller = worker::caller_scope();
    // The thread runs in a copy of the caller's context (ContextVars, task-locals, span).
    let mut context = crate::context::capture();
    let handle = Handle::current();
    let limiter = limiter.unwrap_or_else(default_thread_limiter);
    let borrower = next_borrower();
    if let Err(err) = acquire_explicit(&limiter, borrower).await {
        unreachable!("a fresh borrower key already held a token: {err}");
    }
    let token = ThreadToken { limiter, borrower };
    let state = Arc::new(CallState::default());
    let mut abandon_guard = AbandonOnDrop(Some(state.clone()));
    let ctx = Arc::new(WorkerContext {
        handle: handle.clone(),
        caller,
        state,
    });
    let join = handle.spawn_blocking(move || {
        let _token = token;
        context.run(|| worker::enter(ctx, f))
    });
    let result = if abandon_on_cancel {
        join.await
    } else {
        shield(join).await
    };
    abandon_guard.0 = None;
    match result {
        Ok(value) => value,
        Err(err) => match err.try_into_panic() {
            Ok(payload) => resume_unwind(payload),
            Err(_) => panic!(
                "the tokio runtime shut down before to_thread's closure could run; keep the \
                 runtime alive while awaiting to_thread"
            ),
        },
    }
}
