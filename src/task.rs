//! Task identity: which task entered a scope, opened a group or owns a stream end.
//!
//! tether binds resources to the task that created them and reports use from another task as a
//! [`TaskContextError`](crate::TaskContextError). For that, every place a tether primitive can run
//! has an identity:
//!
//! - inside a tokio task (spawned with `tokio::spawn`, or a tether child), the tokio
//!   [`task::Id`](tokio::task::Id);
//! - outside any tokio task — the body of `#[tokio::main]`, `Runtime::block_on`, a plain thread —
//!   the thread. A thread runs at most one such body at a time, so the thread names it exactly.

use std::fmt;

/// The identity of the task (or task-less thread) that is running now.
///
/// Two `TaskId`s are equal when they name the same tokio task, or the same thread outside any
/// tokio task. `Display` gives a short human name, used in error messages: `task 12` or
/// `the block_on body on ThreadId(1)`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::TaskId;
///
/// let main_task = TaskId::current();
/// let child = tokio::spawn(async { TaskId::current() }).await.unwrap();
/// assert_ne!(main_task, child);
/// assert!(child.is_tokio_task());
/// assert!(!main_task.is_tokio_task()); // #[tokio::main]'s body is a block_on, not a task
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(Repr);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Repr {
    Tokio(tokio::task::Id),
    Thread(std::thread::ThreadId),
}

impl TaskId {
    /// The identity of the code running now.
    ///
    /// Never fails: outside a tokio task it names the current thread.
    #[inline]
    pub fn current() -> TaskId {
        match tokio::task::try_id() {
            Some(id) => TaskId(Repr::Tokio(id)),
            None => TaskId(Repr::Thread(std::thread::current().id())),
        }
    }

    pub(crate) fn from_tokio(id: tokio::task::Id) -> TaskId {
        TaskId(Repr::Tokio(id))
    }

    /// Whether this names a tokio task (rather than a thread's `block_on` body).
    pub fn is_tokio_task(&self) -> bool {
        matches!(self.0, Repr::Tokio(_))
    }

    /// The tokio task id, if this names a tokio task.
    pub fn tokio_id(&self) -> Option<tokio::task::Id> {
        match self.0 {
            Repr::Tokio(id) => Some(id),
            Repr::Thread(_) => None,
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Tokio(id) => write!(f, "task {id}"),
            Repr::Thread(id) => write!(f, "the block_on body on {id:?}"),
        }
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

/// With the `serde` feature a task id serializes as its text (`"task 12"`).
#[cfg(feature = "serde")]
impl serde::Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
