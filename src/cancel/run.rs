//! The future that runs a body inside a cancel scope.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::context::{current_node, with_current};
use super::deadline::DeadlineTimer;
use super::node::Node;
use super::{CancelScope, Cancelled};
use crate::error::TaskContextError;
use crate::loom::sync::Arc;
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

/// Follows shield and deadline changes of `node`, and fires the deadline when its timer is due.
///
/// Runs before the body on every poll after the first, and after the body whenever it returned
/// `Pending` (the waker is registered by then, so a change made meanwhile wakes us again).
fn follow(
    node: &Arc<Node>,
    timer: Pin<&mut DeadlineTimer>,
    holding: &mut bool,
    cx: &mut Context<'_>,
) {
    // Follow shield changes: a shielded scope holds the enclosing ones in this task.
    let shielded = node.is_shield();
    if shielded != *holding {
        node.hold_ancestors(shielded);
        *holding = shielded;
    }
    // Follow deadline changes, and fire the deadline.
    if timer.poll_deadline(node, cx) {
        node.deadline_reached();
    }
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
                *this.phase = Phase::Running;
                // The timer is armed only once the body is pending (a body that completes on
                // its first poll never touches the timer wheel, as with `tokio::time::timeout`),
                // but a deadline that has already passed cancels before the body runs.
                if node.deadline_gen() != 0
                    && node
                        .deadline()
                        .is_some_and(|d| d <= tokio::time::Instant::now())
                {
                    node.deadline_reached();
                }
                // Shields are followed before the body on later polls; take the hold now.
                if node.is_shield() {
                    node.hold_ancestors(true);
                    *this.holding = true;
                }
            }
            Phase::Running => {
                let now = TaskId::current();
                if let Some(owner) = *this.task
                    && owner != now
                {
                    wrong_task(owner, now);
                }
                follow(node, this.timer.as_mut(), this.holding, cx);
            }
            Phase::Parked => return Poll::Pending,
            Phase::Done => panic!("`Run` polled after it completed"),
        }

        if !node.must_drop_body() {
            let body = this.body.as_mut().as_pin_mut();
            let polled = with_current(node, || body.expect("body present while running").poll(cx));
            if let Poll::Ready(output) = polled {
                this.body.set(None);
                exit(this.scope, this.registered, this.holding);
                *this.phase = Phase::Done;
                return Poll::Ready(Ok(output));
            }
            // Pending: from here on a cancellation, shield or deadline change must wake us.
            // Registering the waker after the poll is enough because every check below runs
            // after it (register, then look: a change made in between is seen or wakes us).
            node.register_waker(cx.waker());
            if !*this.registered {
                *this.registered = true;
                *this.task = Some(TaskId::current());
                node.register_in_parent();
            }
            follow(node, this.timer.as_mut(), this.holding, cx);
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
