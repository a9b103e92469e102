//! tether: structured concurrency for tokio, in the style of Trio and AnyIO.
#![forbid(unsafe_code)]

mod error;
mod loom;
mod task;

pub use error::{BoxError, TaskContextError};
pub use task::TaskId;
