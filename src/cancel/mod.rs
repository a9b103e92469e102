//! Cancel scopes: the guide is the crate docs' "Cancel scopes" section; this module holds
//! the machinery.

mod cleanup;
mod context;
mod deadline;
mod driver;
mod node;
mod run;
mod timeout;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

pub use cleanup::{WithCleanup, with_cleanup};
pub use context::{Checkpoint, checkpoint, checkpoint_if_cancelled, current_effective_deadline};
pub(crate) use context::{LazyRoot, current_node, scope_entry_is_current, with_scope_entry};
pub(crate) use context::{current_is_cancelled, current_must_drop, outside_every_position};
pub(crate) use driver::{Begin, HoldMode, ScopeDriver, Settle, Step};
pub(crate) use node::Node;
pub use run::Run;
pub use timeout::{
    FailAfter, MoveOn, Shielded, TimeoutError, fail_after, fail_at, move_on_after, move_on_at,
    shield,
};

use crate::loom::sync::Arc;

/// A handle to a cancel scope: cancel it, move its deadline, shield it, ask what happened.
///
/// Cloning is cheap (an `Arc`), and every clone names the same scope. A scope runs one body, once
/// ([`run`](CancelScope::run)); its handle can be used from any task before, during and after.
///
/// This is AnyIO's `CancelScope`. `CancelScope::new().with_timeout(d).run(fut)` is
/// `with move_on_after(d):`, and [`move_on_after`], [`fail_after`] and [`shield`] are shorthands.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tether::{CancelScope, CancelSource};
///
/// let scope = CancelScope::new().with_timeout(Duration::from_millis(100));
/// let result = scope.run(tokio::time::sleep(Duration::from_secs(1))).await;
///
/// let cancelled = result.unwrap_err();
/// assert_eq!(cancelled.reason().source(), CancelSource::Deadline);
/// assert!(scope.cancel_called());
/// assert!(scope.cancelled_caught());
/// # }
/// ```
#[derive(Clone)]
pub struct CancelScope {
    pub(crate) node: Arc<Node>,
}

impl CancelScope {
    /// A new scope: not cancelled, no deadline, not shielded.
    pub fn new() -> CancelScope {
        CancelScope {
            node: Node::new(false, None),
        }
    }

    /// A scope entered at once under `parent` (a task group's, opened inside its parent).
    pub(crate) fn entered_under(parent: Option<Arc<Node>>) -> CancelScope {
        CancelScope {
            node: Node::new_entered(parent),
        }
    }

    /// A fresh scope with `deadline` and `shield` set at construction (no lock, no wake-up:
    /// nobody can be waiting on a node that was just made). For the shorthands.
    pub(crate) fn preset(shield: bool, deadline: Option<Instant>) -> CancelScope {
        CancelScope {
            node: Node::new(shield, deadline),
        }
    }

    /// Like [`run`](Self::run), consuming the handle (no reference-count round trip).
    #[track_caller]
    pub(crate) fn into_run<F: Future>(self, body: F) -> Run<F> {
        Run::new(self, body)
    }

    /// Sets an absolute deadline on tokio's clock (builder form of
    /// [`set_deadline`](CancelScope::set_deadline)).
    pub fn with_deadline(self, deadline: Instant) -> CancelScope {
        self.node.set_deadline(Some(deadline));
        self
    }

    /// Sets the deadline to `timeout` from now (now = when this is called).
    ///
    /// # Panics
    ///
    /// Panics if the deadline overflows `Instant` (an absurd timeout such as `Duration::MAX`;
    /// use no deadline instead).
    #[track_caller]
    pub fn with_timeout(self, timeout: Duration) -> CancelScope {
        self.with_deadline(Instant::now() + timeout)
    }

    /// Makes the scope shielded (builder form of [`set_shield`](CancelScope::set_shield)).
    pub fn with_shield(self, shield: bool) -> CancelScope {
        self.node.set_shield(shield);
        self
    }

