//! The watchdog: a child that looks at the task tree and reports long waits, stuck groups and
//! lock cycles.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use super::registry::{CYCLE_FOUND, CYCLE_GENERATION};
use super::tree::{Site, TaskTree, TreeNode, WaitTarget, task_tree};
use crate::task::TaskId;

type Callback = Arc<dyn Fn(&WatchdogReport) + Send + Sync + 'static>;

/// An opt-in watchdog that reports what has been waiting too long, and names lock cycles.
///
/// Run it as a child of a group you open: `tg.spawn_named("watchdog", Watchdog::new(t).run())`.
/// It turns the task tree on ([`enable_task_tree`](crate::enable_task_tree); groups and scopes
/// entered before that are not seen), then every `interval` (a quarter of the threshold by
/// default) takes a [`task_tree`] and reports each new [`Finding`] once:
///
/// - [`Finding::LongWait`]: a wait on a tether primitive (a lock, a stream, `start()`, an event,
///   ...) longer than the threshold, with its path in the tree;
/// - [`Finding::PendingInBody`]: a child or scope pending longer than the threshold on a
///   foreign future (a socket, a `sleep`, `pending()`), with no tether wait to show;
/// - [`Finding::StuckGroup`]: a group whose body finished but which has waited longer than the
///   threshold for its children, naming them;
/// - [`Finding::LockCycle`]: tasks each waiting for a `Lock` held by the next, naming every task
///   and lock — the moment the cycle forms (the wait that closes it wakes every running
///   watchdog, which looks at once), whatever the threshold and interval;
/// - [`Finding::WaitCycle`]: a deadlock through a [`Semaphore`](crate::Semaphore), a
///   [`CapacityLimiter`](crate::CapacityLimiter) or a memory-stream receive (and locks), naming
///   every task, resource and holder — found at the looks (reported once two looks in a row
///   found it), whatever the threshold. See [`WaitLink`] for what counts.
///
/// Reports go to the callback ([`on_report`](Self::on_report)); with the `tracing` feature each
/// finding is also a `tracing` warning; with neither, they are printed to stderr.
///
/// # Cancel safety
///
/// [`run`](Self::run) never returns on its own; cancel it with its group. Nothing is lost.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use tether::{Finding, Watchdog, task_group};
///
/// let found = Arc::new(Mutex::new(Vec::new()));
/// let sink = found.clone();
/// task_group(async |tg| {
///     tg.spawn_named(
///         "watchdog",
///         Watchdog::new(Duration::from_secs(1))
///             .on_report(move |report| sink.lock().unwrap().extend(report.findings.clone()))
///             .run(),
///     );
///     tokio::task::yield_now().await;
///     tg.spawn_named("stuck", std::future::pending::<()>());
///     tokio::time::sleep(Duration::from_secs(2)).await;
///     tg.cancel_scope().cancel();
/// })
/// .await
/// .ok();
/// let found = found.lock().unwrap();
/// assert!(found.iter().any(|f| matches!(f, Finding::PendingInBody { path, .. } if path.contains("\"stuck\""))));
/// # }
/// ```
#[derive(Clone)]
pub struct Watchdog {
    threshold: Duration,
    interval: Option<Duration>,
    callback: Option<Callback>,
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog")
            .field("threshold", &self.threshold)
            .field("interval", &self.interval_or_default())
            .field("callback", &self.callback.is_some())
            .finish()
    }
}

