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
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use futures::Stream;
use parking_lot::Mutex;
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
    /// Its number and phase.
    state: Arc<TurnState>,
    /// Uncounts it if it is dropped untaken.
    _slot: QueueSlot,
}

/// Held by a [`TurnRequest`]: a turn dropped from the queue without being taken (the
/// connection ended) leaves the count of waiting turns.
#[derive(Debug)]
struct QueueSlot(Arc<TurnState>);

impl Drop for QueueSlot {
    fn drop(&mut self) {
        let mut phase = self.0.phase.lock();
        self.0.leave_queue(&mut phase, Phase::Ended);
    }
}

/// Where a turn is: waiting in the queue, withdrawn before it started, running (its prompt
/// was written), or ended (its `result` was read, or the connection ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Queued,
    Withdrawn,
    Running,
    Ended,
}

/// One turn's number and phase, shared by the driver, its [`PendingTurn`], its
/// [`ResponseStream`] and its [`TurnInterrupt`]s. The driver changes the phase, and writes the
/// prompt, under the lock; an interrupt of this turn is queued on stdin under it too, so it can
/// only land while this turn runs (before the next turn's prompt).
#[derive(Debug)]
pub(crate) struct TurnState {
    number: u64,
    phase: Mutex<Phase>,
    /// The connection's count of waiting turns ([`TurnBook::queued`]).
    queued: Arc<AtomicUsize>,
}

impl TurnState {
    /// Leaves the queue (if still in it) for `next`: uncounts the turn. Call under the phase
    /// lock (`phase` is the guarded value); whoever moves it out of `Queued` first uncounts it,
    /// once.
    fn leave_queue(&self, phase: &mut Phase, next: Phase) -> bool {
        if *phase != Phase::Queued {
            return false;
        }
        *phase = next;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        true
    }
}

/// The connection's turn counters.
#[derive(Debug, Default)]
pub(crate) struct TurnBook {
    /// The last arrival number given; its lock also orders numbering with queueing, so the
    /// numbers are the queue order.
    last: Mutex<u64>,
    /// Turns waiting (not withdrawn, not started, not dropped with the connection).
    queued: Arc<AtomicUsize>,
    /// Turns whose prompt was written.
    started: AtomicU64,
    /// The running turn's number.
    current: Mutex<Option<u64>>,
}

