//! The scope driver: the one implementation of the protocol by which a tether future runs a body
//! under a node of the cancel tree.
//!
//! Every such future — a scope's [`Run`](super::Run), [`WithCleanup`](super::WithCleanup), a
//! scoped task group's driver — owns a [`ScopeDriver`] and follows the same steps, in the same
//! order, on every poll:
//!
//! 1. [`begin`](ScopeDriver::begin): on the first poll *enter* the node (find the parent, bind to
//!    the task, fire a deadline that has already passed, take holds); on later polls check the
//!    task, follow shield and deadline changes. Tells the caller whether to poll the body, drop
//!    it (cut), or stay parked.
//! 2. [`poll_body`](ScopeDriver::poll_body): poll the body as the current node; on its first
//!    `Pending` register in the parent's child list; after every `Pending` look again (a
//!    cancellation made meanwhile is seen here or wakes us).
//! 3. When the body was dropped by a cancellation, [`settle`](ScopeDriver::settle) decides who
//!    catches it, Trio's rule: *the outermost cancelled scope not behind a shield*. This node
//!    catches only if it was cancelled itself and no enclosing cancellation reaches it;
//!    otherwise it parks, and marks the nodes up to the origin as unwinding (a shield raised
//!    on one of them afterwards cannot strand the cancellation in flight).
//! 4. [`exit`](ScopeDriver::exit): release holds, leave the tree (the node stays reachable while
//!    it has dependents), disarm the timer. Also run on drop.
//! 5. Resolve, or [`park`](ScopeDriver::park): a parked future never resolves; the scope that
//!    originated the cancellation drops it in the same poll. If it keeps being polled while its
//!    parent should have dropped it — it runs under a nested executor (`block_on` inside a
//!    scope's body) whose caller is blocked and cannot drop it — [`begin`](ScopeDriver::begin)
//!    says `Escape` after a few such polls, and the future resolves with the inherited
//!    cancellation instead of hanging.
//!
//! A child task's root ([`LazyRoot`](super::LazyRoot)) follows steps 2 and 4 itself: it is
//! entered at spawn, holds nothing, has no deadline, and ends its task instead of parking.

use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::context::{Position, current_node, with_current};
use super::deadline::DeadlineTimer;
use super::node::Node;
use super::{CancelReason, CancelScope, CancelSource};
use crate::diagnostics::registry::{self as diag, LazyEntry};
use crate::loom::sync::Arc;
use crate::task::TaskId;

/// The driver's span (feature `tracing`); nothing without the feature.
#[cfg(feature = "tracing")]
type SpanSlot = Option<tracing::Span>;
#[cfg(not(feature = "tracing"))]
type SpanSlot = ();

/// When a running node holds the enclosing scopes of its task (see `docs/design.md` §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HoldMode {
    /// While shielded (a cancel scope).
    WhenShielded,
    /// From entry to exit (a task group waiting for its children; `with_cleanup`).
    Always,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not polled yet.
    Unentered,
    /// Entered, body running (or being waited for).
    Running,
    /// The body was dropped for an enclosing cancellation; the origin drops this future.
    Parked,
    /// Resolved or escaped.
    Done,
}

/// What the caller does next (see [`ScopeDriver::begin`]).
#[derive(Debug)]
pub(crate) enum Begin {
    /// Poll the body.
    Body,
    /// Drop the body now: cancelled, and nothing below holds it.
    Cut,
    /// Parked: return `Pending`.
    Parked,
    /// Parked, but nobody will drop us (a nested executor): resolve with this inherited reason.
    Escape(CancelReason),
}

/// The result of [`ScopeDriver::poll_body`].
#[derive(Debug)]
pub(crate) enum Step<T> {
    Ready(T),
    Pending,
    /// The body must be dropped now.
    Cut,
}

impl<T> Step<T> {
    pub(crate) fn is_pending(&self) -> bool {
        !matches!(self, Step::Ready(_))
    }
}

/// Who catches a cancellation that cut the body (see [`ScopeDriver::settle`]).
#[derive(Clone, Debug)]
pub(crate) enum Settle {
    /// This scope originated it and no enclosing cancellation reaches it: resolve with it.
    Catch(CancelReason),
    /// An enclosing scope catches it: park.
    Park,
}

/// A parked future polled this many times while its parent should have dropped it escapes
/// (see [`ScopeDriver::begin`]).
const ESCAPE_AFTER: u8 = 3;

/// The message of the panic for a scope future polled from the wrong task.
pub(crate) type WrongTask = fn(TaskId, TaskId) -> String;