/// What the watchdog found.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Finding {
    /// A wait on a tether primitive longer than the threshold.
    LongWait {
        /// The waiting entry's path in the tree (labels from the root, joined by ` / `).
        path: String,
        /// The waiting task.
        task: TaskId,
        /// How long it has waited.
        waiting_for: Duration,
        /// What it waits on.
        on: WaitTarget,
    },
    /// A child or scope pending longer than the threshold in its body, on a foreign future.
    PendingInBody {
        /// Its path in the tree.
        path: String,
        /// How long it has been pending.
        pending_for: Duration,
    },
    /// A group whose body is done has waited longer than the threshold for its children.
    StuckGroup {
        /// The group's path in the tree.
        path: String,
        /// How long it has waited.
        waiting_for: Duration,
        /// The children it waits for.
        children: Vec<String>,
    },
    /// Tasks each waiting for a lock held by the next: a deadlock.
    LockCycle {
        /// The links of the cycle, in order: the last one's lock is held by the first one's
        /// task.
        links: Vec<LockLink>,
    },
    /// Tasks each waiting on a resource whose every holder is the next task or another task
    /// of the same deadlock, through at least one [`Semaphore`](crate::Semaphore),
    /// [`CapacityLimiter`](crate::CapacityLimiter) or memory-stream receive (a cycle of locks
    /// only is a [`LockCycle`](Finding::LockCycle)). See [`WaitLink`] for what "held by"
    /// means for each resource.
    WaitCycle {
        /// The links of the cycle, in order: each link's task is one of the previous link's
        /// holders, and the first link's task is one of the last link's holders.
        links: Vec<WaitLink>,
    },
}

/// A resource in a [`Finding::WaitCycle`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum WaitResource {
    /// A [`Lock`](crate::Lock).
    Lock {
        /// The lock's id.
        id: u64,
        /// Where it was created.
        site: Site,
    },
    /// A [`Semaphore`](crate::Semaphore).
    Semaphore {
        /// The semaphore's id.
        id: u64,
        /// Where it was created.
        site: Site,
    },
    /// A [`CapacityLimiter`](crate::CapacityLimiter).
    CapacityLimiter {
        /// The limiter's id.
        id: u64,
        /// Where it was created.
        site: Site,
    },
    /// A receive from a memory stream.
    StreamReceive {
        /// The stream's id.
        id: u64,
        /// Where it was created.
        site: Site,
    },
}

impl WaitResource {
    fn id(&self) -> u64 {
        match self {
            WaitResource::Lock { id, .. }
            | WaitResource::Semaphore { id, .. }
            | WaitResource::CapacityLimiter { id, .. }
            | WaitResource::StreamReceive { id, .. } => *id,
        }
    }
}

impl fmt::Display for WaitResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitResource::Lock { id, site } => write!(f, "lock #{id} created at {site}"),
            WaitResource::Semaphore { id, site } => write!(f, "semaphore #{id} created at {site}"),
            WaitResource::CapacityLimiter { id, site } => {
                write!(f, "capacity limiter #{id} created at {site}")
            }
            WaitResource::StreamReceive { id, site } => {
                write!(f, "a receive from stream #{id} created at {site}")
            }
        }
    }
}

/// One link of a [`Finding::WaitCycle`]: `task` waits on `resource`, and every one of
/// `holders` is itself stuck in the same deadlock.
///
/// What *held by* means, per resource (the holders the task tree shows):
///
/// - a [`Lock`](crate::Lock): its owner;
/// - a [`Semaphore`](crate::Semaphore): every task holding one of its tokens (through a
///   guard, or kept with `forget`) — only when every token out has a known holder (taken
///   while the tree was on);
/// - a [`CapacityLimiter`](crate::CapacityLimiter): every borrower — only when every borrower
///   is a task (a [`Borrower::key`](crate::Borrower::key) borrower can be given back by
///   anyone);
/// - a memory-stream receive (on an empty stream): the tasks holding its open send ends,
///   where a send end is held by the last task that sent, tried to send or reserved through
///   it while the tree was on — only when every open send end is known.
///
/// A task is stuck when *every* tether wait it has is on such a resource and *every* holder of
/// each is stuck too: a resource with one holder outside the cycle (who can give a token back,
/// or send) is not a deadlock.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct WaitLink {
    /// The waiting task.
    pub task: TaskId,
    /// The child that task runs (its label), if it is a registered child.
    pub task_label: Option<String>,
    /// What it waits on.
    pub resource: WaitResource,
    /// Every holder of that resource (the next link's task among them).
    pub holders: Vec<TaskId>,
}

