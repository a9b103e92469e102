//! The connection: one CLI process and the tasks that serve it, in one tether task group.
//!
//! # Tasks (all children of the connection's [`OwnedTaskGroup`])
//!
//! | task | owns | ends when |
//! |---|---|---|
//! | owner | the `Child` | the process is reaped |
//! | stderr | the stderr pipe | stderr reaches EOF |
//! | writer | stdin | input is closed (teardown, one-shot rule) |
//! | reader | stdout | stdout reaches EOF; then it records the [`CloseCause`] |
//! | driver | the message queue's receive end, the turn queue | the message queue ends |
//! | one per CLI request | its callback | it replied, or `control_cancel_request` cancelled it |
//!
//! # Routing before queueing
//!
//! The reader reads each line's `type` without building the object (known messages are then
//! parsed straight from the bytes into their typed form), and sorts every line *before*
//! anything can wait: control responses complete their
//! waiter, control requests become child tasks, cancel requests cancel one — none of these ever
//! waits for the consumer. Only messages go on, in **bursts**: the reader gathers messages in a
//! local look-ahead and hands the whole burst over (one `Vec`, one wake-up) as soon as no
//! complete line is left in its buffer or the burst reached `message_buffer`; the driver cuts
//! bursts at each turn's `result` and hands them on the same way, and the turn's stream yields
//! them one by one. One wake-up per burst instead of one per message is what makes the
//! multi-thread runtime fast (a cross-thread wake-up costs more than parsing a small message).
//!
//! The queue to the driver holds one burst. While it is full the reader keeps reading, still
//! routing control lines at once, up to `2 × message_buffer` messages in its look-ahead; only
//! then does it stop reading, which is the backpressure to the CLI's pipe. A slow consumer can
//! thus leave at least `2 × message_buffer` messages unread without stalling control traffic,
//! and memory is bounded whatever the number of messages: the look-ahead plus one burst (at
//! most `2 × message_buffer`) in each of the queue, the driver, the turn's stream and the
//! consumer's hand.
//!
//! # Ending
//!
//! The first cause wins ([`Shared::end`]): a disconnect, the CLI's exit (status + stderr tail),
//! or a drop. Ending fails every pending control request at once; the driver then fails the
//! current turn and every waiting one with the same cause.
//!
//! The group is opened under a shield: an enclosing cancellation cuts off the *user's* code,
//! whose teardown (run shielded) then stops the connection in order — end of input, grace,
//! SIGTERM, grace, SIGKILL, reap — instead of having the outer cancellation kill the owner task
//! first and skip the escalation.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tether::Event;
use tether::{CancelScope, MemorySender, OwnedTaskGroup, TaskGroupHandle, TrySendError};

use super::turn::{TurnBook, TurnRequest, drive_turns};
use crate::control::dispatch::{Callbacks, answer};
use crate::control::hooks::initialize_hooks;
use crate::control::panic_message;
use crate::control::pending::Pending;
use crate::error::{CloseCause, Error, Result};
use crate::options::ClaudeOptions;
use crate::transport::framing::{Frame, LineReader};
use crate::transport::process::{self, Exit};
use crate::transport::stderr::{self, StderrTail};
use crate::transport::writer::Writer;
use crate::wire::control::{
    Incoming, Peek, classify, error_line, is_control, request_line, success_line,
};
use crate::wire::{Message, SystemMessage};

/// One item of a response stream.
pub(crate) type Item = Result<Message>;

/// A burst of items, handed over in one go (one wake-up per burst, not per message).
pub(crate) type Batch = Vec<Item>;

