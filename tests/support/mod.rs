//! Helpers shared by the integration tests: drop counters and a hang guard.
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

/// Fails the test instead of hanging it. Under a paused clock the runtime auto-advances to the
/// limit as soon as everything is idle, so a hang fails at once.
pub(crate) async fn bounded<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("test hung: still pending after its time limit")
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