/// One link of a lock cycle: `task` waits for `lock`, held by the next link's task.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LockLink {
    /// The waiting task.
    pub task: TaskId,
    /// The child that task runs (its label), if it is a registered child.
    pub task_label: Option<String>,
    /// The lock it waits for.
    pub lock: u64,
    /// Where that lock was created.
    pub lock_site: Site,
    /// The task holding that lock.
    pub holder: TaskId,
}

impl Finding {
    fn key(&self) -> String {
        match self {
            Finding::LongWait { path, on, .. } => format!("wait {path} {on}"),
            Finding::PendingInBody { path, .. } => format!("body {path}"),
            Finding::StuckGroup { path, .. } => format!("group {path}"),
            Finding::LockCycle { links } => {
                let mut locks: Vec<u64> = links.iter().map(|l| l.lock).collect();
                locks.sort_unstable();
                format!("cycle {locks:?}")
            }
            Finding::WaitCycle { links } => {
                let mut ids: Vec<u64> = links.iter().map(|l| l.resource.id()).collect();
                ids.sort_unstable();
                format!("wait cycle {ids:?}")
            }
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::LongWait {
                path,
                task,
                waiting_for,
                on,
            } => write!(f, "{path} ({task}) has waited {waiting_for:?} for {on}"),
            Finding::PendingInBody { path, pending_for } => write!(
                f,
                "{path} has been pending for {pending_for:?} in its body (not on a tether \
                 primitive)"
            ),
            Finding::StuckGroup {
                path,
                waiting_for,
                children,
            } => write!(
                f,
                "{path}: the body is done, but the group has waited {waiting_for:?} for {} \
                 {}: {}",
                children.len(),
                if children.len() == 1 {
                    "child"
                } else {
                    "children"
                },
                children.join(", ")
            ),
            Finding::LockCycle { links } => {
                write!(f, "lock cycle (deadlock): ")?;
                let who = |l: &LockLink| match &l.task_label {
                    Some(label) => format!("{label} ({})", l.task),
                    None => l.task.to_string(),
                };
                for (i, l) in links.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    let holder = &links[(i + 1) % links.len()];
                    write!(
                        f,
                        "{} waits for lock #{} created at {}, held by {}",
                        who(l),
                        l.lock,
                        l.lock_site,
                        who(holder)
                    )?;
                }
                Ok(())
            }
            Finding::WaitCycle { links } => {
                write!(f, "wait cycle (deadlock): ")?;
                let label = |task: TaskId| match links
                    .iter()
                    .find(|l| l.task == task)
                    .and_then(|l| l.task_label.as_ref())
                {
                    Some(label) => format!("{label} ({task})"),
                    None => task.to_string(),
                };
                for (i, l) in links.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    let holders: Vec<String> = l.holders.iter().map(|&h| label(h)).collect();
                    let verb = match l.resource {
                        WaitResource::StreamReceive { .. } => "whose senders are held by",
                        WaitResource::CapacityLimiter { .. } => "borrowed by",
                        _ => "held by",
                    };
                    write!(
                        f,
                        "{} waits for {}, {verb} {}",
                        label(l.task),
                        l.resource,
                        holders.join(", ")
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// What the watchdog reports at one look: the new findings and the tree they were found in.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct WatchdogReport {
    /// Findings not reported before.
    pub findings: Vec<Finding>,
    /// The tree at that moment.
    pub tree: TaskTree,
}

impl fmt::Display for WatchdogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tether watchdog: {} finding(s)", self.findings.len())?;
        for finding in &self.findings {
            writeln!(f, "- {finding}")?;
        }
        writeln!(f, "task tree:")?;
        write!(f, "{}", self.tree)
    }
}

impl Watchdog {
    /// A watchdog reporting waits longer than `threshold`.
    pub fn new(threshold: Duration) -> Watchdog {
        Watchdog {
            threshold,
            interval: None,
            callback: None,
        }
    }

