//! Snapshots of the registry: [`TaskTree`], its nodes, and the text form.

use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use tokio::time::Instant;

use super::registry::{self, Entry, EntryKind, WaitOn};
use crate::cancel::{CancelSource, Node};
use crate::task::TaskId;

/// A snapshot of every live tether group, scope and child, as a tree.
///
/// Taken by [`task_tree`]. Groups, scopes and children registered while the tree was on
/// ([`enable_task_tree`](crate::enable_task_tree)) appear, nested as they run: a child under its
/// group, a scope or group under the code that entered it. `Display` prints an indented text
/// tree; with the `serde` feature the value serializes.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// tether::enable_task_tree();
/// tether::task_group(async |tg| {
///     tg.spawn_named("worker", std::future::pending::<()>());
///     tokio::task::yield_now().await;
///     let tree = tether::task_tree();
///     let worker = tree.find("worker").expect("the worker is in the tree");
///     assert_eq!(worker.kind, tether::EntryKind::Child);
///     println!("{tree}");
///     tg.cancel_scope().cancel();
/// })
/// .await
/// .ok();
/// # }
/// ```
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TaskTree {
    /// The top-level entries (entered outside any registered group or scope).
    pub roots: Vec<TreeNode>,
}

/// One group, scope or child in a [`TaskTree`].
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TreeNode {
    /// A process-unique id of the entry.
    pub id: u64,
    /// Group, child or scope.
    pub kind: EntryKind,
    /// The name given at spawn (`spawn_named`, `start_named`); `None` for unnamed children,
    /// groups and scopes, which are known by their site.
    pub name: Option<String>,
    /// Where the child was spawned, the group opened or the scope created.
    pub site: Site,
    /// The task that hosts it (a child: its own task).
    pub task: Option<TaskId>,
    /// `Some(how long)` while its future is pending; `None` while it runs (or before its first
    /// poll).
    pub pending_for: Option<Duration>,
    /// The time left to its own deadline (zero once passed), if it has one.
    pub deadline_in: Option<Duration>,
    /// Whether it is shielded.
    pub shield: bool,
    /// Its cancel state, if it is cancelled (itself, or through an enclosing scope).
    pub cancel: Option<CancelInfo>,
    /// What its own code waits on (tether primitives).
    pub waits: Vec<WaitInfo>,
    /// Groups, scopes and children inside it.
    pub children: Vec<TreeNode>,
}

/// A source location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Site {
    /// The file.
    pub file: &'static str,
    /// The line.
    pub line: u32,
    /// The column.
    pub column: u32,
}

