//! Errors shared by every area of the crate.

use crate::task::TaskId;

/// A boxed error, the type child failures are collected as.
///
/// Anything that converts into it works as a child's error: every `std::error::Error + Send +
/// Sync + 'static`, `String`, `&'static str`, and `anyhow::Error`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A resource bound to one task was used from another.
///
/// tether binds task groups, cancel scopes and (optionally) stream ends to the task that opened
/// them. Using one from another task would, in other runtimes, hang forever or fail far from the
/// cause; tether reports it at once with both tasks and the fix. A library built on tether
/// reports misuse of its own resources the same way through a [`TaskBinding`](crate::TaskBinding).
///
/// The message reads like `task group opened in task 7 was closed from task 12; close it in the
/// task that opened it, or ...`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::OwnedTaskGroup;
///
/// let mut group = OwnedTaskGroup::open();
/// // Close it from another task: a typed error, at once, naming both tasks.
/// let (group, err) = tokio::spawn(async move {
///     let err = group.close().await.unwrap_err();
///     (group, err)
/// })
/// .await
/// .unwrap();
/// let err = err.task_context().expect("a TaskContextError");
/// assert_eq!(err.owner(), tether::TaskId::current());
/// assert!(err.to_string().contains("was closed from task"));
/// # let mut group = group;
/// # group.close().await.unwrap();
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{resource} {opened} in {owner} was {action} from {current}; {fix}")]
pub struct TaskContextError {
    resource: &'static str,
    opened: &'static str,
    action: &'static str,
    owner: TaskId,
    current: TaskId,
    fix: &'static str,
}

impl TaskContextError {
    pub(crate) fn new(
        resource: &'static str,
        opened: &'static str,
        action: &'static str,
        owner: TaskId,
        current: TaskId,
        fix: &'static str,
    ) -> Self {
        Self {
            resource,
            opened,
            action,
            owner,
            current,
            fix,
        }
    }

    /// What was misused: `"task group"`, `"cancel scope"`, `"memory stream receive end"`, ...
    pub fn resource(&self) -> &'static str {
        self.resource
    }

    /// The task the resource belongs to.
    pub fn owner(&self) -> TaskId {
        self.owner
    }

    /// The task that tried to use it.
    pub fn current(&self) -> TaskId {
        self.current
    }

    /// How to fix the program.
    pub fn fix(&self) -> &'static str {
        self.fix
    }
}
