//! Turns: the FIFO of prompts, the driver that serves them one at a time, and the response
//! stream of one turn.
//!
//! # Why a driver task and not a lock held by the caller
//!
//! A turn outlives the call that started it: its [`ResponseStream`] is returned, may move to
//! another task and may be dropped anywhere. tether's `sync::Lock` belongs to a task (only its
//! owner may release it), so a turn cannot hold it. Instead, turns queue in a tether memory
//! stream (FIFO) and one driver task in the connection's group serves them in order: it writes
//! the prompt, forwards the connection's messages to the turn's own bounded stream up to and
//! including the `result`, then takes the next turn. A caller waits in `query()` until the
//! driver takes its turn; dropping that wait withdraws the turn before its prompt is written.
//!
//! # A dropped turn
//!
//! When a turn's stream is dropped before its `result` (in any task, or by a scope cancelling
//! the consumer), the driver notices at once (an event set by `Drop`), sends `interrupt`
//! (from a child task, so the driver never waits on a reply that may be queued behind
//! messages), and keeps reading and discarding that turn's messages through its `result`. The
//! next turn starts clean.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::Stream;
use serde_json::json;
use tether::{Event, TaskBinding};
use tether::{MemoryReceiver, MemorySender, TryRecvError, TrySendError};
use tokio::sync::oneshot;

use super::connection::{Batch, Item, Shared};
use crate::error::{CloseCause, Error, Result};
use crate::wire::Message;

/// A turn waiting to be served.
#[derive(Debug)]
pub(crate) struct TurnRequest {
    /// The prompt's stdin line.
    line: Vec<u8>,
    /// The turn's messages, in bursts.
    out: MemorySender<Batch>,
    /// Told when the driver takes the turn; a dropped receiver withdraws it.
    accepted: oneshot::Sender<()>,
    /// Set when the turn's stream is dropped.
    dropped: Arc<Event>,
    /// One-shot: forward everything until the CLI exits, not just through the `result`.
    until_eof: bool,
}

/// Queues a turn and waits until the driver takes it.
///
/// # Cancel safety
///
/// Cancel safe: a dropped call withdraws the turn (its prompt is not written), or, if the
/// driver took it in the same instant, interrupts it like a dropped stream.
pub(crate) async fn begin_turn(
    shared: &Arc<Shared>,
    line: Vec<u8>,
    until_eof: bool,
    binding: Option<TaskBinding>,
) -> Result<ResponseStream> {
    if shared.is_ended() {
        return Err(shared.closed_error());
    }
    // One burst in flight (at most `message_buffer` messages) plus the one being read.
    let (out, rx) = tether::memory_stream::<Batch>(1);
    let dropped = Arc::new(Event::new());
    let (accepted, wait) = oneshot::channel();
    let stream = ResponseStream {
        rx,
        burst: Vec::new().into_iter(),
        binding,
        shared: shared.clone(),
        dropped: dropped.clone(),
        saw_result: false,
        until_eof,
        done: false,
        refused: None,
    };
    let request = TurnRequest {
        line,
        out,
        accepted,
        dropped,
        until_eof,
    };
    if shared.turns.try_send(request).is_err() {
        return Err(shared.closed_error());
    }
    match wait.await {
        Ok(()) => Ok(stream),
        Err(_) => Err(shared.closed_error()),
    }
}

