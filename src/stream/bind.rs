//! Binding a stream to the task group that owns it.
//!
//! The binding is one callback registered with the group's `on_end`. It runs once, when the
//! group ends, and shuts the stream (`Chan::owner_ended`): that sets the same two flags a last
//! close sets, so the per-item paths pay nothing for the binding. The callback holds the stream
//! only weakly: once every handle is gone, the stream's state (buffer allocation, waiter queues)
//! is freed at once, and the group keeps only the boxed closure and the `Arc`'s bare
//! allocation until it ends.

use super::chan::Chan;
use super::{MemoryReceiver, MemorySender, memory_stream, unbounded_memory_stream};
use crate::loom::sync::Arc;
use crate::task_group::{GroupEnded, TaskGroupHandle};

fn bind<T: Send + 'static>(chan: &Arc<Chan<T>>, group: &TaskGroupHandle) {
    chan.set_bound_to(format!("group at {}", crate::Site::from(group.shared.site)));
    let chan = Arc::downgrade(chan);
    group.on_end(Box::new(move |ended: &GroupEnded| {
        // Gone: every handle was dropped, so nobody is left to tell.
        if let Some(chan) = chan.upgrade() {
            chan.owner_ended(ended.host);
        }
    }));
}

/// Creates a [`memory_stream`] bound to a task group: when the group ends, the stream closes
/// for everyone. See [`MemorySender::bind_to_group`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{RecvError, memory_stream_in, task_group};
///
/// let (rx, _still_open) = task_group(async |tg| {
///     let (tx, rx) = memory_stream_in::<u32>(&tg.handle(), 4);
///     let producer = tx.clone();
///     tg.spawn(async move { producer.send(1).await.unwrap() });
///     Ok::<_, std::convert::Infallible>((rx, tx)) // a send end outlives the group, open
/// })
/// .await
/// .unwrap();
/// assert_eq!(rx.recv().await, Ok(1));
/// assert!(matches!(rx.recv().await, Err(RecvError::OwnerEnded { .. })));
/// # }
/// ```
#[track_caller]
pub fn memory_stream_in<T: Send + 'static>(
    group: &TaskGroupHandle,
    capacity: usize,
) -> (MemorySender<T>, MemoryReceiver<T>) {
    let (tx, rx) = memory_stream(capacity);
    bind(&tx.chan, group);
    (tx, rx)
}

/// Creates an [`unbounded_memory_stream`] bound to a task group. See
/// [`MemorySender::bind_to_group`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{OwnedTaskGroup, SendError, unbounded_memory_stream_in};
///
/// let group = OwnedTaskGroup::open();
/// let (tx, rx) = unbounded_memory_stream_in::<u32>(&group.handle());
/// drop(group); // dropping an owned group ends it
/// assert!(matches!(tx.send(1).await, Err(SendError::OwnerEnded { item: 1, .. })));
/// # drop(rx);
/// # }
/// ```
#[track_caller]
pub fn unbounded_memory_stream_in<T: Send + 'static>(
    group: &TaskGroupHandle,
) -> (MemorySender<T>, MemoryReceiver<T>) {
    let (tx, rx) = unbounded_memory_stream();
    bind(&tx.chan, group);
    (tx, rx)
}

impl<T: Send + 'static> MemorySender<T> {
    /// Binds the whole stream (every end, every clone) to a task group: when the group ends —
    /// its body and children finish, it fails or is cancelled, or an owned group is dropped —
    /// the stream is closed for everyone. Receivers still drain what is buffered, then get
    /// [`RecvError::OwnerEnded`](super::RecvError::OwnerEnded) naming the task that hosted the
    /// group, at once; senders get [`SendError::OwnerEnded`](super::SendError::OwnerEnded) with
    /// their item back. If the group has already ended, the stream closes now.
    ///
    /// This is the AnyIO hang tether exists to prevent: a producer's task group exits without
    /// closing its send end while a consumer elsewhere waits on `receive()`; with AnyIO the
    /// consumer waits forever, with a bound tether stream it gets a typed error at once.
    ///
    /// The first cause wins: if every send end was closed before the group ended (producers
    /// that were children are dropped, with their send ends, when the group is cancelled),
    /// receivers get the normal [`EndOfStream`](super::RecvError::EndOfStream), and if every
    /// receive end was closed first, senders keep getting
    /// [`BrokenResource`](super::SendError::BrokenResource).
    ///
    /// Binding costs nothing per item. Binding to several groups closes the stream when the
    /// first of them ends.
    ///
    /// # Examples
    ///
    /// An SDK client whose `connect()` runs a background reader in a task group and keeps the
    /// stream for a later `receive_messages()` call. The group ends with `connect()` while the
    /// client still holds a send end, so nothing ever closes the stream: with AnyIO the later
    /// reader waits forever. Bound to the group, it drains what was read, then fails at once:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tether::{MemoryReceiver, MemorySender, RecvError, memory_stream, task_group};
    ///
    /// struct Client {
    ///     _requests: MemorySender<String>, // still open: the stream never ends by itself
    ///     messages: MemoryReceiver<String>,
    /// }
    ///
    /// let host = tether::TaskId::current();
    /// let client = task_group(async |tg| {
    ///     let (tx, rx) = memory_stream::<String>(16);
    ///     tx.bind_to_group(&tg.handle());
    ///     let reader = tx.clone();
    ///     tg.spawn(async move { reader.send("hello".to_string()).await.unwrap() });
    ///     Ok::<_, std::convert::Infallible>(Client { _requests: tx, messages: rx })
    /// })
    /// .await // the group ends here: its reader is done, `connect()` returns
    /// .unwrap();
    ///
    /// // Later, from another request: drain, then a typed error instead of a hang.
    /// assert_eq!(client.messages.recv().await.unwrap(), "hello");
    /// let err = client.messages.recv().await.unwrap_err();
    /// assert_eq!(err, RecvError::OwnerEnded { owner: host });
    /// assert!(err.to_string().contains("task group that owned this memory stream ended"));
    /// # }
    /// ```
    pub fn bind_to_group(&self, group: &TaskGroupHandle) {
        bind(&self.chan, group);
    }
}

impl<T: Send + 'static> MemoryReceiver<T> {
    /// Binds the whole stream to a task group; the same as
    /// [`MemorySender::bind_to_group`], callable from either end.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tether::{OwnedTaskGroup, RecvError};
    ///
    /// let mut group = OwnedTaskGroup::open();
    /// let (tx, rx) = tether::memory_stream::<u32>(1);
    /// rx.bind_to_group(&group.handle());
    /// group.close().await.unwrap();
    /// assert!(matches!(rx.recv().await, Err(RecvError::OwnerEnded { .. })));
    /// # drop(tx);
    /// # }
    /// ```
    pub fn bind_to_group(&self, group: &TaskGroupHandle) {
        bind(&self.chan, group);
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use crate::OwnedTaskGroup;

    /// Issue 8: a bound stream's state used to stay with its group until the group ended.
    #[tokio::test]
    async fn a_bound_stream_is_freed_when_its_handles_go_not_when_its_group_ends() {
        let mut group = OwnedTaskGroup::open();
        let (tx, rx) = memory_stream_in::<Vec<u8>>(&group.handle(), 4);
        tx.try_send(vec![0; 1024]).unwrap();
        let weak = Arc::downgrade(&tx.chan);
        drop((tx, rx));
        assert!(weak.upgrade().is_none(), "the group kept the stream alive");
        // The group still ends normally; its callback finds nothing to close.
        group.close().await.unwrap();
    }
}