pin_project! {
    /// Drives one node through the scope protocol (see the module docs).
    pub(crate) struct ScopeDriver {
        // The handle of the node driven (a handle, so `Run::scope` can lend it) and the entry
        // in the task tree shown while the body runs (a scope's own, described at entry while
        // the tree is on; a group's, lent by the group): lent together as the thread's current
        // position while the body is polled, so the tree costs no second thread-local.
        here: Position,
        // Enforces the node's deadline while running.
        #[pin]
        timer: DeadlineTimer,
        phase: Phase,
        hold: HoldMode,
        // The task that drives the node (set at its first `Pending`).
        task: Option<TaskId>,
        // Registered in the parent's child list (from the first `Pending` to exit).
        registered: bool,
        // Holding the enclosing scopes of this task.
        holding: bool,
        // The node was entered before the driver's first poll (a task group, at open).
        pre_entered: bool,
        // The node's preset deadline lay in the future when the future was made (`fail_after`
        // with a timeout > 0): the first poll counts as made then, and skips the clock read
        // and the lock, as `tokio::time::timeout` does (see `preset_deadline_ahead`).
        deadline_ahead: bool,
        // Panic message for a poll from another task.
        wrong_task: WrongTask,
        // Polls while parked although the scope above should have dropped us.
        stranded_polls: u8,
        // Where the scope's future was made (the task tree shows it).
        site: &'static Location<'static>,
        // The entry is this driver's own: it leaves the registry at exit.
        owns_diag: bool,
        // The span entered while the body is polled (feature `tracing`): a group's, lent by
        // the group, or a scope's own, made at entry.
        span: SpanSlot,
    }

    impl PinnedDrop for ScopeDriver {
        fn drop(this: Pin<&mut Self>) {
            // The owner has dropped its body by now (it is declared before the driver). A
            // resolved or parked future has exited already (every owner exits before `done`,
            // `catch` and `park`), so a scope that completed pays for one exit, not two.
            if matches!(this.phase, Phase::Unentered | Phase::Running) {
                this.exit();
            }
        }
    }
}

impl ScopeDriver {
    /// A driver for a node that is entered on the first poll; the caller's location is the
    /// scope's site in the task tree.
    #[inline]
    #[track_caller]
    pub(crate) fn new(scope: CancelScope, hold: HoldMode, wrong_task: WrongTask) -> ScopeDriver {
        ScopeDriver {
            here: Position { scope, diag: None },
            timer: DeadlineTimer::new(),
            phase: Phase::Unentered,
            hold,
            task: None,
            registered: false,
            holding: false,
            pre_entered: false,
            deadline_ahead: false,
            wrong_task,
            stranded_polls: 0,
            site: Location::caller(),
            owns_diag: false,
            span: SpanSlot::default(),
        }
    }

    /// Enters `span` while the body is polled (a group lends its own).
    #[cfg(feature = "tracing")]
    pub(crate) fn set_span(&mut self, span: tracing::Span) {
        self.span = Some(span);
    }

    /// Shows `entry` as the current one while the body is polled (a group lends its own).
    pub(crate) fn set_diag(&mut self, entry: Option<LazyEntry>, owns: bool) {
        self.here.diag = entry;
        self.owns_diag = owns;
    }

    /// The node's preset deadline (generation 1) was after the clock read that made it: the
    /// first poll need not check it again. If the deadline was moved since (a later
    /// generation), the first poll checks as usual.
    pub(crate) fn preset_deadline_ahead(&mut self) {
        self.deadline_ahead = true;
    }

    /// A driver for a node already entered (under its parent) when it was made.
    #[track_caller]
    pub(crate) fn entered(
        scope: CancelScope,
        hold: HoldMode,
        wrong_task: WrongTask,
    ) -> ScopeDriver {
        let mut driver = ScopeDriver::new(scope, hold, wrong_task);
        driver.pre_entered = true;
        driver
    }

    /// The scope driven.
    pub(crate) fn scope(&self) -> &CancelScope {
        &self.here.scope
    }