/// The driver: serves turns one at a time, in the order they were queued.
///
/// Messages arrive in bursts (one `Vec` per hand-over from the reader) and leave in bursts
/// (one `Vec` per hand-over to the turn's stream), cut at the turn's `result`: one wake-up per
/// burst on each side instead of one per message, which is what keeps the multi-thread runtime
/// fast (a cross-thread wake-up costs more than parsing a small message).
pub(crate) async fn drive_turns(
    shared: Arc<Shared>,
    turns: MemoryReceiver<TurnRequest>,
    messages: MemoryReceiver<Batch>,
) {
    // Received but not yet given to a turn: what follows a `result` in the same burst belongs
    // to the next turn.
    let mut pending: VecDeque<Item> = VecDeque::new();
    while let Ok(turn) = turns.recv().await {
        if turn.dropped.is_set() || turn.accepted.send(()).is_err() {
            continue; // withdrawn while waiting: its prompt is never written
        }
        let queued = !shared.is_ended()
            && if turn.until_eof {
                shared.begin_one_shot(turn.line)
            } else {
                shared.writer.send(turn.line)
            };
        if !queued {
            continue; // dropping `out` ends its stream; the stream reports the cause
        }
        let mut open = true;
        loop {
            if pending.is_empty() {
                // Fast path first: a burst ready now needs no wait (and no waiter registration
                // on the drop event); only an empty queue waits, watching for a drop meanwhile.
                let batch = match messages.try_recv() {
                    Ok(batch) => Ok(batch),
                    Err(TryRecvError::Recv(e)) => Err(e),
                    // Nothing buffered now (`WouldBlock`, the only other kind).
                    Err(_) => tokio::select! {
                        biased;
                        () = turn.dropped.wait(), if open => {
                            open = false;
                            interrupt_in_background(&shared);
                            continue;
                        }
                        batch = messages.recv() => batch,
                    },
                };
                let Ok(batch) = batch else {
                    // The connection ended: dropping the rest of the turns (and `turn.out`)
                    // fails every stream and every waiting caller with the cause.
                    return;
                };
                pending.extend(batch);
            }
            // This turn's part of what is pending: through its `result` (one-shot: all).
            let mut out = Vec::with_capacity(pending.len());
            let mut is_result = false;
            while let Some(item) = pending.pop_front() {
                is_result = matches!(item, Ok(Message::Result(_)));
                out.push(item);
                if is_result && !turn.until_eof {
                    break;
                }
            }
            if open && turn.dropped.is_set() {
                open = false;
                if !is_result {
                    interrupt_in_background(&shared);
                }
            }
            if open {
                let delivered = match turn.out.try_send(out) {
                    Ok(()) => true,
                    Err(TrySendError::WouldBlock(out)) => tokio::select! {
                        biased;
                        sent = turn.out.send(out) => sent.is_ok(),
                        () = turn.dropped.wait() => false,
                    },
                    Err(_) => false,
                };
                if !delivered {
                    open = false;
                    if !is_result {
                        interrupt_in_background(&shared);
                    }
                }
            }
            if is_result && !turn.until_eof {
                break;
            }
        }
    }
}

fn interrupt_in_background(shared: &Arc<Shared>) {
    let s = shared.clone();
    s.clone().spawn_child(async move {
        if let Err(e) = s.request(json!({"subtype": "interrupt"})).await {
            tracing::debug!(error = %e, "interrupting an abandoned turn failed");
        }
    });
}

