//! `start()` and `TaskStatus`: spawn a child and wait until it reports that it is ready.
//!
//! Until the child calls [`TaskStatus::started`], the child belongs to the `start()` call: its
//! failure (or panic) comes out of `start()` and does not cancel the group; if it returns without
//! calling `started`, or drops its status, `start()` says exactly that; if the `start()` call is
//! cancelled, so is the child. After `started`, the child belongs to the group like any other.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use std::task::{Context, Poll, Waker};

use super::child::ChildOutcome;
use super::error::{FailureOrigin, StartError, TaskFailure};
use super::shared::GroupShared;
use crate::cancel::{CancelReason, CancelSource, Node};
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::task::TaskId;

/// The other end of a child that is starting: receives its exit before `started`.
pub(crate) trait StartLink: Send + Sync + 'static {
    /// The child exited. Returns the outcome back if the group should handle it (the child had
    /// already started, or nobody waits in `start()` any more).
    fn child_exited(&self, outcome: ChildOutcome, root: &Arc<Node>) -> Option<ChildOutcome>;

    /// The child is about to be spawned (the group accepted it): from now on, dropping its
    /// status cancels it. A status dropped before (by the closure given to `start`, which
    /// receives it before the child exists) does not: the child then runs, and its exit says
    /// what happened (`NotStarted`, `Failed`).
    fn mark_spawned(&self);
}

enum State<V> {
    /// The child runs and has not called `started`; `start()` waits.
    Waiting,
    /// The child dropped its status without calling `started`; it has been cancelled and
    /// `start()` waits for it to exit, which decides the error.
    StatusDropped,
    Started(V),
    /// The child failed (or panicked) after `started`, before `start()` took the value. The
    /// failure is recorded in the group; the group's cancellation waits until `start()` has
    /// taken the value (or was dropped), so `start()` returns it (AnyIO does the same).
    StartedThenFailed(V, CancelReason),
    Failed(Failure),
    /// `start()` has taken the result (or gave up): later outcomes go to the group.
    Done,
}

enum Failure {
    Error(StartError),
    Panic(Box<dyn std::any::Any + Send + 'static>),
}

/// The handshake's state and the waiting `start()`'s waker, under one lock: every change of
/// `state` that `start()` must see takes the waker in the same critical section, so a wake-up
/// is never lost, and the handshake costs no atomics beyond the lock.
struct Locked<V> {
    state: State<V>,
    /// The task polling `start()`, woken when `state` leaves `Waiting`/`StatusDropped`.
    waker: Option<Waker>,
}

pub(crate) struct StartShared<V> {
    locked: Mutex<Locked<V>>,
    /// See [`StartLink::mark_spawned`]. Set before the child is spawned, so the child's own
    /// drop of its status (in its task) sees it; outside the lock, as it never decides a
    /// wake-up: only the status's drop reads it, and that drop either ran before the spawn
    /// (in the closure given to `start`) or after it.
    spawned: AtomicBool,
    /// The child's root node, made before the child is spawned (so it can always be
    /// cancelled).
    root: Arc<Node>,
    /// Where an outcome goes when nobody waits in `start()` any more.
    group: Arc<GroupShared>,
}

impl<V: Send + 'static> StartShared<V> {
    pub(crate) fn new(group: Arc<GroupShared>, root: Arc<Node>) -> Arc<StartShared<V>> {
        Arc::new(StartShared {
            locked: Mutex::new(Locked {
                state: State::Waiting,
                waker: None,
            }),
            spawned: AtomicBool::new(false),
            root,
            group,
        })
    }
}

impl<V> StartShared<V> {
    fn cancel_child(&self, message: &'static str) {
        self.root.cancel(CancelReason::with_message(
            CancelSource::StartAbandoned,
            message,
        ));
    }
}

