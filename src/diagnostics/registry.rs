//! The process-wide registry of live groups, scopes and children, and what they wait on.
//!
//! # Cost
//!
//! Off by default. While off, spawning a child, opening a group and entering a scope read one
//! relaxed atomic ([`enabled`]) and allocate nothing; a tether primitive that goes pending reads
//! it once more. Futures without an entry (made while the registry was off) never touch the
//! registry, even after it is turned on. On, a child or scope is only *described* at first (a
//! [`LazyEntry`] inline in its future — boxed in a child, to keep a child's future one word
//! larger than before there was a tree — with an id from this thread's block and its node by
//! address, so no shared cache line and no reference count); the shared [`Entry`] is allocated
//! and registered on first need.
//!
//! # Invariants
//!
//! - An entry is in [`REGISTRY`] from its registration to its exit. A group registers at open
//!   and leaves when it ends (after every child). A child or scope registers lazily
//!   ([`LazyEntry::force`]: its first `Pending`, its first wait, or an entry made inside it; a
//!   `start()` child at spawn) and leaves at its exit — a child when it reports its outcome to
//!   its group, before the group's count of live children goes down. So a child's entry is
//!   always removed before its group's, and registered after it; a snapshot holds every shard
//!   lock while it copies, so it never shows a child without its group.
//! - Ids are drawn when an entry is described (a scope's: when it registers, which is in its
//!   own task, so sibling scopes show in the order they first went pending, which for the
//!   scopes of one task is the order they were entered), from per-thread blocks: increasing on
//!   one thread (siblings made on one thread show in creation order), not across threads (so
//!   nothing may assume a parent's id is below its children's).
//! - Only an entry's own code registers it (its poll, its waits, entries made inside it during
//!   its poll), or its creator before anyone else can see it: registration never races the
//!   entry's exit, and an entry that left is never put back.
//! - A wait is recorded in the entry that was current when the primitive went pending, and is
//!   removed when the waiting future completes or is dropped ([`WaitToken`]). A wait for a
//!   `Lock` is also listed in `LOCK_WAITS` for as long, and a cycle is looked for when it starts.
//!
//! # Lock order
//!
//! `REGISTRY`'s shards in index order (a snapshot takes all; everyone else one), then nothing.
//! An entry's `dynamic` lock, then a `LockDiag` owner lock or a holder list (snapshots copying a
//! wait). `LOCK_WAITS`, then `LockDiag` owner locks. A lock's `LockDiag` owner lock is taken
//! under the lock's own state lock, a limiter's borrower list under the limiter's state lock,
//! never the other way round. Snapshots copy the
//! map under `REGISTRY` and read entries after releasing it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::cancel::Node;
use crate::task::TaskId;

/// Whether the registry is on.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Every live entry, by id, in `SHARDS` maps (an entry lives in shard `id % SHARDS`), so
/// spawns and exits on different threads rarely meet on one lock. A snapshot holds every shard
/// lock at once while it copies, so it is one consistent cut.
static REGISTRY: [Mutex<BTreeMap<u64, Entry>>; SHARDS] =
    [const { parking_lot::const_mutex(BTreeMap::new()) }; SHARDS];
const SHARDS: usize = 8;

fn shard(id: u64) -> &'static Mutex<BTreeMap<u64, Entry>> {
    &REGISTRY[(id % SHARDS as u64) as usize]
}
/// The next entry id (and lock/stream ids).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

scoped_tls::scoped_thread_local!(static CURRENT: LazyEntry);

/// Whether the registry is on: the only cost of diagnostics while it is off.
#[inline]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Ids are handed out in blocks per thread, so a spawn or a scope entry with the tree on does
/// not touch a cache line shared by every thread.
const ID_BLOCK: u64 = 1024;

