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

/// A resource's binding to the task that created it, for libraries built on tether.
///
/// tether binds its own groups, scopes and stream ends to a task and reports use from another
/// task as a [`TaskContextError`](crate::TaskContextError). A `TaskBinding` gives a library the
/// same check for *its* resources (a client, a session, a connection) under their own name:
/// record the creating task with [`current`](Self::current), and call
/// [`check`](Self::check) at the top of every operation that must run in that task. From
/// another task the check fails at once with an error naming the resource, both tasks and the
/// fix — instead of a hang or a failure far from the cause.
///
/// The binding is plain data (`Copy`, `Send`, `Sync`): it moves with the resource, and the
/// check compares [`TaskId::current`] with the recorded task (no locking, no allocation).
/// Outside any tokio task (a `block_on` body) the thread is the identity, as for [`TaskId`].
///
/// The error's message reads `{resource} {created} in {task} was {action} from {task}; {fix}`,
/// for example `claude client connected in task 7 was disconnected from task 12; disconnect it
/// in the task that connected it, ...`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{TaskBinding, TaskContextError, TaskId};
///
/// /// A session that must be used in the task that opened it.
/// struct Session {
///     binding: TaskBinding,
/// }
///
/// impl Session {
///     fn open() -> Session {
///         let binding = TaskBinding::current(
///             "session",
///             "use it in the task that opened it, or open one per task",
///         )
///         .created_as("opened");
///         Session { binding }
///     }
///
///     fn send(&self) -> Result<(), TaskContextError> {
///         self.binding.check("used")?;
///         Ok(())
///     }
/// }
///
/// let session = Session::open();
/// assert!(session.send().is_ok());
///
/// let opener = TaskId::current();
/// let (err, other) = tokio::spawn(async move { (session.send().unwrap_err(), TaskId::current()) })
///     .await
///     .unwrap();
/// assert_eq!(err.owner(), opener);
/// assert_eq!(err.current(), other);
/// assert_eq!(
///     err.to_string(),
///     format!(
///         "session opened in {opener} was used from {other}; use it in the task that opened \
///          it, or open one per task"
///     )
/// );
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskBinding {
    task: TaskId,
    resource: &'static str,
    created: &'static str,
    fix: &'static str,
}

impl TaskBinding {
    /// Binds a resource to the task running now.
    ///
    /// `resource` names it in errors (`"claude client"`, `"session"`); `fix` says what to do
    /// instead (`"disconnect it in the task that connected it, or share a handle"`). The
    /// resource is said to be `"created"` in its task unless [`created_as`](Self::created_as)
    /// gives a better verb.
    ///
    /// # Examples
    ///
    /// ```
    /// let binding = tether::TaskBinding::current("widget", "use it where it was made");
    /// assert_eq!(binding.task(), tether::TaskId::current());
    /// assert_eq!(binding.resource(), "widget");
    /// ```
    #[inline]
    pub fn current(resource: &'static str, fix: &'static str) -> TaskBinding {
        TaskBinding {
            task: TaskId::current(),
            resource,
            created: "created",
            fix,
        }
    }

    /// The verb for how the resource came to be, used in errors: `"connected"`, `"opened"`.
    ///
    /// # Examples
    ///
    /// ```
    /// let binding = tether::TaskBinding::current("client", "share a handle").created_as("connected");
    /// assert!(binding.check("used").is_ok());
    /// ```
    #[must_use]
    pub fn created_as(mut self, verb: &'static str) -> TaskBinding {
        self.created = verb;
        self
    }

    /// The task the resource is bound to.
    pub fn task(&self) -> TaskId {
        self.task
    }

    /// The resource's name, as given to [`current`](Self::current).
    pub fn resource(&self) -> &'static str {
        self.resource
    }

    /// Whether the code running now is the bound task.
    #[inline]
    pub fn is_current(&self) -> bool {
        TaskId::current() == self.task
    }

    /// Checks that the code running now is the bound task, before an operation named `action`
    /// (a past participle for the message: `"used"`, `"queried"`, `"disconnected"`).
    ///
    /// # Errors
    ///
    /// A [`TaskContextError`](crate::TaskContextError) from any other task, naming the resource,
    /// the bound task ([`owner`](crate::TaskContextError::owner)), the current one
    /// ([`current`](crate::TaskContextError::current)) and the fix.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let binding = tether::TaskBinding::current("widget", "use it where it was made");
    /// assert!(binding.check("used").is_ok());
    /// let err = tokio::spawn(async move { binding.check("used").unwrap_err() }).await.unwrap();
    /// assert_eq!(err.resource(), "widget");
    /// assert_eq!(err.owner(), binding.task());
    /// # }
    /// ```
    #[inline]
    pub fn check(&self, action: &'static str) -> Result<(), crate::TaskContextError> {
        let current = TaskId::current();
        if current == self.task {
            return Ok(());
        }
        Err(crate::TaskContextError::new(
            self.resource,
            self.created,
            action,
            self.task,
            current,
            self.fix,
        ))
    }
}