impl<V: Send + 'static> StartLink for StartShared<V> {
    fn child_exited(&self, outcome: ChildOutcome, root: &Arc<Node>) -> Option<ChildOutcome> {
        let mut locked = self.locked.lock();
        let state = &mut locked.state;
        let status_dropped = match *state {
            State::Waiting => false,
            State::StatusDropped => true,
            State::Started(_) => {
                let reason = match outcome {
                    ChildOutcome::Failed(error) => self.group.push_failure(TaskFailure::new(
                        FailureOrigin::Child(TaskId::current()),
                        error,
                    )),
                    ChildOutcome::Panicked(payload) => {
                        self.group.push_panic(payload, TaskId::current())
                    }
                    other => return Some(other),
                };
                let State::Started(value) = std::mem::replace(state, State::Done) else {
                    unreachable!("matched above")
                };
                *state = State::StartedThenFailed(value, reason);
                return None;
            }
            _ => return Some(outcome),
        };
        let failure = match outcome {
            ChildOutcome::Done => Failure::Error(StartError::NotStarted),
            ChildOutcome::Failed(error) => Failure::Error(StartError::Failed(error)),
            ChildOutcome::Panicked(payload) => Failure::Panic(payload),
            ChildOutcome::Cancelled if status_dropped => Failure::Error(StartError::StatusDropped),
            ChildOutcome::Cancelled => Failure::Error(StartError::Cancelled(
                root.effective_reason()
                    .unwrap_or_else(|| CancelReason::new(CancelSource::GroupDropped, None)),
            )),
        };
        *state = State::Failed(failure);
        let waker = locked.waker.take();
        drop(locked);
        if let Some(waker) = waker {
            waker.wake();
        }
        None
    }

    fn mark_spawned(&self) {
        self.spawned.store(true, Ordering::Release);
    }
}

/// The child's side of [`start`](crate::TaskGroup::start): call [`started`](Self::started) when
/// ready.
///
/// `started` consumes the status, so it cannot be called twice:
///
/// ```compile_fail
/// fn report(status: tether::TaskStatus<u16>) {
///     status.started(8080);
///     status.started(8081); // error: use of moved value `status`
/// }
/// ```
///
/// Dropping the status without calling `started` cancels the child, and the `start()` call fails:
/// with [`StartError::NotStarted`] or [`StartError::Failed`] if the child was returning anyway,
/// with [`StartError::StatusDropped`] if it was still running. Note that a closure
/// `|_status| async move { ... }` that does not use the status inside the block drops it at once.
#[must_use = "call started(value) when the child is ready, or start() fails"]
pub struct TaskStatus<V = ()> {
    shared: Option<Arc<StartShared<V>>>,
    _value: PhantomData<fn(V)>,
}

impl<V: Send + 'static> TaskStatus<V> {
    pub(crate) fn new(shared: Arc<StartShared<V>>) -> TaskStatus<V> {
        TaskStatus {
            shared: Some(shared),
            _value: PhantomData,
        }
    }

    /// Reports that the child is ready: the waiting `start()` returns `value`, and from now on
    /// the child belongs to the group (its failure cancels the group).
    ///
    /// If the `start()` call was already cancelled, `value` is dropped (the child is being
    /// cancelled too).
    pub fn started(mut self, value: V) {
        let shared = self.shared.take().expect("status used once");
        let mut locked = shared.locked.lock();
        if matches!(locked.state, State::Waiting) {
            locked.state = State::Started(value);
            let waker = locked.waker.take();
            drop(locked);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<V> Drop for TaskStatus<V> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut locked = shared.locked.lock();
            if matches!(locked.state, State::Waiting) {
                // Dropped because the child was cancelled before `started` (its body is being
                // dropped with the status in it): the child's exit reports `Cancelled` with the
                // reason, which is what happened; the child did not abandon its status.
                let spawned = shared.spawned.load(Ordering::Acquire);
                if spawned && shared.root.effective_reason().is_some() {
                    return;
                }
                // Usually the child is returning right now (an async block drops what it
                // captured just before it completes); its exit then says `NotStarted` or
                // `Failed`. If it keeps running, it is cancelled, and `StatusDropped` it is.
                locked.state = State::StatusDropped;
                drop(locked);
                if spawned {
                    shared
                        .cancel_child("the child dropped its TaskStatus without calling started()");
                }
            }
        }
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus").finish_non_exhaustive()
    }
}

