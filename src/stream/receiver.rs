//! The receive end: [`MemoryReceiver`], its [`Recv`] future and its `Stream` impl.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::chan::{CancelPoint, Chan, Key};
use super::error::{RecvError, TryRecvError};
use super::stats::MemoryStreamStatistics;
use crate::error::TaskContextError;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::task::TaskId;

/// The receive end of a memory stream (AnyIO's `MemoryObjectReceiveStream`).
///
/// Clone it to get another open receive end (multi-consumer: each item goes to exactly one
/// receiver). It is a [`futures::Stream`] that ends at end-of-stream.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures::StreamExt;
///
/// let (tx, mut rx) = tether::memory_stream::<u32>(2);
/// tx.send(1).await.unwrap();
/// tx.send(2).await.unwrap();
/// tx.close();
/// let mut got = Vec::new();
/// while let Some(x) = rx.next().await {
///     got.push(x);
/// }
/// assert_eq!(got, [1, 2]);
/// # }
/// ```
pub struct MemoryReceiver<T> {
    /// The shared stream.
    pub(super) chan: Arc<Chan<T>>,
    /// Whether this handle was closed (by `close` or drop); per handle, not shared by clones.
    closed: AtomicBool,
    /// The task this end is bound to, if any (`bind_to_current_task`).
    bound_task: Option<TaskId>,
    /// The waiter of a pending `poll_next` (the `Stream` impl has no future to hold it). If a
    /// `next()` is abandoned, the next `recv`/`try_recv` on this handle gives the place up
    /// (passing on any item handed to it), so nothing stays parked there.
    stream_key: Mutex<Option<Key>>,
    /// Whether `stream_key` holds a waiter: lets `recv` skip that lock on the common path.
    parked: AtomicBool,
    /// `poll_next` as a cancellation point (the `Stream` impl has no future to hold it).
    cancel_point: CancelPoint,
}

impl<T> MemoryReceiver<T> {
    pub(super) fn from_chan(chan: Arc<Chan<T>>) -> Self {
        Self::with_state(chan, false)
    }

    fn with_state(chan: Arc<Chan<T>>, closed: bool) -> Self {
        Self {
            chan,
            closed: AtomicBool::new(closed),
            bound_task: None,
            stream_key: Mutex::new(None),
            parked: AtomicBool::new(false),
            cancel_point: CancelPoint::default(),
        }
    }

    /// Gives up the place of an abandoned `next()`, passing on anything handed to it.
    #[inline]
    fn unpark(&self) {
        if self.parked.load(Ordering::Acquire) {
            self.parked.store(false, Ordering::Release);
            let key = self.stream_key.lock().take();
            if let Some(key) = key {
                self.chan.cancel_recv(key);
            }
        }
    }

