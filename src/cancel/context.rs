//! The current position in the cancel tree, and the free functions that read it.
//!
//! While a tether future (a scope, a group body, a child task) polls its body, it makes its node
//! the *current* node of this thread, and restores the previous one when the poll returns (also on
//! unwind). A child task's root node is made lazily ([`LazyRoot`]). A scope entered inside that
//! body finds its parent here. Because the slot is set only for the duration of a poll, a plain
//! `tokio::spawn` inside a scope starts outside the tree, as tokio intends; tether children are
//! attached explicitly. The slot also records which task set it, so a task polled *within*
//! that poll (a `LocalSet`'s local task) is outside the tree too.

use std::cell::{Cell, OnceCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::CancelScope;
use super::driver::Step;
use super::node::Node;
use crate::diagnostics::registry::LazyEntry;
use crate::loom::sync::Arc;
use crate::task_group::GroupShared;

// The current position is *borrowed* into the thread-local for the duration of a poll
// (`scoped_tls`), so entering it costs no reference-count traffic.
//
// `NODE` is set by scopes and group bodies; `CHILD` by the wrapper of a tether child task,
// which is always the top-level future of its tokio task (tasks are never polled inside one
// another's poll), so when both are set, `NODE` is the inner one. `NODE` lends the driver's
// [`Position`]: its node and its task-tree entry in one thread-local.
scoped_tls::scoped_thread_local!(static NODE: Position);
scoped_tls::scoped_thread_local!(static CHILD: LazyRoot);

thread_local! {
    // The tokio task that set the current position (`None`: a `block_on` body). Another task
    // can run *inside* that poll — `LocalSet::run_until` polls its local tasks within the poll
    // of the future awaiting it — and such a task is not in the scope: for it the position
    // reads as unset, so it neither inherits the scope's cancellation or deadline nor takes
    // holds on another task's scopes.
    static OWNER: Cell<Option<tokio::task::Id>> = const { Cell::new(None) };
    // How many positions are set on this thread now (nested `NODE`/`CHILD` sets). Zero means
    // neither is set: code outside every tether scope and child (a plain `tokio::spawn`) learns
    // that it is not cancelled from this one plain load, without touching the scoped keys.
    static ENTERED: Cell<usize> = const { Cell::new(0) };
}

/// Restores the previous owner task on drop (also on unwind).
struct RestoreOwner(Option<tokio::task::Id>);

impl Drop for RestoreOwner {
    #[inline]
    fn drop(&mut self) {
        let _ = OWNER.try_with(|owner| owner.set(self.0));
        let _ = ENTERED.try_with(|n| n.set(n.get() - 1));
    }
}

#[inline(always)]
fn owned_by_current_task<R>(f: impl FnOnce() -> R) -> R {
    ENTERED.with(|n| n.set(n.get() + 1));
    let _restore = RestoreOwner(OWNER.with(|owner| owner.replace(tokio::task::try_id())));
    f()
}

/// Whether no position is set on this thread: then nothing here is inside a scope (one plain
/// thread-local load; the stream operations' cancellation points test it first).
#[inline]
pub(crate) fn outside_every_position() -> bool {
    ENTERED.with(Cell::get) == 0
}

/// Whether the position set on this thread belongs to the task running now.
#[inline]
fn position_is_ours() -> bool {
    OWNER.with(|owner| owner.get() == tokio::task::try_id())
}

/// What a scope's or group's driver lends as the current position while it polls its body:
/// its scope (the node) and its entry in the task tree, if the tree was on when it was entered.
pub(crate) struct Position {
    pub(crate) scope: CancelScope,
    pub(crate) diag: Option<LazyEntry>,
}

/// Polls `f` with `here` as the current position of this thread (restored on return and
/// unwind).
#[inline(always)]
pub(crate) fn with_current<R>(here: &Position, f: impl FnOnce() -> R) -> R {
    owned_by_current_task(|| NODE.set(here, f))
}

/// Whether the innermost position of the task running now is a scope or group that has an
/// entry in the task tree (then [`with_scope_entry`] lends it). When this is false, a child's
/// entry (set by the child's wrapper, outside every scope of its task) is the current one.
#[inline]
pub(crate) fn scope_entry_is_current() -> bool {
    NODE.is_set() && position_is_ours() && NODE.with(|here| here.diag.is_some())
}

/// Calls `f` with the task-tree entry of the innermost scope or group, if
/// [`scope_entry_is_current`].
pub(crate) fn with_scope_entry<R>(f: impl FnOnce(&LazyEntry) -> R) -> Option<R> {
    NODE.with(|here| here.diag.as_ref().map(f))
}

/// The root node of a child task, created the first time it is needed: when the body enters
/// a scope or group, or when the child first returns `Pending` (to be reachable by
/// cancellation). A child that completes on its first poll never allocates one.
///
/// It holds the child's group rather than the group's node (the root's parent, reached through
/// the group): one reference count per child instead of two, which both the spawning host and
/// the exiting child touch, and a child future one word smaller (see `task_group/child.rs`).
/// Whether the root is in the tree is the root's own `in_tree` flag.
pub(crate) struct LazyRoot {
    /// The child's group; its node is the root's parent.
    group: Arc<GroupShared>,
    root: OnceCell<Arc<Node>>,
}

impl LazyRoot {
    pub(crate) fn new(group: Arc<GroupShared>) -> LazyRoot {
        LazyRoot {
            group,
            root: OnceCell::new(),
        }
    }

    /// A root created at once (a `start()` child, whose root the start call may cancel).
    pub(crate) fn eager(group: Arc<GroupShared>) -> LazyRoot {
        let root = Node::new_task_root(group.node().clone());
        LazyRoot {
            group,
            root: OnceCell::from(root),
        }
    }

    /// The child's group.
    #[inline]
    pub(crate) fn group(&self) -> &Arc<GroupShared> {
        &self.group
    }

    /// The group's node: the root's parent.
    #[inline]
    fn parent(&self) -> &Arc<Node> {
        self.group.node()
    }

    /// The root, if it exists.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Arc<Node>> {
        self.root.get()
    }

    /// The root, created now if needed.
    pub(crate) fn force(&self) -> &Arc<Node> {
        self.root
            .get_or_init(|| Node::new_task_root(self.parent().clone()))
    }

    /// The body below must be dropped now (see [`Node::must_drop_body`]). Without a root,
    /// nothing in the child holds anything, and only the group's cancellation can reach it.
    #[inline]
    pub(crate) fn must_drop_body(&self) -> bool {
        match self.root.get() {
            Some(root) => root.must_drop_body(),
            None => self.parent().is_effectively_cancelled(),
        }
    }

    /// Polls `f` with this child as the current position of the thread.
    #[inline]
    fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        owned_by_current_task(|| CHILD.set(self, f))
    }

    /// The child task's side of the scope protocol (see `driver.rs`): polls the body with
    /// this child as the current position; on `Pending`, registers the root in the group's
    /// node and looks again. `Step::Cut`: the body must be dropped now.
    #[inline]
    pub(crate) fn poll_body<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Step<T> {
        if let Poll::Ready(output) = self.enter(|| poll(cx)) {
            return Step::Ready(output);
        }
        // Registered after the poll, then every check below looks again: a cancellation made
        // meanwhile is seen here or wakes us.
        let node = self.force();
        node.register_waker(cx.waker());
        if !node.is_in_tree() {
            node.register_in_parent();
        }
        if self.must_drop_body() {
            Step::Cut
        } else {
            Step::Pending
        }
    }

    /// The child ended: the root leaves the tree (it stays reachable while it has dependents).
    pub(crate) fn exit(&self) {
        if let Some(root) = self.root.get()
            && root.is_in_tree()
        {
            root.deregister_from_parent();
        }
    }
}

