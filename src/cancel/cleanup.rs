//! `with_cleanup`: async cleanup that runs even when the body is cut off by cancellation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::CancelScope;
use super::driver::{Begin, HoldMode, ScopeDriver, Step};
use super::timeout::{Shielded, shield};
use crate::error::TaskContextError;
use crate::task::TaskId;

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
/// Panics if polled from a task other than the one that first polled it (the message is a
/// [`TaskContextError`]): it holds the cancel scopes of the task that first polled it, so it
/// must finish there. The panic drops it in the other task, which releases those scopes. Also
/// panics if it is cut off under a nested executor (`futures::executor::block_on` inside a
/// scope's body), where the enclosing scope cannot finish the cancellation.
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
#[track_caller]
pub fn with_cleanup<F, C>(body: F, cleanup: C) -> WithCleanup<F, C>
where
    F: Future,
    C: Future<Output = ()>,
{
    WithCleanup {
        body: Some(body),
        cleanup: Some(shield(cleanup)),
        driver: ScopeDriver::new(
            CancelScope::preset(false, None),
            HoldMode::Always,
            wrong_task,
        ),
        output: None,
    }
}

fn wrong_task(owner: TaskId, current: TaskId) -> String {
    TaskContextError::new(
        "with_cleanup future",
        "first polled",
        "polled",
        owner,
        current,
        "await with_cleanup(..) in the task that first polled it; it holds that task's cancel \
         scopes until its cleanup has run",
    )
    .to_string()
}

pin_project! {
    /// Future returned by [`with_cleanup`].
    #[must_use = "futures do nothing unless polled"]
    pub struct WithCleanup<F: Future, C> {
        // Body and cleanup are declared before the driver: dropped first.
        #[pin]
        body: Option<F>,
        #[pin]
        cleanup: Option<Shielded<C>>,
        // A private node that holds the enclosing scopes from the first poll until the cleanup
        // has run; never cancelled itself.
        #[pin]
        driver: ScopeDriver,
        output: Option<F::Output>,
    }
}

impl<F: Future, C: Future<Output = ()>> Future for WithCleanup<F, C> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let mut driver = this.driver.as_mut();
        let gate = driver.as_mut().begin(cx);
        match gate {
            Begin::Parked => return Poll::Pending,
            Begin::Escape(reason) => panic!(
                "with_cleanup was cut off by a cancellation ({reason}) that the enclosing scope \
                 cannot deliver, because it is polled by a nested executor (a block_on inside a \
                 scope's body); await it in the scope's own task instead"
            ),
            Begin::Body | Begin::Cut => {}
        }

        if let Some(body) = this.body.as_mut().as_pin_mut() {
            if matches!(gate, Begin::Body) {
                match driver.as_mut().poll_body(cx, |cx| body.poll(cx)) {
                    Step::Ready(output) => *this.output = Some(output),
                    Step::Pending => return Poll::Pending,
                    Step::Cut => {}
                }
            }
            driver.in_scope(|| this.body.set(None));
            if this.output.is_none() {
                // Cut off: the node is never cancelled itself, so an enclosing scope catches;
                // mark the way to it now, before the cleanup runs (a shield raised meanwhile
                // must not strand the cancellation).
                let _ = driver.settle();
            }
        }

        // Cleanup: shielded, under our node so it sits below the scopes we hold.
        if let Some(cleanup) = this.cleanup.as_mut().as_pin_mut() {
            if driver
                .as_mut()
                .poll_body(cx, |cx| cleanup.poll(cx))
                .is_pending()
            {
                return Poll::Pending;
            }
            this.cleanup.set(None);
        }

        driver.as_mut().exit();
        match this.output.take() {
            Some(output) => {
                driver.done();
                Poll::Ready(output)
            }
            None => {
                // Cut off by an enclosing cancellation: let its origin drop us.
                driver.park(cx);
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