    /// Runs `body` inside this scope.
    ///
    /// The returned future resolves to `Ok(output)` when the body completes, or to
    /// `Err(Cancelled)` when this scope was cancelled (explicitly or by its deadline) and dropped
    /// the body. If an *enclosing* scope was cancelled (also when this one was too), it does not
    /// resolve: the enclosing scope drops it (see the [crate docs](crate#cancel-scopes)). Under a
    /// nested executor (a `block_on` in a scope's body), where the enclosing scope cannot drop it,
    /// it resolves with `Err(Cancelled)` whose source is
    /// [`ParentScope`](CancelSource::ParentScope) instead.
    ///
    /// The scope is entered on the first poll: that is when it finds its parent scope and binds
    /// to the current task.
    ///
    /// # Panics
    ///
    /// Polling panics if the scope was already entered by another `run` (a scope runs one body;
    /// make a new `CancelScope` for each), or if the future is polled from a task other than the
    /// one that first polled it (a [`TaskContextError`](crate::TaskContextError) message names
    /// both tasks). A deadline needs a tokio runtime with the time driver enabled.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the body, like any future. Every pending await in the body is a
    /// cancellation point.
    #[track_caller]
    pub fn run<F: Future>(&self, body: F) -> Run<F> {
        Run::new(self.clone(), body)
    }

    /// Cancels the scope. Idempotent; works from any task, before, during or after the run.
    pub fn cancel(&self) {
        self.node
            .cancel(CancelReason::new(CancelSource::Explicit, None));
    }

    /// Cancels the scope with a reason, readable later from [`cancel_reason`](Self::cancel_reason)
    /// and from the [`Cancelled`] error. The first reason wins.
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = tether::CancelScope::new();
    /// scope.cancel_with("shutting down");
    /// scope.cancel_with("ignored: the first reason wins");
    /// assert_eq!(scope.cancel_reason().unwrap().message(), Some("shutting down"));
    /// ```
    pub fn cancel_with(&self, message: impl Into<Cow<'static, str>>) {
        let message: Cow<'static, str> = message.into();
        self.node.cancel(CancelReason::new(
            CancelSource::Explicit,
            Some(Arc::from(message.as_ref())),
        ));
    }

    /// Whether this scope itself was cancelled (by [`cancel`](Self::cancel), its deadline, or a
    /// task group failure), whether or not that stopped anything. Cancellation inherited from an
    /// enclosing scope does not count; see [`is_cancelled`](Self::is_cancelled).
    pub fn cancel_called(&self) -> bool {
        self.node.is_cancel_called()
    }

    /// Whether this scope stopped its body because of its own cancellation.
    pub fn cancelled_caught(&self) -> bool {
        self.node.caught()
    }

    /// Whether code in this scope is cancelled now: this scope or an enclosing one (up to a
    /// shield) was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.node.is_effectively_cancelled()
    }

    /// Why this scope is cancelled: its own reason, or the reason of the enclosing scope it
    /// inherited (with [`CancelSource::ParentScope`]). `None` if not cancelled.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.node.effective_reason()
    }

    /// This scope's own deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline()
    }

    /// Moves the deadline (or removes it with `None`). Works while the scope runs, from any task:
    /// the running scope re-arms its timer. A deadline in the past cancels at the next poll.
    ///
    /// A deadline is enforced by the future that runs the scope (`run`, `move_on_after`, a
    /// `task_group` call). The scope of an [`OwnedTaskGroup`](crate::OwnedTaskGroup) has no such
    /// future while it is open, so a deadline set on it is not enforced; run the children's work
    /// under their own scopes, or cancel the group from a timer.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.node.set_deadline(deadline);
    }

    /// Whether the scope is shielded.
    pub fn shield(&self) -> bool {
        self.node.is_shield()
    }

    /// Shields or unshields the scope, also while it runs. Unshielding a scope inside a cancelled
    /// scope delivers that cancellation.
    pub fn set_shield(&self, shield: bool) {
        self.node.set_shield(shield);
    }

    /// Waits until this scope is cancelled (its own cancellation or an inherited one).
    ///
    /// Meant for *other* tasks, or for a shielded section, that want to react to the scope being
    /// cancelled; inside the scope's own body the body is dropped instead.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = tether::CancelScope::new();
    /// let watcher = tokio::spawn({
    ///     let scope = scope.clone();
    ///     async move { scope.cancelled().await; "saw it" }
    /// });
    /// scope.cancel();
    /// assert_eq!(watcher.await.unwrap(), "saw it");
    /// # }
    /// ```
    pub fn cancelled(&self) -> WaitCancelled {
        WaitCancelled {
            node: self.node.clone(),
            key: None,
        }
    }
}