impl From<&'static Location<'static>> for Site {
    fn from(l: &'static Location<'static>) -> Site {
        Site {
            file: l.file(),
            line: l.line(),
            column: l.column(),
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A cancellation that reaches an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CancelInfo {
    /// Where the cancellation came from (at its origin).
    pub source: CancelSource,
    /// The message given with it.
    pub message: Option<String>,
    /// `true` when it reaches this entry from an enclosing scope or group.
    pub inherited: bool,
}

/// One wait on a tether primitive.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct WaitInfo {
    /// The waiting task.
    pub task: TaskId,
    /// How long it has waited.
    pub waiting_for: Duration,
    /// What it waits on.
    pub on: WaitTarget,
}

/// What a wait is on.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum WaitTarget {
    /// A group whose body is done waits for these children (their labels).
    Children {
        /// The children still running.
        children: Vec<String>,
    },
    /// `start()` waits for the child to call `started`.
    Started {
        /// The starting child's label.
        child: Option<String>,
    },
    /// `Lock::lock`.
    Lock {
        /// The lock's id (process-unique).
        lock: u64,
        /// Where the lock was created.
        site: Site,
        /// The task holding it now.
        holder: Option<TaskId>,
    },
    /// A memory stream's send or receive; the stream's numbers are as of the waiting future's
    /// last poll.
    Stream {
        /// `true` for a send (or reserve), `false` for a receive.
        send: bool,
        /// The stream's id (process-unique).
        stream: u64,
        /// Where the stream was created.
        site: Site,
        /// Items in the buffer.
        buffered: usize,
        /// The capacity (`None`: unbounded).
        capacity: Option<usize>,
        /// Live sender handles.
        senders: usize,
        /// Live receiver handles.
        receivers: usize,
        /// The group the stream is bound to (`memory_stream_in`), if any.
        bound_to: Option<String>,
        /// For a receive: the tasks holding the stream's open send ends (one per send end),
        /// when every one is known — `None` otherwise, and for a send. A send end is held by
        /// the last task that sent, tried to send or reserved through it (or readied its sink)
        /// while the tree was on; one not used since is unknown. Read when the snapshot is
        /// taken.
        senders_held_by: Option<Vec<TaskId>>,
    },
    /// `Event::wait`.
    Event,
    /// `Semaphore::acquire`.
    Semaphore {
        /// The semaphore's id (process-unique).
        id: u64,
        /// Where the semaphore was created.
        site: Site,
        /// The tasks holding its tokens (one per token, a task as often as it holds), through
        /// a guard or kept with `forget`. Only tokens taken while the tree was on are known: a
        /// token has no owner otherwise.
        holders: Vec<TaskId>,
        /// Tokens that were out without a known holder when the wait started (taken while
        /// the tree was off).
        untracked: usize,
    },
    /// `CapacityLimiter::acquire`.
    CapacityLimiter {
        /// The limiter's id (process-unique).
        id: u64,
        /// Where the limiter was created.
        site: Site,
        /// Who borrows its tokens now (every borrower: a limiter always knows them).
        borrowers: Vec<crate::Borrower>,
    },
    /// `Condition::wait`.
    Condition,
}

impl TreeNode {
    /// `child "name" at site`, `group at site`, ... — how reports refer to this entry.
    pub fn label(&self) -> String {
        let kind = match self.kind {
            EntryKind::Group => "group",
            EntryKind::Child => "child",
            EntryKind::Scope => "scope",
        };
        match &self.name {
            Some(name) => format!("{kind} {name:?} at {}", self.site),
            None => format!("{kind} at {}", self.site),
        }
    }

    /// This node and everything below it, depth first.
    pub fn iter(&self) -> impl Iterator<Item = &TreeNode> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            stack.extend(node.children.iter().rev());
            Some(node)
        })
    }

    /// Pending with no tether wait of its own and no pending entry below: it waits on a
    /// foreign future (a socket, a `sleep`, `pending()`) in its body.
    pub fn is_pending_in_body(&self) -> bool {
        self.pending_for.is_some()
            && self.waits.is_empty()
            && !self.children.iter().any(|c| c.pending_for.is_some())
    }
}

