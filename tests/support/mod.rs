//! Helpers shared by the integration tests: time bounds, drop counters and drop logs, hand-polled
//! futures, wakers that probe, and the other side of a wrong-task misuse.
//!
//! Every test that could hang is bounded: [`bounded`] under a paused clock (where the limit costs
//! nothing: the runtime jumps to it once everything is idle), [`bounded_for`] in real time
//! (stress runs), [`finishes`] for a plain thread that could deadlock.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts how many guards were dropped (proof that a cancelled future was dropped).
#[derive(Clone, Default)]
pub(crate) struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub(crate) fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The bound of [`bounded`]: virtual time under a paused clock, so it costs nothing there.
pub(crate) const LIMIT: Duration = Duration::from_secs(30);

/// The bound of a stress run in real time (see [`bounded_for`]).
pub(crate) const STRESS_LIMIT: Duration = Duration::from_secs(120);

/// An hour: "forever" for a sleep that must be cut off.
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

/// Fails the test instead of hanging it. Under a paused clock the runtime auto-advances to the
/// limit as soon as everything is idle, so a hang fails at once.
pub(crate) async fn bounded<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("test hung: still pending after its time limit")
}

/// [`bounded`] with a name and a limit of its own, for real-time runs.
pub(crate) async fn bounded_for<F: Future>(what: &str, limit: Duration, fut: F) -> F::Output {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {limit:?} (hang)"))
}

/// Lets every ready task of a current-thread runtime run (a few rounds of `yield_now`).
pub(crate) async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

/// An item that records its drop in a shared log, to prove what was lost and what was not.
#[derive(Debug)]
pub(crate) struct Tracked {
    pub(crate) id: u32,
    pub(crate) log: Arc<std::sync::Mutex<Vec<u32>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(self.id);
    }
}

/// A [`Tracked`] item with `id`, logging into `log`.
pub(crate) fn tracked(id: u32, log: &Arc<std::sync::Mutex<Vec<u32>>>) -> Tracked {
    Tracked {
        id,
        log: log.clone(),
    }
}

/// A future polled by hand that records whether it was woken since its last poll.
pub(crate) struct Manual<F: Future> {
    future: std::pin::Pin<Box<F>>,
    flag: Arc<WakeFlag>,
    waker: std::task::Waker,
}

struct WakeFlag(std::sync::atomic::AtomicBool);

impl futures::task::ArcWake for WakeFlag {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

impl<F: Future> Manual<F> {
    pub(crate) fn new(future: F) -> Self {
        let flag = Arc::new(WakeFlag(std::sync::atomic::AtomicBool::new(false)));
        let waker = futures::task::waker(flag.clone());
        Self {
            future: Box::pin(future),
            flag,
            waker,
        }
    }

    /// Polls once, clearing the woken flag first.
    pub(crate) fn poll(&mut self) -> std::task::Poll<F::Output> {
        self.flag.0.store(false, Ordering::SeqCst);
        self.future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&self.waker))
    }

    /// Whether it was woken since its last poll.
    pub(crate) fn is_woken(&self) -> bool {
        self.flag.0.load(Ordering::SeqCst)
    }
}

/// A waker that runs `on_wake` each time it is woken: the probe for "wakes under a lock" bugs,
/// when `on_wake` reads the primitive that woke it (its `statistics()`).
pub(crate) fn waker_fn(on_wake: impl Fn() + Send + Sync + 'static) -> std::task::Waker {
    struct OnWake<F>(F);
    impl<F: Fn() + Send + Sync + 'static> futures::task::ArcWake for OnWake<F> {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            (arc_self.0)()
        }
    }
    futures::task::waker(Arc::new(OnWake(on_wake)))
}

/// Runs `f` on its own thread and fails the test if it has not returned within `LIMIT`: a
/// deadlock (a thread blocked on a lock it holds) becomes a failure instead of a hung suite. The
/// deadlocked thread is left behind; the test process ends anyway.
pub(crate) fn finishes<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(THREAD_LIMIT)
        .unwrap_or_else(|_| panic!("{what} did not return: deadlocked or hung"))
}

/// How long a plain thread may take in [`finishes`] (real time: threads have no paused clock).
pub(crate) const THREAD_LIMIT: Duration = Duration::from_secs(10);

/// Runs `f` in a new tokio task and returns what it returned, with that task's id: the other
/// side of a wrong-task misuse.
pub(crate) async fn in_other_task<R: Send + 'static>(
    f: impl Future<Output = R> + Send + 'static,
) -> (R, tether::TaskId) {
    tokio::spawn(async move { (f.await, tether::TaskId::current()) })
        .await
        .unwrap()
}

/// The message of a panic payload (`panic!` with a literal or a format string).
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

/// Holds a value that is leaked instead of dropped when the test is already failing: a future
/// whose `Drop` takes a lock that a deadlocked thread holds would otherwise hang the failing
/// test while it unwinds, instead of letting it report.
pub(crate) struct LeakOnPanic<T>(Option<T>);

impl<T> LeakOnPanic<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Some(value))
    }

    /// Gives the value back (to drop it deliberately, for example).
    pub(crate) fn into_inner(mut self) -> T {
        self.0.take().expect("present until taken")
    }
}

impl<T> std::ops::Deref for LeakOnPanic<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("present until taken")
    }
}

impl<T> std::ops::DerefMut for LeakOnPanic<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("present until taken")
    }
}

impl<T> Drop for LeakOnPanic<T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            std::mem::forget(self.0.take());
        }
    }
}
