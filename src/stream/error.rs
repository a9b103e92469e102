//! The errors of memory streams, with thiserror. Send errors hand the item back; none needs
//! `T: Debug` (their `Debug` is written by hand and never shows the item).
//!
//! Wording: a normal ending or a would-block says what happened, neutrally ("receiving from an
//! empty and closed memory stream"); a misuse names the mistake and the fix. Every `try_` error
//! has a `WouldBlock` variant (holding the item when there is one to hand back) and an
//! `is_would_block()` method, as the `sync` errors do.

use std::fmt;

use super::chan::Shut;
use crate::error::TaskContextError;
use crate::task::TaskId;

/// Why a [`send`](super::MemorySender::send) (or a [`reserve`](super::MemorySender::reserve), or
/// a [`Permit::send`](super::Permit::send)) failed. Holds the item that was not sent.
///
/// `T` is `()` for `reserve`, which has no item yet.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{memory_stream, SendError};
///
/// let (tx, rx) = memory_stream::<String>(1);
/// drop(rx);
/// let err = tx.send("hello".to_string()).await.unwrap_err();
/// assert!(matches!(err, SendError::BrokenResource(_)));
/// assert_eq!(err.into_inner(), "hello"); // nothing is lost
/// # }
/// ```
#[derive(PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError<T> {
    /// Every receive end is closed or dropped (AnyIO's `BrokenResourceError`).
    #[error(
        "sending into a memory stream whose receive ends are all closed; the item comes back in \
         this error"
    )]
    BrokenResource(T),
    /// This send end was closed with [`close`](super::MemorySender::close) (AnyIO's
    /// `ClosedResourceError`).
    #[error(
        "this send end of the memory stream was closed by its own close(); send through a clone \
         that is still open, or send before closing"
    )]
    Closed(T),
    /// The task group the stream is bound to ended, which closed the stream for everyone.
    #[error(
        "the task group that owned this memory stream ended (it was hosted by {owner}), so the \
         stream is closed and the item was not sent; create or bind the stream in a group that \
         outlives its producers, or stop sending when the group ends"
    )]
    OwnerEnded {
        /// The item that was not sent.
        item: T,
        /// The task that hosted the owning group.
        owner: TaskId,
    },
}

impl<T> SendError<T> {
    pub(crate) fn from_shut(item: T, shut: Shut) -> Self {
        match shut {
            Shut::PeerGone => SendError::BrokenResource(item),
            Shut::OwnerEnded(owner) => SendError::OwnerEnded { item, owner },
        }
    }

    /// The item that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::FutureExt;
    ///
    /// let (tx, rx) = tether::memory_stream::<String>(1);
    /// rx.close();
    /// let err = tx.send("x".to_string()).now_or_never().unwrap().unwrap_err();
    /// assert_eq!(err.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::BrokenResource(item)
            | SendError::Closed(item)
            | SendError::OwnerEnded { item, .. } => item,
        }
    }

    /// Whether every receive end is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether::SendError::BrokenResource(1).is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self, SendError::BrokenResource(_))
    }

    /// Whether this send end was closed by its own `close()`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether::SendError::Closed(1).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, SendError::Closed(_))
    }

    /// The task that hosted the owning group, if the group's end closed the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let host = tether::TaskId::current();
    /// let err = tether::SendError::OwnerEnded { item: 1, owner: host };
    /// assert_eq!(err.owner_ended(), Some(host));
    /// ```
    pub fn owner_ended(&self) -> Option<TaskId> {
        match self {
            SendError::OwnerEnded { owner, .. } => Some(*owner),
            _ => None,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::BrokenResource(_) => f.write_str("BrokenResource(..)"),
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::OwnerEnded { owner, .. } => f
                .debug_struct("OwnerEnded")
                .field("owner", owner)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a [`try_send`](super::MemorySender::try_send) failed. Holds the item that was not sent.
///
/// # Examples
///
/// ```
/// use tether::{memory_stream, TrySendError};
///
/// let (tx, _rx) = memory_stream::<u32>(1);
/// tx.try_send(1).unwrap();
/// let err = tx.try_send(2).unwrap_err();
/// assert!(matches!(err, TrySendError::WouldBlock(2)));
/// assert_eq!(err.into_inner(), 2);
/// ```
#[derive(PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError<T> {
    /// The buffer is full (or, on a rendezvous stream, no receiver is waiting) (AnyIO's
    /// `WouldBlock`).
    #[error(
        "try_send would wait: the memory stream is full (or, on a rendezvous stream, no receiver \
         is waiting); the item comes back in this error"
    )]
    WouldBlock(T),
    /// Sending could never succeed: see [`SendError`].
    #[error(transparent)]
    Send(SendError<T>),
}