/// The node of the innermost scope being polled on this thread, if any.
#[inline]
pub(crate) fn current_node() -> Option<Arc<Node>> {
    // Outside any position (plain tokio code) two thread-local reads answer, without asking
    // tokio for the task id.
    if (!NODE.is_set() && !CHILD.is_set()) || !position_is_ours() {
        return None;
    }
    if NODE.is_set() {
        Some(NODE.with(|h| h.scope.node.clone()))
    } else if CHILD.is_set() {
        Some(CHILD.with(|c| c.force().clone()))
    } else {
        None
    }
}

/// Whether `node` is the innermost position of the code running now: its driver is polling
/// its body on this stack, and looks at the node again when that poll returns.
#[inline]
pub(crate) fn is_current_node(node: &Node) -> bool {
    NODE.is_set() && position_is_ours() && NODE.with(|h| std::ptr::eq(&*h.scope.node, node))
}

/// Whether the code running now is inside a cancelled scope (and not shielded from it).
#[inline]
pub(crate) fn current_is_cancelled() -> bool {
    if outside_every_position() {
        return false;
    }
    if (!NODE.is_set() && !CHILD.is_set()) || !position_is_ours() {
        return false;
    }
    if NODE.is_set() {
        NODE.with(|h| h.scope.node.is_effectively_cancelled())
    } else if CHILD.is_set() {
        CHILD.with(|c| match c.get() {
            Some(root) => root.is_effectively_cancelled(),
            None => c.parent().is_effectively_cancelled(),
        })
    } else {
        false
    }
}

/// Whether the body at the current position must be dropped now: cancelled, and nothing below
/// the current node holds it (see [`Node::must_drop_body`]).
pub(crate) fn current_must_drop() -> bool {
    if outside_every_position() {
        return false;
    }
    if (!NODE.is_set() && !CHILD.is_set()) || !position_is_ours() {
        return false;
    }
    if NODE.is_set() {
        NODE.with(|h| h.scope.node.must_drop_body())
    } else if CHILD.is_set() {
        CHILD.with(|c| c.must_drop_body())
    } else {
        false
    }
}

