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
//!   has `cancelled` set. The answer is cached per node (`status`), stamped with the
//!   process-wide cancel epoch ([`cancel_epoch`]): every change that can alter it anywhere (a
//!   node cancelled, a shield toggled, a first deadline set) bumps the epoch *after* the change,
//!   so a cached answer whose stamp equals the epoch read before it is fresh. A stale one is
//!   recomputed by walking up to the first ancestor with a fresh answer, so a check costs O(1)
//!   while nothing is cancelled, at any depth. A node caches only once it has a parent (its
//!   parent never changes after that).
//! - A node appears in its parent's `children` exactly while its driver has it *in the tree*
//!   (from its first `Pending` to its exit: registration is lazy, so a body that finishes on its
//!   first poll never touches the parent's lock) **or** it has dependents of its own (`live > 0`:
//!   children or `cancelled()` observers). So a scope whose run has finished stays reachable for
//!   as long as something below it can still be cancelled: an owned group opened in it, a watcher
//!   of it. The decision is taken under the parent's lock from `in_tree` and `live`
//!   ([`Node::sync_in_parent`]), so concurrent changes of both are never lost. After inserting,
//!   the node re-checks effective cancellation and wakes its own subtree if it is cancelled, so a
//!   cancellation that raced with the registration is never lost.
//! - `unwinding` is set (never cleared) on the nodes between a scope that *parked* (dropped its
//!   body for a cancellation that originated above it) and that origin, up to the task root: a
//!   cancellation in flight. Such a node drops its body as soon as nothing below holds it, even
//!   if a shield was raised on it meanwhile (Trio: a `Cancelled` already raised passes through a
//!   scope shielded after the fact).
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
use crate::loom::cancel_epoch;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
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
/// `Node::slot` of the child kept inline in its parent's `NodeState::first`.
const FIRST_SLOT: usize = usize::MAX - 1;

/// `Node::status` bit: effectively cancelled (cancelled here or above, up to a shield).
const EFF: u64 = 1;
/// `Node::status` bit: a deadline was set on this node or above it, up to and including the
/// nearest shield (meaningful only without `EFF`).
const DL: u64 = 2;
const STATUS_BITS: u64 = EFF | DL;
/// `Node::status_cache` is `epoch << STAMP | bits`.
const STAMP: u32 = 2;
/// A stamp no epoch reaches: nothing cached yet.
const NOT_CACHED: u64 = u64::MAX;

/// Bumps the cancel epoch, after a change that can alter effective cancellation somewhere.
#[inline]
fn bump_epoch() {
    cancel_epoch().fetch_add(1, Ordering::AcqRel);
}

/// One entered cancel scope, task group scope, or child task root.
pub(crate) struct Node {
    /// The enclosing node, set once when the scope is entered (`None` = a root of the tree).
    parent: ParentCell,
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
    /// Our key in the parent's `children` while registered (`NO_SLOT` otherwise). Written only
    /// under the parent's lock (see `sync_in_parent`).
    slot: AtomicUsize,
    /// The driver of this node has it in the tree (pending, not exited).
    in_tree: AtomicBool,
    /// Entries in this node's own `deps` (children and observers). Written only under this
    /// node's lock; read under the parent's lock to decide whether the node stays registered.
    live: AtomicUsize,
    /// A cancellation in flight passes through this node (see the module invariants).
    unwinding: AtomicBool,
    /// Set (and never cleared) once a child registered below this node or an observer waited
    /// on it: `wake_subtree` must then visit this node rather than only wake its waker.
    dependents: AtomicBool,
    /// The scope has been entered (a scope runs at most once).
    entered: AtomicBool,
    /// `status` cached with the cancel epoch it was computed in (see the module invariants).
    status_cache: AtomicU64,
    state: Mutex<NodeState>,
}

/// A node's parent: given at creation (a child task's root), or set once when the scope is
/// entered. Filling a `OnceLock` at creation goes through its `Once`, which costs a child's
/// root more than the rest of its construction; a parent known at creation skips it.
struct ParentCell {
    fixed: Option<Arc<Node>>,
    late: OnceLock<Arc<Node>>,
}

