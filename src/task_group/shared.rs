//! The state every form of task group shares: child accounting, collected failures, the panic
//! slot and end-of-group callbacks.
//!
//! # Invariants
//!
//! - `state` holds the number of live children in its low bits and `CLOSED` in its top bit.
//!   `spawn` increments first and then checks `CLOSED` (undoing the increment if set); closing
//!   is a compare-exchange from exactly `0` to `CLOSED`. So a spawn either happens before the
//!   close (and the close waits for it) or fails; no child is ever started in an exited group.
//! - A child decrements `state` only after its body has been dropped, so "the group exited"
//!   implies "no child code runs any more".
//! - Failures and panics are recorded *before* the decrement that may wake the host, and the
//!   host reads them only after it saw the count reach zero.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::num::NonZeroU32;
use std::panic::Location;

use super::TaskResult;
use super::child::{Child, ChildLink, ChildOutcome, Plain, Rare, RareChild};
use super::error::{FailureOrigin, GroupError, SpawnError, StartError, TaskFailure};
use super::handle::TaskGroupHandle;
use super::panic::GroupPanic;
use super::start::{Start, StartShared, TaskStatus};
use crate::cancel::{CancelReason, CancelScope, CancelSource, LazyRoot, Node};
use crate::context::ChildVars;
use crate::diagnostics::registry::{self as diag, Entry, EntryKind, Parent};
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::task::TaskId;
use slab::Slab;

const CLOSED: usize = 1 << (usize::BITS - 1);

/// Where a group keeps a child's context variables between polls (see `Child::poll`): four
/// bytes, so they fit in the child future's padding.
#[derive(Clone, Copy)]
pub(crate) struct VarsKey(NonZeroU32);

/// What a stream (or anything else bound to a group) learns when the group ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupEnded {
    /// The task that hosted the group.
    pub(crate) host: TaskId,
}

type EndCallback = Box<dyn FnOnce(&GroupEnded) + Send + 'static>;

/// The one inner type of every form of task group: [`TaskGroup`](super::TaskGroup),
/// [`OwnedTaskGroup`](super::OwnedTaskGroup) and [`TaskGroupHandle`](super::TaskGroupHandle) are
/// thin handles over an `Arc<GroupShared>`, and their common methods (`spawn`, `start`,
/// `handle`, `cancel_scope`, `host`) are implemented here once.
pub(crate) struct GroupShared {
    /// The group's cancel scope (its node is the parent of every child's root).
    scope: CancelScope,
    /// The task that opened the group (and must close it).
    pub(crate) host: TaskId,
    runtime: tokio::runtime::Handle,
    /// Live children | `CLOSED`.
    state: AtomicUsize,
    /// Set when the group was dropped before it ended: children drop their bodies even inside
    /// shields.
    aborted: AtomicBool,
    outcome: Mutex<Outcome>,
    /// The context variables of children that inherited no context and set one since (see
    /// `Child::poll`), between their polls.
    child_vars: Mutex<Slab<Option<ChildVars>>>,
    /// Where the group was opened.
    pub(crate) site: &'static Location<'static>,
    /// The group's span (feature `tracing`), entered while its body is polled.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
    /// The group's entry in the task tree (`None` while the tree is off at open). Leaves the
    /// registry when the group ends, after every child's.
    pub(crate) diag: Option<Entry>,
}

#[derive(Default)]
struct Outcome {
    failures: Vec<TaskFailure>,
    /// Every panic, in order, with the task that panicked.
    panics: Vec<(TaskId, Box<dyn Any + Send + 'static>)>,
    on_end: Vec<EndCallback>,
    ended: bool,
}

impl GroupShared {
    /// A new group under `parent`, opened at `site`, hosted by the current task.
    pub(crate) fn open(
        parent: Option<Arc<Node>>,
        site: &'static Location<'static>,
    ) -> Arc<GroupShared> {
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle,
            Err(_) => panic!(
                "a tether task group must be opened inside a tokio runtime (its children are \
                 tokio tasks); call it from async code running on a runtime"
            ),
        };
        let scope = CancelScope::entered_under(parent);
        let host = TaskId::current();
        let diag = diag::register(
            true,
            EntryKind::Group,
            None,
            site,
            Parent::Current,
            Some(&scope.node),
            Some(host),
        )
        .and_then(diag::LazyEntry::into_entry);
        Arc::new(GroupShared {
            #[cfg(feature = "tracing")]
            span: tracing::info_span!("tether.group", site = %site),
            scope,
            site,
            diag,
            host,
            runtime,
            state: AtomicUsize::new(0),
            aborted: AtomicBool::new(false),
            outcome: Mutex::new(Outcome::default()),
            child_vars: Mutex::new(Slab::new()),
        })
    }

