//! The errors of memory streams. Send errors hand the item back; none needs `T: Debug`.

use std::fmt;

use super::chan::Shut;
use crate::error::TaskContextError;
use crate::task::TaskId;

const BROKEN: &str = "every receive end of the memory stream is closed, so nothing can take the item; \
                      keep a receive end open while sending, or stop sending on this error";
const SEND_CLOSED: &str = "this send end of the memory stream was closed by its own close(); \
                           send through a clone that is still open, or send before closing";

fn owner_ended_send(f: &mut fmt::Formatter<'_>, owner: &TaskId) -> fmt::Result {
    write!(
        f,
        "the task group that owned this memory stream ended (it was hosted by {owner}), so the stream \
         is closed and the item was not sent; create or bind the stream in a group that outlives its \
         producers, or stop sending when the group ends"
    )
}

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
#[derive(PartialEq, Eq)]
pub enum SendError<T> {
    /// Every receive end is closed or dropped (AnyIO's `BrokenResourceError`).
    BrokenResource(T),
    /// This send end was closed with [`close`](super::MemorySender::close) (AnyIO's
    /// `ClosedResourceError`).
    Closed(T),
    /// The task group the stream is bound to ended, which closed the stream for everyone.
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

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::BrokenResource(_) => f.write_str(BROKEN),
            SendError::Closed(_) => f.write_str(SEND_CLOSED),
            SendError::OwnerEnded { owner, .. } => owner_ended_send(f, owner),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

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
#[derive(PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The buffer is full (or, on a rendezvous stream, no receiver is waiting) (AnyIO's
    /// `WouldBlock`).
    WouldBlock(T),
    /// Sending could never succeed: see [`SendError`].
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

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::WouldBlock(_) => f.write_str(
                "the memory stream has no room for the item now (buffer full, or no receiver waiting \
                 on a rendezvous stream); await send() or reserve() instead, or retry later",
            ),
            TrySendError::Send(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecvError {
    /// Every send end is closed or dropped and the buffer is drained (AnyIO's `EndOfStream`).
    EndOfStream,
    /// This receive end was closed with [`close`](super::MemoryReceiver::close) (AnyIO's
    /// `ClosedResourceError`).
    Closed,
    /// The task group the stream is bound to ended before the send ends were closed. The
    /// buffer was drained first; nothing more will arrive.
    OwnerEnded {
        /// The task that hosted the owning group.
        owner: TaskId,
    },
    /// The receive end is bound to another task (see
    /// [`bind_to_current_task`](super::MemoryReceiver::bind_to_current_task)).
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

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::EndOfStream => f.write_str(
                "end of stream: every send end of the memory stream is closed and the buffer is \
                 drained; stop receiving",
            ),
            RecvError::Closed => f.write_str(
                "this receive end of the memory stream was closed by its own close(); receive \
                 through a clone that is still open, or receive before closing",
            ),
            RecvError::OwnerEnded { owner } => write!(
                f,
                "the task group that owned this memory stream ended (it was hosted by {owner}) \
                 without closing its send ends, so nothing more will arrive; keep that group open \
                 while others receive, or create the stream in a group that outlives its consumers"
            ),
            RecvError::WrongTask(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecvError::WrongTask(e) => Some(e),
            _ => None,
        }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is buffered and no sender is waiting (AnyIO's `WouldBlock`).
    WouldBlock,
    /// Receiving could never succeed (or the stream ended): see [`RecvError`].
    Recv(RecvError),
}

impl From<RecvError> for TryRecvError {
    fn from(e: RecvError) -> Self {
        TryRecvError::Recv(e)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::WouldBlock => f.write_str(
                "the memory stream has no item ready now; await recv() instead, or retry later",
            ),
            TryRecvError::Recv(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for TryRecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryRecvError::Recv(e) => Some(e),
            TryRecvError::WouldBlock => None,
        }
    }
}
