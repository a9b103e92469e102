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
use super::shared::VarsKey;
use super::start::StartLink;
use crate::cancel::{LazyRoot, Step};
use crate::context::{self, Snapshot};
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

/// Whom a child tells how it ended, before its group: nobody for a plain child ([`Plain`],
/// zero-sized), the `start()` call for a starting one (`Option<Arc<StartShared<V>>>`, one
/// word). A type parameter rather than a trait object, so a plain child carries no link at all.
pub(crate) trait ChildLink: Send + 'static {
    /// The child was spawned (its group was open).
    fn mark_spawned(&self) {}

    /// The child ended with `outcome` (called once): what the group gets (`None` when the
    /// `start()` call took it).
    fn exited(&mut self, outcome: ChildOutcome, root: &LazyRoot) -> Option<ChildOutcome>;
}

/// The link of a plain child: its outcome goes to the group.
pub(crate) struct Plain;

impl ChildLink for Plain {
    #[inline]
    fn exited(&mut self, outcome: ChildOutcome, _root: &LazyRoot) -> Option<ChildOutcome> {
        Some(outcome)
    }
}

impl<L: StartLink> ChildLink for Option<Arc<L>> {
    fn mark_spawned(&self) {
        if let Some(link) = self {
            link.mark_spawned();
        }
    }

    fn exited(&mut self, outcome: ChildOutcome, root: &LazyRoot) -> Option<ChildOutcome> {
        match self.take() {
            // A start() child's root is made eagerly.
            Some(link) => link.child_exited(outcome, root.force()),
            None => Some(outcome),
        }
    }
}

/// What some children carry around their polls, and most do without: the spawner's context,
/// the child's entry in the task tree, its span. A child with any of them runs as a
/// [`RareChild`]; one with none as a bare [`Child`], which stays small enough for the smallest
/// tokio task cell (see the unit test `a_trivial_child_fits_a_small_task_cell`).
pub(crate) struct Rare {
    /// The child's entry in the task tree (`None` while the tree is off at spawn). Leaves
    /// the registry when the child reports, before the group's count goes down.
    diag: Option<LazyEntry>,
    /// The spawner's context (context variables, propagated task-locals, the spawner's span),
    /// entered around every poll.
    context: Snapshot,
    /// The child's span (feature `tracing`), entered inside the spawner's context around every
    /// poll (`None` when disabled).
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
}

impl Rare {
    /// The rare parts, if there is any.
    pub(crate) fn new(
        diag: Option<LazyEntry>,
        context: Snapshot,
        #[cfg(feature = "tracing")] span: tracing::Span,
    ) -> Option<Rare> {
        #[cfg(feature = "tracing")]
        let span = (!span.is_disabled()).then_some(span);
        #[cfg(feature = "tracing")]
        let none = diag.is_none() && context.is_empty() && span.is_none();
        #[cfg(not(feature = "tracing"))]
        let none = diag.is_none() && context.is_empty();
        if none {
            return None;
        }
        Some(Rare {
            diag,
            context,
            #[cfg(feature = "tracing")]
            span,
        })
    }
}

pin_project! {
    /// The future of a child task: two words, the link (none for a plain child) and the body.
    pub(crate) struct Child<F, K: ChildLink> {
        // The child's group and its root node, made on first need (see `LazyRoot`); it runs
        // the child's side of the scope protocol (registration, the drop decision).
        root: LazyRoot,
        link: K,
        #[pin]
        body: Option<F>,
        finished: bool,
        // A child that inherited no context has none until it sets a context variable; then
        // its group keeps its variables between polls, under this key (see `poll`).
        vars: Option<VarsKey>,
    }

    impl<F, K: ChildLink> PinnedDrop for Child<F, K> {
        fn drop(mut this: Pin<&mut Self>) {
            // Dropped before finishing (runtime shutdown); a `RareChild` has done this already.
            this.as_mut().abandon(None);
            let this = this.project();
            if let Some(key) = this.vars.take() {
                drop(this.root.group().remove_child_vars(key));
            }
        }
    }
}