thread_local! {
    /// This thread's block of ids: (next, end).
    static IDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A process-unique id (never 0). Increasing on one thread; across threads, in blocks.
#[inline]
pub(crate) fn next_id() -> u64 {
    IDS.with(|ids| {
        let (next, end) = ids.get();
        if next < end {
            ids.set((next + 1, end));
            next
        } else {
            let start = NEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            ids.set((start + 1, start + ID_BLOCK));
            start
        }
    })
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum EntryKind {
    /// A task group ([`task_group`](crate::task_group) or [`OwnedTaskGroup`](crate::OwnedTaskGroup)).
    Group,
    /// A child task of a group (spawned or started).
    Child,
    /// A cancel scope (`CancelScope::run`, `move_on_after`, `fail_after`, `shield`, ...).
    Scope,
}

pub(crate) type Entry = Arc<EntryShared>;

/// One live group, scope or child.
pub(crate) struct EntryShared {
    pub(crate) id: u64,
    pub(crate) kind: EntryKind,
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) site: &'static Location<'static>,
    pub(crate) parent: Option<u64>,
    /// The node whose cancel state, deadline and shield the entry shows (a child: its group's).
    pub(crate) node: Option<crate::loom::sync::Arc<Node>>,
    /// The host task (a child: its own task, known once spawned). A lock, not a `OnceLock`:
    /// filling a `OnceLock` goes through its `Once` slow path, dearer than this uncontended lock.
    pub(crate) task: Mutex<Option<TaskId>>,
    /// Mirrors `dynamic.pending_since.is_some()`, so a poll of a running entry takes no lock.
    is_pending: AtomicBool,
    pub(crate) dynamic: Mutex<Dynamic>,
}

#[derive(Default)]
pub(crate) struct Dynamic {
    /// `Some` while the future is pending: since when.
    pub(crate) pending_since: Option<Instant>,
    /// What the entry's code waits on now (tether primitives only), by key.
    pub(crate) waits: Vec<(u64, WaitRecord)>,
}

/// One wait of a tether primitive.
pub(crate) struct WaitRecord {
    pub(crate) since: Instant,
    pub(crate) task: TaskId,
    pub(crate) on: WaitOn,
}

/// What is waited on; live details are read at snapshot time.
pub(crate) enum WaitOn {
    /// A group whose body is done waits for its children.
    Children,
    /// `start()` waits for the child to call `started`.
    Started {
        child: Option<u64>,
    },
    Lock(Arc<LockDiag>),
    /// A stream's send or receive, with the stream's state as of the waiting future's last
    /// poll.
    Stream {
        send: bool,
        state: StreamState,
    },
    Event,
    /// A semaphore, and how many of its tokens were out without a known holder when the wait
    /// started (taken while the tree was off).
    Semaphore(Arc<SemaphoreDiag>, usize),
    CapacityLimiter(Arc<LimiterDiag>),
    Condition,
}

/// Who holds a `Semaphore`'s tokens: every token taken while the tree was on (a token has no
/// owner otherwise), made on the first such acquire and shared with the waits on it.
#[derive(Debug)]
pub(crate) struct SemaphoreDiag {
    /// The semaphore's id in the task tree.
    pub(crate) id: u64,
    /// Where the semaphore was created.
    pub(crate) site: &'static Location<'static>,
    /// (key, holding task, kept without a guard), one per token, in acquisition order.
    holders: Mutex<Vec<(u64, TaskId, bool)>>,
}

impl SemaphoreDiag {
    pub(crate) fn new(site: &'static Location<'static>) -> SemaphoreDiag {
        SemaphoreDiag {
            id: next_id(),
            site,
            holders: Mutex::new(Vec::new()),
        }
    }

    /// The current task took a token; returns the key its guard gives back.
    pub(crate) fn hold(&self) -> u64 {
        let key = next_id();
        self.holders.lock().push((key, TaskId::current(), false));
        key
    }

    /// The guard `key` gave its token back.
    pub(crate) fn give_back(&self, key: u64) {
        self.holders.lock().retain(|(k, _, _)| *k != key);
    }

    /// The guard `key` was forgotten: its task keeps the token until a `release`.
    pub(crate) fn keep(&self, key: u64) {
        if let Some(h) = self.holders.lock().iter_mut().find(|(k, _, _)| *k == key) {
            h.2 = true;
        }
    }

    /// `release` gave back a kept token: the current task's own if it keeps one, else the
    /// oldest kept.
    pub(crate) fn release_kept(&self) {
        let me = TaskId::current();
        let mut holders = self.holders.lock();
        let at = holders
            .iter()
            .position(|&(_, t, kept)| kept && t == me)
            .or_else(|| holders.iter().position(|&(_, _, kept)| kept));
        if let Some(at) = at {
            holders.remove(at);
        }
    }

    pub(crate) fn holders(&self) -> Vec<TaskId> {
        self.holders.lock().iter().map(|&(_, t, _)| t).collect()
    }
}

/// Who borrows a `CapacityLimiter`'s tokens, kept in step with the limiter's own list (under
/// its state lock) from the first recorded wait on it.
#[derive(Debug)]
pub(crate) struct LimiterDiag {
    /// The limiter's id in the task tree.
    pub(crate) id: u64,
    /// Where the limiter was created.
    pub(crate) site: &'static Location<'static>,
    pub(crate) borrowers: Mutex<Vec<crate::Borrower>>,
}

/// Who holds a memory stream's send ends, for the task tree: made on the first use of a send
/// end while the tree is on, shared by the stream's receive waits (read live at snapshot time).
///
/// A send end is *held by* the last task that sent, tried to send or reserved through it (or
/// readied its sink) while the tree was on; it leaves the list when it is closed or dropped. A
/// send end not used since the tree went on is not listed, so the list is complete only when
/// its length is the stream's number of open send ends.
#[derive(Debug, Default)]
pub(crate) struct SenderHolders {
    /// (the send end's key, the task that last used it).
    list: Mutex<Vec<(u64, TaskId)>>,
}

impl SenderHolders {
    /// The send end `key` is being used by the current task.
    pub(crate) fn used(&self, key: u64) {
        let me = TaskId::current();
        let mut list = self.list.lock();
        match list.iter_mut().find(|(k, _)| *k == key) {
            Some(at) => at.1 = me,
            None => list.push((key, me)),
        }
    }

    /// The send end `key` was closed or dropped.
    pub(crate) fn closed(&self, key: u64) {
        self.list.lock().retain(|(k, _)| *k != key);
    }

    /// The holding task of each listed send end.
    pub(crate) fn holders(&self) -> Vec<TaskId> {
        self.list.lock().iter().map(|&(_, t)| t).collect()
    }
}

/// A `Lock`'s identity and holder, shared with the waits on it (made on the first recorded
/// wait).
#[derive(Debug)]
pub(crate) struct LockDiag {
    pub(crate) id: u64,
    pub(crate) site: &'static Location<'static>,
    pub(crate) owner: Mutex<Option<TaskId>>,
}

/// A stream's state as the tree shows it.
#[derive(Clone, Debug)]
pub(crate) struct StreamState {
    pub(crate) id: u64,
    pub(crate) site: &'static Location<'static>,
    pub(crate) buffered: usize,
    pub(crate) capacity: Option<usize>,
    pub(crate) senders: usize,
    pub(crate) receivers: usize,
    pub(crate) bound_to: Option<String>,
    /// Who holds the send ends (live), once a send end was used while the tree was on.
    pub(crate) sender_holders: Option<Arc<SenderHolders>>,
}

impl EntryShared {
    pub(crate) fn set_task(&self, task: TaskId) {
        self.task.lock().get_or_insert(task);
    }

    /// Called at the start of a poll (no lock unless the entry was pending).
    #[inline]
    pub(crate) fn running(&self) {
        if self.is_pending.load(Ordering::Relaxed) {
            self.is_pending.store(false, Ordering::Relaxed);
            self.dynamic.lock().pending_since = None;
        }
    }

    /// Called when the poll returned `Pending` (no lock if it already was).
    #[inline]
    pub(crate) fn pending(self: &Arc<Self>) {
        if !self.is_pending.swap(true, Ordering::Relaxed) {
            self.dynamic.lock().pending_since = Some(Instant::now());
        }
    }

    /// Records a wait; removed when the token is dropped.
    pub(crate) fn add_wait(self: &Arc<Self>, on: WaitOn) -> WaitToken {
        let key = next_id();
        let task = TaskId::current();
        let lock = match &on {
            WaitOn::Lock(lock) => Some(lock.clone()),
            _ => None,
        };
        let record = WaitRecord {
            since: Instant::now(),
            task,
            on,
        };
        self.dynamic.lock().waits.push((key, record));
        // After the wait is in the tree, so a watchdog woken by a cycle sees it.
        let lock_wait = lock.map(|lock| lock_wait_started(task, key, lock));
        WaitToken {
            entry: self.clone(),
            key,
            lock_wait,
        }
    }
}

/// An entry as its group, scope or child future keeps it: the description only, until it is
/// registered (then the registered [`Entry`]).
///
/// A child or scope is put in the registry lazily ([`force`](Self::force)): at its first
/// `Pending`, its first recorded wait, or when an entry is made inside it. Until then nothing is
/// allocated and nothing shared is touched: the description lives inline in the future. So a
/// child or scope that completes in its first poll, with nothing entered inside it, costs the
/// tree a few words of copying (the cancel tree's rule, `docs/design.md` §3). Groups and
/// `start()` children are registered at once.
pub(crate) struct LazyEntry {
    /// The lazily registered entry, once there is one (unused for an entry made registered).
    entry: OnceLock<Entry>,
    /// What to register, or the entry made registered (filling a `OnceLock` at creation would
    /// go through its `Once` slow path on every group open).
    init: Init,
}

enum Init {
    Desc(Desc),
    Registered(Entry),
}

/// What a lazily registered entry will be.
struct Desc {
    /// Drawn when described, so siblings made on one thread show in the order they were made;
    /// a scope's is drawn when it registers (0 until then).
    id: u64,
    kind: EntryKind,
    name: Option<Cow<'static, str>>,
    site: &'static Location<'static>,
    parent: Option<u64>,
    /// The address of the node whose state the entry shows (0: none), not a reference: the
    /// node outlives the description (its future holds both), and the reference is taken only
    /// if the entry registers ([`LazyEntry::force_with`]), so a ready scope pays no reference
    /// count.
    node: usize,
}

fn addr(node: &Node) -> usize {
    node as *const Node as usize
}

impl LazyEntry {
    /// An entry that is registered already (a group lends its own to its driver).
    pub(crate) fn registered(entry: Entry) -> LazyEntry {
        LazyEntry {
            entry: OnceLock::new(),
            init: Init::Registered(entry),
        }
    }

    /// The registered entry, if it is.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Entry> {
        match &self.init {
            Init::Registered(entry) => Some(entry),
            Init::Desc(_) => self.entry.get(),
        }
    }

    /// The registered entry, registering it now if it was not yet. Only called by the entry's
    /// own code (its poll, its waits, entries made inside it), so it never races its
    /// deregistration; an entry that left is never put back (its future is done).
    pub(crate) fn force(&self) -> &Entry {
        self.force_with(None)
    }

    /// [`force`](Self::force), given the entry's node if the caller has it (a scope's driver).
    /// Without it, the node is found as the current cancel node (forced from inside the body);
    /// either way it is taken only if its address is the described one.
    pub(crate) fn force_with(&self, node: Option<&crate::loom::sync::Arc<Node>>) -> &Entry {
        let desc = match &self.init {
            Init::Registered(entry) => return entry,
            Init::Desc(desc) => desc,
        };
        self.entry.get_or_init(|| {
            // Forced by the entry's own task.
            let node = match (desc.node, node) {
                (0, _) => None,
                (want, Some(node)) if addr(node) == want => Some(node.clone()),
                (want, _) => crate::cancel::current_node().filter(|n| addr(n) == want),
            };
            let entry = make(
                // A scope draws its id only now (0: not drawn yet).
                if desc.id == 0 { next_id() } else { desc.id },
                desc.kind,
                desc.name.clone(),
                desc.site,
                desc.parent,
                node,
                Some(TaskId::current()),
            );
            shard(entry.id).lock().insert(entry.id, entry.clone());
            entry
        })
    }

    /// The registered entry, taken out (a group keeps its own, registered at open).
    pub(crate) fn into_entry(self) -> Option<Entry> {
        match self.init {
            Init::Registered(entry) => Some(entry),
            Init::Desc(_) => self.entry.into_inner(),
        }
    }

    /// At the start of a poll: nothing unless registered.
    #[inline]
    pub(crate) fn running(&self) {
        if let Some(entry) = self.get() {
            entry.running();
        }
    }

    /// The poll returned `Pending`: registers the entry (once; `node` as in
    /// [`force_with`](Self::force_with)) and marks it pending.
    #[inline]
    pub(crate) fn pending(&self, node: Option<&crate::loom::sync::Arc<Node>>) {
        self.force_with(node).pending();
    }

    /// Removes the entry from the registry if it is there (at exit). Idempotent.
    #[inline]
    pub(crate) fn leave(&self) {
        if let Some(entry) = self.get() {
            deregister(entry);
        }
    }
}

