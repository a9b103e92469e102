//! The send end: [`MemorySender`], its futures, [`Permit`] and the [`MemorySink`] adapter.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::chan::{CancelPoint, Chan, Key, Withdrawn};
use super::error::{SendError, TrySendError};
use super::stats::MemoryStreamStatistics;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The send end of a memory stream (AnyIO's `MemoryObjectSendStream`).
///
/// Clone it to get another open send end (multi-producer). The stream ends for receivers, after
/// they drain the buffer, once every send end is closed or dropped.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, rx) = tether::memory_stream::<u32>(4);
/// let tx2 = tx.clone();
/// tx.send(1).await.unwrap();
/// tx2.send(2).await.unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.recv().await, Ok(1));
/// assert_eq!(rx.recv().await, Ok(2));
/// assert!(rx.recv().await.unwrap_err().is_end_of_stream());
/// # }
/// ```
pub struct MemorySender<T> {
    /// The shared stream.
    pub(super) chan: Arc<Chan<T>>,
    /// Whether this handle was closed (by `close` or drop); per handle, not shared by clones.
    closed: AtomicBool,
    /// This handle's key in the task tree's list of who holds the send ends (0: not listed;
    /// set on its first use while the tree is on).
    diag_key: AtomicU64,
}

impl<T> MemorySender<T> {
    pub(super) fn from_chan(chan: Arc<Chan<T>>) -> Self {
        Self::with_state(chan, false)
    }

    fn with_state(chan: Arc<Chan<T>>, closed: bool) -> Self {
        Self {
            chan,
            closed: AtomicBool::new(closed),
            diag_key: AtomicU64::new(0),
        }
    }

    /// While the task tree is on, records the current task as this handle's holder (the last
    /// task to use it); one relaxed load otherwise.
    #[inline]
    fn note_use(&self) {
        if crate::diagnostics::registry::enabled() {
            self.note_use_on();
        }
    }

    #[inline(never)]
    fn note_use_on(&self) {
        if self.is_closed_here() {
            return;
        }
        let key = match self.diag_key.load(Ordering::Acquire) {
            0 => {
                let new = crate::diagnostics::registry::next_id();
                match self
                    .diag_key
                    .compare_exchange(0, new, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => new,
                    Err(key) => key,
                }
            }
            key => key,
        };
        self.chan.sender_holders().used(key);
        // A close that raced with this use may have missed the entry just made.
        if self.is_closed_here() {
            self.chan.sender_holders().closed(key);
        }
    }

    #[inline]
    fn is_closed_here(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends `item`, waiting for room (or, on a rendezvous stream, for a receiver to take it).
    ///
    /// Items from one sender arrive in the order they were sent. Waiting senders are served in
    /// the order they started waiting (FIFO). The send completes when the item is put in the
    /// buffer or handed to a waiting receiver; on a rendezvous stream, only the latter.
    ///
    /// # Errors
    ///
    /// The item comes back inside the error:
    /// - [`SendError::BrokenResource`] if every receive end is closed or dropped (also while
    ///   waiting);
    /// - [`SendError::Closed`] if this handle was closed with [`close`](Self::close) (also
    ///   while waiting);
    /// - [`SendError::OwnerEnded`] if the task group the stream is bound to ended.
    ///
    /// # Cancel safety
    ///
    /// A cancellation point. While the send waits, its item waits in the stream, where a
    /// receive (also [`try_recv`](super::MemoryReceiver::try_recv)) may take it: that completes
    /// the send, and the future then returns `Ok(())`. A send cancelled before that never
    /// happens: dropping the future takes the item back out of the stream and drops it, and a
    /// poll inside a cancelled scope takes it back at once, so no receive completes the send
    /// from then on. A send whose item was taken before it was dropped or cut off *has*
    /// happened (as in Trio, the hand-off wins over a later cancel): polled again, it returns
    /// `Ok(())`; dropped, the item stays delivered. Under `select!`, where a losing branch is
    /// dropped without being polled again, use [`reserve`](Self::reserve) first and send
    /// through the [`Permit`] to know for certain whether the item went out, and keep it if
    /// not.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = tether::memory_stream::<&str>(0); // rendezvous
    /// let consumer = tokio::spawn(async move { rx.recv().await });
    /// tx.send("hi").await.unwrap(); // completes once the consumer took it
    /// assert_eq!(consumer.await.unwrap(), Ok("hi"));
    /// # }
    /// ```
    pub fn send(&self, item: T) -> SendFuture<'_, T> {
        self.note_use();
        SendFuture {
            tx: self,
            item: Some(item),
            key: None,
            diag: None,
            cancel_point: CancelPoint::default(),
        }
    }

    /// Sends `item` if that can be done at once: room in the buffer (with no sender queued
    /// ahead), or a receiver waiting for it.
    ///
    /// # Errors
    ///
    /// [`TrySendError::WouldBlock`] if it cannot be done now, otherwise as for
    /// [`send`](Self::send). The item comes back inside the error.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = tether::memory_stream::<u32>(1);
    /// tx.try_send(1).unwrap();
    /// assert!(tx.try_send(2).unwrap_err().is_would_block());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        self.note_use();
        if self.is_closed_here() {
            return Err(SendError::Closed(item).into());
        }
        self.chan.try_send(item).map_err(|(item, shut)| match shut {
            None => TrySendError::WouldBlock(item),
            Some(shut) => SendError::from_shut(item, shut).into(),
        })
    }

    /// Waits for room for one item and holds it in a [`Permit`]; sending through the permit
    /// then cannot wait. The two-step form of [`send`](Self::send), for `select!`.
    ///
    /// Reservations queue with sends, FIFO. On a rendezvous stream a permit is granted while a
    /// receiver is waiting; if that receiver is cancelled before the permit is used, the item
    /// sent through it waits in the stream for the next receiver.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send), with `()` in place of the item.
    ///
    /// # Cancel safety
    ///
    /// A cancellation point, and cancel safe: nothing is lost when the future is dropped. Room
    /// granted to a dropped future is passed to the next waiting sender.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = tether::memory_stream::<String>(1);
    /// let item = "kept".to_string();
    /// tokio::select! {
    ///     permit = tx.reserve() => permit.unwrap().send(item).unwrap(),
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
    ///         // `item` is still ours here
    ///     }
    /// }
    /// assert_eq!(rx.recv().await.unwrap(), "kept");
    /// # }
    /// ```
    pub fn reserve(&self) -> ReserveFuture<'_, T> {
        self.note_use();
        ReserveFuture {
            tx: self,
            key: None,
            cancel_point: CancelPoint::default(),
        }
    }

    /// Closes this send end (AnyIO's `close()`); idempotent. Clones stay open. When the last
    /// send end closes, receivers drain the buffer and then get end-of-stream; blocked
    /// receivers wake. Later use of this handle fails with [`SendError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = tether::memory_stream::<u32>(1);
    /// tx.close();
    /// tx.close(); // idempotent
    /// assert!(tx.try_send(1).is_err());
    /// assert!(rx.try_recv().is_err()); // end of stream
    /// ```
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.chan.close_sender();
            let key = self.diag_key.load(Ordering::Acquire);
            if key != 0
                && let Some(holders) = self.chan.sender_holders_if_made()
            {
                holders.closed(key);
            }
        }
    }

    /// Whether this handle was closed with [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = tether::memory_stream::<u32>(1);
    /// assert!(!tx.is_closed());
    /// tx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.is_closed_here()
    }

    /// A snapshot of the stream's counters (AnyIO's `statistics()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = tether::memory_stream::<u32>(8);
    /// tx.try_send(1).unwrap();
    /// let stats = tx.statistics();
    /// assert_eq!(stats.current_buffer_used, 1);
    /// assert_eq!(stats.max_buffer_size, Some(8));
    /// ```
    pub fn statistics(&self) -> MemoryStreamStatistics {
        MemoryStreamStatistics::from_counters(self.chan.counters())
    }

    /// Turns this send end into a [`futures::Sink`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use futures::{SinkExt, StreamExt};
    ///
    /// let (tx, rx) = tether::memory_stream::<u32>(4);
    /// let mut sink = tx.into_sink();
    /// sink.send(1).await.unwrap();
    /// sink.close().await.unwrap();
    /// assert_eq!(rx.collect::<Vec<_>>().await, vec![1]);
    /// # }
    /// ```
    pub fn into_sink(self) -> MemorySink<T> {
        MemorySink {
            tx: self,
            key: None,
            reserved: false,
        }
    }
}

