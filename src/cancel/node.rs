//! The cancel tree: one [`Node`] per entered cancel scope, task group and child task.
//!
//! Public handles ([`CancelScope`](super::CancelScope), task groups) are thin wrappers over an
//! `Arc<Node>`; all cancellation logic lives here. Following Trio, the place where a cancellation
//! *originates* (a node's own `cancelled` flag) is kept apart from how it is *delivered* (a walk
//! up the parent links, stopping at a shield).
//!
//! # Invariants
//!
//! - `cancelled` only ever goes from `false` to `true`; it is set under `state`'s lock, together
//!   with `reason`, so the first reason wins.
//! - A node is *effectively cancelled* when it, or an ancestor reached without crossing a shield,
//!   has `cancelled` set. This is computed on demand by walking up (`is_effectively_cancelled`),
//!   never cached, so toggling a shield needs no bookkeeping beyond a wake-up.
//! - A node appears in its parent's `children` while its future is pending (registration is lazy:
//!   a body that finishes on its first poll never touches the parent's lock). After registering,
//!   the node re-checks effective cancellation and wakes its own subtree if it is cancelled, so a
//!   cancellation that raced with the registration is never lost.
//! - A child task's root node is itself created lazily (`LazyRoot`): when the child's body
//!   enters a scope or group, or when the child first returns `Pending`. Until then nothing in
//!   the child can hold or be cancelled on its own, so the group's node decides alone.
//! - `holds` counts the shielded scopes and task groups that are running *below* this node in the
//!   same task. A node with `holds > 0` must not drop its body: a shielded section, or a group
//!   still waiting for its children, is in there. Holds are counted up to and including the first
//!   `task_root` ancestor and never cross into another task.
//!
//! # Lock order
//!
//! At most one node's `state` lock is held at a time. Walks (cancel, wake) snapshot a node's
//! children under its lock, release it, then visit the children.

use std::task::Waker;

use crate::loom::future::AtomicWaker;
use slab::Slab;
use tokio::time::Instant;

use super::{CancelReason, CancelSource};
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex, OnceLock};

/// Wakers collected under a lock and woken after it; the first `INLINE` need no allocation.
#[derive(Default)]
struct WakeList {
    inline: [Option<Waker>; INLINE],
    len: usize,
    more: Vec<Waker>,
}

const INLINE: usize = 8;

impl WakeList {
    fn push(&mut self, waker: Waker) {
        if self.len < INLINE {
            self.inline[self.len] = Some(waker);
            self.len += 1;
        } else {
            self.more.push(waker);
        }
    }