impl TurnBook {
    pub(crate) fn queue_len(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub(crate) fn turns_started(&self) -> u64 {
        self.started.load(Ordering::Acquire)
    }

    pub(crate) fn current_turn(&self) -> Option<u64> {
        *self.current.lock()
    }
}

/// Queues a turn (synchronously: it is in the FIFO when this returns) and returns the wait for
/// its start.
pub(crate) fn enqueue_turn(
    shared: &Arc<Shared>,
    line: Vec<u8>,
    until_eof: bool,
    binding: Option<TaskBinding>,
) -> Result<PendingTurn> {
    if shared.is_ended() {
        return Err(shared.closed_error());
    }
    // One burst in flight (at most `message_buffer` messages) plus the one being read.
    let (out, rx) = tether::memory_stream::<Batch>(1);
    let dropped = Arc::new(Event::new());
    let (accepted, wait) = oneshot::channel();
    let book = &shared.turn_book;
    let mut last = book.last.lock();
    let state = Arc::new(TurnState {
        number: *last + 1,
        phase: Mutex::new(Phase::Queued),
        queued: book.queued.clone(),
    });
    let stream = ResponseStream {
        rx,
        burst: Vec::new().into_iter(),
        binding,
        shared: shared.clone(),
        dropped: dropped.clone(),
        state: state.clone(),
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
        state: state.clone(),
        _slot: QueueSlot(state.clone()),
    };
    // Counted before it can be taken (the driver decrements when it takes it).
    book.queued.fetch_add(1, Ordering::AcqRel);
    if shared.turns.try_send(request).is_err() {
        // The request's `QueueSlot` uncounted it as it was dropped.
        return Err(shared.closed_error());
    }
    *last += 1;
    drop(last);
    Ok(PendingTurn {
        stream: Some(stream),
        wait,
        state,
    })
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
    enqueue_turn(shared, line, until_eof, binding)?.await
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
    let book = &shared.turn_book;
    while let Ok(turn) = turns.recv().await {
        let state = turn.state.clone();
        {
            // Take it, write its prompt and mark it running under its phase lock: a
            // `TurnInterrupt` sees it running only once its prompt is queued on stdin.
            let mut phase = state.phase.lock();
            if !state.leave_queue(&mut phase, Phase::Running) {
                continue; // withdrawn while waiting (and uncounted by the withdrawal)
            }
            if turn.dropped.is_set() {
                *phase = Phase::Withdrawn;
                continue; // withdrawn while waiting: its prompt is never written
            }
            let queued = !shared.is_ended()
                && if turn.until_eof {
                    shared.begin_one_shot(turn.line)
                } else {
                    shared.writer.send(turn.line)
                };
            if !queued {
                *phase = Phase::Ended;
                let _ = turn.accepted.send(());
                continue; // dropping `out` ends its stream; the stream reports the cause
            }
            *phase = Phase::Running;
            book.started.fetch_add(1, Ordering::AcqRel);
            *book.current.lock() = Some(state.number);
            // Last, so the caller sees the turn running when its `PendingTurn` resolves. It
            // cannot have gone: a `PendingTurn` dropped before this marked the turn withdrawn
            // under this lock; one dropped after drops the stream, which interrupts the turn.
            let _ = turn.accepted.send(());
        }
        // Marks the turn ended however this iteration leaves (its result, or the end).
        let _end = EndTurn(&state, book);
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

/// Marks a running turn ended when dropped (the driver moved past it, or returned).
struct EndTurn<'a>(&'a TurnState, &'a TurnBook);

impl Drop for EndTurn<'_> {
    fn drop(&mut self) {
        let mut phase = self.0.phase.lock();
        *phase = Phase::Ended;
        let mut current = self.1.current.lock();
        if *current == Some(self.0.number) {
            *current = None;
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
    state: Arc<TurnState>,
    saw_result: bool,
    until_eof: bool,
    done: bool,
    /// The wrong task already told so (a `WrongTask` error was yielded to it): it gets `None`.
    refused: Option<tether::TaskId>,
}

impl ResponseStream {
    /// This turn's arrival number on its connection: 1 for the first turn queued, then one
    /// more per turn, in queue order (which is the order turns are served).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// tether_claude::connect(options, async |client| {
    ///     let first = client.query("one").await?;
    ///     assert_eq!(first.turn_number(), 1);
    ///     drop(first);
    ///     assert_eq!(client.query("two").await?.turn_number(), 2);
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub fn turn_number(&self) -> u64 {
        self.state.number
    }

    /// Interrupts **this** turn, and only it: a no-op (`Ok(false)`) once its `result` was read
    /// by the connection, so an interrupt can never land on the next turn. (The connection's
    /// [`ClientHandle::interrupt`](crate::ClientHandle::interrupt) hits whatever turn is
    /// running.) Once the CLI acknowledged it (`Ok(true)`), the stream goes on with the
    /// turn's last messages and a `result` whose `terminal_reason` says it was aborted.
    ///
    /// The request is queued on the CLI's input under the turn's lock while the turn is
    /// known to run, so it reaches the CLI before the next turn's prompt whatever the timing.
    /// For another task (a web handler's "stop" button), take an [`interrupter`](Self::interrupter).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) at once if the connection ended while the turn
    /// ran; [`Error::ControlTimeout`](crate::Error::ControlTimeout) if the CLI does not answer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the request was queued or not; a dropped call ignores the reply (the CLI
    /// still interrupts the turn if the request was queued).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .include_partial_messages(true)
    /// #     .env("MOCK_CLAUDE_SCENARIO", "slow:500");
    /// use futures::StreamExt;
    /// use tether_claude::Message;
    ///
    /// tether_claude::connect(options, async |client| {
    ///     let mut turn = client.query("tell me slowly").await?;
    ///     // Wait for the first piece of text: the agent is then inside the turn (an
    ///     // interrupt it reads before it has started the turn has nothing to stop).
    ///     while let Some(message) = turn.next().await {
    ///         if let Message::StreamEvent(e) = message? {
    ///             if e.event["type"] == "content_block_delta" {
    ///                 break;
    ///             }
    ///         }
    ///     }
    ///     assert!(turn.interrupt().await?);
    ///     let mut last = None;
    ///     while let Some(message) = turn.next().await {
    ///         last = Some(message?);
    ///     }
    ///     let Some(Message::Result(result)) = last else { panic!("no result") };
    ///     assert_eq!(result.terminal_reason.as_deref(), Some("aborted_streaming"));
    ///     // The turn is over: interrupting it again is a no-op.
    ///     assert!(!turn.interrupt().await?);
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub async fn interrupt(&self) -> Result<bool> {
        interrupt_turn(&self.shared, &self.state).await
    }

    /// A cloneable, `Send + Sync + 'static` way to interrupt this turn from another task
    /// (see [`interrupt`](Self::interrupt)). It does not keep the turn or the connection
    /// alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// use futures::StreamExt;
    ///
    /// tether_claude::connect(options, async |client| {
    ///     let mut turn = client.query("hi").await?;
    ///     let stop = turn.interrupter();
    ///     while let Some(message) = turn.next().await {
    ///         message?;
    ///     }
    ///     // Ended: a stop pressed now does nothing, even while the next turn runs.
    ///     let _next = client.query("next").await?;
    ///     assert!(!tokio::spawn(async move { stop.interrupt().await }).await.unwrap()?);
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub fn interrupter(&self) -> TurnInterrupt {
        TurnInterrupt {
            shared: Arc::downgrade(&self.shared),
            state: self.state.clone(),
        }
    }

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

/// Interrupts one turn if, and only if, it is still running (see
/// [`ResponseStream::interrupt`]).
async fn interrupt_turn(shared: &Shared, state: &TurnState) -> Result<bool> {
    let wait = {
        let phase = state.phase.lock();
        if *phase != Phase::Running {
            return Ok(false);
        }
        shared.send_request(json!({"subtype": "interrupt"}))?
    };
    wait.reply().await.map(|_| true)
}

/// Interrupts one turn from any task: [`ResponseStream::interrupter`].
///
/// `Clone + Send + Sync + 'static`; holds neither the turn nor the connection open.
///
/// # Examples
///
/// See [`ResponseStream::interrupter`].
#[derive(Clone)]
pub struct TurnInterrupt {
    shared: std::sync::Weak<Shared>,
    state: Arc<TurnState>,
}

impl TurnInterrupt {
    /// Interrupts the turn if it is still running: `Ok(true)` once the CLI acknowledged,
    /// `Ok(false)` if the turn had already ended (its `result` was read) — then nothing is
    /// sent, so the next turn is never hit.
    ///
    /// # Errors
    ///
    /// As [`ResponseStream::interrupt`]; [`Error::Closed`](crate::Error::Closed) if the
    /// connection is gone while the turn had not ended.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`ResponseStream::interrupt`].
    ///
    /// # Examples
    ///
    /// See [`ResponseStream::interrupter`].
    pub async fn interrupt(&self) -> Result<bool> {
        let Some(shared) = self.shared.upgrade() else {
            return if *self.state.phase.lock() == Phase::Running {
                Err(Error::Closed(Arc::new(CloseCause::Dropped)))
            } else {
                Ok(false)
            };
        };
        interrupt_turn(&shared, &self.state).await
    }

    /// The turn's arrival number ([`ResponseStream::turn_number`]).
    pub fn turn_number(&self) -> u64 {
        self.state.number
    }
}

impl std::fmt::Debug for TurnInterrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnInterrupt")
            .field("turn", &self.state.number)
            .field("phase", &*self.state.phase.lock())
            .finish()
    }
}

/// A turn in the connection's queue, waiting for its start: a [`Future`] that resolves to its
/// [`ResponseStream`] when the connection takes it. From [`ClientHandle::enqueue`](crate::ClientHandle::enqueue).
///
/// The turn is already in the queue (in arrival order, with its
/// [`turn_number`](Self::turn_number)) when this exists. Dropping it before it resolves
/// withdraws the turn: its prompt is never written (or, if the connection took it in that very
/// instant, the turn is interrupted and its messages discarded, as for a dropped stream).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tether_claude::Error> {
/// # let options = tether_claude::ClaudeOptions::new()
/// #     .cli_path(mock_claude::binary_path())
/// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
/// tether_claude::connect(options, async |client| {
///     let handle = client.handle();
///     let a = handle.enqueue("first")?;
///     let b = handle.enqueue("second")?;
///     assert_eq!((a.turn_number(), b.turn_number()), (1, 2));
///     drop(b); // withdrawn: "second" is never written
///     let first = a.await?;
///     assert_eq!(first.turn_number(), 1);
///     Ok::<_, tether_claude::Error>(())
/// })
/// .await??;
/// # Ok(()) }
/// ```
#[must_use = "a pending turn is withdrawn when dropped"]
pub struct PendingTurn {
    /// The stream to hand out (dropping it here interrupts a turn taken in the same instant).
    stream: Option<ResponseStream>,
    wait: oneshot::Receiver<()>,
    state: Arc<TurnState>,
}

impl PendingTurn {
    /// The turn's arrival number (see [`ResponseStream::turn_number`]).
    pub fn turn_number(&self) -> u64 {
        self.state.number
    }
}

impl Future for PendingTurn {
    type Output = Result<ResponseStream>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let accepted = ready!(Pin::new(&mut this.wait).poll(cx));
        let stream = this
            .stream
            .take()
            .expect("a PendingTurn is not polled after it resolved");
        Poll::Ready(match accepted {
            Ok(()) => Ok(stream),
            Err(_) => Err(stream.shared.closed_error()),
        })
    }
}

impl Drop for PendingTurn {
    fn drop(&mut self) {
        if self.stream.is_none() {
            return; // resolved
        }
        let mut phase = self.state.phase.lock();
        self.state.leave_queue(&mut phase, Phase::Withdrawn);
        drop(phase);
        // Then `stream` drops: a turn taken in the same instant is interrupted.
    }
}

impl std::fmt::Debug for PendingTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingTurn")
            .field("turn", &self.state.number)
            .field("phase", &*self.state.phase.lock())
            .finish()
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