    /// How often it looks (default: a quarter of the threshold, at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Watchdog {
        self.interval = Some(interval);
        self
    }

    /// Where reports go (instead of stderr).
    pub fn on_report(mut self, callback: impl Fn(&WatchdogReport) + Send + Sync + 'static) -> Self {
        self.callback = Some(Arc::new(callback));
        self
    }

    fn interval_or_default(&self) -> Duration {
        self.interval
            .unwrap_or((self.threshold / 4).max(Duration::from_millis(1)))
    }

    /// Looks once at the current tree and returns everything that is wrong now (reported or
    /// not). A [`Finding::WaitCycle`] here is what this one look found (the running watchdog
    /// waits for a second look to confirm it).
    pub fn check(&self) -> Vec<Finding> {
        analyze(&task_tree(), self.threshold)
    }

    /// Runs the watchdog until cancelled (run it as a child of a group).
    ///
    /// # Cancel safety
    ///
    /// A cancellation point at every look; dropping it loses nothing.
    pub async fn run(self) {
        crate::diagnostics::enable_task_tree();
        let mut reported: HashSet<String> = HashSet::new();
        let interval = self.interval_or_default();
        let mut cycles_seen = CYCLE_GENERATION.load(Ordering::Acquire);
        // Wait cycles seen at the last look, not reported yet.
        let mut last_candidates: HashSet<String> = HashSet::new();
        loop {
            // Look every `interval`, or at once when a wait closes a lock cycle. The
            // notification is enabled before the generation is compared, so a cycle closed
            // while this watchdog was busy analyzing is not missed.
            let cycle = std::pin::pin!(CYCLE_FOUND.notified());
            let mut cycle = cycle;
            cycle.as_mut().enable();
            if CYCLE_GENERATION.load(Ordering::Acquire) == cycles_seen {
                let sleep = std::pin::pin!(tokio::time::sleep(interval));
                futures::future::select(sleep, cycle).await;
            }
            cycles_seen = CYCLE_GENERATION.load(Ordering::Acquire);
            let tree = task_tree();
            let mut candidates = HashSet::new();
            let findings: Vec<Finding> = analyze(&tree, self.threshold)
                .into_iter()
                // A wait cycle is read from a snapshot whose entries are copied one by one, so
                // a wait that was ending as the copy was made can look like a cycle once: it
                // is reported when it is there in two looks in a row.
                .filter(|f| {
                    !matches!(f, Finding::WaitCycle { .. }) || {
                        candidates.insert(f.key());
                        last_candidates.contains(&f.key())
                    }
                })
                .filter(|f| reported.insert(f.key()))
                .collect();
            last_candidates = candidates;
            if findings.is_empty() {
                continue;
            }
            let report = WatchdogReport { findings, tree };
            #[cfg(feature = "tracing")]
            for finding in &report.findings {
                tracing::warn!(target: "tether::watchdog", finding = %finding, "tether watchdog");
            }
            if let Some(callback) = &self.callback {
                callback(&report);
            } else if cfg!(not(feature = "tracing")) {
                eprintln!("{report}");
            }
        }
    }
}

/// A wait that only its holders can end: the resource and its holders.
type Held = (WaitResource, Vec<TaskId>);
/// A task's tether waits: `Some` for those only their holders can end.
type TaskWaits = (TaskId, Vec<Option<Held>>);

