//! Errors of task groups: the collected failures, spawn/start/close misuse.

use std::fmt;

use crate::cancel::CancelReason;
use crate::error::{BoxError, TaskContextError};
use crate::task::TaskId;

/// Where a failure happened: the group's body, or one of its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureOrigin {
    /// The body of the group (the closure given to [`task_group`](crate::task_group())), run by
    /// this task.
    Body(TaskId),
    /// A child task.
    Child(TaskId),
}

impl fmt::Display for FailureOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureOrigin::Body(task) => write!(f, "group body ({task})"),
            FailureOrigin::Child(task) => write!(f, "child {task}"),
        }
    }
}

/// One failure collected by a task group: who failed, and the error.
#[derive(Debug)]
pub struct TaskFailure {
    origin: FailureOrigin,
    error: BoxError,
}

impl TaskFailure {
    pub(crate) fn new(origin: FailureOrigin, error: BoxError) -> TaskFailure {
        TaskFailure { origin, error }
    }

    /// Who failed.
    pub fn origin(&self) -> FailureOrigin {
        self.origin
    }

    /// The error.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }

    /// The error, owned.
    pub fn into_error(self) -> BoxError {
        self.error
    }

    /// The error as `E`, if it is one.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.error.downcast_ref::<E>()
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.error)
    }
}

/// Everything that went wrong in a task group: the Rust counterpart of an exception group.
///
/// Holds every failure of the body and of the children, in the order they happened. Children
/// that were only cancelled because of another failure are not failures and are not listed. A
/// group can also end with no failure but without a result, when its own scope was cancelled
/// before its body finished ([`is_cancelled`](GroupError::is_cancelled)).
///
/// Panics are not collected here: a child's panic resumes in the parent after the siblings were
/// cancelled and joined.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #[derive(Debug, thiserror::Error)]
/// #[error("disk full")]
/// struct DiskFull;
///
/// let err = tether::task_group(async |tg| {
///     tg.spawn(async { Err::<(), _>(DiskFull) });
///     tg.spawn(async { Err::<(), _>("network down") });
/// })
/// .await
/// .unwrap_err();
///
/// // The first failure cancels the group; the second child may or may not have run before that.
/// assert!(err.len() >= 1);
/// assert!(err.find::<DiskFull>().is_some() || err.to_string().contains("network down"));
/// let (disk_full, rest) = err.split::<DiskFull>();
/// assert!(disk_full.len() + rest.map_or(0, |r| r.len()) >= 1);
/// # }
/// ```
#[derive(Debug)]
pub struct GroupError {
    failures: Vec<TaskFailure>,
    cancelled: Option<CancelReason>,
}

impl GroupError {
    pub(crate) fn failed(failures: Vec<TaskFailure>) -> GroupError {
        GroupError {
            failures,
            cancelled: None,
        }
    }

    pub(crate) fn cancelled(reason: CancelReason) -> GroupError {
        GroupError {
            failures: Vec::new(),
            cancelled: Some(reason),
        }
    }

    /// How many failures (0 only for a cancelled group).
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Whether there is no failure (the group was cancelled before its body finished).
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failures, in the order they happened.
    pub fn failures(&self) -> &[TaskFailure] {
        &self.failures
    }

