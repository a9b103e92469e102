//! Memory object streams: AnyIO's `create_memory_object_stream`, for tokio.
//!
//! A memory stream is a multi-producer, multi-consumer channel of `T` with a fixed capacity:
//!
//! - [`memory_stream(0)`](memory_stream): rendezvous; a send completes only when a receiver
//!   takes the item;
//! - [`memory_stream(n)`](memory_stream): bounded; up to `n` items wait in the buffer;
//! - [`unbounded_memory_stream()`](unbounded_memory_stream): sends never wait for room.
//!
//! Both ends clone ([`MemorySender`], [`MemoryReceiver`]); each item goes to exactly one
//! receiver. Every handle has a synchronous, idempotent `close()`, and dropping a handle closes
//! it.
//!
//! # Lifecycle
//!
//! | situation | sender gets | receiver gets |
//! |---|---|---|
//! | every send end closed or dropped | — | the buffered items, then [`RecvError::EndOfStream`] |
//! | every receive end closed or dropped | [`SendError::BrokenResource`], item handed back | — |
//! | this handle closed by its own `close()` | [`SendError::Closed`] | [`RecvError::Closed`] |
//! | no room now / nothing ready now (`try_*`) | [`TrySendError::WouldBlock`] | [`TryRecvError::WouldBlock`] |
//! | the owning task group ended ([bound](MemorySender::bind_to_group) streams) | [`SendError::OwnerEnded`] | the buffered items, then [`RecvError::OwnerEnded`] |
//!
//! A blocked `send` or `recv` is woken by the close that ends it. [`MemoryReceiver`] is a
//! [`futures::Stream`]; [`MemorySender::into_sink`] gives a [`futures::Sink`].
//!
//! # Cancellation: nothing is lost
//!
//! `send`, `reserve` and `recv` (and `Stream::poll_next`) are cancellation points, in Trio's
//! strict sense: inside a cancelled [`CancelScope`](crate::CancelScope) they never complete, even
//! when an item or room is ready at once, so the scope drops them there; and each may wait,
//! where dropping the future is the cancellation. `try_send`/`try_recv` are not cancellation
//! points.
//!
//! - A `send` cancelled before it returned `Ready` did not happen, strictly: the item stays in
//!   the future until the future itself delivers it, so it is dropped with the future and no
//!   receiver sees it. To keep the item in a `select!`, [`reserve`](MemorySender::reserve)
//!   first, then [`Permit::send`] (never waits).
//! - A `recv` cancelled while waiting consumed nothing. If an item was handed to it at that
//!   moment, the item goes to the next waiting receiver (or back to the head of the buffer).
//! - Waiting senders are served FIFO, and so are waiting receivers; items from one sender
//!   arrive in order.
//!
//! # Bound to the owning task group
//!
//! A stream fed by a task group's child outlives that group only by mistake. Bind it with
//! [`memory_stream_in`] or [`bind_to_group`](MemorySender::bind_to_group): when the group ends,
//! the stream closes for everyone, so a consumer elsewhere drains what was sent and then gets
//! [`RecvError::OwnerEnded`] naming the task that hosted the group — at once, instead of the
//! silent hang AnyIO gives when a producer's group exits without closing its send end. The
//! first cause wins: a stream whose send ends were all closed before the group ended still
//! reports the normal end of stream.
//!
//! # Comparison to tokio mpsc, flume and async-channel
//!
//! | | `tether` memory stream | `tokio::sync::mpsc` | `flume` | `async-channel` |
//! |---|---|---|---|---|
//! | consumers | many (`Clone`) | one | many | many |
//! | rendezvous (capacity 0) | yes | no (capacity ≥ 1) | yes | no |
//! | close from a handle | `close()` on either end, per handle | receiver only | drop only | either end, closes all |
//! | cancelled send | did not happen, item dropped with the future; `reserve` + `Permit` keeps it | same, `reserve` | item dropped with the future | item dropped with the future |
//! | cancelled receive | item handed to it goes to the next receiver | n/a (one receiver) | items stay queued, wakeup passed on | items stay queued, wakeup passed on |
//! | FIFO among waiting senders and receivers | both, with direct hand-off (no barging) | senders | woken in order, a newcomer may barge | woken in order, a newcomer may barge |
//! | bound to a task group's lifetime | yes, typed `OwnerEnded` error | no | no | no |
//! | bound to a task | optional, `TaskContextError` | no | no | no |
//! | statistics | AnyIO's six counters | capacity, len | len, capacity, counts | len, counts |
//!
//! The per-item path takes one short, uncontended `parking_lot` lock per operation, allocates
//! nothing for bounded streams (the buffer is allocated once, waiter slots are reused), wakes only
//! a task that waits, hands items straight to a waiting receiver, and takes part in tokio's
//! cooperative budget. Binding to a group adds nothing to it.
//!
//! # Draining without waiting, and where this differs from AnyIO
//!
//! `try_recv` takes only items that were *sent*: buffered, or handed over by a send that has
//! returned `Ready`. It never takes the item of a `send` still waiting (AnyIO's
//! `receive_nowait` does): a waiting sender keeps its item in its own future until that future
//! delivers it, which is what makes a cancelled send never happen — even a `select!` that drops
//! the send in the same instant a receiver made room. So on a full stream with blocked
//! senders, taking the buffered item *grants* its room to the oldest sender, and the next
//! `try_recv` is [`TryRecvError::WouldBlock`] until that sender's task has run. Statistics count
//! such a granted sender in [`tasks_waiting_send`](MemoryStreamStatistics::tasks_waiting_send)
//! until it delivers. A non-blocking drain that should also take what blocked senders are about
//! to deliver yields while any are left:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let (tx, rx) = tether::memory_stream::<u32>(1);
//! # tx.try_send(0).unwrap();
//! # let t = tokio::spawn(async move { tx.send(1).await });
//! # tokio::task::yield_now().await;
//! let mut drained = Vec::new();
//! loop {
//!     match rx.try_recv() {
//!         Ok(item) => drained.push(item),
//!         Err(tether::TryRecvError::WouldBlock) if rx.statistics().tasks_waiting_send > 0 => {
//!             tokio::task::yield_now().await
//!         }
//!         Err(_) => break,
//!     }
//! }
//! assert_eq!(drained, [0, 1]);
//! # t.await.unwrap().unwrap();
//! # }
//! ```
//!
//! # Memory
//!
//! A bounded stream allocates its buffer once (up to 1024 slots up front, growing to at most
//! its capacity). An unbounded stream grows with a burst and gives the memory back as the burst
//! drains: its allocation halves whenever the buffer falls to a quarter of it, down to 1024
//! slots.
//!
//! # Lifetime of a bound stream's state
//!
//! Binding registers a small callback with the group. It holds the stream weakly: once every
//! handle is dropped, the stream's state is freed at once, even while the group lives on; the
//! group keeps only the callback (a few dozen bytes) until it ends.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use futures::StreamExt;
//!
//! let (tx, rx) = tether::memory_stream::<u32>(16);
//! let producer = tokio::spawn(async move {
//!     for i in 0..3 {
//!         tx.send(i).await.unwrap();
//!     }
//!     // dropping `tx` ends the stream once it is drained
//! });
//! assert_eq!(rx.collect::<Vec<_>>().await, [0, 1, 2]);
//! producer.await.unwrap();
//! # }
//! ```

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
pub fn unbounded_memory_stream<T>() -> (MemorySender<T>, MemoryReceiver<T>) {
    memory_stream(usize::MAX)
}