/// Future returned by `start()`: resolves to the value the child passed to `started`.
///
/// # Cancel safety
///
/// Dropping it before the child called `started` cancels the child (its later outcome goes to
/// the group, so nothing is lost). After `started`, dropping it only drops the value.
#[must_use = "futures do nothing unless polled"]
pub struct Start<V> {
    inner: StartInner<V>,
    /// The child's task (names it if an outcome nobody read goes to the group).
    task: Option<TaskId>,
    /// The child's entry in the task tree, and the wait recorded while pending.
    child_entry: Option<u64>,
    waiting: Option<crate::diagnostics::registry::WaitToken>,
}

enum StartInner<V> {
    Waiting(Arc<StartShared<V>>),
    SpawnFailed(Option<StartError>),
}

impl<V: Send + 'static> Start<V> {
    pub(crate) fn waiting(
        shared: Arc<StartShared<V>>,
        child_entry: Option<u64>,
        task: TaskId,
    ) -> Start<V> {
        Start {
            inner: StartInner::Waiting(shared),
            task: Some(task),
            child_entry,
            waiting: None,
        }
    }

    pub(crate) fn spawn_failed(error: StartError) -> Start<V> {
        Start {
            inner: StartInner::SpawnFailed(Some(error)),
            task: None,
            child_entry: None,
            waiting: None,
        }
    }
}

impl<V: Send + 'static> Future for Start<V> {
    type Output = Result<V, StartError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let poll = this.poll_inner(cx);
        if poll.is_pending() {
            if this.waiting.is_none() {
                let child = this.child_entry;
                this.waiting = crate::diagnostics::registry::wait(|| {
                    crate::diagnostics::registry::WaitOn::Started { child }
                });
            }
        } else {
            this.waiting = None;
            // The handshake is over (`poll_inner` left `Done` behind): let go of it now, so
            // dropping this future takes no lock. Polling again panics, as before.
            this.inner = StartInner::SpawnFailed(None);
        }
        poll
    }
}

impl<V: Send + 'static> Start<V> {
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<V, StartError>> {
        let shared = match &mut self.inner {
            StartInner::SpawnFailed(error) => {
                return Poll::Ready(Err(error.take().expect("Start polled after completion")));
            }
            StartInner::Waiting(shared) => shared,
        };
        let mut locked = shared.locked.lock();
        if matches!(locked.state, State::Waiting | State::StatusDropped) {
            match &mut locked.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        match std::mem::replace(&mut locked.state, State::Done) {
            State::Waiting | State::StatusDropped => unreachable!("handled above"),
            State::Started(value) => Poll::Ready(Ok(value)),
            State::StartedThenFailed(value, reason) => {
                drop(locked);
                shared.group.node().cancel(reason);
                Poll::Ready(Ok(value))
            }
            State::Failed(Failure::Error(error)) => Poll::Ready(Err(error)),
            State::Failed(Failure::Panic(payload)) => {
                drop(locked);
                std::panic::resume_unwind(payload)
            }
            State::Done => panic!("Start polled after completion"),
        }
    }
}

impl<V> Drop for Start<V> {
    fn drop(&mut self) {
        let StartInner::Waiting(shared) = &self.inner else {
            return;
        };
        let previous = std::mem::replace(&mut shared.locked.lock().state, State::Done);
        match previous {
            // Cancelling the start() call cancels the child.
            State::Waiting | State::StatusDropped => {
                shared.cancel_child("the start() call was cancelled");
            }
            // The child's failure after `started` was held back for the value to be taken.
            State::StartedThenFailed(_, reason) => {
                shared.group.node().cancel(reason);
            }
            // An outcome nobody will read: the group gets it, so nothing is swallowed.
            State::Failed(Failure::Panic(payload)) => {
                let task = self.task.unwrap_or(shared.group.host);
                shared.group.record_panic(payload, task);
            }
            State::Failed(Failure::Error(StartError::Failed(error))) => {
                let task = self.task.unwrap_or(shared.group.host);
                shared
                    .group
                    .record_failure(TaskFailure::new(FailureOrigin::Child(task), error));
            }
            _ => {}
        }
    }
}

impl<V> fmt::Debug for Start<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start").finish_non_exhaustive()
    }
}