/// The effective deadline at the current position (see [`current_effective_deadline`]).
fn current_deadline() -> Option<Instant> {
    if !position_is_ours() {
        return None;
    }
    let deadline = if NODE.is_set() {
        NODE.with(|h| h.scope.node.effective_deadline())
    } else if CHILD.is_set() {
        // A child root has no deadline of its own.
        CHILD.with(|c| c.parent().effective_deadline())
    } else {
        return None;
    };
    if current_is_cancelled() {
        // No time is left inside a cancelled scope (Trio returns -inf).
        let now = Instant::now();
        return Some(deadline.map_or(now, |d| d.min(now)));
    }
    deadline
}

/// The deadline that applies to the code running now: the earliest deadline of the enclosing
/// scopes, up to and including the nearest shielded one. `None` when no deadline applies.
///
/// This is AnyIO's `current_effective_deadline()` (which returns `inf` where tether returns
/// `None`). Deadlines are on tokio's clock, so a paused test clock drives them. Inside a scope
/// that is cancelled (and not shielded from it) no time is left: the deadline returned is at or
/// before now, whatever deadline the scopes had (AnyIO returns `-inf` there).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tether::{current_effective_deadline, move_on_after};
///
/// assert_eq!(current_effective_deadline(), None);
/// let start = tokio::time::Instant::now();
/// move_on_after(Duration::from_secs(5), async {
///     move_on_after(Duration::from_secs(10), async {
///         // the outer, earlier deadline applies
///         assert_eq!(current_effective_deadline(), Some(start + Duration::from_secs(5)));
///     })
///     .await;
/// })
/// .await;
/// # }
/// ```
pub fn current_effective_deadline() -> Option<Instant> {
    current_deadline()
}

/// A cancellation point and a scheduling point.
///
/// If the enclosing scope is cancelled, the checkpoint never completes and the scope that
/// originated the cancellation drops the body here (under a nested executor — a `block_on` in a
/// scope's body — where that scope cannot drop it, it completes after a few polls instead of
/// hanging); otherwise it yields to the scheduler once
/// and completes. Call it in a CPU-bound loop so the loop can be cancelled (a loop that never
/// reaches a pending `.await` cannot be, in any drop-based runtime). This is Trio's
/// `checkpoint()`; [`checkpoint_if_cancelled`] is the variant that does not yield.
///
/// # Cancel safety
///
/// Cancel safe: it holds nothing.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{CancelScope, checkpoint};
///
/// let scope = CancelScope::new();
/// let handle = scope.clone();
/// let result = scope
///     .run(async move {
///         let mut n = 0u64;
///         loop {
///             n += 1; // CPU work
///             if n == 1_000 {
///                 handle.cancel();
///             }
///             checkpoint().await; // cut off here once cancelled
///         }
///     })
///     .await;
/// assert!(result.is_err());
/// # }
/// ```
pub fn checkpoint() -> Checkpoint {
    Checkpoint {
        yielded: false,
        yield_if_not_cancelled: true,
        stranded_polls: 0,
    }
}

/// A cancellation point that does not yield: completes at once unless the enclosing scope is
/// cancelled, in which case it never completes and the body is dropped here.
///
/// This is Trio's `checkpoint_if_cancelled()`.
///
/// # Cancel safety
///
/// Cancel safe: it holds nothing.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// tether::checkpoint_if_cancelled().await; // not cancelled: completes at once
/// # }
/// ```
pub fn checkpoint_if_cancelled() -> Checkpoint {
    Checkpoint {
        yielded: false,
        yield_if_not_cancelled: false,
        stranded_polls: 0,
    }
}

/// Future returned by [`checkpoint`] and [`checkpoint_if_cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Checkpoint {
    yielded: bool,
    yield_if_not_cancelled: bool,
    /// Polls while cancelled although the scope above should have dropped us.
    stranded_polls: u8,
}

impl Future for Checkpoint {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if current_is_cancelled() {
            // The originating scope re-checks as soon as this poll returns, and drops us. While
            // something below it holds it (a shield in a sibling branch), we just wait: the
            // hold's release brings it back. If we keep being polled although it should have
            // dropped us, we run under a nested executor (a `block_on` in a scope's body) that
            // blocks its poll: complete instead of hanging, as the scope driver does.
            if current_must_drop() {
                self.stranded_polls += 1;
                if self.stranded_polls >= 3 {
                    return Poll::Ready(());
                }
                cx.waker().wake_by_ref();
            } else {
                self.stranded_polls = 0;
            }
            return Poll::Pending;
        }
        if self.yield_if_not_cancelled && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}