impl ParentCell {
    #[inline]
    fn get(&self) -> Option<&Arc<Node>> {
        match &self.fixed {
            Some(parent) => Some(parent),
            None => self.late.get(),
        }
    }

    fn set(&self, parent: Arc<Node>) -> Result<(), Arc<Node>> {
        if self.fixed.is_some() {
            return Err(parent);
        }
        self.late.set(parent)
    }
}

#[derive(Default)]
struct NodeState {
    reason: Option<CancelReason>,
    deadline: Option<Instant>,
    /// Who must be woken when this node is cancelled; boxed on first use, as most nodes (the
    /// root of a leaf child task, a scope around a short body) never have any, and it keeps
    /// every node 72 bytes smaller.
    deps: Option<Box<Deps>>,
    /// A listed child kept inline (its `slot` is `FIRST_SLOT`): most nodes with children have
    /// one (a child task's root and the group it opened, a group's only child), and this one
    /// needs neither the boxed `deps` nor a slab allocation. Further children go to `deps`.
    first: Option<Arc<Node>>,
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
            parent: ParentCell {
                fixed: None,
                late: OnceLock::new(),
            },
            cancelled: AtomicBool::new(false),
            shield: AtomicBool::new(shield),
            holds: AtomicUsize::new(0),
            task_root: false,
            // Generation 0 means "no deadline ever set"; a preset deadline is generation 1.
            deadline_gen: AtomicU64::new(u64::from(deadline.is_some())),
            waker: AtomicWaker::new(),
            slot: AtomicUsize::new(NO_SLOT),
            in_tree: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            unwinding: AtomicBool::new(false),
            dependents: AtomicBool::new(false),
            entered: AtomicBool::new(false),
            status_cache: AtomicU64::new(NOT_CACHED),
            state: Mutex::new(NodeState {
                deadline,
                ..NodeState::default()
            }),
        })
    }

    /// A child task's root: entered at once, under `parent` (the group's node).
    pub(crate) fn new_task_root(parent: Arc<Node>) -> Arc<Node> {
        Node::entered_at_creation(Some(parent), true)
    }

    /// A node entered at once under `parent` (a task group's, whose parent is known when it
    /// opens): what `Node::new` + `enter` give, without filling the `OnceLock` (nothing can
    /// watch a node that was just made, so there is nobody to join the parent's list for).
    pub(crate) fn new_entered(parent: Option<Arc<Node>>) -> Arc<Node> {
        Node::entered_at_creation(parent, false)
    }

    fn entered_at_creation(parent: Option<Arc<Node>>, task_root: bool) -> Arc<Node> {
        let node = Node {
            // Known at creation: no trip through `OnceLock::set`'s `Once` (~50 instructions).
            parent: ParentCell {
                fixed: parent,
                late: OnceLock::new(),
            },
            cancelled: AtomicBool::new(false),
            shield: AtomicBool::new(false),
            holds: AtomicUsize::new(0),
            task_root,
            deadline_gen: AtomicU64::new(0),
            waker: AtomicWaker::new(),
            slot: AtomicUsize::new(NO_SLOT),
            in_tree: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            unwinding: AtomicBool::new(false),
            dependents: AtomicBool::new(false),
            entered: AtomicBool::new(true),
            status_cache: AtomicU64::new(NOT_CACHED),
            state: Mutex::new(NodeState::default()),
        };
        Arc::new(node)
    }

    /// Marks the node entered under `parent`. Returns `false` if it was entered before.
    pub(crate) fn enter(self: &Arc<Self>, parent: Option<Arc<Node>>) -> bool {
        if self.entered.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(parent) = parent {
            let _ = self.parent.set(parent);
            // A `cancelled()` watcher may have arrived before the node had a parent, when it
            // could not join a parent's list: join now. The fence pairs with the one in
            // `update_observer` (we write the parent then read `live`, it writes `live` then
            // reads the parent), so at least one side sees the other.
            fence(Ordering::SeqCst);
            if self.live.load(Ordering::Relaxed) > 0 {
                self.sync_in_parent();
            }
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
            #[cfg(feature = "tracing")]
            tracing::debug!(
                target: "tether::cancel",
                source = ?reason.source(),
                reason = reason.message().unwrap_or(""),
                "cancelled"
            );
            st.reason = Some(reason);
            self.cancelled.store(true, Ordering::Release);
            // Under the lock: whoever synchronizes with this node's lock afterwards sees the
            // new epoch, so no cached "not cancelled" outlives the flag for them.
            bump_epoch();
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
        self.status() & EFF != 0
    }

    /// `EFF` if effectively cancelled; otherwise `DL` if a deadline was ever set here or above,
    /// up to and including the nearest shield. Cached per cancel epoch (see the module
    /// invariants): O(1) while the epoch has not moved since this node or its parent looked.
    #[inline]
    fn status(&self) -> u64 {
        if self.parent.get().is_none() {
            // A root (or a scope not entered yet): nothing above to walk, nothing cached.
            return if self.cancelled.load(Ordering::Acquire) {
                EFF
            } else if self.deadline_gen.load(Ordering::Acquire) != 0 {
                DL
            } else {
                0
            };
        }
        // The epoch is read before anything it stamps, so a change bumped after our reads
        // leaves our stamp behind, and one bumped before them is seen by them.
        let epoch = cancel_epoch().load(Ordering::Acquire);
        let cached = self.status_cache.load(Ordering::Acquire);
        if cached >> STAMP == epoch {
            return cached & STATUS_BITS;
        }
        self.compute_status(epoch)
    }

    #[cold]
    fn compute_status(&self, epoch: u64) -> u64 {
        let mut bits = 0;
        let mut node = self;
        loop {
            if node.cancelled.load(Ordering::Acquire) {
                bits |= EFF;
                break;
            }
            if node.deadline_gen.load(Ordering::Acquire) != 0 {
                bits |= DL;
            }
            if node.shield.load(Ordering::Acquire) {
                break;
            }
            let Some(parent) = node.parent.get() else {
                break;
            };
            node = parent;
            let cached = node.status_cache.load(Ordering::Acquire);
            if cached >> STAMP == epoch {
                bits |= cached & STATUS_BITS;
                break;
            }
        }
        // Only called with a parent set, which never changes after.
        self.status_cache
            .store((epoch << STAMP) | bits, Ordering::Release);
        bits
    }

    /// The body below this node must be dropped now: cancelled (or a cancellation is in flight
    /// through it), and nothing below holds it.
    #[inline]
    pub(crate) fn must_drop_body(&self) -> bool {
        (self.is_effectively_cancelled() || self.unwinding.load(Ordering::Acquire))
            && self.holds.load(Ordering::Acquire) == 0
    }

    /// Whether a cancellation of an enclosing scope reaches this node now (Trio: "the parent's
    /// cancellation is visible"). A passed deadline counts: the enclosing scope is cancelled by
    /// it here and now (Trio's `cancel_called` does the same), so that scope catches it.
    pub(crate) fn outer_cancel_visible(&self) -> bool {
        if self.is_shield() {
            return false;
        }
        let Some(parent) = self.parent.get() else {
            return false;
        };
        // Without a deadline up to the nearest shield, the answer is the parent's cached one.
        let status = parent.status();
        if status & EFF != 0 {
            return true;
        }
        if status == 0 {
            return false;
        }
        let mut next = Some(parent);
        while let Some(node) = next {
            if node.is_cancel_called() {
                return true;
            }
            if node.deadline_gen() != 0
                && node
                    .deadline()
                    .is_some_and(|d| d <= tokio::time::Instant::now())
            {
                node.deadline_reached();
                return true;
            }
            if node.is_shield() {
                return false;
            }
            next = node.parent.get();
        }
        false
    }

    /// This node dropped its body for a cancellation that originated above it (it *parks*):
    /// marks the nodes from its parent up to that origin (not included) as unwinding, stopping
    /// at the task root (included), so a shield raised on one of them later cannot strand the
    /// cancellation in flight.
    pub(crate) fn mark_unwinding_to_origin(&self) {
        let mut next = self.parent.get();
        while let Some(node) = next {
            // Shields are not a stop: one raised after the body was cut must not strand the
            // cancellation (the loom model `a_shield_raised_while_a_hold_is_in_place_...`). The
            // first cancelled node up the chain is the origin.
            if node.is_cancel_called() {
                return;
            }
            node.unwinding.store(true, Ordering::Release);
            if node.task_root {
                return;
            }
            next = node.parent.get();
        }
    }

    /// The parent, if any.
    pub(crate) fn parent(&self) -> Option<&Arc<Node>> {
        self.parent.get()
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

    #[inline]
    pub(crate) fn is_shield(&self) -> bool {
        self.shield.load(Ordering::Acquire)
    }

    pub(crate) fn set_shield(self: &Arc<Self>, shield: bool) {
        let was = self.shield.swap(shield, Ordering::AcqRel);
        if was != shield {
            bump_epoch();
        }
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
        self.change_holds(add, false);
    }

    /// Releases the holds from *another* task than the one that took them (a holder dropped
    /// elsewhere): a node whose last hold goes away while it must drop its body is woken, as its
    /// own poll is not on this stack to look. (In the holder's own task the held nodes' polls
    /// are on the stack and look anyway, so the common path skips that walk.)
    pub(crate) fn release_holds_from_elsewhere(&self) {
        self.change_holds(false, true);
    }

    fn change_holds(&self, add: bool, wake: bool) {
        let mut next = self.parent.get();
        while let Some(node) = next {
            if add {
                node.holds.fetch_add(1, Ordering::AcqRel);
            } else if node.holds.fetch_sub(1, Ordering::AcqRel) == 1
                && wake
                && node.must_drop_body()
            {
                node.waker.wake();
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

    #[inline]
    pub(crate) fn deadline_gen(&self) -> u64 {
        self.deadline_gen.load(Ordering::Acquire)
    }

    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        {
            let mut st = self.state.lock();
            st.deadline = deadline;
            if self.deadline_gen.fetch_add(1, Ordering::AcqRel) == 0 {
                // The first deadline: cached `DL` bits below this node are stale.
                bump_epoch();
            }
        }
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

    /// The driver puts this node in the tree (its first `Pending`): it joins its parent's child
    /// list. Afterwards, if the node is effectively cancelled, wakes the subtree so the raced
    /// cancellation is delivered.
    pub(crate) fn register_in_parent(self: &Arc<Self>) {
        self.in_tree.store(true, Ordering::Release);
        self.sync_in_parent();
    }

    /// The driver takes this node out of the tree (its exit). The node leaves its parent's
    /// child list unless it still has dependents, which keep it reachable (see invariants).
    /// The driver of this node has it in the tree (see `register_in_parent`). Read by the
    /// node's own driver, the only writer of the flag.
    #[inline]
    pub(crate) fn is_in_tree(&self) -> bool {
        self.in_tree.load(Ordering::Acquire)
    }

    pub(crate) fn deregister_from_parent(self: &Arc<Self>) {
        self.in_tree.store(false, Ordering::Release);
        self.sync_in_parent();
    }

    /// Puts this node in its parent's child list, or takes it out, as `in_tree` and `live`
    /// say; then does the same for the parent if its own `live` went to or from zero.
    ///
    /// The decision is read under the parent's lock, after the caller changed `in_tree` or
    /// `live`: of two concurrent callers the second sees what the first did, so the list ends
    /// up right. One lock at a time.
    pub(crate) fn sync_in_parent(self: &Arc<Self>) {
        let mut next = self.sync_one();
        while let Some(node) = next {
            next = node.sync_one();
        }
    }

    /// One step of [`Node::sync_in_parent`]: returns the parent if its `live` flipped.
    fn sync_one(self: &Arc<Self>) -> Option<Arc<Node>> {
        let parent = self.parent.get()?;
        let (inserted, parent_live_flipped) = {
            let mut st = parent.state.lock();
            let want =
                self.in_tree.load(Ordering::Acquire) || self.live.load(Ordering::Acquire) > 0;
            let slot = self.slot.load(Ordering::Relaxed);
            if want && slot == NO_SLOT {
                let key = if st.first.is_none() {
                    st.first = Some(self.clone());
                    FIRST_SLOT
                } else {
                    st.deps().children.insert(self.clone())
                };
                self.slot.store(key, Ordering::Relaxed);
                let live = parent.live.load(Ordering::Relaxed) + 1;
                parent.live.store(live, Ordering::Release);
                (true, live == 1)
            } else if !want && slot != NO_SLOT {
                if slot == FIRST_SLOT {
                    debug_assert!(st.first.as_ref().is_some_and(|c| Arc::ptr_eq(c, self)));
                    st.first = None;
                } else if let Some(deps) = st.deps.as_mut()
                    && deps.children.contains(slot)
                {
                    deps.children.remove(slot);
                }
                self.slot.store(NO_SLOT, Ordering::Relaxed);
                let live = parent.live.load(Ordering::Relaxed) - 1;
                parent.live.store(live, Ordering::Release);
                (false, live == 0)
            } else {
                return None;
            }
        };
        if inserted {
            parent.mark_dependents();
            if self.is_effectively_cancelled() {
                self.wake_subtree();
            }
        }
        parent_live_flipped.then(|| parent.clone())
    }

    /// Wakes every future and observer in this subtree that a cancellation of this node reaches
    /// (shielded children and their subtrees are skipped). Iterative, so deep trees are fine.
    pub(crate) fn wake_subtree(self: &Arc<Self>) {
        // Cancelled from inside its own body's poll (a group's body cancelling its group, a
        // failure reported in its poll): the driver looks at the node when that poll returns
        // (`ScopeDriver::poll_body`), so a wake-up would only poll the task once more.
        if !super::context::is_current_node(self) {
            self.waker.wake();
        }
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
        fn visit(child: &Arc<Node>, stack: &mut Vec<Arc<Node>>, wakers: &mut WakeList) {
            if child.is_shield() {
                return;
            }
            if child.dependents.load(Ordering::Acquire) {
                stack.push(child.clone());
            } else if let Some(waker) = child.waker.take() {
                wakers.push(waker);
            }
        }
        {
            let st = self.state.lock();
            if let Some(child) = st.first.as_ref() {
                visit(child, stack, wakers);
            }
            if let Some(deps) = st.deps.as_ref() {
                for (_, child) in deps.children.iter() {
                    visit(child, stack, wakers);
                }
                for (_, waker) in deps.observers.iter() {
                    wakers.push(waker.clone());
                }
            }
        }
        wakers.wake_all();
    }

    pub(crate) fn update_observer(self: &Arc<Self>, key: Option<usize>, waker: &Waker) -> usize {
        let (key, first) = {
            let mut st = self.state.lock();
            let observers = &mut st.deps().observers;
            match key {
                Some(key) if observers.contains(key) => {
                    if !observers[key].will_wake(waker) {
                        observers[key] = waker.clone();
                    }
                    (key, false)
                }
                _ => {
                    let key = observers.insert(waker.clone());
                    let live = self.live.load(Ordering::Relaxed) + 1;
                    self.live.store(live, Ordering::Release);
                    (key, live == 1)
                }
            }
        };
        self.mark_dependents();
        if first {
            // Stay reachable from the enclosing scopes, even after our run ended (or join
            // them when the node is entered later: see the fence in `enter`).
            fence(Ordering::SeqCst);
            self.sync_in_parent();
        }
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

    pub(crate) fn remove_observer(self: &Arc<Self>, key: usize) {
        let last = {
            let mut st = self.state.lock();
            match st.deps.as_mut() {
                Some(deps) if deps.observers.contains(key) => {
                    deps.observers.remove(key);
                    let live = self.live.load(Ordering::Relaxed) - 1;
                    self.live.store(live, Ordering::Release);
                    live == 0
                }
                _ => false,
            }
        };
        if last {
            self.sync_in_parent();
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

/// The bookkeeping that decides which nodes a cancel walk can reach (private state, so unit
/// tests; the behaviour it serves is tested in `tests/regressions.rs`).
#[cfg(all(test, not(tether_loom)))]
mod tests {
    use std::sync::atomic::AtomicUsize as StdCounter;
    use std::task::Wake;

    use super::*;

    /// Entries in `node`'s child list, and its `live` count.
    fn list(node: &Node) -> (usize, usize) {
        let st = node.state.lock();
        let children = st.deps.as_ref().map_or(0, |deps| deps.children.len())
            + usize::from(st.first.is_some());
        drop(st);
        (children, node.live.load(Ordering::Acquire))
    }

    #[test]
    fn a_node_is_listed_in_its_parent_from_its_first_pending_to_its_exit() {
        let parent = Node::new(false, None);
        let child = Node::new(false, None);
        assert!(child.enter(Some(parent.clone())));
        assert!(!child.enter(Some(parent.clone())), "entered twice");
        assert_eq!(list(&parent), (0, 0));
        child.register_in_parent();
        assert_eq!(list(&parent), (1, 1));
        child.deregister_from_parent();
        assert_eq!(list(&parent), (0, 0), "a finished scope leaves its parent");
        // And can be listed again (its slot was given back).
        child.register_in_parent();
        assert_eq!(list(&parent), (1, 1));
        child.deregister_from_parent();
        assert_eq!(list(&parent), (0, 0));
    }

    #[test]
    fn an_observer_keeps_a_finished_node_listed_until_it_leaves() {
        let grandparent = Node::new(false, None);
        let parent = Node::new(false, None);
        let child = Node::new(false, None);
        parent.enter(Some(grandparent.clone()));
        child.enter(Some(parent.clone()));
        let waker = futures::task::noop_waker();
        let key = child.update_observer(None, &waker);
        // The observer makes the child live, which lists it in the parent, which lists the
        // parent in the grandparent: a cancel of the grandparent reaches the observer.
        assert_eq!(list(&child), (0, 1));
        assert_eq!(list(&parent), (1, 1));
        assert_eq!(list(&grandparent), (1, 1));
        // Updating the same observer adds nothing.
        assert_eq!(child.update_observer(Some(key), &waker), key);
        assert_eq!(list(&child), (0, 1));
        // A second observer is a second entry; removing one keeps the node listed.
        let second = child.update_observer(None, &waker);
        assert_ne!(second, key);
        assert_eq!(list(&child), (0, 2));
        child.remove_observer(second);
        assert_eq!(list(&child), (0, 1));
        assert_eq!(list(&parent), (1, 1));
        // Removing an unknown key changes nothing.
        child.remove_observer(second);
        assert_eq!(list(&child), (0, 1));
        // The last observer leaves: the chain is taken out all the way up.
        child.remove_observer(key);
        assert_eq!(list(&child), (0, 0));
        assert_eq!(list(&parent), (0, 0));
        assert_eq!(list(&grandparent), (0, 0));
        // Watched and then pending: listed once, not twice; leaving in either order unlists it.
        let key = child.update_observer(None, &waker);
        child.register_in_parent();
        assert_eq!(list(&parent), (1, 1));
        child.remove_observer(key);
        assert_eq!(list(&parent), (1, 1), "still pending");
        child.deregister_from_parent();
        assert_eq!(list(&parent), (0, 0));
        assert_eq!(list(&grandparent), (0, 0));
    }

    #[test]
    fn a_dropped_cancelled_watcher_takes_its_observer_away() {
        // `CancelScope::cancelled()` polled once lists its (finished) scope in the parent so a
        // cancel reaches it; dropping the future must take that listing away again.
        use std::future::Future as _;
        let parent = Node::new(false, None);
        let scope = crate::CancelScope::new();
        scope.node.enter(Some(parent.clone()));
        let mut watch = Box::pin(scope.cancelled());
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(watch.as_mut().poll(&mut cx).is_pending());
        assert_eq!(list(&scope.node), (0, 1));
        assert_eq!(list(&parent), (1, 1));
        drop(watch);
        assert_eq!(list(&scope.node), (0, 0));
        assert_eq!(
            list(&parent),
            (0, 0),
            "a dropped watcher leaves no listing behind"
        );
    }

    #[test]
    fn a_child_root_is_listed_in_its_group_from_its_first_pending_to_its_exit() {
        // A child task's lazy root joins the group's node when the child first returns
        // `Pending` (so a cancel of the group reaches it), and leaves it when the child ends.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _inside = runtime.enter();
        let shared = crate::task_group::GroupShared::open(None, std::panic::Location::caller());
        let group = shared.node().clone();
        let root = crate::cancel::LazyRoot::new(shared);
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(root.get().is_none(), "made on first need");
        assert!(
            root.poll_body(&mut cx, |_| std::task::Poll::<()>::Pending)
                .is_pending()
        );
        assert!(root.get().is_some());
        assert_eq!(list(&group), (1, 1));
        root.exit();
        assert_eq!(
            list(&group),
            (0, 0),
            "a finished child leaves its group's list"
        );
    }

    /// Stores in `node`'s cache an entry stamped with an earlier epoch whose bits say "not
    /// cancelled", chosen so that a reader comparing the stamp the wrong way round would take
    /// it for fresh; returns the epoch it was forged for. The epoch is process-wide and other
    /// tests move it, so callers retry: an entry forged for an epoch that moved since is stale
    /// anyway.
    fn forge_stale_entry(node: &Node) -> u64 {
        loop {
            let epoch = cancel_epoch().load(Ordering::Acquire);
            if epoch != 0 && epoch.is_multiple_of(8) {
                // Stamp `epoch >> 4` (older); bits `(epoch >> 2) & 3`, without `EFF`.
                node.status_cache.store(epoch >> 2, Ordering::Release);
                return epoch;
            }
            bump_epoch();
        }
    }

    #[test]
    fn a_status_cached_under_an_older_epoch_is_never_trusted() {
        // The cache answers only for the epoch it was stamped with (module invariants); an
        // older entry is recomputed, here finding the cancellation of an ancestor, whether the
        // stale entry is the node's own or its parent's.
        let reason = || CancelReason::new(CancelSource::Explicit, None);
        for _ in 0..50 {
            let grandparent = Node::new(false, None);
            let parent = Node::new(false, None);
            let child = Node::new(false, None);
            parent.enter(Some(grandparent.clone()));
            child.enter(Some(parent.clone()));
            grandparent.cancel(reason());
            forge_stale_entry(&child);
            assert!(
                child.is_effectively_cancelled(),
                "its own stale entry was trusted"
            );
            child.status_cache.store(NOT_CACHED, Ordering::Release);
            forge_stale_entry(&parent);
            assert!(
                child.is_effectively_cancelled(),
                "its parent's stale entry was trusted"
            );
        }
    }

    struct Count(StdCounter);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_observer_polled_with_a_new_waker_is_woken_through_the_new_one() {
        // A `cancelled()` future moved to another task is polled with that task's waker.
        let node = Node::new(false, None);
        let key = node.update_observer(None, futures::task::noop_waker_ref());
        let count = Arc::new(Count(StdCounter::new(0)));
        assert_eq!(
            node.update_observer(Some(key), &Waker::from(count.clone())),
            key
        );
        node.cancel(CancelReason::new(CancelSource::Explicit, None));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        node.remove_observer(key);
    }

    #[test]
    fn a_cancel_wakes_every_listed_waiter_past_the_inline_capacity() {
        let count = Arc::new(Count(StdCounter::new(0)));
        let parent = Node::new(false, None);
        let mut children = Vec::new();
        let n = 3 * INLINE + 1;
        for _ in 0..n {
            let child = Node::new(false, None);
            child.enter(Some(parent.clone()));
            child.register_waker(&Waker::from(count.clone()));
            child.register_in_parent();
            children.push(child);
        }
        let observer = parent.update_observer(None, &Waker::from(count.clone()));
        parent.cancel(CancelReason::new(CancelSource::Explicit, None));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            n + 1,
            "every child and the observer"
        );
        assert!(children.iter().all(|c| c.is_effectively_cancelled()));
        parent.remove_observer(observer);
    }
}