fn make(
    id: u64,
    kind: EntryKind,
    name: Option<Cow<'static, str>>,
    site: &'static Location<'static>,
    parent: Option<u64>,
    node: Option<crate::loom::sync::Arc<Node>>,
    task: Option<TaskId>,
) -> Entry {
    Arc::new(EntryShared {
        id,
        kind,
        name,
        site,
        parent,
        node,
        task: Mutex::new(task),
        is_pending: AtomicBool::new(false),
        dynamic: Mutex::new(Dynamic::default()),
    })
}

/// Makes an entry if the registry is on (one relaxed load when off): registered at once if
/// `eager` (groups, `start()` children), otherwise only described, and registered lazily
/// ([`LazyEntry::force`]). `Parent::Current` registers the current entry. `node` is cloned only
/// when the registry is on.
#[inline]
pub(crate) fn register(
    eager: bool,
    kind: EntryKind,
    name: Option<Cow<'static, str>>,
    site: &'static Location<'static>,
    parent: Parent<'_>,
    node: Option<&crate::loom::sync::Arc<Node>>,
    task: Option<TaskId>,
) -> Option<LazyEntry> {
    if !enabled() {
        return None;
    }
    register_on(eager, kind, name, site, parent, node, task)
}

#[inline(never)]
fn register_on(
    eager: bool,
    kind: EntryKind,
    name: Option<Cow<'static, str>>,
    site: &'static Location<'static>,
    parent: Parent<'_>,
    node: Option<&crate::loom::sync::Arc<Node>>,
    task: Option<TaskId>,
) -> Option<LazyEntry> {
    let parent = match parent {
        Parent::Current => current_id(),
        Parent::Of(entry) => entry.map(|e| e.id),
    };
    if eager {
        let entry = make(next_id(), kind, name, site, parent, node.cloned(), task);
        shard(entry.id).lock().insert(entry.id, entry.clone());
        return Some(LazyEntry::registered(entry));
    }
    Some(LazyEntry {
        entry: OnceLock::new(),
        init: Init::Desc(Desc {
            id: next_id(),
            kind,
            name,
            site,
            parent,
            node: node.map_or(0, |n| addr(n)),
        }),
    })
}