impl<F, K: ChildLink> Child<F, K> {
    pub(crate) fn new(root: LazyRoot, body: F, link: K) -> Child<F, K> {
        Child {
            root,
            link,
            body: Some(body),
            finished: false,
            vars: None,
        }
    }

    /// The task is dropped before the child finished: body first, then report.
    fn abandon(self: Pin<&mut Self>, diag: Option<&mut Option<LazyEntry>>) {
        let mut this = self.project();
        if !*this.finished {
            let drop_panic = drop_body(this.body.as_mut());
            leave_tree(diag);
            report(
                this.root,
                this.link,
                this.finished,
                ChildOutcome::Cancelled,
                drop_panic,
            );
        }
    }
}

type Payload = Box<dyn std::any::Any + Send + 'static>;

/// Takes the child's entry out of the task tree.
fn leave_tree(diag: Option<&mut Option<LazyEntry>>) {
    if let Some(entry) = diag.and_then(Option::take) {
        entry.leave();
    }
}

/// Drops the body; a panic while dropping is caught and returned, so it reaches the group.
fn drop_body<F>(mut body: Pin<&mut Option<F>>) -> Option<Payload> {
    catch_unwind(AssertUnwindSafe(|| body.set(None))).err()
}

fn report<K: ChildLink>(
    root: &LazyRoot,
    link: &mut K,
    finished: &mut bool,
    outcome: ChildOutcome,
    drop_panic: Option<Payload>,
) {
    *finished = true;
    root.exit();
    let shared = root.group();
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
    let outcome = link.exited(outcome, root);
    shared.child_exited(outcome);
}

impl<F, K> Child<F, K>
where
    F: Future,
    F::Output: TaskResult,
    K: ChildLink,
{
    /// One poll of the child, with its entry in the task tree if it has one.
    fn poll_with(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        diag: Option<&mut Option<LazyEntry>>,
    ) -> Poll<()> {
        let mut this = self.project();
        if *this.finished {
            return Poll::Ready(());
        }
        let root = this.root;
        let entry = diag.as_deref().and_then(Option::as_ref);
        let Poll::Ready(outcome) = poll_body(root, this.body.as_mut(), entry, cx) else {
            return Poll::Pending;
        };
        let drop_panic = drop_body(this.body.as_mut());
        leave_tree(diag);
        report(root, this.link, this.finished, outcome, drop_panic);
        Poll::Ready(())
    }
}

impl<F, K> Future for Child<F, K>
where
    F: Future,
    F::Output: TaskResult,
    K: ChildLink,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The child inherited no context (else it would be a `RareChild`): it runs without one
        // until it sets a variable, and from then with its own, kept by the group between
        // polls (a child's future has no room for it and stays in the smallest task cell).
        let key = self.vars;
        let vars = key.map(|key| self.root.group().take_child_vars(key));
        let (poll, vars) = context::poll_child(vars, || self.as_mut().poll_with(cx, None));
        if vars.is_none() && key.is_none() {
            return poll;
        }
        let this = self.project();
        let group = this.root.group();
        match (vars, key) {
            (Some(vars), None) if poll.is_pending() => {
                *this.vars = Some(group.keep_child_vars(vars))
            }
            (Some(vars), Some(key)) if poll.is_pending() => group.put_child_vars(key, vars),
            (vars, Some(key)) => {
                *this.vars = None;
                drop(group.remove_child_vars(key));
                drop(vars);
            }
            (vars, None) => drop(vars),
        }
        poll
    }
}

