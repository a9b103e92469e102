//! The future that runs a body inside a cancel scope.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::driver::{Begin, HoldMode, ScopeDriver, Settle, Step};
use super::{CancelScope, Cancelled};
use crate::error::TaskContextError;
use crate::task::TaskId;

pin_project! {
    /// Future returned by [`CancelScope::run`]: the body running inside the scope.
    ///
    /// Resolves to `Ok(output)` or, if this scope was cancelled, `Err(`[`Cancelled`]`)`.
    #[must_use = "futures do nothing unless polled"]
    pub struct Run<F> {
        // Declared before the driver: dropped first, so its own scopes unwind before ours.
        #[pin]
        body: Option<F>,
        #[pin]
        driver: ScopeDriver,
    }
}

impl<F> Run<F> {
    #[track_caller]
    pub(crate) fn new(scope: CancelScope, body: F) -> Run<F> {
        Run {
            body: Some(body),
            driver: ScopeDriver::new(scope, HoldMode::WhenShielded, wrong_task),
        }
    }

    /// Like [`new`](Self::new) for a fresh private scope whose preset deadline was computed
    /// as `now + timeout` with `timeout > 0` (see `ScopeDriver::preset_deadline_ahead`).
    #[track_caller]
    pub(crate) fn with_deadline_ahead(scope: CancelScope, body: F) -> Run<F> {
        let mut run = Run::new(scope, body);
        run.driver.preset_deadline_ahead();
        run
    }

    /// The scope this future runs in.
    pub fn scope(&self) -> &CancelScope {
        self.driver.scope()
    }
}

fn wrong_task(owner: TaskId, current: TaskId) -> String {
    TaskContextError::new(
        "cancel scope",
        "entered",
        "polled",
        owner,
        current,
        "await a scope's future in the task that first polled it; to cancel it from elsewhere, \
         clone the CancelScope handle and call cancel()",
    )
    .to_string()
}

impl<F: Future> Future for Run<F> {
    type Output = Result<F::Output, Cancelled>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut driver = this.driver.as_mut();
        match driver.as_mut().begin(cx) {
            Begin::Body => {
                let body = this.body.as_mut().as_pin_mut();
                let body = body.expect("body present while running");
                match driver.as_mut().poll_body(cx, |cx| body.poll(cx)) {
                    Step::Ready(output) => {
                        this.body.set(None);
                        driver.as_mut().exit();
                        driver.done();
                        return Poll::Ready(Ok(output));
                    }
                    Step::Pending => return Poll::Pending,
                    Step::Cut => {}
                }
            }
            Begin::Cut => {}
            Begin::Parked => return Poll::Pending,
            Begin::Escape(reason) => return Poll::Ready(Err(Cancelled::new(reason))),
        }
        // Cancelled and nothing below holds us: drop the body at its await point, then decide
        // who catches (a cancellation made while the body unwound counts).
        driver.in_scope(|| this.body.set(None));
        let settle = driver.settle();
        driver.as_mut().exit();
        match settle {
            Settle::Catch(reason) => Poll::Ready(Err(Cancelled::new(driver.catch(reason)))),
            Settle::Park => {
                // An enclosing scope originated this; it drops us next.
                driver.park(cx);
                Poll::Pending
            }
        }
    }
}

impl<F> fmt::Debug for Run<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("scope", self.driver.scope())
            .field("driver", &self.driver)
            .finish()
    }
}
