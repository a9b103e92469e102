//! Shared harness of the loom models (`RUSTFLAGS="--cfg tether_loom" cargo test --release --lib
//! loom`): a waker that records being woken, and a model runner that reports how many
//! interleavings it explored.

use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::task::{Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering};

/// A waker that records that it was woken.
pub(crate) struct Flag(pub(crate) AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A fresh [`Flag`] and a waker that sets it.
pub(crate) fn flag() -> (std::sync::Arc<Flag>, Waker) {
    let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    (flag, waker)
}

/// Explores `f` exhaustively (unless `LOOM_MAX_PREEMPTIONS` bounds it).
pub(crate) fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    model_bounded(name, None, f);
}

/// `LOOM_MAX_PREEMPTIONS` bounds the search; unset, the model uses `default_bound` (`None`:
/// exhaustive). Prints the number of interleavings explored, counted per model (tests run in
/// parallel, so a shared counter would mix models).
pub(crate) fn model_bounded(
    name: &str,
    default_bound: Option<usize>,
    f: impl Fn() + Sync + Send + 'static,
) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = default_bound;
    }
    let iterations = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = iterations.clone();
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        f();
    });
    let n = iterations.load(StdOrdering::Relaxed);
    println!("loom model {name}: {n} interleavings");
}