/// A scope's entry, only described (registered lazily): [`register`] for a scope, with fewer
/// arguments to pass on the hot path of a scope entry (one relaxed load when the tree is off).
#[inline]
pub(crate) fn describe_scope(
    site: &'static Location<'static>,
    node: &crate::loom::sync::Arc<Node>,
) -> Option<LazyEntry> {
    if !enabled() {
        return None;
    }
    Some(describe_scope_on(site, addr(node)))
}

#[inline]
fn describe_scope_on(site: &'static Location<'static>, node: usize) -> LazyEntry {
    LazyEntry {
        entry: OnceLock::new(),
        init: Init::Desc(Desc {
            // Drawn when it registers, if it does (most scopes complete in their first poll).
            id: 0,
            kind: EntryKind::Scope,
            name: None,
            site,
            parent: current_id(),
            node,
        }),
    }
}

/// Where a new entry hangs.
pub(crate) enum Parent<'a> {
    /// Under the entry current on this thread (the code being polled).
    Current,
    /// Under this entry (a child under its group), or at the root.
    Of(Option<&'a Entry>),
}

/// Removes a registered entry (at exit). Idempotent.
pub(crate) fn deregister(entry: &Entry) {
    shard(entry.id).lock().remove(&entry.id);
}

/// Calls `f` with the entry current on this thread, if any: the innermost scope's or group's
/// (lent with its cancel node, see `cancel::context::Position`), or else the child's (set by
/// the child's wrapper, which is outside every scope of its task).
#[inline]
fn with_current_entry<R>(f: impl FnOnce(&LazyEntry) -> R) -> Option<R> {
    if crate::cancel::scope_entry_is_current() {
        crate::cancel::with_scope_entry(f)
    } else if CURRENT.is_set() {
        Some(CURRENT.with(f))
    } else {
        None
    }
}

