//! Context: see the crate docs ("Context" section) for the guide; this module holds
//! the machinery.

mod snapshot;
mod task_local;
mod var;

pub(crate) use snapshot::{ChildVars, nothing_to_inherit, poll_child};
pub use snapshot::{Scoped, Snapshot, capture};
pub use task_local::propagate_task_local;
pub use var::{ContextVar, NoContextError};