    /// Iterates over the failures.
    pub fn iter(&self) -> std::slice::Iter<'_, TaskFailure> {
        self.failures.iter()
    }

    /// The failures, owned.
    pub fn into_failures(self) -> Vec<TaskFailure> {
        self.failures
    }

    /// `true` when the group had no failure but its own scope was cancelled (for example by
    /// `tg.cancel_scope().cancel()`) before the body produced a value.
    pub fn is_cancelled(&self) -> bool {
        self.failures.is_empty() && self.cancelled.is_some()
    }

    /// Why the group was cancelled, for a cancelled group.
    pub fn cancel_reason(&self) -> Option<&CancelReason> {
        self.cancelled.as_ref()
    }

    /// The first error of type `E`, looking inside nested groups too.
    pub fn find<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.failures.iter().find_map(|f| {
            f.error.downcast_ref::<E>().or_else(|| {
                f.error
                    .downcast_ref::<GroupError>()
                    .and_then(|inner| inner.find::<E>())
            })
        })
    }

    /// Whether any failure (including in nested groups) is an `E`.
    pub fn contains<E: std::error::Error + 'static>(&self) -> bool {
        self.find::<E>().is_some()
    }

    /// Splits off the errors of type `E` (after [`flatten`](Self::flatten)ing nested groups); the
    /// rest stays in the returned group, `None` if nothing is left.
    pub fn split<E: std::error::Error + Send + Sync + 'static>(
        self,
    ) -> (Vec<E>, Option<GroupError>) {
        let flat = self.flatten();
        let cancelled = flat.cancelled;
        let mut matched = Vec::new();
        let mut rest = Vec::new();
        for failure in flat.failures {
            match failure.error.downcast::<E>() {
                Ok(e) => matched.push(*e),
                Err(error) => rest.push(TaskFailure::new(failure.origin, error)),
            }
        }
        let rest = (!rest.is_empty()).then_some(GroupError {
            failures: rest,
            cancelled,
        });
        (matched, rest)
    }

    /// Replaces every failure that is itself a `GroupError` (a nested group's) by its failures,
    /// recursively.
    pub fn flatten(self) -> GroupError {
        let mut out = Vec::new();
        let mut stack: Vec<TaskFailure> = self.failures.into_iter().rev().collect();
        while let Some(failure) = stack.pop() {
            match failure.error.downcast::<GroupError>() {
                Ok(inner) => stack.extend(inner.failures.into_iter().rev()),
                Err(error) => out.push(TaskFailure::new(failure.origin, error)),
            }
        }
        GroupError {
            failures: out,
            cancelled: self.cancelled,
        }
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.failures.is_empty() {
            return match &self.cancelled {
                Some(reason) => {
                    write!(f, "task group cancelled before its body finished: {reason}")
                }
                None => f.write_str("task group failed"),
            };
        }
        let n = self.failures.len();
        write!(
            f,
            "task group failed ({n} failure{}): ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, failure) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures
            .first()
            .map(|f| &*f.error as &(dyn std::error::Error + 'static))
    }
}

impl<'a> IntoIterator for &'a GroupError {
    type Item = &'a TaskFailure;
    type IntoIter = std::slice::Iter<'a, TaskFailure>;
    fn into_iter(self) -> Self::IntoIter {
        self.failures.iter()
    }
}

impl IntoIterator for GroupError {
    type Item = TaskFailure;
    type IntoIter = std::vec::IntoIter<TaskFailure>;
    fn into_iter(self) -> Self::IntoIter {
        self.failures.into_iter()
    }
}

/// Spawning into a task group that has already exited. Hands the future back.
#[derive(thiserror::Error)]
#[error(
    "task group hosted by {host} has already exited; spawn while the group is open (its body is \
     running, or an owned group is not yet closed)"
)]
pub struct SpawnError<F> {
    future: F,
    host: TaskId,
}

impl<F> SpawnError<F> {
    pub(crate) fn new(future: F, host: TaskId) -> SpawnError<F> {
        SpawnError { future, host }
    }

    /// The future that was not spawned.
    pub fn into_inner(self) -> F {
        self.future
    }

    /// The task that hosted the group.
    pub fn host(&self) -> TaskId {
        self.host
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// Why a [`start`](crate::TaskGroup::start) call failed. None of these cancel the group.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The child returned without calling `started`.
    #[error(
        "child exited without calling started(); call status.started(value) once the child is ready"
    )]
    NotStarted,
    /// The child dropped its `TaskStatus` without calling `started` and kept running (it was
    /// cancelled).
    #[error(
        "child dropped its TaskStatus without calling started(); keep the status until the child \
         is ready, then call status.started(value)"
    )]
    StatusDropped,
    /// The child failed before calling `started`.
    #[error("child failed before calling started(): {0}")]
    Failed(#[source] BoxError),
    /// The child was cancelled (its group, or an enclosing scope, was cancelled) before calling
    /// `started`.
    #[error("child was cancelled before calling started(): {0}")]
    Cancelled(CancelReason),
    /// The group had already exited.
    #[error("task group hosted by {0} has already exited; start children while it is open")]
    GroupClosed(TaskId),
}

/// Why [`OwnedTaskGroup::close`](crate::OwnedTaskGroup::close) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// Closed from a task other than the one that opened it. The group is still open and
    /// unchanged; close it from the task that opened it.
    #[error(transparent)]
    WrongTask(TaskContextError),
    /// The group's children (or the group) failed.
    #[error(transparent)]
    Failed(GroupError),
}

impl CloseError {
    /// The task-context error, if that is what this is.
    pub fn task_context(&self) -> Option<&TaskContextError> {
        match self {
            CloseError::WrongTask(e) => Some(e),
            CloseError::Failed(_) => None,
        }
    }

    /// The group's failures, if that is what this is.
    pub fn group_error(&self) -> Option<&GroupError> {
        match self {
            CloseError::Failed(e) => Some(e),
            CloseError::WrongTask(_) => None,
        }
    }
}
