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
use crate::cancel::{LazyRoot, Step};
use crate::diagnostics::registry::{self as diag, LazyEntry};
use crate::error::BoxError;
use crate::loom::sync::Arc;
use crate::task::TaskId;

/// How a child ended.
pub(crate) enum ChildOutcome {
    Done,
    Failed(BoxError),
    Panicked(Box<dyn std::any::Any + Send + 'static>),
    Cancelled,
}

pin_project! {
    pub(crate) struct Child<F> {
        // The child's root node, made on first need (see `LazyRoot`); it runs the child's side
        // of the scope protocol (registration, the drop decision).
        root: LazyRoot,
        shared: Arc<GroupShared>,
        #[pin]
        body: Option<F>,
        start: Option<Arc<dyn StartLink>>,
        finished: bool,
        // The child's entry in the task tree (`None` while the tree is off at spawn). Leaves
        // the registry when the child reports, before the group's count goes down.
        // Boxed: a child's future is moved into its task, and a trivial child's stays small
        // with the tree off (one word, as before there was a tree).
        diag: Option<Box<LazyEntry>>,
    }

    impl<F> PinnedDrop for Child<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !*this.finished {
                // Dropped before finishing (runtime shutdown): body first, then report.
                let drop_panic = drop_body(this.body.as_mut());
                leave_tree(this.diag);
                report(this.root, this.shared, this.start, this.finished, ChildOutcome::Cancelled, drop_panic);
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
        diag: Option<LazyEntry>,
    ) -> Child<F> {
        Child {
            root,
            shared,
            body: Some(body),
            start,
            finished: false,
            diag: diag.map(Box::new),
        }
    }
}

type Payload = Box<dyn std::any::Any + Send + 'static>;

/// Takes the child's entry out of the task tree.
fn leave_tree(diag: &mut Option<Box<LazyEntry>>) {
    if let Some(entry) = diag.take() {
        entry.leave();
    }
}

/// Drops the body; a panic while dropping is caught and returned, so it reaches the group.
fn drop_body<F>(mut body: Pin<&mut Option<F>>) -> Option<Payload> {
    catch_unwind(AssertUnwindSafe(|| body.set(None))).err()
}

fn report(
    root: &LazyRoot,
    shared: &Arc<GroupShared>,
    start: &mut Option<Arc<dyn StartLink>>,
    finished: &mut bool,
    outcome: ChildOutcome,
    drop_panic: Option<Payload>,
) {
    *finished = true;
    root.exit();
    // A panic in the body's `Drop` is never lost: it is the outcome if nothing else went
    // wrong, and goes to the group besides the outcome otherwise.
    let (outcome, extra_panic) = match (outcome, drop_panic) {
        (outcome, None) => (outcome, None),
        (ChildOutcome::Done | ChildOutcome::Cancelled, Some(payload)) => {
            (ChildOutcome::Panicked(payload), None)
        }
        (outcome, Some(payload)) => (outcome, Some(payload)),
    };
    if let Some(payload) = extra_panic {
        shared.record_panic(payload, TaskId::current());
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
            let body = body.expect("body present while running");
            let entry = this.diag.as_deref();
            if let Some(entry) = entry {
                entry.running();
            }
            let step = root.poll_body(cx, |cx| {
                diag::with_entry(entry, || {
                    match catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
                        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                        Ok(Poll::Pending) => Poll::Pending,
                        Err(payload) => Poll::Ready(Err(payload)),
                    }
                })
            });
            if let (Some(entry), true) = (entry, step.is_pending()) {
                entry.pending(None);
            }
            match step {
                Step::Ready(Ok(output)) => match output.into_result() {
                    Ok(_) => ChildOutcome::Done,
                    Err(error) => ChildOutcome::Failed(error),
                },
                Step::Ready(Err(payload)) => ChildOutcome::Panicked(payload),
                Step::Pending if !this.shared.is_aborted() => return Poll::Pending,
                Step::Pending | Step::Cut => ChildOutcome::Cancelled,
            }
        };
        let drop_panic = drop_body(this.body.as_mut());
        leave_tree(this.diag);
        report(
            root,
            this.shared,
            this.start,
            this.finished,
            outcome,
            drop_panic,
        );
        Poll::Ready(())
    }
}