    fn wake_all(&mut self) {
        for slot in &mut self.inline[..self.len] {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
        self.len = 0;
        for waker in self.more.drain(..) {
            waker.wake();
        }
    }
}

/// `Node::slot` when the node is not in its parent's child list.
const NO_SLOT: usize = usize::MAX;

/// One entered cancel scope, task group scope, or child task root.
pub(crate) struct Node {
    /// The enclosing node, set once when the scope is entered (`None` = a root of the tree).
    parent: OnceLock<Arc<Node>>,
    /// This node's own cancellation was requested (explicitly, by its deadline, by a failure).
    cancelled: AtomicBool,
    /// Whether cancellation of ancestors is kept out of this node's subtree.
    shield: AtomicBool,
    /// Running shields and groups below this node in the same task (see the module invariants).
    holds: AtomicUsize,
    /// The top node of a tether child task: holds stop here, and it delivers inherited
    /// cancellation for its task.
    task_root: bool,
    /// Bumped whenever the deadline changes, so a running scope re-arms its timer cheaply.
    deadline_gen: AtomicU64,
    /// The task currently driving this node's future, woken when it must look again.
    waker: AtomicWaker,
    /// Our key in the parent's `children` while registered (`NO_SLOT` otherwise). Only the
    /// future driving this node registers and deregisters it, so no lock is needed.
    slot: AtomicUsize,
    /// Set (and never cleared) once a child registered below this node or an observer waited
    /// on it: `wake_subtree` must then visit this node rather than only wake its waker.
    dependents: AtomicBool,
    /// The scope has been entered (a scope runs at most once).
    entered: AtomicBool,
    state: Mutex<NodeState>,
}

#[derive(Default)]
struct NodeState {
    reason: Option<CancelReason>,
    deadline: Option<Instant>,
    /// Who must be woken when this node is cancelled; boxed on first use, as most nodes (the
    /// root of a leaf child task, a scope around a short body) never have any, and it keeps
    /// every node 72 bytes smaller.
    deps: Option<Box<Deps>>,
    /// The scope stopped its body because of its own cancellation.
    caught: bool,
}

#[derive(Default)]
struct Deps {
    /// Nodes below this one that are currently pending (see invariants).
    children: Slab<Arc<Node>>,
    /// Other tasks waiting in `CancelScope::cancelled()`.
    observers: Slab<Waker>,
}

impl NodeState {
    fn deps(&mut self) -> &mut Deps {
        self.deps.get_or_insert_with(Box::default)
    }
}

impl Node {
    pub(crate) fn new(shield: bool, deadline: Option<Instant>) -> Arc<Node> {
        Arc::new(Node {
            parent: OnceLock::new(),
            cancelled: AtomicBool::new(false),
            shield: AtomicBool::new(shield),
            holds: AtomicUsize::new(0),
            task_root: false,
            // Generation 0 means "no deadline ever set"; a preset deadline is generation 1.
            deadline_gen: AtomicU64::new(u64::from(deadline.is_some())),
            waker: AtomicWaker::new(),
            slot: AtomicUsize::new(NO_SLOT),
            dependents: AtomicBool::new(false),
            entered: AtomicBool::new(false),
            state: Mutex::new(NodeState {
                deadline,
                ..NodeState::default()
            }),
        })
    }

    /// A child task's root: entered at once, under `parent` (the group's node).
    pub(crate) fn new_task_root(parent: Arc<Node>) -> Arc<Node> {
        let node = Node {
            parent: OnceLock::from(parent),
            cancelled: AtomicBool::new(false),
            shield: AtomicBool::new(false),
            holds: AtomicUsize::new(0),
            task_root: true,
            deadline_gen: AtomicU64::new(0),
            waker: AtomicWaker::new(),
            slot: AtomicUsize::new(NO_SLOT),
            dependents: AtomicBool::new(false),
            entered: AtomicBool::new(true),
            state: Mutex::new(NodeState::default()),
        };
        Arc::new(node)
    }

    /// Marks the node entered under `parent`. Returns `false` if it was entered before.
    pub(crate) fn enter(&self, parent: Option<Arc<Node>>) -> bool {
        if self.entered.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(parent) = parent {
            let _ = self.parent.set(parent);
        }
        true
    }

    // ----- cancellation -------------------------------------------------------------------

    /// Requests cancellation of this node. Returns `true` if this call was the first.
    pub(crate) fn cancel(self: &Arc<Self>, reason: CancelReason) -> bool {
        {
            let mut st = self.state.lock();
            if st.reason.is_some() {
                return false;
            }
            st.reason = Some(reason);
            self.cancelled.store(true, Ordering::Release);
        }
        self.wake_subtree();
        true
    }

