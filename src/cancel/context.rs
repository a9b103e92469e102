//! The current position in the cancel tree, and the free functions that read it.
//!
//! While a tether future (a scope, a group body, a child task) polls its body, it makes its node
//! the *current* node of this thread, and restores the previous one when the poll returns (also on
//! unwind). A scope entered inside that body finds its parent here. Because the slot is set only
//! for the duration of a poll, a plain `tokio::spawn` inside a scope starts outside the tree, as
//! tokio intends; tether children are attached explicitly.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::node::Node;
use crate::loom::sync::Arc;

thread_local! {
    static CURRENT: RefCell<Option<Arc<Node>>> = const { RefCell::new(None) };
}

/// Makes `node` current until dropped.
pub(crate) struct CurrentGuard {
    previous: Option<Arc<Node>>,
}

impl CurrentGuard {
    #[inline]
    pub(crate) fn enter(node: &Arc<Node>) -> CurrentGuard {
        let previous = CURRENT.with(|c| c.replace(Some(node.clone())));
        CurrentGuard { previous }
    }
}

impl Drop for CurrentGuard {
    #[inline]
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| c.replace(previous));
    }
}

/// The node of the innermost scope being polled on this thread, if any.
#[inline]
pub(crate) fn current_node() -> Option<Arc<Node>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether the code running now is inside a cancelled scope (and not shielded from it).
#[inline]
pub(crate) fn current_is_cancelled() -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|n| n.is_effectively_cancelled())
    })
}

/// The deadline that applies to the code running now: the earliest deadline of the enclosing
/// scopes, up to and including the nearest shielded one. `None` when no deadline applies.
///
/// This is AnyIO's `current_effective_deadline()` (which returns `inf` where tether returns
/// `None`). Deadlines are on tokio's clock, so a paused test clock drives them.
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
    current_node().and_then(|n| n.effective_deadline())
}

/// A cancellation point and a scheduling point.
///
/// If the enclosing scope is cancelled, the checkpoint never completes and the scope that
/// originated the cancellation drops the body here; otherwise it yields to the scheduler once
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
    }
}

/// Future returned by [`checkpoint`] and [`checkpoint_if_cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Checkpoint {
    yielded: bool,
    yield_if_not_cancelled: bool,
}

impl Future for Checkpoint {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if current_is_cancelled() {
            // The originating scope re-checks as soon as this poll returns, and drops us.
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