    /// `spawn` of every form: spawns a plain child. Fails (handing the future back) if the
    /// group has exited.
    #[track_caller]
    pub(crate) fn spawn_child<F>(
        self: &Arc<Self>,
        name: Option<Cow<'static, str>>,
        body: F,
    ) -> Result<(), SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        self.spawn(name, body, Plain, None).map(|_| ())
    }

    /// `start` of every form: spawns a starting child and hands back the `Start` future.
    #[track_caller]
    pub(crate) fn start<V, F, Fut>(
        self: &Arc<Self>,
        name: Option<Cow<'static, str>>,
        child: F,
    ) -> Start<V>
    where
        V: Send + 'static,
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
    {
        // A start() child's root is made now: the start call may cancel the child at once.
        let root = LazyRoot::eager(self.clone());
        let link = StartShared::<V>::new(self.clone(), root.force().clone());
        let body = child(TaskStatus::new(link.clone()));
        match self.spawn(name, body, Some(link.clone()), Some(root)) {
            Ok((task, entry)) => Start::waiting(link, entry, task),
            Err(_) => Start::spawn_failed(StartError::GroupClosed(self.host)),
        }
    }

    /// `handle` of every form.
    pub(crate) fn handle(self: &Arc<Self>) -> TaskGroupHandle {
        TaskGroupHandle {
            shared: self.clone(),
        }
    }

    /// Spawns a child. Fails (handing the future back) if the group has exited. Returns the
    /// child's task and its entry id in the task tree (if registered). A `start()` child
    /// brings its link to the start call and its (eager) root.
    #[track_caller]
    pub(crate) fn spawn<F, K: ChildLink>(
        self: &Arc<Self>,
        name: Option<Cow<'static, str>>,
        body: F,
        link: K,
        start_root: Option<LazyRoot>,
    ) -> Result<(TaskId, Option<u64>), SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        let previous = self.state.fetch_add(1, Ordering::AcqRel);
        if previous & CLOSED != 0 {
            self.state.fetch_sub(1, Ordering::AcqRel);
            return Err(SpawnError::new(body, self.host));
        }
        let is_start = start_root.is_some();
        link.mark_spawned();
        // A plain child makes its root node only when it needs one (most trivial children
        // never do); a start() child brings the one its start call may cancel.
        let root = start_root.unwrap_or_else(|| LazyRoot::new(self.clone()));
        #[cfg(feature = "tracing")]
        let span_name = name.clone();
        // The tokio task's name, in a `--cfg tokio_unstable` build (`tokio_name.rs`).
        #[cfg(tokio_unstable)]
        let tokio_name = name.clone();
        #[cfg(not(tokio_unstable))]
        let tokio_name: Option<Cow<'static, str>> = None;
        // (The check is repeated here so the common case, the tree off, costs no call.)
        let entry = if diag::enabled() {
            diag::register(
                is_start,
                EntryKind::Child,
                name,
                Location::caller(),
                Parent::Of(self.diag.as_ref()),
                // A child shows its group's cancel state (found through its parent entry at
                // snapshot time): no reference count shared with every sibling.
                None,
                None,
            )
        } else {
            None
        };
        // A start() child is registered at once; a plain one lazily, by itself.
        let registered = entry.as_ref().and_then(|e| e.get().cloned());
        let entry_id = registered.as_ref().map(|e| e.id);
        #[cfg(feature = "tracing")]
        let span = tracing::info_span!(
            "tether.child",
            name = span_name.as_deref(),
            site = %Location::caller(),
        );
        // The child inherits the spawner's context, entered around each of its polls (the
        // common case, nothing to inherit and no tree, is answered without building anything).
        #[cfg(feature = "tracing")]
        let plain = entry.is_none() && span.is_disabled() && crate::context::nothing_to_inherit();
        #[cfg(not(feature = "tracing"))]
        let plain = entry.is_none() && crate::context::nothing_to_inherit();
        let rare = if plain {
            None
        } else {
            Rare::new(
                entry,
                crate::context::capture(),
                #[cfg(feature = "tracing")]
                span,
            )
        };
        let child = Child::new(root, body, link);
        // The group joins through `state`, not through the JoinHandle.
        let site = Location::caller();
        let task = match rare {
            None => super::tokio_name::spawn(&self.runtime, tokio_name.as_ref(), site, child),
            Some(rare) => super::tokio_name::spawn(
                &self.runtime,
                tokio_name.as_ref(),
                site,
                RareChild::new(child, rare),
            ),
        };
        let task = TaskId::from_tokio(task.id());
        // A start() child is registered at once, from here: name its task now. (A lazily
        // registered child names its own task when it registers.)
        if let Some(entry) = registered.filter(|_| is_start) {
            entry.set_task(task);
        }
        Ok((task, entry_id))
    }

    /// Keeps the context variables a child set (it had none before); returns their key.
    pub(crate) fn keep_child_vars(&self, vars: ChildVars) -> VarsKey {
        let key = self.child_vars.lock().insert(Some(vars));
        // 2^32 children setting variables at once would take far more memory than exists.
        let key = u32::try_from(key + 1).expect("fewer than 2^32 live children");
        VarsKey(NonZeroU32::new(key).expect("key + 1 is not zero"))
    }

    /// The child ended: its context variables leave the group (`None` if they were out for
    /// the poll that ended it).
    pub(crate) fn remove_child_vars(&self, key: VarsKey) -> Option<ChildVars> {
        let index = key.0.get() as usize - 1;
        self.child_vars.lock().try_remove(index).flatten()
    }

    /// Takes a child's context variables for one poll (`put_child_vars` brings them back).
    pub(crate) fn take_child_vars(&self, key: VarsKey) -> ChildVars {
        let index = key.0.get() as usize - 1;
        let mut slab = self.child_vars.lock();
        match slab.get_mut(index).and_then(Option::take) {
            Some(vars) => vars,
            None => unreachable!("a child's variables are kept until it ends"),
        }
    }

    /// Gives a child's context variables back after a poll.
    pub(crate) fn put_child_vars(&self, key: VarsKey, vars: ChildVars) {
        let index = key.0.get() as usize - 1;
        self.child_vars.lock()[index] = Some(vars);
    }

    /// Records in the task tree that the group (body done) waits for its children.
    pub(crate) fn wait_for_children(&self) -> Option<diag::WaitToken> {
        let entry = self.diag.as_ref()?;
        entry.pending();
        Some(entry.add_wait(diag::WaitOn::Children))
    }

    /// A snapshot of the task tree under this group (`task_tree` of every group form).
    pub(crate) fn task_tree(&self) -> crate::TaskTree {
        crate::diagnostics::task_tree_under(self.diag.as_ref().map(|e| e.id))
    }

    /// The group's node.
    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.scope.node
    }

    /// The group's cancel scope (`cancel_scope()` of every form).
    pub(crate) fn cancel_scope(&self) -> &CancelScope {
        &self.scope
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// A child finished (or was dropped). `outcome` is `None` when a `start()` call took it.
    ///
    /// Called from the child's own task, which names the failing task (only looked up when
    /// there is a failure to report).
    pub(crate) fn child_exited(&self, outcome: Option<ChildOutcome>) {
        match outcome {
            Some(ChildOutcome::Failed(error)) => {
                let task = TaskId::current();
                self.record_failure(TaskFailure::new(FailureOrigin::Child(task), error));
            }
            Some(ChildOutcome::Panicked(payload)) => self.record_panic(payload, TaskId::current()),
            Some(ChildOutcome::Done | ChildOutcome::Cancelled) | None => {}
        }
        let previous = self.state.fetch_sub(1, Ordering::AcqRel);
        if previous & !CLOSED == 1 {
            self.scope.node.wake();
        }
    }

    /// Records a failure and cancels the group (the first failure's message is the reason).
    pub(crate) fn record_failure(&self, failure: TaskFailure) {
        let reason = self.push_failure(failure);
        self.scope.node.cancel(reason);
    }

    /// Records a failure without cancelling yet; returns the reason to cancel with.
    pub(crate) fn push_failure(&self, failure: TaskFailure) -> CancelReason {
        #[cfg(feature = "tracing")]
        tracing::warn!(target: "tether::task_group", group = %self.site, failure = %failure, "a task failed");
        let reason = CancelReason::with_message(CancelSource::GroupFailure, &failure);
        self.outcome.lock().failures.push(failure);
        reason
    }

    /// Records a panic (every one is kept for the host) and cancels the group.
    pub(crate) fn record_panic(&self, payload: Box<dyn Any + Send + 'static>, task: TaskId) {
        let reason = self.push_panic(payload, task);
        self.scope.node.cancel(reason);
    }

    /// Records a panic without cancelling yet; returns the reason to cancel with.
    pub(crate) fn push_panic(
        &self,
        payload: Box<dyn Any + Send + 'static>,
        task: TaskId,
    ) -> CancelReason {
        #[cfg(feature = "tracing")]
        tracing::error!(target: "tether::task_group", group = %self.site, task = %task, "a task panicked");
        self.outcome.lock().panics.push((task, payload));
        CancelReason::with_message(CancelSource::GroupFailure, format_args!("{task} panicked"))
    }

    /// Closes the group if no child is alive. Returns whether it is closed.
    pub(crate) fn try_close(&self) -> bool {
        match self
            .state
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(current) => current == CLOSED,
        }
    }

    /// What the host must resume, if anything panicked: the lone panic's own payload when it is
    /// the only thing that went wrong, otherwise a [`GroupPanic`] carrying every panic and every
    /// failure (which are then taken out of the group).
    pub(crate) fn take_unwind(&self) -> Option<Box<dyn Any + Send + 'static>> {
        let mut outcome = self.outcome.lock();
        if outcome.panics.is_empty() {
            return None;
        }
        let panics = std::mem::take(&mut outcome.panics);
        let failures = std::mem::take(&mut outcome.failures);
        drop(outcome);
        if panics.len() == 1 && failures.is_empty() {
            let (_, payload) = panics.into_iter().next().expect("one panic");
            return Some(payload);
        }
        let failures = (!failures.is_empty()).then(|| GroupError::failed(failures));
        Some(Box::new(GroupPanic::new(panics, failures)))
    }

    pub(crate) fn take_failures(&self) -> Vec<TaskFailure> {
        std::mem::take(&mut self.outcome.lock().failures)
    }

    /// Runs the end-of-group callbacks (once).
    pub(crate) fn end(&self) {
        let callbacks = {
            let mut outcome = self.outcome.lock();
            if outcome.ended {
                return;
            }
            outcome.ended = true;
            std::mem::take(&mut outcome.on_end)
        };
        if let Some(entry) = &self.diag {
            diag::deregister(entry);
        }
        let ended = GroupEnded { host: self.host };
        for callback in callbacks {
            callback(&ended);
        }
    }

    /// Runs `callback` when the group ends; at once if it already has.
    pub(crate) fn on_end(&self, callback: EndCallback) {
        {
            let mut outcome = self.outcome.lock();
            if !outcome.ended {
                outcome.on_end.push(callback);
                return;
            }
        }
        callback(&GroupEnded { host: self.host });
    }

    /// The group is dropped before it ended: refuse new children, cancel and abort the live
    /// ones (they drop their bodies at their next poll, even inside shields), end the group.
    /// Never blocks.
    pub(crate) fn abandon(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        self.aborted.store(true, Ordering::Release);
        self.scope
            .node
            .cancel(CancelReason::new(CancelSource::GroupDropped, None));
        // Also wake children that were already cancelled (e.g. sitting in a shield).
        self.scope.node.wake_subtree();
        self.end();
    }
}

impl std::fmt::Debug for GroupShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("GroupShared")
            .field("host", &self.host)
            .field("live_children", &(state & !CLOSED))
            .field("closed", &(state & CLOSED != 0))
            .finish_non_exhaustive()
    }
}