/// The state every part of a connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// stdin.
    pub(crate) writer: Writer,
    /// Our requests waiting for replies.
    pending: Pending,
    /// The CLI's requests being answered, by request id, each in its own cancel scope.
    inflight: Mutex<HashMap<String, CancelScope>>,
    /// In-process MCP `tools/call`s being answered: (server, JSON-RPC id as JSON text) → their
    /// control request id. The real CLI cancels these with a JSON-RPC `notifications/cancelled`
    /// in a new `mcp_message`, not with `control_cancel_request`.
    mcp_calls: Mutex<HashMap<(String, String), String>>,
    /// Why the connection ended; set once.
    cause: OnceLock<Arc<CloseCause>>,
    /// Set together with `cause`.
    ended: Event,
    /// The process's exit.
    pub(crate) exit: Arc<Exit>,
    /// Set when stderr reached EOF.
    stderr_done: Event,
    /// The last bytes of stderr.
    tail: Arc<StderrTail>,
    /// The callbacks the CLI can call.
    callbacks: Callbacks,
    /// Turns waiting to be served (FIFO).
    pub(crate) turns: MemorySender<TurnRequest>,
    /// Turn numbers and counters.
    pub(crate) turn_book: TurnBook,
    /// For spawning request handlers.
    group: TaskGroupHandle,
    /// Options that matter after start.
    pub(crate) control_timeout: Duration,
    pub(crate) close_grace: Duration,
    pub(crate) term_grace: Duration,
    /// The `initialize` reply.
    server_info: OnceLock<Value>,
    /// Request id counter and salt (`req_<n>_<8 hex>`).
    next_id: AtomicU64,
    salt: u32,
    /// The CLI's pid.
    pub(crate) pid: u32,
    /// One-shot input closing (see [`OneShot`]).
    one_shot: Mutex<OneShot>,
}

/// The one-shot rule for closing input, after the official SDK: with no callbacks, close right
/// after the prompt; with callbacks, close after a `result` once no background task the CLI
/// announced (`system` `task_started` … `task_notification`, or the list in
/// `background_tasks_changed`) is still running — the CLI may still call back for
/// those.
#[derive(Debug, Default)]
struct OneShot {
    active: bool,
    seen_result: bool,
    tasks: HashSet<String>,
}

