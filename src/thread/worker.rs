//! What a worker thread started by `to_thread` knows about its caller.
//!
//! `to_thread` captures the cancel scope it is awaited in (the *caller scope*) and a handle to
//! the runtime, and lends both to the worker thread through a thread-local for as long as the
//! closure runs. `from_thread` reads them back.
//!
//! # Invariants
//!
//! - The thread-local is set only while a `to_thread` closure runs on this thread, and restored
//!   (also on unwind) when it returns; nested worker contexts cannot happen on one thread (a
//!   blocking-pool thread runs one closure at a time), but the previous value is restored anyway.
//! - `abandoned` is set once the `to_thread` future is gone without having seen the thread
//!   finish; it never goes back to false.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::runtime::Handle;

use super::error::{FromThreadError, thread_name};
use crate::cancel::{CancelReason, CancelScope, Cancelled};

/// Shared between a `to_thread` future and its worker thread.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    /// The `to_thread` future was dropped before the thread finished.
    abandoned: AtomicBool,
}

impl CallState {
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
    }

    fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }
}

/// Lent to a worker thread while its closure runs.
#[derive(Debug)]
pub(crate) struct WorkerContext {
    /// The runtime that awaited `to_thread`: where `from_thread` runs its work.
    pub(crate) handle: Handle,
    /// The cancel scope `to_thread` was awaited in (`None`: outside any tether scope).
    pub(crate) caller: Option<CancelScope>,
    /// Whether the call was abandoned.
    pub(crate) state: Arc<CallState>,
}

impl WorkerContext {
    /// `Err` if the caller's scope is cancelled or the call was abandoned.
    pub(crate) fn check(&self) -> Result<(), FromThreadError> {
        if let Some(reason) = caller_cancel_reason(self.caller.as_ref()) {
            return Err(FromThreadError::Cancelled(Cancelled::new(reason)));
        }
        if self.state.is_abandoned() {
            return Err(FromThreadError::Abandoned);
        }
        Ok(())
    }
}

/// Why `caller` is cancelled now, if it is.
pub(crate) fn caller_cancel_reason(caller: Option<&CancelScope>) -> Option<CancelReason> {
    let caller = caller?;
    if caller.is_cancelled() {
        caller.cancel_reason()
    } else {
        None
    }
}

/// The cancel scope of the code being polled now on this thread, if it runs inside one.
///
/// This is the single place where the thread bridges read the cancel tree's position; it uses
/// `cancel`'s crate-internal `current_node` and the handle's `node` field, nothing else.
pub(crate) fn caller_scope() -> Option<CancelScope> {
    crate::cancel::current_node().map(|node| CancelScope { node })
}

thread_local! {
    static WORKER: RefCell<Option<Arc<WorkerContext>>> = const { RefCell::new(None) };
}

/// Restores the previous worker context on drop (also on unwind).
struct Restore(Option<Arc<WorkerContext>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = WORKER.try_with(|slot| *slot.borrow_mut() = previous);
    }
}

/// Runs `f` with `ctx` as this thread's worker context.
pub(crate) fn enter<R>(ctx: Arc<WorkerContext>, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(WORKER.with(|slot| slot.borrow_mut().replace(ctx)));
    f()
}

/// The worker context of this thread.
pub(crate) fn current() -> Result<Arc<WorkerContext>, FromThreadError> {
    WORKER
        .with(|slot| slot.borrow().clone())
        .ok_or_else(|| FromThreadError::NotInWorkerThread {
            thread: thread_name(),
        })
}
