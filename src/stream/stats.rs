//! [`MemoryStreamStatistics`]: a snapshot of a stream's counters.

use super::chan::Counters;

/// A snapshot of a memory stream's counters, from `statistics()` on either end (AnyIO's
/// `MemoryObjectStreamStatistics`, with the same field names).
///
/// Taken under the stream's lock, so the fields agree with each other at that instant.
///
/// # Examples
///
/// ```
/// let (tx, rx) = tether::memory_stream::<u32>(2);
/// let _rx2 = rx.clone();
/// tx.try_send(1).unwrap();
/// let stats = tx.statistics();
/// assert_eq!(stats.current_buffer_used, 1);
/// assert_eq!(stats.max_buffer_size, Some(2));
/// assert_eq!(stats.open_send_streams, 1);
/// assert_eq!(stats.open_receive_streams, 2);
/// assert_eq!(stats.tasks_waiting_send, 0);
/// assert_eq!(stats.tasks_waiting_receive, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStreamStatistics {
    /// Items in the buffer now.
    pub current_buffer_used: usize,
    /// The capacity: `Some(0)` for a rendezvous stream, `None` for an unbounded one.
    pub max_buffer_size: Option<usize>,
    /// Send ends neither closed nor dropped.
    pub open_send_streams: usize,
    /// Receive ends neither closed nor dropped.
    pub open_receive_streams: usize,
    /// Sends and reservations waiting for room or for a receiver, and reservations granted room
    /// whose future has not taken it yet. A send whose item a receive took is not counted: its
    /// item is in the buffer (counted there) or was received.
    pub tasks_waiting_send: usize,
    /// Receives waiting for an item.
    pub tasks_waiting_receive: usize,
}

impl MemoryStreamStatistics {
    pub(crate) fn from_counters(c: Counters) -> Self {
        Self {
            current_buffer_used: c.buffer_used,
            max_buffer_size: c.capacity,
            open_send_streams: c.senders,
            open_receive_streams: c.receivers,
            tasks_waiting_send: c.waiting_send,
            tasks_waiting_receive: c.waiting_recv,
        }
    }
}