    /// Own cancellation requested (not inherited).
    #[inline]
    pub(crate) fn is_cancel_called(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Cancelled here or by an ancestor, up to the nearest shield.
    #[inline]
    pub(crate) fn is_effectively_cancelled(&self) -> bool {
        let mut node = self;
        loop {
            if node.cancelled.load(Ordering::Acquire) {
                return true;
            }
            if node.shield.load(Ordering::Acquire) {
                return false;
            }
            match node.parent.get() {
                Some(parent) => node = parent,
                None => return false,
            }
        }
    }

    /// Cancelled only through an ancestor (so another node is the origin).
    pub(crate) fn is_cancel_inherited(&self) -> bool {
        !self.is_cancel_called()
            && !self.shield.load(Ordering::Acquire)
            && self
                .parent
                .get()
                .is_some_and(|p| p.is_effectively_cancelled())
    }

    /// The body below this node must be dropped now: cancelled, and nothing below holds it.
    #[inline]
    pub(crate) fn must_drop_body(&self) -> bool {
        self.is_effectively_cancelled() && self.holds.load(Ordering::Acquire) == 0
    }

    pub(crate) fn own_reason(&self) -> Option<CancelReason> {
        self.state.lock().reason.clone()
    }

    /// The reason this node is effectively cancelled: its own, or its origin's marked as
    /// coming from a parent scope.
    pub(crate) fn effective_reason(&self) -> Option<CancelReason> {
        if let Some(reason) = self.own_reason() {
            return Some(reason);
        }
        if self.shield.load(Ordering::Acquire) {
            return None;
        }
        let mut node = self.parent.get()?;
        loop {
            if let Some(reason) = node.own_reason() {
                return Some(CancelReason::inherited(&reason));
            }
            if node.shield.load(Ordering::Acquire) {
                return None;
            }
            node = node.parent.get()?;
        }
    }

    pub(crate) fn set_caught(&self) {
        self.state.lock().caught = true;
    }

    pub(crate) fn caught(&self) -> bool {
        self.state.lock().caught
    }

    // ----- shields and holds --------------------------------------------------------------

    pub(crate) fn is_shield(&self) -> bool {
        self.shield.load(Ordering::Acquire)
    }

    pub(crate) fn set_shield(self: &Arc<Self>, shield: bool) {
        let was = self.shield.swap(shield, Ordering::AcqRel);
        if was && !shield && self.is_effectively_cancelled() {
            // Outer cancellation can reach the subtree now: deliver it.
            self.wake_subtree();
        }
        if was != shield {
            self.waker.wake();
        }
    }

    /// Adds (`+1`) or removes (`-1`) a hold on every ancestor in this task.
    pub(crate) fn hold_ancestors(&self, add: bool) {
        let mut next = self.parent.get();
        while let Some(node) = next {
            if add {
                node.holds.fetch_add(1, Ordering::AcqRel);
            } else {
                node.holds.fetch_sub(1, Ordering::AcqRel);
            }
            if node.task_root {
                break;
            }
            next = node.parent.get();
        }
    }

    // ----- deadlines ----------------------------------------------------------------------

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.state.lock().deadline
    }

    pub(crate) fn deadline_gen(&self) -> u64 {
        self.deadline_gen.load(Ordering::Acquire)
    }

    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        self.state.lock().deadline = deadline;
        self.deadline_gen.fetch_add(1, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Marks the deadline as reached: cancels with [`CancelSource::Deadline`].
    pub(crate) fn deadline_reached(self: &Arc<Self>) {
        self.cancel(CancelReason::new(CancelSource::Deadline, None));
    }

    /// The earliest deadline from this node up to and including the nearest shield.
    pub(crate) fn effective_deadline(&self) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        let mut node = self;
        loop {
            if let Some(d) = node.deadline() {
                earliest = Some(earliest.map_or(d, |e| e.min(d)));
            }
            if node.is_shield() {
                return earliest;
            }
            match node.parent.get() {
                Some(parent) => node = parent,
                None => return earliest,
            }
        }
    }

    // ----- wake-ups and registration ------------------------------------------------------