impl TaskTree {
    /// Every node, depth first.
    pub fn iter(&self) -> impl Iterator<Item = &TreeNode> {
        self.roots.iter().flat_map(|r| r.iter())
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no tether group, scope or child is registered.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The node with this id ([`TreeNode::id`]), if it is in the snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::enable_task_tree();
    /// tether::task_group(async |tg| {
    ///     tg.spawn_named("worker", std::future::pending::<()>());
    ///     tokio::task::yield_now().await;
    ///     let tree = tether::task_tree();
    ///     let id = tree.find("worker").unwrap().id;
    ///     assert_eq!(tree.get(id).unwrap().name.as_deref(), Some("worker"));
    ///     tg.cancel_scope().cancel();
    /// })
    /// .await
    /// .ok();
    /// # }
    /// ```
    pub fn get(&self, id: u64) -> Option<&TreeNode> {
        self.iter().find(|n| n.id == id)
    }

    /// The node with this id and everything below it, as a tree of its own (empty if the id
    /// is not in the snapshot): to print the part of a snapshot a finding is about.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::enable_task_tree();
    /// tether::task_group(async |tg| {
    ///     tg.spawn_named("server", async {
    ///         tether::task_group(async |inner| {
    ///             inner.spawn_named("conn", std::future::pending::<()>());
    ///         })
    ///         .await
    ///     });
    ///     tokio::task::yield_now().await;
    ///     tokio::task::yield_now().await;
    ///     let tree = tether::task_tree();
    ///     let server = tree.find("server").unwrap();
    ///     let sub = tree.subtree(server.id);
    ///     assert_eq!(sub.roots.len(), 1);
    ///     assert!(sub.find("conn").is_some());
    ///     assert!(sub.to_string().starts_with("child \"server\""));
    ///     tg.cancel_scope().cancel();
    /// })
    /// .await
    /// .ok();
    /// # }
    /// ```
    pub fn subtree(&self, id: u64) -> TaskTree {
        TaskTree {
            roots: self.get(id).cloned().into_iter().collect(),
        }
    }

    /// The node whose path ([`path_of`](Self::path_of)) is `path`: a watchdog
    /// [`Finding`](crate::Finding)'s path leads back to its node in the report's tree.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::enable_task_tree();
    /// tether::task_group(async |tg| {
    ///     tg.spawn_named("worker", std::future::pending::<()>());
    ///     tokio::task::yield_now().await;
    ///     let tree = tether::task_tree();
    ///     let id = tree.find("worker").unwrap().id;
    ///     let path = tree.path_of(id).unwrap();
    ///     assert_eq!(tree.find_path(&path).unwrap().id, id);
    ///     tg.cancel_scope().cancel();
    /// })
    /// .await
    /// .ok();
    /// # }
    /// ```
    pub fn find_path(&self, path: &str) -> Option<&TreeNode> {
        self.iter()
            .find(|n| self.path_of(n.id).as_deref() == Some(path))
    }

    /// The registered child running as `task`, if any (its own task: a child is the one entry
    /// whose task is its own, not its host's).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::enable_task_tree();
    /// tether::task_group(async |tg| {
    ///     tg.spawn_named("worker", std::future::pending::<()>());
    ///     tokio::task::yield_now().await;
    ///     let tree = tether::task_tree();
    ///     let task = tree.find("worker").unwrap().task.unwrap();
    ///     assert_eq!(tree.child_of_task(task).unwrap().name.as_deref(), Some("worker"));
    ///     tg.cancel_scope().cancel();
    /// })
    /// .await
    /// .ok();
    /// # }
    /// ```
    pub fn child_of_task(&self, task: TaskId) -> Option<&TreeNode> {
        self.iter()
            .find(|n| n.kind == EntryKind::Child && n.task == Some(task))
    }

    /// The first node (depth first) with this name.
    pub fn find(&self, name: &str) -> Option<&TreeNode> {
        self.iter().find(|n| n.name.as_deref() == Some(name))
    }

    /// The labels from the root down to the node with this id, joined by ` / `.
    pub fn path_of(&self, id: u64) -> Option<String> {
        fn walk<'a>(node: &'a TreeNode, id: u64, path: &mut Vec<&'a TreeNode>) -> bool {
            path.push(node);
            if node.id == id || node.children.iter().any(|c| walk(c, id, path)) {
                return true;
            }
            path.pop();
            false
        }
        let mut path = Vec::new();
        for root in &self.roots {
            if walk(root, id, &mut path) {
                let labels: Vec<String> = path.iter().map(|n| n.label()).collect();
                return Some(labels.join(" / "));
            }
        }
        None
    }
}

/// Takes a snapshot of every live tether group, scope and child registered while the tree was
/// on.
///
/// Safe to call from any thread at any time, also outside a runtime: it copies the registry
/// under its lock (a short critical section) and reads the entries after releasing it, so it
/// never blocks the tasks it observes for longer than one map copy. A child is never shown
/// outside its group: a child's entry leaves the registry before its group's.
///
/// Empty unless [`enable_task_tree`](crate::enable_task_tree) was called.
///
/// # Examples
///
/// See [`TaskTree`].
pub fn task_tree() -> TaskTree {
    build(registry::entries())
}

