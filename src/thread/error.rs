//! The errors of the thread bridges: [`FromThreadError`] and [`PortalError`].

use crate::cancel::Cancelled;

/// Why a [`from_thread`](crate::thread::from_thread) call could not run or deliver its result.
///
/// # Examples
///
/// ```
/// use tether::{FromThreadError, from_thread};
///
/// // A plain thread that tether did not start cannot use from_thread.
/// let err = std::thread::spawn(|| from_thread::check_cancelled()).join().unwrap().unwrap_err();
/// assert!(matches!(err, FromThreadError::NotInWorkerThread { .. }));
/// assert!(err.to_string().contains("BlockingPortal"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FromThreadError {
    /// The calling thread was not started by [`to_thread`](crate::thread::to_thread).
    #[error(
        "from_thread called from thread `{thread}`, which tether's to_thread did not start; \
         to call async code from any other thread, use a BlockingPortal"
    )]
    NotInWorkerThread {
        /// The name (or id) of the calling thread.
        thread: String,
    },
    /// The scope that called `to_thread` was cancelled: the async work was not started, or was
    /// cut off.
    #[error("the scope that called to_thread was cancelled: {0}")]
    Cancelled(Cancelled),
    /// The `to_thread` future was dropped by something other than a tether scope (a `select!`
    /// branch that lost, an aborted task): nobody waits for this thread any more.
    #[error(
        "the to_thread call that started this thread was dropped; nobody waits for its result, \
         so return from the thread"
    )]
    Abandoned,
    /// The tokio runtime that ran `to_thread` is shutting down.
    #[error("the tokio runtime that ran to_thread is shutting down; the async work was not run")]
    RuntimeShutdown,
}

impl FromThreadError {
    /// Whether this is the cancellation of the calling scope (or the abandonment of the call):
    /// the thread should stop its work and return.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether::FromThreadError::Abandoned.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            FromThreadError::Cancelled(_) | FromThreadError::Abandoned
        )
    }
}

/// Why a call through a [`BlockingPortal`](crate::thread::BlockingPortal) failed.
///
/// # Examples
///
/// ```
/// use tether::{BlockingPortal, CloseMode, PortalError};
///
/// let portal = BlockingPortal::new().unwrap();
/// let task = portal.start_task_soon(std::future::pending::<()>).unwrap();
/// portal.close(CloseMode::Cancel).unwrap();
/// assert_eq!(task.join().unwrap_err(), PortalError::ClosedWhileRunning);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortalError {
    /// The portal was closed before the call was made.
    #[error("the blocking portal is closed; open a new BlockingPortal to call async code")]
    Closed,
    /// The portal was closed (in [`CloseMode::Cancel`](crate::thread::CloseMode::Cancel)) while
    /// the call was queued or running, which cancelled it.
    #[error(
        "the blocking portal was closed while this call was queued or running, which cancelled it"
    )]
    ClosedWhileRunning,
    /// The task was cancelled through its [`PortalTask::cancel`](crate::thread::PortalTask::cancel).
    #[error("the portal task was cancelled: {0}")]
    Cancelled(Cancelled),
    /// A blocking portal method was called on the portal's own event loop, where waiting
    /// would deadlock.
    #[error(
        "blocking portal called from its own event loop (thread `{thread}`), where waiting would \
         deadlock; in async code there, await the future directly instead"
    )]
    CalledFromEventLoop {
        /// The name (or id) of the calling thread.
        thread: String,
    },
    /// A task started with [`start_task`](crate::thread::BlockingPortal::start_task) ended
    /// without calling [`TaskStatus::started`](crate::TaskStatus::started).
    #[error(
        "the portal task ended without calling started(); call status.started(value) once it is ready"
    )]
    NotStarted,
}

/// The calling thread's name, or its id when it has none.
pub(crate) fn thread_name() -> String {
    let current = std::thread::current();
    match current.name() {
        Some(name) => name.to_owned(),
        None => format!("{:?}", current.id()),
    }
}
