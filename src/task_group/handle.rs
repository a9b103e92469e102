//! `TaskGroupHandle`: a cloneable, `'static` way to spawn into a group from anywhere.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use super::TaskResult;
use super::error::SpawnError;
use super::shared::{GroupEnded, GroupShared};
use super::start::{Start, TaskStatus};
use crate::cancel::CancelScope;
use crate::loom::sync::Arc;
use crate::task::TaskId;

/// A cloneable handle to a task group, for children that spawn siblings and for code elsewhere
/// that feeds work into a group.
///
/// Unlike the `&TaskGroup` a group's body receives, a handle can outlive the group; spawning
/// through it after the group exited is a [`SpawnError`] that hands the future back.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let count = Arc::new(AtomicUsize::new(0));
/// tether::task_group(async |tg| {
///     let handle = tg.handle();
///     let count = count.clone();
///     tg.spawn(async move {
///         // a child spawns a sibling
///         handle.spawn(async move { count.fetch_add(1, Ordering::SeqCst); }).unwrap();
///     });
/// })
/// .await
/// .unwrap();
/// assert_eq!(count.load(Ordering::SeqCst), 1);
/// # }
/// ```
#[derive(Clone)]
pub struct TaskGroupHandle {
    pub(crate) shared: Arc<GroupShared>,
}

impl TaskGroupHandle {
    /// Spawns a child into the group.
    ///
    /// The child is a real tokio task running in parallel. Its output is `()` or
    /// `Result<_, E>` with `E: Into<BoxError>`; an `Err` fails the group (cancelling the rest),
    /// a panic is resumed in the group's host after the siblings are stopped.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] (with the future handed back) if the group has exited.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Result<(), SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        self.shared.spawn_child(None, future)
    }

    /// [`spawn`](Self::spawn) with a name; see
    /// [`TaskGroup::spawn_named`](crate::TaskGroup::spawn_named).
    ///
    /// # Errors
    ///
    /// [`SpawnError`] (with the future handed back) if the group has exited.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::task_group(async |tg| {
    ///     let handle = tg.handle();
    ///     handle.spawn_named("sibling", async {}).unwrap();
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> Result<(), SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        self.shared.spawn_child(Some(name.into()), future)
    }

    /// Spawns a child and waits until it calls [`TaskStatus::started`]; see
    /// [`TaskGroup::start`](crate::TaskGroup::start).
    ///
    /// # Errors
    ///
    /// See [`StartError`](super::StartError); [`StartError::GroupClosed`](super::StartError::GroupClosed)
    /// if the group has exited.
    #[track_caller]
    pub fn start<V, F, Fut>(&self, child: F) -> Start<V>
    where
        V: Send + 'static,
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
    {
        self.shared.start(None, child)
    }

    /// [`start`](Self::start) with a name; see
    /// [`TaskGroup::start_named`](crate::TaskGroup::start_named).
    ///
    /// # Errors
    ///
    /// See [`StartError`](super::StartError).
    #[track_caller]
    pub fn start_named<V, F, Fut>(&self, name: impl Into<Cow<'static, str>>, child: F) -> Start<V>
    where
        V: Send + 'static,
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
    {
        self.shared.start(Some(name.into()), child)
    }

    /// The group's cancel scope: `cancel()` on it stops the whole group. The same scope, by the
    /// same type, as [`TaskGroup::cancel_scope`](crate::TaskGroup::cancel_scope) and
    /// [`OwnedTaskGroup::cancel_scope`](crate::OwnedTaskGroup::cancel_scope); clone it to keep it.
    pub fn cancel_scope(&self) -> &CancelScope {
        self.shared.cancel_scope()
    }

    /// Whether the group has exited (spawning would fail).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// The task that opened the group.
    pub fn host(&self) -> TaskId {
        self.shared.host
    }

    /// A snapshot of the live task tree under this group (one root: the group); empty if the
    /// group was opened while the tree was off, or has ended. The same as
    /// [`TaskGroup::task_tree`](crate::TaskGroup::task_tree).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::enable_task_tree();
    /// tether::task_group(async |tg| {
    ///     let handle = tg.handle();
    ///     handle.spawn_named("worker", std::future::pending::<()>()).unwrap();
    ///     tokio::task::yield_now().await;
    ///     assert!(handle.task_tree().find("worker").is_some());
    ///     tg.cancel_scope().cancel();
    /// })
    /// .await
    /// .ok();
    /// # }
    /// ```
    pub fn task_tree(&self) -> crate::TaskTree {
        self.shared.task_tree()
    }

    /// Runs `callback` exactly once when the group ends (its body is done and every child has
    /// finished, or it was dropped); at once if it already has.
    pub(crate) fn on_end(&self, callback: Box<dyn FnOnce(&GroupEnded) + Send + 'static>) {
        self.shared.on_end(callback);
    }
}

impl fmt::Debug for TaskGroupHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupHandle")
            .field("group", &self.shared)
            .finish()
    }
}
