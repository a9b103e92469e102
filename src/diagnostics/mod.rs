//! Observability: names, the live task tree, what each entry waits on, and the watchdog.
//!
//! The guide is `docs/observability.md` in the repository and the crate docs' section on the
//! task tree.

pub(crate) mod registry;
mod tree;
mod watchdog;

pub use registry::EntryKind;
pub(crate) use tree::task_tree_under;
pub use tree::{CancelInfo, Site, TaskTree, TreeNode, WaitInfo, WaitTarget, task_tree};
pub use watchdog::{Finding, LockLink, WaitLink, WaitResource, Watchdog, WatchdogReport};

/// Turns the live task tree on for the whole process.
///
/// From now on, every task group opened, child spawned and cancel scope entered is registered
/// in [`task_tree`] (with its name, site, task, state, cancel state and what it waits on) until
/// it exits. Groups, scopes and children made before the call are not registered, even after.
/// Idempotent.
///
/// # Cost
///
/// Off (the default), each spawn, group open and scope entry reads one relaxed atomic; nothing
/// is allocated. On, a group registers at open (one allocation, one short shard lock); a child
/// or scope is only described inline until its first `Pending` (or a wait, or an entry made
/// inside it), and a registered future's poll updates its state (a small per-entry lock when it
/// goes pending). See `docs/observability.md` for measured numbers.
///
/// # Examples
///
/// ```
/// tether::enable_task_tree();
/// assert!(tether::task_tree_enabled());
/// ```
pub fn enable_task_tree() {
    registry::set_enabled(true);
}

/// Turns the live task tree off. Entries already registered stay until they exit.
///
/// # Examples
///
/// ```
/// tether::disable_task_tree();
/// assert!(!tether::task_tree_enabled());
/// ```
pub fn disable_task_tree() {
    registry::set_enabled(false);
}

/// Whether the live task tree is on.
///
/// # Examples
///
/// ```
/// let _ = tether::task_tree_enabled();
/// ```
pub fn task_tree_enabled() -> bool {
    registry::enabled()
}
