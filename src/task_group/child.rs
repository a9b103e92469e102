//! The wrapper every child task runs in.
//!
//! It makes the child's root node current while polling, drops the body when the group's scope
//! is cancelled (and nothing in the child holds it back), catches a panic so it can reach the
//! parent, and reports the outcome to the group — also when the task is dropped without
//! finishing (runtime shutdown), so the group is never left waiting.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::TaskResult;
use super::shared::GroupShared;
use super::start::StartLink;
use crate::cancel::LazyRoot;
use crate::error::BoxError;
use crate::loom::sync::Arc;

/// How a child ended.
pub(crate) enum ChildOutcome {
    Done,
    Failed(BoxError),
    Panicked(Box<dyn std::any::Any + Send + 'static>),
    Cancelled,
}

pin_project! {
    pub(crate) struct Child<F> {
        // The child's root node, made on first need (see `LazyRoot`).
        root: LazyRoot,
        shared: Arc<GroupShared>,
        #[pin]
        body: Option<F>,
        start: Option<Arc<dyn StartLink>>,
        registered: bool,
        finished: bool,
    }

    impl<F> PinnedDrop for Child<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !*this.finished {
                // Dropped before finishing (runtime shutdown): body first, then report.
                drop_body(this.body.as_mut());
                report(this.root, this.shared, this.start, this.registered, this.finished, ChildOutcome::Cancelled);
            }
        }
    }
}

impl<F> Child<F> {
    pub(crate) fn new(
        root: LazyRoot,
        shared: Arc<GroupShared>,
        body: F,
        start: Option<Arc<dyn StartLink>>,
    ) -> Child<F> {
        Child {
            root,
            shared,
            body: Some(body),
            start,
            registered: false,
            finished: false,
        }
    }
}

/// Drops the body; a panic while dropping is contained (the body already failed or was cancelled).
fn drop_body<F>(mut body: Pin<&mut Option<F>>) {
    let _ = catch_unwind(AssertUnwindSafe(|| body.set(None)));
}

fn report(
    root: &LazyRoot,
    shared: &Arc<GroupShared>,
    start: &mut Option<Arc<dyn StartLink>>,
    registered: &mut bool,
    finished: &mut bool,
    outcome: ChildOutcome,
) {
    *finished = true;
    if std::mem::take(registered) {
        root.force().deregister_from_parent();
    }
    let outcome = match start.take() {
        // A start() child's root is made eagerly.
        Some(link) => link.child_exited(outcome, root.force()),
        None => Some(outcome),
    };
    shared.child_exited(outcome);
}

impl<F> Future for Child<F>
where
    F: Future,
    F::Output: TaskResult,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if *this.finished {
            return Poll::Ready(());
        }
        let root = this.root;
        let outcome = 'outcome: {
            if this.shared.is_aborted() || root.must_drop_body() {
                break 'outcome ChildOutcome::Cancelled;
            }
            let body = this.body.as_mut().as_pin_mut();
            let polled = catch_unwind(AssertUnwindSafe(|| {
                root.enter(|| body.expect("body present while running").poll(cx))
            }));
            match polled {
                Ok(Poll::Ready(output)) => match output.into_result() {
                    Ok(_) => ChildOutcome::Done,
                    Err(error) => ChildOutcome::Failed(error),
                },
                Ok(Poll::Pending) => {
                    // Registered after the poll, then every check below looks again: a
                    // cancellation made meanwhile is seen here or wakes us.
                    let node = root.force();
                    node.register_waker(cx.waker());
                    if !*this.registered {
                        *this.registered = true;
                        node.register_in_parent();
                    }
                    if this.shared.is_aborted() || root.must_drop_body() {
                        ChildOutcome::Cancelled
                    } else {
                        return Poll::Pending;
                    }
                }
                Err(payload) => ChildOutcome::Panicked(payload),
            }
        };
        drop_body(this.body.as_mut());
        report(
            root,
            this.shared,
            this.start,
            this.registered,
            this.finished,
            outcome,
        );
        Poll::Ready(())
    }
}
