//! tether: structured concurrency for tokio, in the style of Trio and AnyIO.
//!
//! [`sync`] holds AnyIO's synchronization primitives: `Event`, `Lock`, `Semaphore`,
//! `CapacityLimiter`, `Condition`.
#![forbid(unsafe_code)]

pub mod cancel;
mod error;
mod loom;
pub mod stream;
mod task;
pub mod task_group;

pub mod sync;

pub use cancel::{
    CancelReason, CancelScope, CancelSource, Cancelled, TimeoutError, checkpoint,
    checkpoint_if_cancelled, current_effective_deadline, fail_after, fail_at, move_on_after,
    move_on_at, shield, with_cleanup,
};
pub use error::{BoxError, TaskContextError};
pub use stream::{
    MemoryReceiver, MemorySender, MemorySink, MemoryStreamStatistics, Permit, RecvError,
    RecvFuture, ReserveFuture, SendError, SendFuture, TryRecvError, TrySendError, memory_stream,
    memory_stream_in, unbounded_memory_stream, unbounded_memory_stream_in,
};
pub use task::TaskId;
pub use task_group::{
    CloseError, GroupError, OwnedTaskGroup, SpawnError, StartError, TaskGroup, TaskGroupHandle,
    TaskResult, TaskStatus, task_group,
};