    /// The checks every receive makes before touching the stream: own close, task binding.
    #[inline]
    fn check_handle(&self) -> Result<(), RecvError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(RecvError::Closed);
        }
        if let Some(owner) = self.bound_task {
            let current = TaskId::current();
            if current != owner {
                return Err(wrong_task(owner, current));
            }
        }
        Ok(())
    }

    /// Receives the next item, waiting for one.
    ///
    /// Buffered items come first, oldest first; waiting receivers are served in the order they
    /// started waiting (FIFO), and an item is handed straight to the receiver it is meant for.
    ///
    /// # Errors
    ///
    /// - [`RecvError::EndOfStream`] once every send end is closed or dropped and the buffer is
    ///   drained (also while waiting: the close wakes the receiver);
    /// - [`RecvError::OwnerEnded`] once the task group the stream is bound to has ended and the
    ///   buffer is drained, at once, never a hang;
    /// - [`RecvError::Closed`] if this handle was closed with [`close`](Self::close);
    /// - [`RecvError::WrongTask`] if this end is bound to another task.
    ///
    /// # Cancel safety
    ///
    /// A cancellation point, and cancel safe: dropping the future loses nothing. If an item was
    /// handed to this receiver at the moment it was cancelled, the item goes to the next
    /// waiting receiver, or back to the head of the buffer for the next `recv`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = tether::memory_stream::<u32>(1);
    /// tokio::spawn(async move { tx.send(3).await });
    /// assert_eq!(rx.recv().await, Ok(3));
    /// # }
    /// ```
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            rx: self,
            key: None,
            diag: None,
            cancel_point: CancelPoint::default(),
        }
    }

    /// Receives an item if one is ready now: buffered, or the item of a blocked
    /// [`send`](super::MemorySender::send) (AnyIO's `receive_nowait`).
    ///
    /// Taking the buffer's head moves the oldest blocked send's item into the room it frees;
    /// with nothing buffered (a rendezvous stream), the oldest blocked send's item is taken
    /// directly. Either way that send has then happened: its future completes with `Ok(())`.
    /// So a loop of `try_recv` drains a full stream and its blocked senders without awaiting
    /// in between. Only a waiting [`reserve`](super::MemorySender::reserve) has no item to
    /// take; and while another receiver is already waiting, the next item is its, not ours.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::WouldBlock`] if none is ready, otherwise the errors of
    /// [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::TryRecvError;
    ///
    /// let (tx, rx) = tether::memory_stream::<u32>(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::WouldBlock));
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.check_handle()?;
        self.unpark();
        self.chan.try_recv().map_err(|shut| match shut {
            None => TryRecvError::WouldBlock,
            Some(shut) => RecvError::from_shut(shut).into(),
        })
    }

    /// Closes this receive end (AnyIO's `close()`); idempotent. Clones stay open. When the last
    /// receive end closes, the buffered items are dropped, blocked senders wake, and every
    /// send fails with [`SendError::BrokenResource`](super::SendError::BrokenResource) handing
    /// its item back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = tether::memory_stream::<u32>(1);
    /// rx.close();
    /// assert!(tx.try_send(1).is_err());
    /// ```
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.chan.close_receiver();
        }
    }

    /// Whether this handle was closed with [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = tether::memory_stream::<u32>(1);
    /// rx.close();
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Binds this receive end to the task running now: receiving from any other task then fails
    /// at once with [`RecvError::WrongTask`], a [`TaskContextError`] naming both tasks, instead
    /// of silently competing for items. Clones made afterwards are bound too; clone first to
    /// hand another task its own end.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tether::RecvError;
    ///
    /// let (tx, rx) = tether::memory_stream::<u32>(1);
    /// let rx = rx.bind_to_current_task();
    /// tx.send(1).await.unwrap();
    /// let err = tokio::spawn(async move { rx.recv().await }).await.unwrap().unwrap_err();
    /// let RecvError::WrongTask(err) = err else { panic!() };
    /// assert_eq!(err.resource(), "memory stream receive end");
    /// # }
    /// ```
    pub fn bind_to_current_task(mut self) -> Self {
        self.bound_task = Some(TaskId::current());
        self
    }

    /// A snapshot of the stream's counters (AnyIO's `statistics()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = tether::memory_stream::<u32>(0);
    /// let stats = rx.statistics();
    /// assert_eq!((stats.open_send_streams, stats.open_receive_streams), (1, 1));
    /// ```
    pub fn statistics(&self) -> MemoryStreamStatistics {
        MemoryStreamStatistics::from_counters(self.chan.counters())
    }
}

impl<T> Clone for MemoryReceiver<T> {
    /// Another open receive end of the same stream (bound to the same task, if this one is),
    /// even if this one is closed — unless every receive end is already closed (the buffer was
    /// discarded and senders were told): then the clone is closed too.
    fn clone(&self) -> Self {
        let open = self.chan.add_receiver();
        let mut rx = Self::with_state(self.chan.clone(), !open);
        rx.bound_task = self.bound_task;
        rx
    }
}

impl<T> Drop for MemoryReceiver<T> {
    fn drop(&mut self) {
        self.unpark();
        self.close();
    }
}

impl<T> fmt::Debug for MemoryReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReceiver")
            .field("closed", &self.is_closed())
            .field("bound_task", &self.bound_task)
            .field("stream", &*self.chan)
            .finish()
    }
}

