//! Binding a stream to the task group that owns it.
//!
//! The binding is one callback registered with the group's `on_end`. It runs once, when the
//! group ends, and shuts the stream (`Chan::owner_ended`): that sets the same two flags a last
//! close sets, so the per-item paths pay nothing for the binding. The callback holds the stream
//! alive until the group ends (the group keeps a small boxed closure per bound stream).

use super::chan::Chan;
use super::group_stub::{GroupEnded, TaskGroupHandle};
use super::{MemoryReceiver, MemorySender, memory_stream, unbounded_memory_stream};
use crate::loom::sync::Arc;

fn bind<T: Send + 'static>(chan: &Arc<Chan<T>>, group: &TaskGroupHandle) {
    let chan = chan.clone();
    group.on_end(Box::new(move |ended: &GroupEnded| {
        chan.owner_ended(ended.host)
    }));
}

/// Creates a [`memory_stream`] bound to a task group: when the group ends, the stream closes
/// for everyone. See [`MemorySender::bind_to_group`].
///
/// # Examples
///
/// See [`MemorySender::bind_to_group`].
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
    /// Binding costs nothing per item. Binding to several groups closes the stream when the
    /// first of them ends.
    ///
    /// # Examples
    ///
    /// See the module guide for the full hang this prevents.
    pub fn bind_to_group(&self, group: &TaskGroupHandle) {
        bind(&self.chan, group);
    }
}

impl<T: Send + 'static> MemoryReceiver<T> {
    /// Binds the whole stream to a task group; the same as
    /// [`MemorySender::bind_to_group`], callable from either end.
    pub fn bind_to_group(&self, group: &TaskGroupHandle) {
        bind(&self.chan, group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{RecvError, SendError};
    use crate::task::TaskId;
    use futures::FutureExt;

    // Stub-driven check of the owner-ended path; replaced by tests against real groups.
    #[test]
    fn group_end_drains_then_reports_owner() {
        let group = TaskGroupHandle::new();
        let (tx, rx) = memory_stream_in::<u32>(&group, 4);
        tx.try_send(1).unwrap();
        let mut waiting = Box::pin(rx.recv());
        assert_eq!(waiting.as_mut().now_or_never(), Some(Ok(1)));
        let mut waiting = Box::pin(rx.recv());
        assert!(waiting.as_mut().now_or_never().is_none());
        tx.try_send(2).unwrap(); // handed to the waiting receiver
        let host = TaskId::current();
        group.end(host);
        assert_eq!(waiting.now_or_never(), Some(Ok(2)));
        assert_eq!(
            rx.try_recv(),
            Err(RecvError::OwnerEnded { owner: host }.into())
        );
        assert_eq!(tx.try_send(3).unwrap_err().into_inner(), 3);
        assert!(matches!(
            tx.send(4).now_or_never(),
            Some(Err(SendError::OwnerEnded { item: 4, .. }))
        ));
    }
}