impl<T> Clone for MemorySender<T> {
    /// Another open send end of the same stream, even if this one is closed — unless the stream
    /// has already ended for its receivers (every send end closed, or the owning group ended):
    /// then the clone is closed too, since nothing sent now could be received in order.
    fn clone(&self) -> Self {
        let open = self.chan.add_sender();
        Self::with_state(self.chan.clone(), !open)
    }
}

impl<T> Drop for MemorySender<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for MemorySender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySender")
            .field("closed", &self.is_closed_here())
            .field("stream", &*self.chan)
            .finish()
    }
}

/// The future of [`MemorySender::send`]; see there for errors and cancel safety (dropping it
/// while it waits drops the item: the send did not happen).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures::FutureExt;
///
/// let (tx, rx) = tether::memory_stream::<u32>(0);
/// let send: tether::SendFuture<'_, u32> = tx.send(1);
/// assert!(send.now_or_never().is_none()); // waited for a receiver, then was dropped
/// assert!(rx.try_recv().is_err()); // so it did not happen
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    tx: &'a MemorySender<T>,
    /// The item, until it is delivered (it never leaves the future otherwise).
    item: Option<T>,
    /// The waiter, while queued.
    key: Option<Key>,
    /// The wait as the task tree shows it (while the tree is on).
    diag: Option<crate::diagnostics::registry::WaitToken>,
    /// Cut off inside a cancelled scope.
    cancel_point: CancelPoint,
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(
            this.item.is_some() || this.key.is_some(),
            "`SendFuture` polled after completion"
        );
        if this.cancel_point.cut_off(cx) {
            // A cancellation point even when there is room: take the item back out of the
            // stream, so no receive can complete this send from now on. If one already took
            // it, the send happened before the cancellation reached it: say so.
            if let Some(key) = this.key.take() {
                match this.tx.chan.cancel_send(key) {
                    Withdrawn::Item(item) => this.item = Some(item),
                    Withdrawn::Sent => {
                        this.diag = None;
                        return Poll::Ready(Ok(()));
                    }
                    Withdrawn::Reservation => unreachable!("a send's waiter holds its item"),
                }
            }
            return Poll::Pending;
        }
        if this.tx.is_closed_here() {
            let item = match this.key.take() {
                None => this.item.take().expect("a send not queued holds its item"),
                Some(key) => match this.tx.chan.cancel_send(key) {
                    Withdrawn::Item(item) => item,
                    // Taken before the close: the send happened.
                    Withdrawn::Sent => return Poll::Ready(Ok(())),
                    Withdrawn::Reservation => unreachable!("a send's waiter holds its item"),
                },
            };
            this.diag = None;
            return Poll::Ready(Err(SendError::Closed(item)));
        }
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        match this.tx.chan.poll_send(&mut this.item, &mut this.key, cx) {
            Poll::Ready(Ok(())) => {
                coop.made_progress();
                this.diag = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let chan = &this.tx.chan;
                crate::diagnostics::registry::track(&mut this.diag, || {
                    crate::diagnostics::registry::WaitOn::Stream {
                        send: true,
                        state: chan.diag_state(),
                    }
                });
                // A close of this handle that raced with queueing may have missed this waiter:
                // the flag is set before the close wakes waiters, so re-checking it here closes
                // that gap (poll again at once to take the closed path).
                if this.tx.is_closed_here() {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Poll::Ready(Err((item, shut))) => {
                this.diag = None;
                Poll::Ready(Err(SendError::from_shut(item, shut)))
            }
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Give up the place. Unless a receive already took the item (then the send
            // happened), the send did not happen: the item comes back out of the stream and is
            // dropped here, after the lock is released.
            drop(self.tx.chan.cancel_send(key));
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future of [`MemorySender::reserve`]; see there. Dropping it loses nothing.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, _rx) = tether::memory_stream::<u32>(1);
/// let reserve: tether::ReserveFuture<'_, u32> = tx.reserve();
/// let permit = reserve.await.unwrap();
/// permit.send(1).unwrap();
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct ReserveFuture<'a, T> {
    tx: &'a MemorySender<T>,
    key: Option<Key>,
    /// Cut off inside a cancelled scope.
    cancel_point: CancelPoint,
}

impl<'a, T> Future for ReserveFuture<'a, T> {
    type Output = Result<Permit<'a, T>, SendError<()>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.cancel_point.cut_off(cx) {
            return Poll::Pending;
        }
        if this.tx.is_closed_here() {
            if let Some(key) = this.key.take() {
                this.tx.chan.cancel_send(key);
            }
            return Poll::Ready(Err(SendError::Closed(())));
        }
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        let Poll::Ready(result) = this.tx.chan.poll_reserve(&mut this.key, cx) else {
            if this.tx.is_closed_here() {
                cx.waker().wake_by_ref(); // see `SendFuture::poll`
            }
            return Poll::Pending;
        };
        match result {
            Ok(()) => {
                coop.made_progress();
                Poll::Ready(Ok(Permit { tx: this.tx }))
            }
            Err(shut) => Poll::Ready(Err(SendError::from_shut((), shut))),
        }
    }
}

