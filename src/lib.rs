//! tether: structured concurrency for tokio, in the style of Trio and AnyIO.
#![forbid(unsafe_code)]

mod error;
mod loom;
mod stream;
mod task;

pub use error::{BoxError, TaskContextError};
pub use stream::{
    MemoryReceiver, MemorySender, MemorySink, MemoryStreamStatistics, Permit, RecvError,
    RecvFuture, ReserveFuture, SendError, SendFuture, TryRecvError, TrySendError, memory_stream,
    memory_stream_in, unbounded_memory_stream, unbounded_memory_stream_in,
};
pub use task::TaskId;