    pub(crate) fn register_waker(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// Wakes the future driving this node.
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// Inserts this node into its parent's child list. Afterwards, if the node is effectively
    /// cancelled, wakes the subtree so the raced cancellation is delivered.
    pub(crate) fn register_in_parent(self: &Arc<Self>) {
        let Some(parent) = self.parent.get() else {
            return;
        };
        let key = parent.state.lock().deps().children.insert(self.clone());
        self.slot.store(key, Ordering::Relaxed);
        parent.mark_dependents();
        if self.is_effectively_cancelled() {
            self.wake_subtree();
        }
    }

    /// Removes this node from its parent's child list (no-op if not registered).
    pub(crate) fn deregister_from_parent(&self) {
        let key = self.slot.swap(NO_SLOT, Ordering::Relaxed);
        if key != NO_SLOT
            && let Some(parent) = self.parent.get()
        {
            let mut st = parent.state.lock();
            if let Some(deps) = st.deps.as_mut()
                && deps.children.contains(key)
            {
                deps.children.remove(key);
            }
        }
    }

    /// Wakes every future and observer in this subtree that a cancellation of this node reaches
    /// (shielded children and their subtrees are skipped). Iterative, so deep trees are fine.
    pub(crate) fn wake_subtree(self: &Arc<Self>) {
        self.waker.wake();
        // Allocates only for nodes with nested dependents, or more than `INLINE` wakers.
        let mut stack: Vec<Arc<Node>> = Vec::new();
        let mut wakers = WakeList::default();
        self.wake_children(&mut stack, &mut wakers);
        while let Some(node) = stack.pop() {
            node.waker.wake();
            node.wake_children(&mut stack, &mut wakers);
        }
    }

    /// Wakes this node's (unshielded) children and observers, after releasing the lock.
    ///
    /// Children that never had children or observers of their own (the common case: the leaf
    /// tasks of a group) are woken from the snapshot directly: their waker is taken under this
    /// node's lock and woken after it, with no clone of their `Arc` and no lock of their own.
    /// The others are pushed on `stack` to be visited like this one.
    fn wake_children(&self, stack: &mut Vec<Arc<Node>>, wakers: &mut WakeList) {
        {
            let st = self.state.lock();
            let Some(deps) = st.deps.as_ref() else {
                return;
            };
            for (_, child) in deps.children.iter() {
                if child.is_shield() {
                    continue;
                }
                if child.dependents.load(Ordering::Acquire) {
                    stack.push(child.clone());
                } else if let Some(waker) = child.waker.take() {
                    wakers.push(waker);
                }
            }
            for (_, waker) in deps.observers.iter() {
                wakers.push(waker.clone());
            }
        }
        wakers.wake_all();
    }

    pub(crate) fn update_observer(&self, key: Option<usize>, waker: &Waker) -> usize {
        let key = {
            let mut st = self.state.lock();
            let observers = &mut st.deps().observers;
            match key {
                Some(key) if observers.contains(key) => {
                    if !observers[key].will_wake(waker) {
                        observers[key] = waker.clone();
                    }
                    key
                }
                _ => observers.insert(waker.clone()),
            }
        };
        self.mark_dependents();
        key
    }

    /// Records that this node now has children or observers of its own, so a cancel walk must
    /// visit it rather than only take its waker (see `wake_children`). Call it *after* the
    /// child or observer was inserted, and check for cancellation after it.
    ///
    /// The walk reads `dependents` under the *parent's* lock, while the cancellation flag it
    /// serves is written before that walk. On the first mark we therefore pass through the
    /// parent's lock: either the walk held it first (its cancellation flag is then visible to
    /// the caller's check that follows), or it comes after us and sees the flag and visits this
    /// node, finding what was inserted. Without this handshake the two sides could each miss the
    /// other (found by the loom model `a_grandchild_registering_under_a_cancelled_grandparent_is_woken`).
    fn mark_dependents(&self) {
        if !self.dependents.swap(true, Ordering::AcqRel)
            && let Some(parent) = self.parent.get()
        {
            drop(parent.state.lock());
        }
    }

    pub(crate) fn remove_observer(&self, key: usize) {
        let mut st = self.state.lock();
        if let Some(deps) = st.deps.as_mut()
            && deps.observers.contains(key)
        {
            deps.observers.remove(key);
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("cancel_called", &self.is_cancel_called())
            .field("shield", &self.is_shield())
            .field("holds", &self.holds.load(Ordering::Relaxed))
            .field("task_root", &self.task_root)
            .finish_non_exhaustive()
    }
}