/// A snapshot of one registered entry and everything inside it: the tree whose one root is the
/// entry `root` (empty if it is not registered: made while the tree was off, or gone).
///
/// Takes the same consistent cut as [`task_tree`], then keeps only the entry and its
/// descendants (found by walking each entry's parents up), and reads only those.
pub(crate) fn task_tree_under(root: Option<u64>) -> TaskTree {
    let Some(root) = root else {
        return TaskTree::default();
    };
    let all = registry::entries();
    let parent: HashMap<u64, Option<u64>> = all.iter().map(|e| (e.id, e.parent)).collect();
    if !parent.contains_key(&root) {
        return TaskTree::default();
    }
    let under = |mut id: u64| loop {
        if id == root {
            return true;
        }
        match parent.get(&id).copied().flatten() {
            Some(p) => id = p,
            None => return false,
        }
    };
    build(all.into_iter().filter(|e| under(e.id)).collect())
}

fn cancel_info(node: &Node, inherit_only: bool) -> Option<CancelInfo> {
    if !inherit_only && let Some(r) = node.own_reason() {
        return Some(CancelInfo {
            source: r.source(),
            message: r.message().map(str::to_owned),
            inherited: false,
        });
    }
    if !inherit_only && node.is_shield() {
        return None;
    }
    let mut next = if inherit_only {
        Some(node)
    } else {
        node.parent().map(|p| &**p)
    };
    while let Some(n) = next {
        if let Some(r) = n.own_reason() {
            return Some(CancelInfo {
                source: r.source(),
                message: r.message().map(str::to_owned),
                inherited: true,
            });
        }
        if n.is_shield() {
            return None;
        }
        next = n.parent().map(|p| &**p);
    }
    None
}

fn label_of(e: &Entry) -> String {
    let kind = match e.kind {
        EntryKind::Group => "group",
        EntryKind::Child => "child",
        EntryKind::Scope => "scope",
    };
    match &e.name {
        Some(name) => format!("{kind} {name:?} at {}", Site::from(e.site)),
        None => format!("{kind} at {}", Site::from(e.site)),
    }
}

pub(crate) fn build(entries: Vec<Entry>) -> TaskTree {
    let now = Instant::now();
    let ids: HashMap<u64, usize> = entries.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); entries.len()];
    let mut roots = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match e.parent.and_then(|p| ids.get(&p)) {
            Some(&p) => kids[p].push(i),
            None => roots.push(i),
        }
    }
    fn make(
        i: usize,
        entries: &[Entry],
        ids: &HashMap<u64, usize>,
        kids: &[Vec<usize>],
        now: Instant,
    ) -> TreeNode {
        let e = &entries[i];
        let children: Vec<TreeNode> = kids[i]
            .iter()
            .map(|&k| make(k, entries, ids, kids, now))
            .collect();
        let (task, pending_for, raw_waits) = {
            let d = e.dynamic.lock();
            let waits: Vec<(TaskId, Instant, WaitOnCopy)> = d
                .waits
                .iter()
                .map(|(_, w)| (w.task, w.since, WaitOnCopy::from(&w.on)))
                .collect();
            (
                *e.task.lock(),
                d.pending_since.map(|s| now.saturating_duration_since(s)),
                waits,
            )
        };
        let waits = raw_waits
            .into_iter()
            .map(|(task, since, on)| WaitInfo {
                task,
                waiting_for: now.saturating_duration_since(since),
                on: on.resolve(i, entries, kids),
            })
            .collect();
        // A child's cancel state is its group's, inherited.
        let group_node = match e.kind {
            EntryKind::Child => e
                .parent
                .and_then(|p| ids.get(&p))
                .and_then(|&p| entries[p].node.as_ref()),
            _ => None,
        };
        let (deadline_in, shield, cancel) = match (group_node.or(e.node.as_ref()), e.kind) {
            (Some(node), EntryKind::Child) => (None, false, cancel_info(node, true)),
            (Some(node), _) => (
                node.deadline().map(|d| d.saturating_duration_since(now)),
                node.is_shield(),
                cancel_info(node, false),
            ),
            (None, _) => (None, false, None),
        };
        TreeNode {
            id: e.id,
            kind: e.kind,
            name: e.name.as_ref().map(|n| n.to_string()),
            site: Site::from(e.site),
            task,
            pending_for,
            deadline_in,
            shield,
            cancel,
            waits,
            children,
        }
    }
    TaskTree {
        roots: roots
            .into_iter()
            .map(|r| make(r, &entries, &ids, &kids, now))
            .collect(),
    }
}

