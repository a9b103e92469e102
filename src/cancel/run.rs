//! The future that runs a body inside a cancel scope.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::context::{CurrentGuard, current_node};
use super::deadline::DeadlineTimer;
use super::{CancelScope, Cancelled};
use crate::error::TaskContextError;
use crate::task::TaskId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not polled yet: the scope is not entered.
    Unentered,
    /// Entered in `task`, body running.
    Running,
    /// The body was dropped because an enclosing scope was cancelled; the enclosing scope will
    /// drop this future. Never resolves.
    Parked,
    /// Resolved.
    Done,
}

pin_project! {
    /// Future returned by [`CancelScope::run`]: the body running inside the scope.
    ///
    /// Resolves to `Ok(output)` or, if this scope was cancelled, `Err(`[`Cancelled`]`)`.
    #[must_use = "futures do nothing unless polled"]
    pub struct Run<F> {
        scope: CancelScope,
        #[pin]
        body: Option<F>,
        #[pin]
        timer: DeadlineTimer,
        phase: Phase,
        // The task that entered the scope.
        task: Option<TaskId>,
        // Registered in the parent's child list (done on the first `Pending`).
        registered: bool,
        // Holding the enclosing scopes (while shielded).
        holding: bool,
    }

    impl<F> PinnedDrop for Run<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Drop the body first, so its own scopes unwind before ours.
            this.body.set(None);
            exit(this.scope, this.registered, this.holding);
        }
    }
}

impl<F> Run<F> {
    pub(crate) fn new(scope: CancelScope, body: F) -> Run<F> {
        Run {
            scope,
            body: Some(body),
            timer: DeadlineTimer::new(),
            phase: Phase::Unentered,
            task: None,
            registered: false,
            holding: false,
        }
    }

    /// The scope this future runs in.
    pub fn scope(&self) -> &CancelScope {
        &self.scope
    }
}

/// Leaves the scope's place in the tree: releases holds, leaves the parent's child list.
fn exit(scope: &CancelScope, registered: &mut bool, holding: &mut bool) {
    if std::mem::take(holding) {
        scope.node.hold_ancestors(false);
    }
    if std::mem::take(registered) {
        scope.node.deregister_from_parent();
    }
}

#[track_caller]
fn wrong_task(owner: TaskId, current: TaskId) -> ! {
    let err = TaskContextError::new(
        "cancel scope",
        "entered",
        "polled",
        owner,
        current,
        "await a scope's future in the task that first polled it; to cancel it from elsewhere, \
         clone the CancelScope handle and call cancel()",
    );
    panic!("{err}")
}

impl<F: Future> Future for Run<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let node = &this.scope.node;
        match *this.phase {
            Phase::Unentered => {
                if !node.enter(current_node()) {
                    panic!(
                        "cancel scope entered twice; a CancelScope runs one body, so create a new \
                         CancelScope for each run"
                    );
                }
                *this.task = Some(TaskId::current());
                *this.phase = Phase::Running;
            }
            Phase::Running => {
                let now = TaskId::current();
                if let Some(owner) = *this.task
                    && owner != now
                {
                    wrong_task(owner, now);
                }
            }
            Phase::Parked => return Poll::Pending,
            Phase::Done => panic!("`Run` polled after it completed"),
        }

        // Follow shield changes: a shielded scope holds the enclosing ones in this task.
        let shielded = node.is_shield();
        if shielded != *this.holding {
            node.hold_ancestors(shielded);
            *this.holding = shielded;
        }

        if this.timer.as_mut().poll_deadline(node, cx) {
            node.deadline_reached();
        }

        if !node.must_drop_body() {
            node.register_waker(cx.waker());
            let polled = {
                let _current = CurrentGuard::enter(node);
                this.body
                    .as_mut()
                    .as_pin_mut()
                    .expect("body present while running")
                    .poll(cx)
            };
            if let Poll::Ready(output) = polled {
                this.body.set(None);
                exit(this.scope, this.registered, this.holding);
                *this.phase = Phase::Done;
                return Poll::Ready(Ok(output));
            }
            if !*this.registered {
                *this.registered = true;
                node.register_in_parent();
            }
            if !node.must_drop_body() {
                return Poll::Pending;
            }
        }

        // Cancelled and nothing below holds us: drop the body at its await point.
        this.body.set(None);
        this.timer.disarm();
        exit(this.scope, this.registered, this.holding);
        if node.is_cancel_called() {
            node.set_caught();
            *this.phase = Phase::Done;
            let reason = node.own_reason().expect("cancelled node has a reason");
            Poll::Ready(Err(Cancelled::new(reason)))
        } else {
            // An enclosing scope originated this; it drops us next.
            *this.phase = Phase::Parked;
            Poll::Pending
        }
    }
}

impl<F> fmt::Debug for Run<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("scope", &self.scope)
            .field("phase", &self.phase)
            .finish()
    }
}