/// Everything wrong in `tree` for this threshold.
pub(crate) fn analyze(tree: &TaskTree, threshold: Duration) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut task_labels: HashMap<TaskId, String> = HashMap::new();
    // Every task's tether waits, in the order met: `Some((resource, holders))` when the wait
    // can only end through its holders, `None` when something else can end it.
    let mut waits: Vec<TaskWaits> = Vec::new();
    fn walk(
        node: &TreeNode,
        path: &mut Vec<String>,
        threshold: Duration,
        findings: &mut Vec<Finding>,
        task_labels: &mut HashMap<TaskId, String>,
        waits: &mut Vec<TaskWaits>,
    ) {
        path.push(node.label());
        let here = path.join(" / ");
        if node.kind == super::EntryKind::Child
            && let Some(task) = node.task
        {
            task_labels.insert(task, node.label());
        }
        for w in &node.waits {
            let held = held_by(&w.on);
            match waits.last_mut() {
                // (A task's waits are usually met together: its entries nest.)
                Some((t, list)) if *t == w.task => list.push(held),
                _ => waits.push((w.task, vec![held])),
            }
            if w.waiting_for < threshold {
                continue;
            }
            match &w.on {
                WaitTarget::Children { children } => findings.push(Finding::StuckGroup {
                    path: here.clone(),
                    waiting_for: w.waiting_for,
                    children: children.clone(),
                }),
                on => findings.push(Finding::LongWait {
                    path: here.clone(),
                    task: w.task,
                    waiting_for: w.waiting_for,
                    on: on.clone(),
                }),
            }
        }
        if node.kind != super::EntryKind::Group
            && node.is_pending_in_body()
            && let Some(pending_for) = node.pending_for
            && pending_for >= threshold
        {
            findings.push(Finding::PendingInBody {
                path: here,
                pending_for,
            });
        }
        for child in &node.children {
            walk(child, path, threshold, findings, task_labels, waits);
        }
        path.pop();
    }
    let mut path = Vec::new();
    for root in &tree.roots {
        walk(
            root,
            &mut path,
            threshold,
            &mut findings,
            &mut task_labels,
            &mut waits,
        );
    }
    findings.extend(cycles(&waits, &task_labels));
    findings
}

/// The resource a wait is on and its holders, when only those holders can end the wait (see
/// [`WaitLink`]); `None` when something else can.
fn held_by(on: &WaitTarget) -> Option<Held> {
    let (resource, holders) = match on {
        WaitTarget::Lock {
            lock,
            site,
            holder: Some(holder),
        } => (
            WaitResource::Lock {
                id: *lock,
                site: *site,
            },
            vec![*holder],
        ),
        WaitTarget::Semaphore {
            id,
            site,
            holders,
            untracked: 0,
        } => (
            WaitResource::Semaphore {
                id: *id,
                site: *site,
            },
            holders.clone(),
        ),
        WaitTarget::CapacityLimiter {
            id,
            site,
            borrowers,
        } => (
            WaitResource::CapacityLimiter {
                id: *id,
                site: *site,
            },
            borrowers
                .iter()
                .map(|b| b.as_task())
                .collect::<Option<Vec<TaskId>>>()?,
        ),
        WaitTarget::Stream {
            send: false,
            stream,
            site,
            buffered: 0,
            senders_held_by: Some(holders),
            ..
        } => (
            WaitResource::StreamReceive {
                id: *stream,
                site: *site,
            },
            holders.clone(),
        ),
        _ => return None,
    };
    if holders.is_empty() {
        return None;
    }
    let mut unique: Vec<TaskId> = Vec::with_capacity(holders.len());
    for h in holders {
        if !unique.contains(&h) {
            unique.push(h);
        }
    }
    Some((resource, unique))
}