/// A wait copied out of an entry's lock, resolved after it is released.
enum WaitOnCopy {
    Children,
    Started(Option<u64>),
    Lock(u64, &'static Location<'static>, Option<TaskId>),
    Stream(bool, registry::StreamState),
    Event,
    Semaphore(u64, &'static Location<'static>, Vec<TaskId>, usize),
    CapacityLimiter(u64, &'static Location<'static>, Vec<crate::Borrower>),
    Condition,
}

impl From<&WaitOn> for WaitOnCopy {
    fn from(on: &WaitOn) -> WaitOnCopy {
        match on {
            WaitOn::Children => WaitOnCopy::Children,
            WaitOn::Started { child } => WaitOnCopy::Started(*child),
            WaitOn::Lock(l) => WaitOnCopy::Lock(l.id, l.site, *l.owner.lock()),
            WaitOn::Stream { send, state } => WaitOnCopy::Stream(*send, state.clone()),
            WaitOn::Event => WaitOnCopy::Event,
            WaitOn::Semaphore(d, untracked) => {
                WaitOnCopy::Semaphore(d.id, d.site, d.holders(), *untracked)
            }
            WaitOn::CapacityLimiter(d) => {
                WaitOnCopy::CapacityLimiter(d.id, d.site, d.borrowers.lock().clone())
            }
            WaitOn::Condition => WaitOnCopy::Condition,
        }
    }
}

impl WaitOnCopy {
    fn resolve(self, i: usize, entries: &[Entry], kids: &[Vec<usize>]) -> WaitTarget {
        match self {
            WaitOnCopy::Children => WaitTarget::Children {
                children: kids[i]
                    .iter()
                    .filter(|&&k| entries[k].kind == EntryKind::Child)
                    .map(|&k| label_of(&entries[k]))
                    .collect(),
            },
            WaitOnCopy::Started(child) => WaitTarget::Started {
                child: child.and_then(|c| entries.iter().find(|e| e.id == c).map(label_of)),
            },
            WaitOnCopy::Lock(lock, site, holder) => WaitTarget::Lock {
                lock,
                site: Site::from(site),
                holder,
            },
            WaitOnCopy::Stream(send, s) => WaitTarget::Stream {
                senders_held_by: s
                    .sender_holders
                    .as_ref()
                    .filter(|_| !send)
                    .map(|h| h.holders())
                    .filter(|h| h.len() == s.senders),
                send,
                stream: s.id,
                site: Site::from(s.site),
                buffered: s.buffered,
                capacity: s.capacity,
                senders: s.senders,
                receivers: s.receivers,
                bound_to: s.bound_to,
            },
            WaitOnCopy::Event => WaitTarget::Event,
            WaitOnCopy::Semaphore(id, site, holders, untracked) => WaitTarget::Semaphore {
                id,
                site: Site::from(site),
                holders,
                untracked,
            },
            WaitOnCopy::CapacityLimiter(id, site, borrowers) => WaitTarget::CapacityLimiter {
                id,
                site: Site::from(site),
                borrowers,
            },
            WaitOnCopy::Condition => WaitTarget::Condition,
        }
    }
}

/// `, held by a, b` (or ` (no known holder)` when empty).
fn write_list(f: &mut fmt::Formatter<'_>, verb: &str, who: &[impl fmt::Display]) -> fmt::Result {
    if who.is_empty() {
        return write!(f, " (no known holder)");
    }
    write!(f, ", {verb} ")?;
    for (i, w) in who.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{w}")?;
    }
    Ok(())
}