/// The error of a receive on a handle bound to another task; out of line, so a receive's
/// result is not built around it on every call.
#[cold]
#[inline(never)]
fn wrong_task(owner: TaskId, current: TaskId) -> RecvError {
    RecvError::WrongTask(TaskContextError::new(
        "memory stream receive end",
        "bound",
        "used",
        owner,
        current,
        "receive from the task that bound it, or give the other task its own clone made before \
         bind_to_current_task()",
    ))
}

/// Polls one receive for `rx`, with its waiter in `key`: shared by [`Recv`] and `poll_next`.
fn poll_recv<T>(
    rx: &MemoryReceiver<T>,
    key: &mut Option<Key>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, RecvError>> {
    if let Err(e) = rx.check_handle() {
        if let Some(k) = key.take() {
            rx.chan.cancel_recv(k);
        }
        return Poll::Ready(Err(e));
    }
    let coop = ready!(tokio::task::coop::poll_proceed(cx));
    let Poll::Ready(result) = rx.chan.poll_recv(key, cx) else {
        // A close of this handle that raced with queueing may have missed this waiter: the
        // flag is set before the close wakes waiters, so re-check it (and poll again at once).
        if rx.closed.load(Ordering::Acquire) {
            cx.waker().wake_by_ref();
        }
        return Poll::Pending;
    };
    match result {
        Ok(item) => {
            coop.made_progress();
            Poll::Ready(Ok(item))
        }
        Err(shut) => Poll::Ready(Err(RecvError::from_shut(shut))),
    }
}

/// The future of [`MemoryReceiver::recv`]; see there for errors. Dropping it loses nothing:
/// an item handed to it at that moment goes to the next receiver.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures::FutureExt;
///
/// let (tx, rx) = tether::memory_stream::<u32>(1);
/// let recv: tether::RecvFuture<'_, u32> = rx.recv();
/// assert!(recv.now_or_never().is_none()); // nothing yet; dropped
/// tx.try_send(1).unwrap();
/// assert_eq!(rx.recv().await, Ok(1)); // nothing was consumed by the dropped one
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: &'a MemoryReceiver<T>,
    key: Option<Key>,
    /// The wait as the task tree shows it (while the tree is on).
    diag: Option<crate::diagnostics::registry::WaitToken>,
    /// Cut off inside a cancelled scope.
    cancel_point: CancelPoint,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.cancel_point.cut_off(cx) {
            // A cancellation point even when an item is ready: the cancelled scope drops us,
            // and `Drop` passes on anything handed to us.
            return Poll::Pending;
        }
        if this.key.is_none() {
            this.rx.unpark();
        }
        let poll = poll_recv(this.rx, &mut this.key, cx);
        if poll.is_pending() {
            crate::diagnostics::registry::track(&mut this.diag, || {
                crate::diagnostics::registry::WaitOn::Stream {
                    send: false,
                    state: this.rx.chan.diag_state(),
                }
            });
        } else {
            this.diag = None;
        }
        poll
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.rx.chan.cancel_recv(key);
        }
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> Unpin for MemoryReceiver<T> {}

/// Yields items until end-of-stream.
///
/// The stream also ends on the errors of [`recv`](MemoryReceiver::recv) (owner ended, closed,
/// wrong task); call `recv().await` afterwards to learn which: it returns the same error at
/// once. Dropping a pending `next()` loses nothing: this end keeps its place in the queue
/// until the next `poll_next` (which returns what was handed to it), a `recv`/`try_recv` on
/// this handle (which passes that item on first), or the drop of this end.
impl<T> futures::Stream for MemoryReceiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        if this.cancel_point.cut_off(cx) {
            return Poll::Pending;
        }
        let mut key = this.stream_key.lock().take();
        let result = poll_recv(this, &mut key, cx);
        if result.is_ready() {
            this.cancel_point.reset(); // the next `next()` is a new cancellation point
        }
        this.parked.store(key.is_some(), Ordering::Release);
        *this.stream_key.lock() = key;
        result.map(Result::ok)
    }
}

impl<T> futures::stream::FusedStream for MemoryReceiver<T> {
    fn is_terminated(&self) -> bool {
        // Terminated once a poll would end it: cheap enough, it only takes the lock.
        !self.parked.load(Ordering::Acquire) && self.chan.is_drained_and_shut()
    }
}