impl<T> Drop for ReserveFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.tx.chan.cancel_send(key);
        }
    }
}

impl<T> fmt::Debug for ReserveFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveFuture")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// Room for one item, reserved by [`MemorySender::reserve`]. Sending through it never waits.
/// Dropping it unused gives the room to the next waiting sender.
///
/// A permit borrows its send end, so it cannot outlive it:
///
/// ```compile_fail
/// # async fn f() {
/// let (tx, _rx) = tether::memory_stream::<u32>(1);
/// let permit = tx.reserve().await.unwrap();
/// drop(tx); // error: `tx` is borrowed by `permit`
/// permit.send(1).unwrap();
/// # }
/// ```
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, rx) = tether::memory_stream::<u32>(1);
/// let permit = tx.reserve().await.unwrap();
/// assert!(tx.try_send(9).unwrap_err().is_would_block()); // the room is taken
/// permit.send(1).unwrap();
/// assert_eq!(rx.recv().await, Ok(1));
/// # }
/// ```
pub struct Permit<'a, T> {
    tx: &'a MemorySender<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `item` into the reserved room, at once.
    ///
    /// # Errors
    ///
    /// Hands the item back if the stream closed since the permit was granted (every receiver
    /// gone, or the owning group ended) or this handle was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = tether::memory_stream::<u32>(1);
    /// let permit = tx.reserve().await.unwrap();
    /// drop(rx);
    /// assert_eq!(permit.send(5).unwrap_err().into_inner(), 5);
    /// # }
    /// ```
    pub fn send(self, item: T) -> Result<(), SendError<T>> {
        let tx = self.tx;
        std::mem::forget(self); // the reservation is used below, not released
        if tx.is_closed_here() {
            tx.chan.release_reserved();
            return Err(SendError::Closed(item));
        }
        tx.chan
            .send_reserved(item)
            .map_err(|(item, shut)| SendError::from_shut(item, shut))
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.tx.chan.release_reserved();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// A [`futures::Sink`] over a send end, made by [`MemorySender::into_sink`].
///
/// `poll_ready` reserves room (as [`MemorySender::reserve`]), `start_send` fills it,
/// `poll_flush` is immediate (an accepted item is in the stream), and `poll_close` closes the
/// send end. Errors are [`SendError<T>`]; an item refused in `start_send` comes back in it.
///
/// # Panics
///
/// `start_send` panics if called without a successful `poll_ready` while the stream is full,
/// as the `Sink` contract allows.
///
/// # Cancel safety
///
/// Dropping a pending `poll_ready` loses nothing; room it was granted goes back to the stream
/// when the sink is dropped.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures::{SinkExt, StreamExt, stream};
///
/// let (tx, rx) = tether::memory_stream::<u32>(2);
/// let producer = tokio::spawn(async move {
///     let mut sink = tx.into_sink();
///     sink.send_all(&mut stream::iter([1, 2, 3]).map(Ok)).await.unwrap();
/// });
/// assert_eq!(rx.collect::<Vec<_>>().await, vec![1, 2, 3]);
/// producer.await.unwrap();
/// # }
/// ```
pub struct MemorySink<T> {
    tx: MemorySender<T>,
    /// The waiter of a pending `poll_ready`.
    key: Option<Key>,
    /// Whether this sink holds one unit of reserved room.
    reserved: bool,
}

impl<T> Unpin for MemorySink<T> {}

impl<T> MemorySink<T> {
    /// The send end inside.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = tether::memory_stream::<u32>(1);
    /// let sink = tx.into_sink();
    /// assert!(!sink.get_ref().is_closed());
    /// ```
    pub fn get_ref(&self) -> &MemorySender<T> {
        &self.tx
    }
}

impl<T> futures::Sink<T> for MemorySink<T> {
    type Error = SendError<T>;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = &mut *self;
        this.tx.note_use();
        if this.reserved {
            return Poll::Ready(Ok(()));
        }
        if this.tx.is_closed_here() {
            if let Some(key) = this.key.take() {
                this.tx.chan.cancel_send(key);
            }
            return Poll::Ready(Ok(())); // start_send reports the error with the item
        }
        match ready!(this.tx.chan.poll_reserve(&mut this.key, cx)) {
            Ok(()) => {
                this.reserved = true;
                Poll::Ready(Ok(()))
            }
            Err(_) => Poll::Ready(Ok(())), // start_send reports the error with the item
        }
    }

    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = &mut *self;
        if this.tx.is_closed_here() {
            return Err(SendError::Closed(item));
        }
        if std::mem::take(&mut this.reserved) {
            this.tx
                .chan
                .send_reserved(item)
                .map_err(|(item, shut)| SendError::from_shut(item, shut))
        } else {
            // Not reserved: poll_ready found the stream shut (which is permanent), or was
            // skipped, which the `Sink` contract forbids.
            this.tx.try_send(item).map_err(|e| match e {
                TrySendError::WouldBlock(_) => {
                    panic!("MemorySink::start_send called without a successful poll_ready first; call poll_ready (or use SinkExt::send)")
                }
                TrySendError::Send(e) => e,
            })
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tx.close();
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for MemorySink<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.tx.chan.cancel_send(key);
        }
        if self.reserved {
            self.tx.chan.release_reserved();
        }
    }
}

impl<T> fmt::Debug for MemorySink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySink")
            .field("tx", &self.tx)
            .field("reserved", &self.reserved)
            .finish()
    }
}