/// The id of the entry current on this thread (registering it), if any.
#[inline(never)]
pub(crate) fn current_id() -> Option<u64> {
    with_current_entry(|e| e.force().id)
}

/// Runs `f` with a child's `entry` as the current one (no-op without an entry). Scopes and
/// groups lend theirs with their cancel node instead.
#[inline]
pub(crate) fn with_entry<R>(entry: Option<&LazyEntry>, f: impl FnOnce() -> R) -> R {
    match entry {
        Some(entry) => CURRENT.set(entry, f),
        None => f(),
    }
}

/// Records that the current code waits on `on` (made lazily): `None` when the registry is off
/// or no entry is current.
#[inline]
pub(crate) fn wait(on: impl FnOnce() -> WaitOn) -> Option<WaitToken> {
    if !enabled() {
        return None;
    }
    with_current_entry(|entry| entry.force().add_wait(on()))
}

/// For a waiting future: records the wait on its first pending poll, refreshes it on later
/// ones. One relaxed load while the tree is off.
#[inline]
pub(crate) fn track(slot: &mut Option<WaitToken>, on: impl FnOnce() -> WaitOn) {
    match slot {
        Some(token) => token.update(on()),
        None => *slot = wait(on),
    }
}

/// A recorded wait; dropping it ends the wait.
pub(crate) struct WaitToken {
    entry: Entry,
    key: u64,
    /// A wait for a `Lock`: the task, also listed in [`LOCK_WAITS`] until the wait ends.
    lock_wait: Option<TaskId>,
}