/// Deadlocks: the tasks none of whose waits can end. A task is *blocked* when every tether wait
/// it has can only end through its holders; a blocked task can still go on if one holder of
/// one of its waits can (is not blocked, or can go on itself). What is left is stuck for good
/// (as long as the holders are right, see [`WaitLink`]); each cycle through it is reported once.
fn cycles(waits: &[TaskWaits], task_labels: &HashMap<TaskId, String>) -> Vec<Finding> {
    // Every waiting task's waits (a task's waits may be met in several places of the tree:
    // the entries it hosts), `None` once one of them can end otherwise.
    let mut order: Vec<TaskId> = Vec::new();
    let mut all: HashMap<TaskId, Option<Vec<Held>>> = HashMap::new();
    for (t, w) in waits {
        let slot = all.entry(*t).or_insert_with(|| {
            order.push(*t);
            Some(Vec::new())
        });
        for held in w {
            match (slot.as_mut(), held) {
                (Some(list), Some(held)) => list.push(held.clone()),
                _ => *slot = None,
            }
        }
    }
    // The blocked tasks: every wait only its holders can end.
    let mut blocked: HashMap<TaskId, Vec<Held>> =
        all.into_iter().filter_map(|(t, w)| Some((t, w?))).collect();
    // Take out every task that can go on, until none is left to take out.
    loop {
        let free: Vec<TaskId> = blocked
            .iter()
            .filter(|(_, w)| {
                w.iter()
                    .any(|(_, holders)| holders.iter().any(|h| !blocked.contains_key(h)))
            })
            .map(|(t, _)| *t)
            .collect();
        if free.is_empty() {
            break;
        }
        for t in free {
            blocked.remove(&t);
        }
    }
    order.retain(|t| blocked.contains_key(t));
    let first_wait = |t: TaskId| -> &Held { &blocked[&t][0] };
    let mut findings = Vec::new();
    let mut seen: HashSet<Vec<u64>> = HashSet::new();
    // Tasks some earlier walk went through: a walk that reaches one finds no new cycle.
    let mut walked: HashSet<TaskId> = HashSet::new();
    for &start in &order {
        if walked.contains(&start) {
            continue;
        }
        // Every holder of every wait of a stuck task is stuck: follow the first wait's first
        // holder until a task repeats.
        let mut path: Vec<TaskId> = Vec::new();
        let mut on_path: HashMap<TaskId, usize> = HashMap::new();
        let mut at = start;
        let cycle = loop {
            if let Some(&pos) = on_path.get(&at) {
                break &path[pos..];
            }
            if walked.contains(&at) {
                break &path[..0];
            }
            on_path.insert(at, path.len());
            path.push(at);
            at = first_wait(at).1[0];
        };
        let cycle = cycle.to_vec();
        walked.extend(path);
        if cycle.is_empty() {
            continue;
        }
        let links: Vec<WaitLink> = cycle
            .iter()
            .map(|&t| {
                let (resource, holders) = first_wait(t).clone();
                WaitLink {
                    task: t,
                    task_label: task_labels.get(&t).cloned(),
                    resource,
                    holders,
                }
            })
            .collect();
        let mut key: Vec<u64> = links.iter().map(|l| l.resource.id()).collect();
        key.sort_unstable();
        if !seen.insert(key) {
            continue;
        }
        let only_locks = links
            .iter()
            .all(|l| matches!(l.resource, WaitResource::Lock { .. }));
        if only_locks {
            let n = links.len();
            let locks = (0..n)
                .map(|i| {
                    let l = &links[i];
                    let WaitResource::Lock { id, site } = l.resource else {
                        unreachable!("only locks")
                    };
                    LockLink {
                        task: l.task,
                        task_label: l.task_label.clone(),
                        lock: id,
                        lock_site: site,
                        holder: links[(i + 1) % n].task,
                    }
                })
                .collect();
            findings.push(Finding::LockCycle { links: locks });
        } else {
            findings.push(Finding::WaitCycle { links });
        }
    }
    findings
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    //! The deadlock rule on hand-made trees (the integration tests build real ones).
    use super::*;
    use crate::EntryKind;

    /// `n` distinct task ids (threads' ids, which never repeat in a process).
    fn tasks(n: usize) -> Vec<TaskId> {
        (0..n)
            .map(|_| std::thread::spawn(TaskId::current).join().unwrap())
            .collect()
    }

    fn site() -> Site {
        Site {
            file: "here.rs",
            line: 1,
            column: 1,
        }
    }

    fn wait(task: TaskId, on: WaitTarget) -> super::super::tree::WaitInfo {
        super::super::tree::WaitInfo {
            task,
            waiting_for: Duration::ZERO,
            on,
        }
    }

    fn lock(id: u64, holder: TaskId) -> WaitTarget {
        WaitTarget::Lock {
            lock: id,
            site: site(),
            holder: Some(holder),
        }
    }

    fn semaphore(id: u64, holders: Vec<TaskId>) -> WaitTarget {
        WaitTarget::Semaphore {
            id,
            site: site(),
            holders,
            untracked: 0,
        }
    }

    /// A child entry of `task` with these waits.
    fn node(id: u64, task: TaskId, waits: Vec<super::super::tree::WaitInfo>) -> TreeNode {
        TreeNode {
            id,
            kind: EntryKind::Child,
            name: Some(format!("t{id}")),
            site: site(),
            task: Some(task),
            pending_for: Some(Duration::ZERO),
            deadline_in: None,
            shield: false,
            cancel: None,
            waits,
            children: Vec::new(),
        }
    }

    fn cycles_in(nodes: Vec<TreeNode>) -> Vec<Finding> {
        let tree = TaskTree { roots: nodes };
        analyze(&tree, Duration::from_secs(3600))
            .into_iter()
            .filter(|f| matches!(f, Finding::LockCycle { .. } | Finding::WaitCycle { .. }))
            .collect()
    }

    #[test]
    fn a_task_with_one_wait_that_can_end_otherwise_is_not_stuck() {
        let t = tasks(2);
        let (a, b) = (t[0], t[1]);
        // a waits for b's lock, b for a semaphore a holds: a cycle...
        let cycle = vec![
            node(1, a, vec![wait(a, lock(10, b))]),
            node(2, b, vec![wait(b, semaphore(11, vec![a]))]),
        ];
        let found = cycles_in(cycle.clone());
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(matches!(&found[0], Finding::WaitCycle { links } if links.len() == 2));
        // ...unless a also waits, in another entry it hosts, for an event (a select!)
        let mut split = cycle;
        split.push(node(3, a, vec![wait(a, WaitTarget::Event)]));
        assert!(cycles_in(split).is_empty());
    }

    #[test]
    fn many_waiters_on_a_deadlocked_semaphore_give_one_cycle() {
        let t = tasks(2002);
        let (a, b) = (t[0], t[1]);
        let mut nodes = vec![
            node(1, a, vec![wait(a, lock(10, b))]),
            node(2, b, vec![wait(b, lock(11, a))]),
        ];
        // 2,000 tasks wait for a semaphore only `a` holds: stuck too, but not on the cycle
        for (i, &w) in t[2..].iter().enumerate() {
            nodes.push(node(
                100 + i as u64,
                w,
                vec![wait(w, semaphore(12, vec![a]))],
            ));
        }
        let found = cycles_in(nodes);
        assert_eq!(found.len(), 1, "{found:#?}");
        match &found[0] {
            Finding::LockCycle { links } => {
                let mut locks: Vec<u64> = links.iter().map(|l| l.lock).collect();
                locks.sort_unstable();
                assert_eq!(locks, vec![10, 11]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_semaphore_with_a_free_holder_frees_the_whole_chain() {
        let t = tasks(4);
        let (a, b, c, free) = (t[0], t[1], t[2], t[3]);
        // a -> lock held by b -> semaphore held by c and `free` -> c waits for a's lock
        let nodes = vec![
            node(1, a, vec![wait(a, lock(10, b))]),
            node(2, b, vec![wait(b, semaphore(11, vec![c, free]))]),
            node(3, c, vec![wait(c, lock(12, a))]),
        ];
        assert!(cycles_in(nodes.clone()).is_empty());
        // with `free` stuck on the same semaphore's chain instead, it is a deadlock
        let mut stuck = nodes;
        stuck.push(node(4, free, vec![wait(free, lock(13, b))]));
        let found = cycles_in(stuck);
        assert!(!found.is_empty(), "{found:#?}");
    }
}