/// Polls the body once; `Pending`, or how the child ended (its body still to be dropped).
fn poll_body<F>(
    root: &LazyRoot,
    mut body: Pin<&mut Option<F>>,
    entry: Option<&LazyEntry>,
    cx: &mut Context<'_>,
) -> Poll<ChildOutcome>
where
    F: Future,
    F::Output: TaskResult,
{
    let shared = root.group();
    if shared.is_aborted() || root.must_drop_body() {
        return Poll::Ready(ChildOutcome::Cancelled);
    }
    let running = body.as_mut().as_pin_mut();
    let running = running.expect("body present while running");
    if let Some(entry) = entry {
        entry.running();
    }
    let step = root.poll_body(cx, |cx| {
        diag::with_entry(entry, || {
            match catch_unwind(AssertUnwindSafe(|| running.poll(cx))) {
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(payload)),
            }
        })
    });
    if let (Some(entry), true) = (entry, step.is_pending()) {
        entry.pending(None);
    }
    let outcome = match step {
        Step::Ready(Ok(output)) => match output.into_result() {
            Ok(_) => ChildOutcome::Done,
            Err(error) => ChildOutcome::Failed(error),
        },
        Step::Ready(Err(payload)) => ChildOutcome::Panicked(payload),
        Step::Pending if !shared.is_aborted() => return Poll::Pending,
        Step::Pending | Step::Cut => ChildOutcome::Cancelled,
    };
    Poll::Ready(outcome)
}

pin_project! {
    /// The future of a child task with [`Rare`] parts: polled inside the spawner's context,
    /// in its span, with its entry in the task tree.
    pub(crate) struct RareChild<F, K: ChildLink> {
        rare: Rare,
        #[pin]
        child: Child<F, K>,
    }

    impl<F, K: ChildLink> PinnedDrop for RareChild<F, K> {
        fn drop(this: Pin<&mut Self>) {
            // Before the fields are dropped: the entry leaves the tree before the group's
            // count goes down, as when the child finishes.
            let this = this.project();
            this.child.abandon(Some(&mut this.rare.diag));
        }
    }
}

impl<F, K: ChildLink> RareChild<F, K> {
    pub(crate) fn new(child: Child<F, K>, rare: Rare) -> RareChild<F, K> {
        RareChild { rare, child }
    }
}

impl<F, K> Future for RareChild<F, K>
where
    F: Future,
    F::Output: TaskResult,
    K: ChildLink,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        #[cfg(feature = "tracing")]
        let Rare {
            diag,
            context,
            span,
        } = this.rare;
        #[cfg(not(feature = "tracing"))]
        let Rare { diag, context } = this.rare;
        let child = this.child;
        let step = move || {
            #[cfg(feature = "tracing")]
            let _entered = span.as_ref().map(tracing::Span::enter);
            child.poll_with(cx, Some(diag))
        };
        // Inside the spawner's context (the body is dropped in it too when the child ends).
        context.run(step)
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use crate::task_group::start::StartShared;

    fn size_of_child<F>(_: &F) -> usize {
        std::mem::size_of::<Child<F, Plain>>()
    }

    /// The size of a child's future decides its tokio task's cell: tokio rounds the cell up
    /// to a multiple of 128 bytes, and a future of up to 24 bytes gets the 128-byte cell a
    /// bare `tokio::spawn(async {})` gets (one of 32 already gets 256; measured with
    /// `cargo bench --bench spawn_cost`, bytes per child). So a plain child around a trivial
    /// body must stay within 24 bytes: its group, its lazy root, the body and a flag. Size is
    /// not speed; this only keeps the layout from growing unnoticed.
    #[test]
    fn a_trivial_child_fits_a_small_task_cell() {
        let trivial = size_of_child(&async {});
        assert!(
            trivial <= 24,
            "a trivial plain child's future grew to {trivial} bytes"
        );
        // A start() child carries one word more: its link to the start call.
        let start =
            std::mem::size_of::<Child<std::future::Ready<()>, Option<Arc<StartShared<u32>>>>>();
        assert!(
            start <= 32,
            "a start() child's future grew to {start} bytes"
        );
    }
}
