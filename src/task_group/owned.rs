//! The owned form: a group kept open across calls, closed in the task that opened it.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use super::TaskResult;
use super::error::{CloseError, GroupError, SpawnError};
use super::handle::TaskGroupHandle;
use super::shared::GroupShared;
use super::start::{Start, TaskStatus};
use crate::cancel::{CancelScope, current_node};
use crate::error::TaskContextError;
use crate::loom::sync::Arc;
use crate::task::TaskId;

/// A task group that stays open across calls: for an object that starts background tasks in
/// `connect()` and stops them in `disconnect()`.
///
/// It is bound to the task that opened it: [`close`](Self::close) from any other task is a
/// [`TaskContextError`] at once (the group stays open and usable), never a hang. Children are
/// cancelled when the scope that was current at [`open`](Self::open) is cancelled, or through
/// [`cancel_scope`](Self::cancel_scope).
///
/// Dropping it without closing cancels and aborts its children — they are dropped at their next
/// poll, even inside shields — without blocking in `Drop`. Nothing is ever detached.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::OwnedTaskGroup;
///
/// struct Client {
///     tasks: OwnedTaskGroup,
/// }
///
/// impl Client {
///     fn connect() -> Client {
///         let tasks = OwnedTaskGroup::open();
///         tasks.spawn(async { /* read from the connection */ }).unwrap();
///         Client { tasks }
///     }
///     async fn disconnect(mut self) -> Result<(), tether::CloseError> {
///         self.tasks.cancel_scope().cancel();
///         self.tasks.close().await
///     }
/// }
///
/// let client = Client::connect();
/// client.disconnect().await.unwrap();
/// # }
/// ```
pub struct OwnedTaskGroup {
    shared: Arc<GroupShared>,
    closed: bool,
}

impl OwnedTaskGroup {
    /// Opens a group hosted by the current task, under the current cancel scope.
    ///
    /// # Panics
    ///
    /// Panics outside a tokio runtime.
    #[track_caller]
    pub fn open() -> OwnedTaskGroup {
        // No driver runs an owned group's node: it is in the tree (reachable from the scope
        // that was current here) exactly while it has children or watchers.
        let shared = GroupShared::open(current_node(), std::panic::Location::caller());
        OwnedTaskGroup {
            shared,
            closed: false,
        }
    }

    /// Spawns a child; see [`TaskGroup::spawn`](crate::TaskGroup::spawn).
    ///
    /// # Errors
    ///
    /// [`SpawnError`] (handing the future back) once the group is closed.
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
    /// [`SpawnError`] (handing the future back) once the group is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = tether::OwnedTaskGroup::open();
    /// group.spawn_named("reader", async {}).unwrap();
    /// group.close().await.unwrap();
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

    /// Spawns a child and waits until it reports ready; see
    /// [`TaskGroup::start`](crate::TaskGroup::start).
    ///
    /// # Errors
    ///
    /// See [`StartError`](crate::StartError).
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
    /// See [`StartError`](crate::StartError).
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

    /// A cloneable `'static` handle to spawn from other tasks.
    pub fn handle(&self) -> TaskGroupHandle {
        self.shared.handle()
    }

    /// The group's cancel scope: `cancel()` on it stops every child.
    ///
    /// A deadline set on this scope is not enforced while the group is open (no future runs
    /// it); see [`CancelScope::set_deadline`].
    pub fn cancel_scope(&self) -> &CancelScope {
        self.shared.cancel_scope()
    }

    /// The task that opened the group, and must close it.
    pub fn host(&self) -> TaskId {
        self.shared.host
    }

    /// A snapshot of the live task tree under this group (one root: the group); empty if the
    /// group was opened while the tree was off. The same as
    /// [`TaskGroup::task_tree`](crate::TaskGroup::task_tree).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::enable_task_tree();
    /// let mut group = tether::OwnedTaskGroup::open();
    /// group.spawn_named("worker", std::future::pending::<()>()).unwrap();
    /// tokio::task::yield_now().await;
    /// assert!(group.task_tree().find("worker").is_some());
    /// group.cancel_scope().cancel();
    /// group.close().await.ok();
    /// # }
    /// ```
    pub fn task_tree(&self) -> crate::TaskTree {
        self.shared.task_tree()
    }

    /// Whether the group has been closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Waits for every child to finish, then closes the group.
    ///
    /// Like leaving an AnyIO task group: it waits, it does not cancel. To stop the children,
    /// cancel first: `group.cancel_scope().cancel(); group.close().await`. Closing a closed group
    /// returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// - [`CloseError::WrongTask`] at once when called from a task other than the one that
    ///   opened the group; the group is left open and unchanged.
    /// - [`CloseError::Failed`] with every failure of the children.
    ///
    /// # Panics
    ///
    /// Resumes a child's panic: its own payload if nothing else went wrong, otherwise a
    /// [`GroupPanic`](crate::task_group::GroupPanic) carrying every panic and failure.
    ///
    /// # Cancel safety
    ///
    /// If the returned future is dropped before it completes (its caller was cancelled), the
    /// group stays open and loses nothing: close it again, or drop it to cancel its children.
    pub async fn close(&mut self) -> Result<(), CloseError> {
        let now = TaskId::current();
        if now != self.shared.host {
            return Err(CloseError::WrongTask(TaskContextError::new(
                "task group",
                "opened",
                "closed",
                self.shared.host,
                now,
                "close it in the task that opened it, or give other tasks a TaskGroupHandle \
                 (group.handle()) to spawn with and keep closing where it was opened",
            )));
        }
        if self.closed {
            return Ok(());
        }
        let mut waiting = None;
        std::future::poll_fn(|cx| {
            self.shared.node().register_waker(cx.waker());
            if self.shared.try_close() {
                std::task::Poll::Ready(())
            } else {
                if waiting.is_none() {
                    waiting = self.shared.wait_for_children();
                }
                std::task::Poll::Pending
            }
        })
        .await;
        drop(waiting);
        self.closed = true;
        self.shared.end();
        if let Some(payload) = self.shared.take_unwind() {
            std::panic::resume_unwind(payload);
        }
        let failures = self.shared.take_failures();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(CloseError::Failed(GroupError::failed(failures)))
        }
    }
}

impl Drop for OwnedTaskGroup {
    fn drop(&mut self) {
        if !self.closed {
            self.shared.abandon();
        }
    }
}

impl fmt::Debug for OwnedTaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedTaskGroup")
            .field("group", &self.shared)
            .field("closed", &self.closed)
            .finish()
    }
}