impl Default for CancelScope {
    fn default() -> Self {
        CancelScope::new()
    }
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelScope")
            .field("cancel_called", &self.cancel_called())
            .field("cancelled_caught", &self.cancelled_caught())
            .field("shield", &self.shield())
            .field("deadline", &self.deadline())
            .finish()
    }
}

/// Future returned by [`CancelScope::cancelled`].
#[must_use = "futures do nothing unless polled"]
pub struct WaitCancelled {
    node: Arc<Node>,
    key: Option<usize>,
}

impl Future for WaitCancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.node.is_effectively_cancelled() {
            if let Some(key) = self.key.take() {
                self.node.remove_observer(key);
            }
            return Poll::Ready(());
        }
        let key = self.node.update_observer(self.key, cx.waker());
        self.key = Some(key);
        if self.node.is_effectively_cancelled() {
            self.key = None;
            self.node.remove_observer(key);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for WaitCancelled {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.node.remove_observer(key);
        }
    }
}

impl fmt::Debug for WaitCancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitCancelled")
            .field("cancelled", &self.node.is_effectively_cancelled())
            .finish()
    }
}

/// Where a cancellation came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum CancelSource {
    /// [`CancelScope::cancel`] or [`CancelScope::cancel_with`].
    Explicit,
    /// The scope's deadline passed.
    Deadline,
    /// An enclosing scope was cancelled; the message names the original reason.
    ParentScope,
    /// A task in the task group failed or panicked, which cancels the rest of the group.
    GroupFailure,
    /// An owned task group (or a group future) was dropped without being closed.
    GroupDropped,
    /// The `start()` call that was waiting for this child was cancelled, or the child dropped its
    /// `TaskStatus` without calling `started`.
    StartAbandoned,
}

/// Why a scope was cancelled: a [`CancelSource`] and an optional message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelReason {
    source: CancelSource,
    message: Option<Arc<str>>,
}

impl CancelReason {
    pub(crate) fn new(source: CancelSource, message: Option<Arc<str>>) -> CancelReason {
        CancelReason { source, message }
    }

    pub(crate) fn with_message(source: CancelSource, message: impl fmt::Display) -> CancelReason {
        CancelReason::new(source, Some(Arc::from(message.to_string())))
    }

    pub(crate) fn inherited(origin: &CancelReason) -> CancelReason {
        CancelReason::with_message(CancelSource::ParentScope, origin)
    }

    /// Where the cancellation came from.
    pub fn source(&self) -> CancelSource {
        self.source
    }

    /// The message given with the cancellation, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.source {
            CancelSource::Explicit => "cancelled explicitly",
            CancelSource::Deadline => "deadline reached",
            CancelSource::ParentScope => "an enclosing scope was cancelled",
            CancelSource::GroupFailure => "a task in the group failed",
            CancelSource::GroupDropped => "task group dropped without being closed",
            CancelSource::StartAbandoned => "start() abandoned before the child called started()",
        };
        match &self.message {
            Some(message) => write!(f, "{what} ({message})"),
            None => f.write_str(what),
        }
    }
}

/// The error a [`CancelScope::run`] resolves to when that scope stopped its body because it was
/// cancelled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cancel scope stopped its body: {reason}")]
pub struct Cancelled {
    reason: CancelReason,
}

impl Cancelled {
    pub(crate) fn new(reason: CancelReason) -> Cancelled {
        Cancelled { reason }
    }

    /// Why the scope was cancelled.
    pub fn reason(&self) -> &CancelReason {
        &self.reason
    }

    /// Whether the scope's deadline did the cancelling (a timeout).
    pub fn is_deadline(&self) -> bool {
        self.reason.source == CancelSource::Deadline
    }
}
#[cfg(all(test, tether_loom))]
mod loom_tests;
