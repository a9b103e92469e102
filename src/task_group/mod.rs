//! Task groups: spawn children that are real tokio tasks, and never lose one.
//!
//! A task group owns its children. Leaving it waits for all of them; the first failure cancels
//! the rest; every failure comes back in one [`GroupError`]; a panic reaches the parent after
//! the siblings are stopped; a group is never silently detached. This is AnyIO's task group
//! (Trio's nursery) on tokio.
//!
//! Two forms:
//!
//! - [`task_group`]: `task_group(async |tg| { tg.spawn(...); ... }).await` — the group lives
//!   exactly as long as the call, and the `&TaskGroup` cannot escape it.
//! - [`OwnedTaskGroup`]: `open()` now, `close().await` later, in the same task — for a client
//!   that keeps background tasks between `connect()` and `disconnect()`.
//!
//! [`TaskGroup::start`] spawns a child and waits until it reports ready with a value (a server
//! reporting its bound port).
//!
//! # Comparison to `JoinSet`
//!
//! A `JoinSet` is a set of handles: it aborts on drop, but it does not cancel the others when one
//! fails, does not collect failures, does not nest (aborting a task does not reach the tasks it
//! spawned), has no ready handshake, and its tasks do not see deadlines or shields. A tether
//! child is a tokio task under the group's cancel scope, so cancellation reaches nested groups
//! all the way down, and shields and deadlines inside a child work as they do anywhere.

mod child;
mod error;
mod handle;
#[cfg(all(test, tether_loom))]
mod loom_tests;
mod owned;
mod panic;
mod scoped;
mod shared;
mod start;

pub use error::{CloseError, FailureOrigin, GroupError, SpawnError, StartError, TaskFailure};
pub use handle::TaskGroupHandle;
pub use owned::OwnedTaskGroup;
pub use panic::GroupPanic;
pub use scoped::{TaskGroup, task_group};
pub(crate) use shared::GroupEnded;
pub use start::{Start, TaskStatus};

use crate::error::BoxError;

/// What a task (a child, or a group body) may return: `()`, or `Result<T, E>` with
/// `E: Into<BoxError>` (any `std::error::Error + Send + Sync`, `String`, `&str`, `anyhow::Error`).
///
/// An `Err` is a failure: it cancels the group and is collected into [`GroupError`].
pub trait TaskResult {
    /// The success value.
    type Ok;

    /// Splits into success or failure.
    fn into_result(self) -> Result<Self::Ok, BoxError>;
}

impl TaskResult for () {
    type Ok = ();

    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<T, E: Into<BoxError>> TaskResult for Result<T, E> {
    type Ok = T;

    fn into_result(self) -> Result<T, BoxError> {
        self.map_err(Into::into)
    }
}
