//! `with_cleanup`: async cleanup that runs even when the body is cut off by cancellation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::context::{current_node, with_current};
use super::node::Node;
use super::timeout::{Shielded, shield};
use crate::loom::sync::Arc;

/// Runs `body`, then `cleanup` — shielded, to completion — whether the body finished or was cut
/// off by a cancellation (of an enclosing scope, a deadline, a failing sibling in a group).
///
/// This is Python's `try: await body() finally: with CancelScope(shield=True): await cleanup()`.
/// In Rust a cancelled body is dropped, and `Drop` cannot `.await`; `with_cleanup` holds the
/// enclosing scopes back (like a shield does) until the cleanup has run, then lets the
/// cancellation finish: if the body was cut off, the future does not resolve and the scope that
/// originated the cancellation drops it.
///
/// # Panics
///
/// Panics if polled from a task other than the one that first polled it.
///
/// # Cancel safety
///
/// Cancellation by tether scopes always runs the cleanup. Dropping the future by other means (a
/// `select!` branch losing, an abort) drops the body and the cleanup without running it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tether::{move_on_after, with_cleanup};
///
/// let said_goodbye = Arc::new(AtomicBool::new(false));
/// let flag = said_goodbye.clone();
/// let out = move_on_after(Duration::from_millis(10), with_cleanup(
///     tokio::time::sleep(Duration::from_secs(60)), // cut off by the deadline
///     async move {
///         tokio::time::sleep(Duration::from_millis(50)).await; // e.g. send a goodbye frame
///         flag.store(true, Ordering::SeqCst);
///     },
/// ))
/// .await;
/// assert_eq!(out, None);
/// assert!(said_goodbye.load(Ordering::SeqCst));
/// # }
/// ```
pub fn with_cleanup<F, C>(body: F, cleanup: C) -> WithCleanup<F, C>
where
    F: Future,
    C: Future<Output = ()>,
{
    WithCleanup {
        node: Node::new(false, None),
        body: Some(body),
        cleanup: Some(shield(cleanup)),
        output: None,
        cleanup_started: false,
        entered: false,
        registered: false,
        parked: false,
    }
}

pin_project! {
    /// Future returned by [`with_cleanup`].
    #[must_use = "futures do nothing unless polled"]
    pub struct WithCleanup<F: Future, C> {
        node: Arc<Node>,
        #[pin]
        body: Option<F>,
        #[pin]
        cleanup: Option<Shielded<C>>,
        output: Option<F::Output>,
        cleanup_started: bool,
        entered: bool,
        registered: bool,
        parked: bool,
    }

    impl<F: Future, C> PinnedDrop for WithCleanup<F, C> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            this.body.set(None);
            this.cleanup.set(None);
            leave(this.node, this.entered, this.registered);
        }
    }
}

/// Releases the hold on the enclosing scopes and leaves the parent's child list.
fn leave(node: &Arc<Node>, entered: &mut bool, registered: &mut bool) {
    if std::mem::take(entered) {
        node.hold_ancestors(false);
    }
    if std::mem::take(registered) {
        node.deregister_from_parent();
    }
}

impl<F: Future, C: Future<Output = ()>> Future for WithCleanup<F, C> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let node = &*this.node;
        if *this.parked {
            return Poll::Pending;
        }
        if !*this.entered && !*this.cleanup_started {
            node.enter(current_node());
            node.hold_ancestors(true);
            *this.entered = true;
        }

        if let Some(body) = this.body.as_mut().as_pin_mut() {
            let mut cut_off = node.must_drop_body();
            if !cut_off {
                node.register_waker(cx.waker());
                let polled = with_current(node, || body.poll(cx));
                match polled {
                    Poll::Ready(output) => *this.output = Some(output),
                    Poll::Pending => {
                        if !*this.registered {
                            *this.registered = true;
                            node.register_in_parent();
                        }
                        cut_off = node.must_drop_body();
                        if !cut_off {
                            return Poll::Pending;
                        }
                    }
                }
            }
            let _ = cut_off;
            this.body.set(None);
            *this.cleanup_started = true;
        }

        // Cleanup: shielded, under our node so it sits below the scopes we hold.
        if let Some(cleanup) = this.cleanup.as_mut().as_pin_mut() {
            let polled = with_current(node, || cleanup.poll(cx));
            if polled.is_pending() {
                return Poll::Pending;
            }
            this.cleanup.set(None);
        }

        leave(node, this.entered, this.registered);
        match this.output.take() {
            Some(output) => Poll::Ready(output),
            None => {
                // Cut off by an enclosing cancellation: let its origin drop us.
                *this.parked = true;
                Poll::Pending
            }
        }
    }
}

impl<F: Future, C> fmt::Debug for WithCleanup<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithCleanup")
            .field("body_done", &self.body.is_none())
            .field("cleanup_done", &self.cleanup.is_none())
            .finish()
    }
}
