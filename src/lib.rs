//! tether: structured concurrency for tokio, in the style of Trio and AnyIO.
//!
//! [`sync`] holds AnyIO's synchronization primitives: `Event`, `Lock`, `Semaphore`,
//! `CapacityLimiter`, `Condition`.
#![forbid(unsafe_code)]

mod error;
mod loom;
mod task;

pub mod sync;

pub use error::{BoxError, TaskContextError};
pub use task::TaskId;