impl<T> TrySendError<T> {
    /// The item that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = tether::TrySendError::WouldBlock(5);
    /// assert_eq!(err.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::WouldBlock(item) => item,
            TrySendError::Send(e) => e.into_inner(),
        }
    }

    /// Whether the failure is only "not now".
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether::TrySendError::WouldBlock(5).is_would_block());
    /// ```
    pub fn is_would_block(&self) -> bool {
        matches!(self, TrySendError::WouldBlock(_))
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        TrySendError::Send(e)
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::WouldBlock(_) => f.write_str("WouldBlock(..)"),
            TrySendError::Send(e) => f.debug_tuple("Send").field(e).finish(),
        }
    }
}

/// Why a [`recv`](super::MemoryReceiver::recv) returned no item.
///
/// [`EndOfStream`](RecvError::EndOfStream) is the normal end; the other variants are mistakes
/// in the program and their messages say how to fix them.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::{memory_stream, RecvError};
///
/// let (tx, rx) = memory_stream::<u32>(1);
/// tx.send(7).await.unwrap();
/// tx.close();
/// assert_eq!(rx.recv().await, Ok(7)); // buffered items are drained first
/// assert_eq!(rx.recv().await, Err(RecvError::EndOfStream));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// Every send end is closed or dropped and the buffer is drained (AnyIO's `EndOfStream`).
    /// The normal end of a stream.
    #[error("receiving from an empty and closed memory stream")]
    EndOfStream,
    /// This receive end was closed with [`close`](super::MemoryReceiver::close) (AnyIO's
    /// `ClosedResourceError`).
    #[error(
        "this receive end of the memory stream was closed by its own close(); receive through a \
         clone that is still open, or receive before closing"
    )]
    Closed,
    /// The task group the stream is bound to ended before the send ends were closed. The
    /// buffer was drained first; nothing more will arrive.
    #[error(
        "the task group that owned this memory stream ended (it was hosted by {owner}) without \
         closing its send ends, so nothing more will arrive; keep that group open while others \
         receive, or create the stream in a group that outlives its consumers"
    )]
    OwnerEnded {
        /// The task that hosted the owning group.
        owner: TaskId,
    },
    /// The receive end is bound to another task (see
    /// [`bind_to_current_task`](super::MemoryReceiver::bind_to_current_task)).
    #[error(transparent)]
    WrongTask(TaskContextError),
}

impl RecvError {
    pub(crate) fn from_shut(shut: Shut) -> Self {
        match shut {
            Shut::PeerGone => RecvError::EndOfStream,
            Shut::OwnerEnded(owner) => RecvError::OwnerEnded { owner },
        }
    }

    /// Whether this is the normal end of the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether::RecvError::EndOfStream.is_end_of_stream());
    /// assert!(!tether::RecvError::Closed.is_end_of_stream());
    /// ```
    pub fn is_end_of_stream(&self) -> bool {
        matches!(self, RecvError::EndOfStream)
    }
}

/// Why a [`try_recv`](super::MemoryReceiver::try_recv) returned no item.
///
/// # Examples
///
/// ```
/// use tether::{memory_stream, TryRecvError};
///
/// let (_tx, rx) = memory_stream::<u32>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::WouldBlock));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing is buffered now (AnyIO's `WouldBlock`). A waiting sender's item is not taken:
    /// see the [module docs](crate#draining-without-waiting-and-where-this-differs-from-anyio).
    #[error("try_recv would wait: the memory stream is empty")]
    WouldBlock,
    /// Receiving could never succeed (or the stream ended): see [`RecvError`].
    #[error(transparent)]
    Recv(RecvError),
}

impl TryRecvError {
    /// Whether nothing was ready now, as opposed to the stream having ended.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = tether::memory_stream::<u32>(1);
    /// assert!(rx.try_recv().unwrap_err().is_would_block());
    /// ```
    pub fn is_would_block(&self) -> bool {
        matches!(self, TryRecvError::WouldBlock)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(e: RecvError) -> Self {
        TryRecvError::Recv(e)
    }
}