/// The messages of one turn, through its `result`.
///
/// A [`Stream`] of `Result<Message, Error>`:
///
/// - ends (`None`) after the turn's [`Message::Result`];
/// - yields `Err(Error::LineTooLong)` / `Err(Error::Decode)` for a bad line and goes on;
/// - yields one `Err(Error::Closed(cause))` and ends if the connection ends first (the CLI
///   exited, with its status and stderr tail; a disconnect; a drop) — at once, never a hang.
///
/// Dropping it before the `result` interrupts the CLI, and the connection discards the rest
/// of this turn's messages, so the next turn starts clean.
///
/// A stream from the owned [`Client::query`](crate::Client::query) is bound to the task that
/// asked: polling it from another task yields one `Err(Error::WrongTask)` naming both tasks,
/// then `None` for as long as it is polled from that task, so a `while let Some(..)` loop there
/// stops instead of spinning. Nothing is consumed: back in the task that asked, the stream goes
/// on from where it was.
/// Streams from a [`ClientHandle`](crate::ClientHandle) work in any task.
///
/// # Examples
///
/// Against the bundled mock agent, which echoes the prompt:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tether_claude::Error> {
/// # let options = tether_claude::ClaudeOptions::new()
/// #     .cli_path(mock_claude::binary_path())
/// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
/// use futures::StreamExt;
/// use tether_claude::Message;
///
/// tether_claude::connect(options, async |client| {
///     let mut turn = client.handle().query("hello").await?;
///     let mut messages = Vec::new();
///     while let Some(message) = turn.next().await {
///         messages.push(message?);
///     }
///     // Through the turn's `result`, then the stream ends.
///     assert!(matches!(messages.last(), Some(Message::Result(_))));
///     assert!(messages.iter().filter_map(Message::text).any(|t| t.contains("hello")));
///
///     // Dropping a stream early interrupts its turn; the next turn starts clean.
///     drop(client.query("abandoned").await?);
///     let mut next = client.query("next").await?;
///     let mut text = String::new();
///     while let Some(message) = next.next().await {
///         text += &message?.text().unwrap_or_default();
///     }
///     assert!(text.contains("next") && !text.contains("abandoned"));
///     Ok::<_, tether_claude::Error>(())
/// })
/// .await??;
/// # Ok(()) }
/// ```
#[must_use = "a turn's messages arrive only through its stream; dropping it interrupts the turn"]
pub struct ResponseStream {
    rx: MemoryReceiver<Batch>,
    /// The burst being read.
    burst: std::vec::IntoIter<Item>,
    /// The owned client's streams: the task that may receive.
    binding: Option<TaskBinding>,
    shared: Arc<Shared>,
    dropped: Arc<Event>,
    saw_result: bool,
    until_eof: bool,
    done: bool,
    /// The wrong task already told so (a `WrongTask` error was yielded to it): it gets `None`.
    refused: Option<tether::TaskId>,
}

impl ResponseStream {
    /// The error to end with, once the driver dropped the turn's send end.
    fn end_error(&self) -> Option<Error> {
        if self.until_eof {
            // One-shot: a clean exit after the result is the normal end.
            match self.shared.closed_error() {
                Error::Closed(cause) => match &*cause {
                    CloseCause::Exited {
                        status: Some(s), ..
                    } if s.success() && self.saw_result => None,
                    CloseCause::Disconnected if self.saw_result => None,
                    _ => Some(Error::Closed(cause)),
                },
                other => Some(other),
            }
        } else if self.saw_result {
            None
        } else {
            Some(self.shared.closed_error())
        }
    }
}

impl Stream for ResponseStream {
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(binding) = &this.binding
            && let Err(source) = binding.check("received from")
        {
            // Tell the wrong task once, then end the stream for it (a loop there stops instead
            // of spinning); nothing is consumed, so the task that asked can go on reading.
            let current = tether::TaskId::current();
            if this.refused == Some(current) {
                return Poll::Ready(None);
            }
            this.refused = Some(current);
            return Poll::Ready(Some(Err(Error::WrongTask {
                operation: "receive",
                source,
            })));
        }
        loop {
            if let Some(item) = this.burst.next() {
                if matches!(item, Ok(Message::Result(_))) {
                    this.saw_result = true;
                }
                return Poll::Ready(Some(item));
            }
            match ready!(Pin::new(&mut this.rx).poll_next(cx)) {
                Some(batch) => this.burst = batch.into_iter(),
                None => match this.rx.try_recv() {
                    Ok(batch) => this.burst = batch.into_iter(),
                    Err(_) => {
                        this.done = true;
                        return Poll::Ready(this.end_error().map(Err));
                    }
                },
            }
        }
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        self.dropped.set();
    }
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream")
            .field("buffered", &self.burst.len())
            .field("saw_result", &self.saw_result)
            .field("done", &self.done)
            .finish()
    }
}