impl Shared {
    /// Spawns the CLI and the connection's tasks into `group`.
    pub(crate) fn spawn(group: &OwnedTaskGroup, options: &ClaudeOptions) -> Result<Arc<Shared>> {
        let program = options.find_cli()?;
        let spawned = process::spawn(options, &program)?;
        let handle = group.handle();
        let exit = Exit::new(spawned.pid);
        let tail = StderrTail::new(options.stderr_tail_bytes);
        let (writer, writer_task) = Writer::new();
        let (msg_tx, msg_rx) = tether::memory_stream_in::<Batch>(&handle, 1);
        let (turn_tx, turn_rx) = tether::unbounded_memory_stream_in::<TurnRequest>(&handle);
        let shared = Arc::new(Shared {
            writer,
            pending: Pending::default(),
            inflight: Mutex::new(HashMap::new()),
            mcp_calls: Mutex::new(HashMap::new()),
            cause: OnceLock::new(),
            ended: Event::new(),
            exit: exit.clone(),
            stderr_done: Event::new(),
            tail: tail.clone(),
            callbacks: Callbacks {
                can_use_tool: options.can_use_tool.clone(),
                hooks: options.hooks.clone(),
                servers: options.sdk_mcp_servers.clone(),
            },
            turns: turn_tx,
            turn_book: TurnBook::default(),
            group: handle.clone(),
            control_timeout: options.control_timeout,
            close_grace: options.close_grace,
            term_grace: options.term_grace,
            server_info: OnceLock::new(),
            next_id: AtomicU64::new(0),
            salt: salt(),
            pid: spawned.pid,
            one_shot: Mutex::new(OneShot::default()),
        });
        let spawn = |fut: futures::future::BoxFuture<'static, ()>| {
            // The group was opened just now and is only closed by this connection.
            if handle.spawn(fut).is_err() {
                unreachable!("the connection's group is open while it starts");
            }
        };
        spawn(process::own_child(spawned.child, exit).boxed());
        let sh = shared.clone();
        let callback = options.stderr.clone();
        spawn(
            async move {
                stderr::drain(spawned.stderr, callback, tail).await;
                sh.stderr_done.set();
            }
            .boxed(),
        );
        spawn(writer_task.run(spawned.stdin).boxed());
        let lines = LineReader::new(spawned.stdout, options.max_line_bytes);
        spawn(read_loop(shared.clone(), lines, msg_tx, options.message_buffer).boxed());
        spawn(drive_turns(shared.clone(), turn_rx, msg_rx).boxed());
        Ok(shared)
    }

    /// Sends `initialize` (hooks, agents, in-process MCP servers) and keeps the reply.
    ///
    /// The CLI may call our in-process MCP servers before it answers (it does: MCP
    /// `initialize` comes first); those requests are served by the reader meanwhile.
    pub(crate) async fn initialize(&self, options: &ClaudeOptions) -> Result<()> {
        let mut init = json!({"subtype": "initialize", "hooks": initialize_hooks(&options.hooks)});
        if let Some(agents) = &options.agents {
            init["agents"] = agents.clone();
        }
        if !options.sdk_mcp_servers.is_empty() {
            init["sdkMcpServers"] = options
                .sdk_mcp_servers
                .iter()
                .map(|s| Value::String(s.name().to_string()))
                .collect();
        }
        let info = self.request(init).await?;
        let _ = self.server_info.set(info);
        Ok(())
    }

    /// The `initialize` reply.
    pub(crate) fn server_info(&self) -> Option<&Value> {
        self.server_info.get()
    }

    /// Sends a control request and waits for its reply, at most `control_timeout`; fails at
    /// once when the connection ends.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped call forgets its request (a late reply is ignored).
    pub(crate) async fn request(&self, request: Value) -> Result<Value> {
        self.send_request(request)?.reply().await
    }

    /// The first half of [`request`](Self::request), synchronous: registers the request and
    /// queues its line on stdin (so the caller can order it against other writes, under a
    /// lock of its own). Await [`RequestWait::reply`] for the answer.
    pub(crate) fn send_request(&self, request: Value) -> Result<RequestWait<'_>> {
        let subtype = request
            .get("subtype")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!(
            "req_{n}_{:08x}",
            self.salt.wrapping_add(n as u32).wrapping_mul(2654435761)
        );
        let rx = self.pending.register(&id, &subtype)?;
        let wait = RequestWait {
            shared: self,
            id,
            subtype,
            rx,
        };
        if !self.writer.send(request_line(&wait.id, &request)) {
            return Err(if self.is_ended() {
                self.closed_error()
            } else {
                // The one-shot form ended input; the connection is still finishing.
                Error::Io("the cli's input is already closed (one-shot query)".into())
            });
        }
        Ok(wait)
    }

    /// Records why the connection ended (the first cause wins) and fails every pending
    /// request with it.
    pub(crate) fn end(&self, cause: CloseCause) -> Arc<CloseCause> {
        let cause = self.cause.get_or_init(|| Arc::new(cause)).clone();
        self.pending.close(cause.clone());
        self.ended.set();
        cause
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.ended.is_set()
    }

    /// Waits until the connection ended.
    pub(crate) async fn ended(&self) {
        self.ended.wait().await;
    }

    /// Why the connection ended, once it did.
    pub(crate) fn cause(&self) -> Option<Arc<CloseCause>> {
        self.cause.get().cloned()
    }

    /// The "client closed" error with the cause (`Dropped` if none was recorded: the group was
    /// abandoned).
    pub(crate) fn closed_error(&self) -> Error {
        match self.cause.get() {
            Some(cause) => Error::Closed(cause.clone()),
            None => Error::Closed(self.end(CloseCause::Dropped)),
        }
    }

    /// The one-shot form: writes the prompt and arms the input-closing rule, under the
    /// one-shot lock so a `result` read in between cannot be missed. Returns whether the
    /// prompt was queued.
    pub(crate) fn begin_one_shot(&self, prompt_line: Vec<u8>) -> bool {
        let mut one = self.one_shot.lock();
        one.active = true;
        if !self.writer.send(prompt_line) {
            return false;
        }
        if !self.has_callbacks() {
            // Nothing can call back: end input after the prompt, as the official SDK does.
            self.writer.finish();
        }
        true
    }

    fn has_callbacks(&self) -> bool {
        let c = &self.callbacks;
        c.can_use_tool.is_some() || !c.hooks.is_empty() || !c.servers.is_empty()
    }

    /// The reader's look at each message, for the one-shot rule.
    fn observe(&self, msg: &Message) {
        if !matches!(msg, Message::Result(_) | Message::System(_)) {
            return;
        }
        let mut one = self.one_shot.lock();
        if !one.active {
            return;
        }
        match msg {
            Message::Result(_) => one.seen_result = true,
            Message::System(SystemMessage { subtype, data, .. }) => {
                let id = data
                    .get("task_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match (subtype.as_str(), id) {
                    ("task_started", Some(id)) => {
                        one.tasks.insert(id);
                    }
                    ("task_notification", Some(id)) => {
                        one.tasks.remove(&id);
                    }
                    ("background_tasks_changed", _) => {
                        // The CLI's full list of running background tasks (seen in 2.1.330).
                        if let Some(tasks) = data.get("tasks").and_then(Value::as_array) {
                            one.tasks = tasks
                                .iter()
                                .filter_map(|t| t.get("task_id").and_then(Value::as_str))
                                .map(str::to_string)
                                .collect();
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if one.seen_result && one.tasks.is_empty() {
            self.writer.finish();
        }
    }

    /// Runs one CLI request as a child task in its own cancel scope; exactly one reply unless
    /// the CLI cancels it.
    fn dispatch(self: &Arc<Self>, request_id: String, request: Value) {
        let scope = CancelScope::new();
        self.inflight
            .lock()
            .insert(request_id.clone(), scope.clone());
        let mcp_call = self.track_mcp(&request_id, &request);
        let shared = self.clone();
        let task = async move {
            let callbacks = shared.callbacks.clone();
            let outcome = scope
                .run(AssertUnwindSafe(answer(&callbacks, request)).catch_unwind())
                .await;
            shared.inflight.lock().remove(&request_id);
            if let Some(key) = mcp_call {
                shared.mcp_calls.lock().remove(&key);
            }
            let line = match outcome {
                // Cancelled by control_cancel_request (or, for an MCP tools/call, by the
                // JSON-RPC notifications/cancelled): the CLI withdrew the request and expects
                // no reply (the official SDKs send none either).
                Err(_) => return,
                Ok(Ok(Ok(response))) => success_line(&request_id, response),
                Ok(Ok(Err(message))) => error_line(&request_id, &message),
                Ok(Err(payload)) => {
                    let msg = panic_message(&*payload);
                    tracing::error!(request_id, panic = %msg, "a control-request callback panicked; replying with an error");
                    error_line(&request_id, &format!("callback panicked: {msg}"))
                }
            };
            shared.writer.send(line);
        };
        if let Err(e) = self.group.spawn(task) {
            // Only after the connection's group closed: the connection is ending anyway.
            drop(e.into_inner());
        }
    }

    /// `control_cancel_request`: cancels that request's scope (the callback is dropped at its
    /// pending await).
    fn cancel_request(&self, request_id: &str) {
        if let Some(scope) = self.inflight.lock().get(request_id) {
            scope.cancel_with("the cli sent control_cancel_request");
        }
    }

    /// For an `mcp_message`: remembers a `tools/call` (returns its key, to forget it when
    /// answered), and for a JSON-RPC `notifications/cancelled` cancels the call it names — the
    /// way the real CLI withdraws an in-process tool call on interrupt. The notification itself
    /// is answered like any notification.
    fn track_mcp(&self, request_id: &str, request: &Value) -> Option<(String, String)> {
        if request.get("subtype").and_then(Value::as_str) != Some("mcp_message") {
            return None;
        }
        let server = request
            .get("server_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let message = request.get("message").unwrap_or(&Value::Null);
        match message.get("method").and_then(Value::as_str) {
            Some("tools/call") => {
                let key = (
                    server,
                    message.get("id").unwrap_or(&Value::Null).to_string(),
                );
                self.mcp_calls
                    .lock()
                    .insert(key.clone(), request_id.to_string());
                Some(key)
            }
            Some("notifications/cancelled") => {
                let rpc_id = message
                    .get("params")
                    .and_then(|p| p.get("requestId"))
                    .unwrap_or(&Value::Null)
                    .to_string();
                let call = self.mcp_calls.lock().remove(&(server, rpc_id));
                if let Some(call) = call
                    && let Some(scope) = self.inflight.lock().get(&call)
                {
                    scope.cancel_with("the cli sent notifications/cancelled for this tool call");
                }
                None
            }
            _ => None,
        }
    }

    /// Spawns a helper task into the connection's group (dropped if the group already closed:
    /// then the connection is over and the helper has nothing to do).
    pub(crate) fn spawn_child(
        self: Arc<Self>,
        fut: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        if let Err(e) = self.group.spawn(fut) {
            drop(e.into_inner());
        }
    }

    /// The cause of a CLI that closed its output: waits (bounded) for the reap and for stderr.
    async fn exit_cause(&self) -> CloseCause {
        let limit = self.close_grace.max(Duration::from_millis(100));
        self.exit.wait_for(limit).await;
        tether::move_on_after(Duration::from_millis(500), self.stderr_done.wait()).await;
        CloseCause::Exited {
            status: self.exit.status(),
            stderr_tail: self.tail.text(),
        }
    }

    /// The bounded teardown; run it shielded. Ends input, waits, SIGTERM, waits, SIGKILL, reaps.
    pub(crate) async fn terminate(&self) -> bool {
        process::terminate(
            &self.exit,
            || self.writer.close(),
            self.close_grace,
            self.term_grace,
        )
        .await
    }
}

/// A control request on its way: await [`reply`](Self::reply). Dropping it forgets the request
/// (a late reply is ignored).
pub(crate) struct RequestWait<'a> {
    shared: &'a Shared,
    id: String,
    subtype: String,
    rx: tokio::sync::oneshot::Receiver<Result<Value>>,
}

impl RequestWait<'_> {
    /// The reply, at most `control_timeout`; fails at once when the connection ends.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait forgets its request.
    pub(crate) async fn reply(mut self) -> Result<Value> {
        let shared = self.shared;
        match tether::fail_after(shared.control_timeout, &mut self.rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(shared.closed_error()),
            Err(_) => Err(Error::ControlTimeout {
                subtype: std::mem::take(&mut self.subtype),
                timeout: shared.control_timeout,
            }),
        }
    }
}

impl Drop for RequestWait<'_> {
    fn drop(&mut self) {
        self.shared.pending.remove(&self.id);
    }
}

fn salt() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// The `type` of a line that starts with it, as the CLI writes every line
/// (`{"type":"assistant",...`), without scanning the rest: the typed parse that follows reads
/// the line once. `None` (any other shape, or an escape in the value) falls back to a
/// [`Peek`] parse of the whole line.
fn quick_kind(line: &[u8]) -> Option<&str> {
    let rest = line.strip_prefix(b"{\"type\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// The reader: routes control traffic at once, queues messages with a bounded look-ahead.
async fn read_loop(
    shared: Arc<Shared>,
    mut lines: LineReader<tokio::process::ChildStdout>,
    queue: MemorySender<Batch>,
    lookahead: usize,
) {
    // The burst being gathered; handed over whole.
    let mut stash: Batch = Vec::new();
    let mut queue_open = true;
    let cause = loop {
        // Hand messages over in bursts: while whole lines are already buffered, parse them
        // into the stash first (up to the look-ahead), so the consumer side wakes once per
        // burst rather than once per message.
        let flush = stash.len() >= lookahead || !lines.has_complete_line();
        // Fast path: hand the burst over without waiting.
        if queue_open && flush && !stash.is_empty() {
            match queue.try_send(std::mem::take(&mut stash)) {
                Ok(()) => {}
                Err(TrySendError::WouldBlock(burst)) => stash = burst,
                Err(_) => {
                    // Nobody will read messages any more; keep routing control traffic.
                    queue_open = false;
                    stash = Vec::new();
                }
            }
        }
        tokio::select! {
            biased;
            permit = queue.reserve(), if queue_open && flush && !stash.is_empty() => match permit {
                Ok(permit) => {
                    let _ = permit.send(std::mem::take(&mut stash));
                }
                Err(_) => {
                    // Nobody will read messages any more; keep routing control traffic.
                    queue_open = false;
                    stash = Vec::new();
                }
            },
            frame = lines.next(), if stash.len() < 2 * lookahead => match frame {
                Err(e) => break CloseCause::ReadFailed(e.to_string()),
                Ok(Frame::Eof) => break shared.exit_cause().await,
                Ok(Frame::TooLong(len)) => {
                    if queue_open {
                        stash.push(Err(Error::LineTooLong { len, limit: lines.limit() }));
                    }
                }
                Ok(Frame::Line(bytes)) => {
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let kind = match quick_kind(&bytes) {
                        Some(kind) => Ok(Cow::Borrowed(kind)),
                        None => serde_json::from_slice::<Peek<'_>>(&bytes)
                            .map(|peek| peek.kind.unwrap_or_default()),
                    };
                    let kind = match kind {
                        Ok(kind) => kind,
                        Err(e) => {
                            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                            tracing::warn!(error = %e, line = %shown, "skipping a line from the cli that is not a json object");
                            continue;
                        }
                    };
                    if is_control(&kind) {
                        let value: Value = match serde_json::from_slice(&bytes) {
                            Ok(v) => v,
                            Err(e) => {
                                tracing::warn!(error = %e, "skipping an unreadable control line");
                                continue;
                            }
                        };
                        match classify(value) {
                            Incoming::Response { request_id, result } => shared.pending.complete(&request_id, result),
                            Incoming::Request { request_id, request } => shared.dispatch(request_id, request),
                            Incoming::Cancel { request_id } => shared.cancel_request(&request_id),
                            Incoming::Message => unreachable!("is_control said control"),
                        }
                    } else {
                        let item = Message::from_slice_of_kind(&kind, &bytes);
                        match &item {
                            Ok(msg) => shared.observe(msg),
                            // The quick peek read only the start: a line that is not JSON at
                            // all is skipped, as the full peek would have done.
                            Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() => {
                                let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                                tracing::warn!(line = %shown, "skipping a line from the cli that is not json");
                                continue;
                            }
                            Err(_) => {}
                        }
                        if queue_open {
                            stash.push(item);
                        }
                    }
                }
            },
        }
    };
    shared.end(cause);
    // Deliver what is stashed, then end the queue (dropping `queue`): the driver sees the end
    // after the last message.
    if queue_open && !stash.is_empty() {
        let _ = queue.send(stash).await;
    }
}

#[cfg(test)]
mod tests {
    use super::quick_kind;

    #[test]
    fn quick_kind_reads_a_leading_type_and_declines_anything_else() {
        assert_eq!(
            quick_kind(br#"{"type":"assistant","message":{}}"#),
            Some("assistant")
        );
        assert_eq!(quick_kind(br#"{"type":"result"}"#), Some("result"));
        assert_eq!(quick_kind(br#"{"type":""}"#), Some(""));
        // Other shapes go to the full peek.
        assert_eq!(quick_kind(br#"{"subtype":"x","type":"system"}"#), None);
        assert_eq!(quick_kind(br#"{ "type":"system"}"#), None);
        assert_eq!(quick_kind(br#"{"type":"sys\u0074em"}"#), None);
        assert_eq!(quick_kind(br#"{"type":"unterminated"#), None);
        assert_eq!(quick_kind(b"not json"), None);
    }
}
