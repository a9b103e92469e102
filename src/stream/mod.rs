//! Memory object streams: AnyIO's `create_memory_object_stream`, for tokio.
//!
//! The user guide for this module is `guide.md` next to this file, rendered in the crate
//! documentation (the module is private: its public items are re-exported at the crate root).

mod bind;
mod chan;
mod error;
mod receiver;
mod sender;
mod stats;

pub use bind::{memory_stream_in, unbounded_memory_stream_in};
pub use error::{RecvError, SendError, TryRecvError, TrySendError};
pub use receiver::{MemoryReceiver, RecvFuture};
pub use sender::{MemorySender, MemorySink, Permit, ReserveFuture, SendFuture};
pub use stats::MemoryStreamStatistics;

use crate::loom::sync::Arc;
use chan::Chan;

/// Creates a memory stream holding up to `capacity` items (AnyIO's
/// `create_memory_object_stream(max_buffer_size)`).
///
/// `capacity == 0` makes a rendezvous stream: a send completes only when a receiver takes the
/// item. `usize::MAX` is the same as [`unbounded_memory_stream`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, rx) = tether::memory_stream::<u32>(2);
/// tx.send(1).await.unwrap();
/// tx.send(2).await.unwrap();
/// assert!(tx.try_send(3).unwrap_err().is_would_block()); // full
/// assert_eq!(rx.recv().await, Ok(1));
/// # }
/// ```
#[track_caller]
pub fn memory_stream<T>(capacity: usize) -> (MemorySender<T>, MemoryReceiver<T>) {
    let chan = Arc::new(Chan::new(capacity));
    (
        MemorySender::from_chan(chan.clone()),
        MemoryReceiver::from_chan(chan),
    )
}

/// Creates a memory stream without a bound: sends never wait for room, and `try_send` fails
/// only once the stream is closed (AnyIO's `create_memory_object_stream(math.inf)`). An awaited
/// `send` may still yield once to the scheduler when the task used up tokio's cooperative
/// budget.
///
/// # Examples
///
/// ```
/// let (tx, rx) = tether::unbounded_memory_stream::<u32>();
/// for i in 0..1000 {
///     tx.try_send(i).unwrap();
/// }
/// assert_eq!(rx.statistics().current_buffer_used, 1000);
/// assert_eq!(rx.statistics().max_buffer_size, None);
/// ```
#[track_caller]
pub fn unbounded_memory_stream<T>() -> (MemorySender<T>, MemoryReceiver<T>) {
    memory_stream(usize::MAX)
}
