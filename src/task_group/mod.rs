//! Task groups: the guide is the crate docs' "Task groups" section; this module holds
//! the machinery.

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
mod tokio_name;

pub use error::{CloseError, FailureOrigin, GroupError, SpawnError, StartError, TaskFailure};
pub use handle::TaskGroupHandle;
pub use owned::OwnedTaskGroup;
pub use panic::GroupPanic;
pub use scoped::{TaskGroup, task_group};
pub(crate) use shared::{GroupEnded, GroupShared};
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