impl fmt::Display for WaitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitTarget::Children { children } => {
                let n = children.len();
                let noun = if n == 1 { "child" } else { "children" };
                write!(f, "its {n} {noun}: {}", children.join(", "))
            }
            WaitTarget::Started { child: Some(c) } => write!(f, "{c} to call started()"),
            WaitTarget::Started { child: None } => write!(f, "a child to call started()"),
            WaitTarget::Lock { lock, site, holder } => {
                write!(f, "lock #{lock} created at {site}")?;
                match holder {
                    Some(h) => write!(f, ", held by {h}"),
                    None => write!(f, ", free (being handed over)"),
                }
            }
            WaitTarget::Stream {
                send,
                stream,
                site,
                buffered,
                capacity,
                senders,
                receivers,
                bound_to,
                senders_held_by,
            } => {
                let op = if *send { "send to" } else { "receive from" };
                write!(f, "{op} stream #{stream} created at {site} (")?;
                match capacity {
                    Some(c) => write!(f, "{buffered}/{c} buffered")?,
                    None => write!(f, "{buffered} buffered, unbounded")?,
                }
                write!(f, ", {senders} senders, {receivers} receivers")?;
                if let Some(g) = bound_to {
                    write!(f, ", bound to {g}")?;
                }
                write!(f, ")")?;
                match senders_held_by {
                    Some(h) if !h.is_empty() => write_list(f, "senders held by", h),
                    _ => Ok(()),
                }
            }
            WaitTarget::Event => write!(f, "an event"),
            WaitTarget::Semaphore {
                id,
                site,
                holders,
                untracked,
            } => {
                write!(f, "semaphore #{id} created at {site}")?;
                if holders.is_empty() && *untracked > 0 {
                    return write!(f, ", {untracked} tokens held by unknown tasks");
                }
                write_list(f, "held by", holders)?;
                if *untracked > 0 {
                    write!(f, " and {untracked} unknown")?;
                }
                Ok(())
            }
            WaitTarget::CapacityLimiter {
                id,
                site,
                borrowers,
            } => {
                write!(f, "capacity limiter #{id} created at {site}")?;
                write_list(f, "borrowed by", borrowers)
            }
            WaitTarget::Condition => write!(f, "a condition"),
        }
    }
}

fn fmt_node(node: &TreeNode, depth: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let indent = "  ".repeat(depth);
    write!(f, "{indent}{}", node.label())?;
    if let Some(task) = node.task {
        write!(f, " [{task}]")?;
    }
    match node.pending_for {
        Some(d) => write!(f, " pending for {d:?}")?,
        None => write!(f, " running")?,
    }
    if let Some(d) = node.deadline_in {
        write!(f, ", deadline in {d:?}")?;
    }
    if node.shield {
        write!(f, ", shielded")?;
    }
    if let Some(c) = &node.cancel {
        write!(f, ", cancelled ({:?}", c.source)?;
        if let Some(m) = &c.message {
            write!(f, ": {m}")?;
        }
        if c.inherited {
            write!(f, ", from an enclosing scope")?;
        }
        write!(f, ")")?;
    }
    if !node.children.is_empty() {
        write!(f, ", {} inside", node.children.len())?;
    }
    writeln!(f)?;
    for w in &node.waits {
        writeln!(
            f,
            "{indent}  waits {:?} (in {}) for {}",
            w.waiting_for, w.task, w.on
        )?;
    }
    if node.is_pending_in_body() {
        writeln!(f, "{indent}  pending in the body of {}", node.label())?;
    }
    for child in &node.children {
        fmt_node(child, depth + 1, f)?;
    }
    Ok(())
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.roots.is_empty() {
            return writeln!(f, "(no live tether groups, scopes or children)");
        }
        for root in &self.roots {
            fmt_node(root, 0, f)?;
        }
        Ok(())
    }
}