    /// The node driven.
    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.here.scope.node
    }

    /// Step 1, at the start of every poll (see the module docs).
    ///
    /// # Panics
    ///
    /// If the node was entered before by another future (a scope runs one body), or if polled
    /// from a task other than the one that entered it.
    #[track_caller]
    #[inline]
    pub(crate) fn begin(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Begin {
        self.begin_with(cx, true)
    }

    /// [`begin`](Self::begin) for a future whose body may be gone (a group waiting for its
    /// children): without a body there is nothing to cut, so the cancellation walk is skipped.
    #[track_caller]
    #[inline]
    pub(crate) fn begin_with(self: Pin<&mut Self>, cx: &mut Context<'_>, has_body: bool) -> Begin {
        let this = self.project();
        let node = &this.here.scope.node;
        match *this.phase {
            Phase::Unentered => {
                if !*this.pre_entered && !node.enter(current_node()) {
                    panic!(
                        "cancel scope entered twice; a CancelScope runs one body, so create a new \
                         CancelScope for each run"
                    );
                }
                *this.phase = Phase::Running;
                if !*this.pre_entered && this.here.diag.is_none() {
                    // The task is named when the entry registers (lazily, in this task).
                    this.here.diag = diag::describe_scope(this.site, node);
                    *this.owns_diag = this.here.diag.is_some();
                }
                #[cfg(feature = "tracing")]
                if this.span.is_none() {
                    *this.span = Some(tracing::debug_span!("tether.scope", site = %this.site));
                }
                // The timer is armed only once the body is pending (a body that completes on
                // its first poll never touches the timer wheel, as with `tokio::time::timeout`),
                // but a deadline that has already passed cancels before the body runs.
                let deadline_gen = node.deadline_gen();
                if deadline_gen != 0
                    && !(*this.deadline_ahead && deadline_gen == 1)
                    && node
                        .deadline()
                        .is_some_and(|d| d <= tokio::time::Instant::now())
                {
                    node.deadline_reached();
                }
                if *this.hold == HoldMode::Always || node.is_shield() {
                    node.hold_ancestors(true);
                    *this.holding = true;
                }
            }
            Phase::Running => {
                check_task(*this.task, *this.wrong_task);
                follow(node, this.timer, *this.hold, this.holding, cx);
            }
            Phase::Parked => {
                // Normally the scope above drops us in the very poll we parked in. Polled
                // again and again while that scope should have dropped us means its poll
                // cannot return to do it: we run under a nested executor that blocks it (a
                // `block_on` in the scope's body). Resolve instead of hanging. A combinator
                // that re-polls a self-woken future within one poll (`FuturesUnordered` does
                // so at most once) stays below the threshold, so for it we stay parked and the
                // scope above drops us as usual.
                let Some(parent) = node.parent() else {
                    return Begin::Parked;
                };
                if !parent.must_drop_body() {
                    // Held (a shielded sibling still runs): the scope above drops us later.
                    *this.stranded_polls = 0;
                    return Begin::Parked;
                }
                *this.stranded_polls += 1;
                if *this.stranded_polls < ESCAPE_AFTER {
                    cx.waker().wake_by_ref();
                    return Begin::Parked;
                }
                *this.phase = Phase::Done;
                let reason = parent
                    .effective_reason()
                    .map(|r| CancelReason::inherited(&r))
                    .unwrap_or_else(|| CancelReason::new(CancelSource::ParentScope, None));
                return Begin::Escape(reason);
            }
            Phase::Done => panic!("a tether scope future was polled after it completed"),
        }
        if has_body && node.must_drop_body() {
            Begin::Cut
        } else {
            Begin::Body
        }
    }

    /// Step 2: polls the body with this node as the current one; registers on `Pending`.
    #[inline]
    pub(crate) fn poll_body<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Step<T> {
        let this = self.project();
        let node = &this.here.scope.node;
        let here = &*this.here;
        let entry = here.diag.as_ref();
        #[cfg(feature = "tracing")]
        let _span = this.span.as_ref().map(|span| span.enter());
        // Without an entry (the tree off), the body's poll is exactly as before there was a tree.
        let polled = match entry {
            None => with_current(here, || poll(cx)),
            Some(entry) => {
                entry.running();
                let polled = with_current(here, || poll(cx));
                if polled.is_pending() {
                    entry.pending(Some(node));
                }
                polled
            }
        };
        if let Poll::Ready(output) = polled {
            return Step::Ready(output);
        }
        // Pending: from here on a cancellation, shield or deadline change must wake us.
        // Registering the waker after the poll is enough because every check below runs after
        // it (register, then look: a change made in between is seen or wakes us).
        node.register_waker(cx.waker());
        if !*this.registered {
            // Bound to the task from the first `Pending` on (a body that completes on its
            // first poll cannot be moved, and pays nothing for the binding).
            *this.registered = true;
            *this.task = Some(TaskId::current());
            node.register_in_parent();
        }
        follow(node, this.timer, *this.hold, this.holding, cx);
        if node.must_drop_body() {
            Step::Cut
        } else {
            Step::Pending
        }
    }

    /// Runs `f` (dropping a cut-off body) with this node as the current one: the body's `Drop`
    /// runs inside the scope it belonged to, so it sees that scope cancelled, and a nested
    /// executor there escapes instead of waiting on a scope that still holds.
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        with_current(&self.here, f)
    }

    /// Registers the waker without polling a body (a group waiting for its children).
    pub(crate) fn register_waker(&self, cx: &mut Context<'_>) {
        self.here.scope.node.register_waker(cx.waker());
    }

    /// Step 3, right after the caller dropped the body for a cancellation (so a cancellation
    /// made while the body unwound counts): who catches it. On `Park`, marks the nodes up to
    /// the origin as unwinding.
    pub(crate) fn settle(&self) -> Settle {
        let node = &self.here.scope.node;
        if !node.outer_cancel_visible()
            && let Some(reason) = node.own_reason()
        {
            return Settle::Catch(reason);
        }
        node.mark_unwinding_to_origin();
        Settle::Park
    }

    /// Whether an enclosing cancellation reaches this node now (a group deciding at exit).
    pub(crate) fn outer_cancel_visible(&self) -> bool {
        self.here.scope.node.outer_cancel_visible()
    }

    /// Step 4: releases holds, leaves the tree, disarms the timer. Idempotent.
    #[inline]
    pub(crate) fn exit(self: Pin<&mut Self>) {
        let this = self.project();
        if std::mem::take(this.holding) {
            if this.task.is_some_and(|task| task != TaskId::current()) {
                this.here.scope.node.release_holds_from_elsewhere();
            } else {
                this.here.scope.node.hold_ancestors(false);
            }
        }
        if std::mem::take(this.registered) {
            this.here.scope.node.deregister_from_parent();
        }
        // (Not taken out: moving the entry costs more than leaving it to the driver's drop.)
        if std::mem::take(this.owns_diag)
            && let Some(entry) = this.here.diag.as_ref()
        {
            entry.leave();
        }
        this.timer.disarm();
    }

    /// Whether [`exit`](Self::exit) left nothing to release (the drop relies on it).
    fn exited(&self) -> bool {
        !self.holding && !self.registered && !self.owns_diag && self.timer.is_disarmed()
    }

    /// Resolves with the caught cancellation (after [`exit`](Self::exit)).
    pub(crate) fn catch(self: Pin<&mut Self>, reason: CancelReason) -> CancelReason {
        debug_assert!(
            self.exited(),
            "a scope driver resolved or parked before its exit"
        );
        self.here.scope.node.set_caught();
        *self.project().phase = Phase::Done;
        reason
    }

    /// Marks the future resolved (after [`exit`](Self::exit)).
    #[inline]
    pub(crate) fn done(self: Pin<&mut Self>) {
        debug_assert!(
            self.exited(),
            "a scope driver resolved or parked before its exit"
        );
        *self.project().phase = Phase::Done;
    }

    /// Step 5: parks (after [`exit`](Self::exit)). Wakes the task once, so that a future
    /// nobody can drop (a nested executor) is polled again and escapes.
    pub(crate) fn park(self: Pin<&mut Self>, cx: &mut Context<'_>) {
        debug_assert!(
            self.exited(),
            "a scope driver resolved or parked before its exit"
        );
        *self.project().phase = Phase::Parked;
        cx.waker().wake_by_ref();
    }
}

#[track_caller]
#[inline]
fn check_task(owner: Option<TaskId>, wrong_task: WrongTask) {
    let now = TaskId::current();
    if let Some(owner) = owner
        && owner != now
    {
        panic!("{}", wrong_task(owner, now));
    }
}

/// Follows shield and deadline changes of `node`, and fires the deadline when its timer is due.
fn follow(
    node: &Arc<Node>,
    timer: Pin<&mut DeadlineTimer>,
    hold: HoldMode,
    holding: &mut bool,
    cx: &mut Context<'_>,
) {
    // A shielded scope holds the enclosing ones in this task.
    if hold == HoldMode::WhenShielded {
        let shielded = node.is_shield();
        if shielded != *holding {
            node.hold_ancestors(shielded);
            *holding = shielded;
        }
    }
    if timer.poll_deadline(node, cx) {
        node.deadline_reached();
    }
}

impl std::fmt::Debug for ScopeDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeDriver")
            .field("phase", &self.phase)
            .field("node", &self.here.scope.node)
            .finish_non_exhaustive()
    }
}
