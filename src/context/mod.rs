//! Context that children inherit: values a task sets and the tasks it spawns see (AnyIO copies
//! the spawning task's `contextvars` context into every new task).
//!
//! Three things travel from a spawning task to its children, copied at spawn time from the
//! task that calls `spawn`/`start` (not from the task hosting the group):
//!
//! - [`ContextVar`] values (Python's `contextvars`): request ids, auth, per-request settings.
//!   A child's changes stay in the child.
//! - tokio `task_local!` values, for keys registered with [`propagate_task_local`]: the child
//!   runs inside the value its spawner had.
//! - With the `tracing` feature, the spawner's current `tracing` span: the child runs inside it.
//!
//! tether's task groups take a [`Snapshot`] with [`capture`] when a child is spawned and run
//! the child inside it with [`Snapshot::scope`]. The same two calls carry context anywhere
//! else (a plain `tokio::spawn`, a thread).
//!
//! # Cost
//!
//! With nothing set, capturing is a thread-local read and an atomic load (no allocation, no
//! reference count), and each poll of a child swaps one pointer in and out of a thread-local.
//! With variables set, a capture is one `Arc` clone; the first `set` in a child copies the
//! list of variables once.
//!
//! # Comparison to tokio's `task_local!`
//!
//! A tokio task-local is set for a section (`KEY.scope(v, fut)`) and is not inherited by
//! spawned tasks; `ContextVar` values can also be `set` in place, and are inherited by every
//! tether child. Registered task-locals get the inheritance too.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tether::context::ContextVar;
//!
//! static USER: ContextVar<String> = ContextVar::new("user");
//!
//! USER.scope("ada".into(), async {
//!     tether::task_group(async |tg| {
//!         let handle = tg.handle();
//!         tg.spawn(async move {
//!             USER.set("grace".into()).unwrap();
//!             // Spawned through the handle by this child: inherits *this child's* context.
//!             handle
//!                 .spawn(async { assert_eq!(USER.get().as_deref(), Some("grace")) })
//!                 .unwrap();
//!         });
//!         tg.spawn(async { assert_eq!(USER.get().as_deref(), Some("ada")) });
//!     })
//!     .await
//!     .unwrap();
//! })
//! .await;
//! # }
//! ```

mod snapshot;
mod task_local;
mod var;

pub use snapshot::{Scoped, Snapshot, capture};
pub use task_local::propagate_task_local;
pub use var::{ContextVar, NoContextError};