// ----- lock cycles, found the moment they form ---------------------------------------------------

/// Every recorded wait for a `Lock`: (waiting task, wait key, the lock). Few at a time (one
/// per task blocked on a lock), so a list. Only waits recorded
/// while the tree is on (inside a registered entry) are here, so with the tree off it is never
/// touched. Locked after an entry's `dynamic` lock is released, and it takes a `LockDiag`
/// owner lock inside (never the other way round).
static LOCK_WAITS: Mutex<Vec<(TaskId, u64, Arc<LockDiag>)>> = parking_lot::const_mutex(Vec::new());

/// Bumped each time a wait closes a lock cycle; watchdogs wait on [`CYCLE_FOUND`] and compare.
pub(crate) static CYCLE_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Wakes every running watchdog when a wait closes a lock cycle, so it looks at once instead of
/// at its next interval.
pub(crate) static CYCLE_FOUND: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Records that `task` waits for `lock` and checks, at that moment, whether the wait closes a
/// cycle: `lock`'s holder waits (directly or through other holders) for a lock `task` holds.
/// A cycle can only close when a wait starts (a lock's holder changes only to a task that
/// stopped waiting for it), and the check and the insert happen under one lock, so two waits
/// starting at once on two threads cannot both miss the cycle they close together.
fn lock_wait_started(task: TaskId, key: u64, lock: Arc<LockDiag>) -> TaskId {
    let mut waits = LOCK_WAITS.lock();
    let first_holder = *lock.owner.lock();
    waits.push((task, key, lock));
    // Depth-first from the holder along waiter -> lock -> holder edges, looking for `task`.
    let mut seen: Vec<TaskId> = Vec::new();
    let mut stack: Vec<TaskId> = first_holder.into_iter().collect();
    let mut closed = false;
    while let Some(at) = stack.pop() {
        if at == task {
            closed = true;
            break;
        }
        if seen.contains(&at) {
            continue;
        }
        seen.push(at);
        stack.extend(
            waits
                .iter()
                .filter(|(t, _, _)| *t == at)
                .filter_map(|(_, _, l)| *l.owner.lock()),
        );
    }
    drop(waits);
    if closed {
        CYCLE_GENERATION.fetch_add(1, Ordering::AcqRel);
        CYCLE_FOUND.notify_waiters();
    }
    task
}

fn lock_wait_ended(task: TaskId, key: u64) {
    LOCK_WAITS
        .lock()
        .retain(|(t, k, _)| (*t, *k) != (task, key));
}

impl WaitToken {
    /// Replaces what is waited on (a stream's state, refreshed at each poll).
    pub(crate) fn update(&self, on: WaitOn) {
        let mut d = self.entry.dynamic.lock();
        if let Some((_, w)) = d.waits.iter_mut().find(|(k, _)| *k == self.key) {
            w.on = on;
        }
    }
}

impl Drop for WaitToken {
    fn drop(&mut self) {
        self.entry
            .dynamic
            .lock()
            .waits
            .retain(|(k, _)| *k != self.key);
        if let Some(task) = self.lock_wait {
            lock_wait_ended(task, self.key);
        }
    }
}

impl std::fmt::Debug for WaitToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitToken").field("key", &self.key).finish()
    }
}

/// Every live entry, in creation order (copied under the lock; read after).
pub(crate) fn entries() -> Vec<Entry> {
    let mut entries: Vec<Entry> = {
        // Every shard at once (in index order, the only order anyone takes more than one).
        let shards: Vec<_> = REGISTRY.iter().map(|s| s.lock()).collect();
        shards.iter().flat_map(|s| s.values().cloned()).collect()
    };
    entries.sort_unstable_by_key(|e| e.id);
    entries
}
