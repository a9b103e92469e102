//! web-chat: a chat page served by axum over **one** shared `tether-claude` connection.
//!
//! Every request handler uses the same [`ClientHandle`] (axum state) — the pattern that hangs the
//! official Python SDK when it is shared across web-server tasks. Turns from all requests queue
//! in one FIFO and are served one at a time, in arrival order.
//!
//! # Endpoints
//!
//! | method, path | does |
//! |---|---|
//! | `GET /` | the chat page (inline HTML + JS): a prompt box, the reply streaming in, a Stop button |
//! | `POST /api/turn` `{"prompt": "…"}` (or `GET /api/turn?prompt=…`) | one turn, as server-sent events (below) |
//! | `POST /api/interrupt` `{"turn": N}` (body optional) | interrupts the running turn (only if it is turn `N`, when given) |
//! | `GET /api/status` | JSON: `alive`, `pid`, `turns_served`, `queue_length`, `running`, counters, `cause` once closed |
//!
//! # The events of a turn (`/api/turn`)
//!
//! Each event's data is one JSON object:
//!
//! - `queued` `{"turn": N, "ahead": k}` — at once: `N` is the turn's arrival number (the order
//!   it entered the connection's queue), `k` how many turns were waiting before it;
//! - `start` `{"turn": N}` — the connection took the turn and wrote the prompt;
//! - `delta` `{"text": "…"}` — a streamed piece of text (`include_partial_messages`);
//! - `text` `{"text": "…"}` — a whole assistant text block;
//! - `tool_use` `{"name": "…", "input": {…}}`, `thinking` `{"text": "…"}`;
//! - `result` `{"subtype", "is_error", "result", "terminal_reason", "duration_ms", "num_turns",
//!   "session_id"}` — the end of the turn (an interrupted turn ends here too, with
//!   `terminal_reason` `aborted_streaming`);
//! - `error` `{"kind": "…", "message": "…", "fatal": bool}` — `kind` is `closed` (the agent's
//!   connection ended; `message` has the cause), `shutdown` (the server is stopping),
//!   `decode` / `line_too_long` (a bad line, not fatal: the turn goes on), `control_timeout`,
//!   `other`. A fatal error is the last event.
//!
//! Closing the page or dropping the HTTP connection drops the turn's response stream in the
//! task that runs that connection: a queued turn is withdrawn (its prompt is never written), a
//! running one is interrupted and its remaining messages are discarded, so the next turn starts
//! clean.
//!
//! # Shutdown
//!
//! [`serve`] runs the accept loop and every HTTP connection as children of one tether task
//! group inside the agent connection's scope. When its `shutdown` future completes: every open
//! turn stream ends with an `error` event of kind `shutdown` (dropping its response stream,
//! which interrupts the turn), the running turn is interrupted, the server's group is cancelled
//! after a bounded grace, and leaving the connection's scope tears the CLI down (end of input,
//! grace, SIGTERM, SIGKILL) and reaps it.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tether_claude::{
    ClaudeOptions, ClientHandle, ContentBlock, Message, PendingTurn, ResponseStream, TurnInterrupt,
};
use tokio::net::TcpListener;

/// The chat page.
const PAGE: &str = include_str!("page.html");

/// The demo agent script for the mock: echo the prompt, then stream a longer answer slowly
/// enough to press Stop.
fn demo_script() -> mock_claude::Script {
    mock_claude::Script::every_turn(vec![
        mock_claude::Step::Echo {
            prefix: "You said: ".into(),
        },
        mock_claude::Step::SlowText {
            text: "This reply comes from mock-claude, streamed piece by piece through one \
                   shared tether-claude connection. Every browser tab and every HTTP request \
                   shares it: turns queue in arrival order, Stop interrupts this one, and \
                   closing the tab withdraws or interrupts it."
                .into(),
            chunks: 40,
            chunk_ms: 75,
        },
    ])
}

/// The options `web-chat` runs with.
///
/// The real CLI at `cli` if given, else the workspace's mock agent playing the demo script
/// (unless `MOCK_CLAUDE_SCENARIO`, `MOCK_CLAUDE_SCRIPT` or `MOCK_CLAUDE_SCRIPT_JSON` is already
/// set, which the mock then follows). Partial messages are on, so replies stream; the teardown
/// grace periods are 2 s each.
///
/// # Panics
///
/// Never for a given `cli`. Without one, locating the mock may build it (`cargo build --bin
/// mock-claude`) and panics if that fails.
///
/// # Examples
///
/// ```no_run
/// let options = web_chat::agent_options(None);
/// # let _ = options;
/// ```
pub fn agent_options(cli: Option<PathBuf>) -> ClaudeOptions {
    let options = ClaudeOptions::new()
        .include_partial_messages(true)
        .close_grace(Duration::from_secs(2))
        .term_grace(Duration::from_secs(2));
    match cli {
        Some(path) => options.cli_path(path),
        None => {
            let options = options.cli_path(mock_claude::binary_path());
            let scripted = [
                "MOCK_CLAUDE_SCENARIO",
                "MOCK_CLAUDE_SCRIPT",
                "MOCK_CLAUDE_SCRIPT_JSON",
            ]
            .iter()
            .any(|k| std::env::var_os(k).is_some());
            if scripted {
                options
            } else {
                let script = serde_json::to_string(&demo_script()).expect("scripts serialize");
                options.env("MOCK_CLAUDE_SCRIPT_JSON", script)
            }
        }
    }
}

/// Counters of the web layer (the queue length and the running turn come from the client's
/// handle).
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    open_streams: AtomicU64,
    turns_started: AtomicU64,
    turns_served: AtomicU64,
    turns_interrupted: AtomicU64,
    withdrawn: AtomicU64,
    abandoned: AtomicU64,
}

/// The state every handler shares: the one connection's handle and the web layer's counters.
///
/// Cheap to clone (an `Arc`); every request handler gets a clone through axum's state and calls
/// the same [`ClientHandle`]. [`router`](Self::router) gives the routes; [`status`](Self::status)
/// the counters; [`begin_shutdown`](Self::begin_shutdown) ends every open turn stream.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_claude::Error> {
/// tether_claude::connect(web_chat::agent_options(None), async |client| {
///     let app = web_chat::App::new(client.handle());
///     let _routes: axum::Router = app.router();
///     assert!(app.status().alive);
/// })
/// .await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    handle: ClientHandle,
    /// Held while a turn is queued, so its `ahead` counts exactly the turns queued before it.
    enqueue: Mutex<()>,
    counters: Counters,
    /// How to interrupt each started turn whose stream is open, by turn number.
    interrupters: Mutex<BTreeMap<u64, TurnInterrupt>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    shutdown: tether::Event,
    keep_alive: Duration,
}

/// The JSON of `GET /api/status`.
///
/// # Examples
///
/// ```
/// let status: web_chat::Status = serde_json::from_str(r#"{"alive": false, "pid": 7,
///     "turns_served": 3, "queue_length": 0, "running": null, "requests": 4,
///     "turns_started": 4, "turns_interrupted": 1, "withdrawn": 0, "abandoned": 1,
///     "open_streams": 0, "errors": {"closed": 1}, "cause": "the cli exited",
///     "shutting_down": false}"#).unwrap();
/// assert_eq!(status.errors["closed"], 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Whether the agent connection is still open.
    pub alive: bool,
    /// The agent process id.
    pub pid: u32,
    /// Turns that reached their `result` and were delivered to the client that asked.
    pub turns_served: u64,
    /// Turns waiting in the connection's queue (`ClientHandle::queue_len`).
    pub queue_length: u64,
    /// The arrival number of the turn the agent is running now (`ClientHandle::current_turn`):
    /// from its prompt until the connection read its `result` — an abandoned turn counts until
    /// the agent answered the interrupt.
    pub running: Option<u64>,
    /// Every `/api/turn` request that got as far as the queue.
    pub requests: u64,
    /// Turns the connection took (prompt written).
    pub turns_started: u64,
    /// Turns that ended with an interrupted `result`.
    pub turns_interrupted: u64,
    /// Requests dropped by their client while queued.
    pub withdrawn: u64,
    /// Requests dropped by their client while their turn ran.
    pub abandoned: u64,
    /// Turn streams open now.
    pub open_streams: u64,
    /// `error` events sent, by kind.
    pub errors: BTreeMap<String, u64>,
    /// Why the connection ended, once it has.
    pub cause: Option<String>,
    /// Whether the server is shutting down.
    pub shutting_down: bool,
}

impl App {
    /// The state for a connection's handle; every counter starts at zero.
    pub fn new(handle: ClientHandle) -> App {
        App {
            inner: Arc::new(Inner {
                handle,
                enqueue: Mutex::new(()),
                counters: Counters::default(),
                interrupters: Mutex::new(BTreeMap::new()),
                errors: Mutex::new(BTreeMap::new()),
                shutdown: tether::Event::new(),
                keep_alive: Duration::from_secs(10),
            }),
        }
    }

    /// The routes (`/`, `/api/turn`, `/api/interrupt`, `/api/status`), with this state.
    ///
    /// Turn streams are dropped in whichever task runs the HTTP connection; that is safe (see
    /// the crate docs).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/api/turn", post(turn_post).get(turn_get))
            .route("/api/interrupt", post(interrupt))
            .route("/api/status", get(status))
            .with_state(self.clone())
    }

    /// The connection's state and the web layer's counters, now (a snapshot: counters that
    /// change together are read one after the other).
    pub fn status(&self) -> Status {
        let c = &self.inner.counters;
        let handle = &self.inner.handle;
        let cause = handle
            .close_cause()
            .map(|cause| tether_claude::Error::Closed(cause).to_string());
        Status {
            alive: cause.is_none(),
            pid: handle.pid(),
            turns_served: c.turns_served.load(Ordering::SeqCst),
            queue_length: handle.queue_len() as u64,
            running: handle.current_turn(),
            requests: c.requests.load(Ordering::SeqCst),
            turns_started: c.turns_started.load(Ordering::SeqCst),
            turns_interrupted: c.turns_interrupted.load(Ordering::SeqCst),
            withdrawn: c.withdrawn.load(Ordering::SeqCst),
            abandoned: c.abandoned.load(Ordering::SeqCst),
            open_streams: c.open_streams.load(Ordering::SeqCst),
            errors: self
                .inner
                .errors
                .lock()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            cause,
            shutting_down: self.inner.shutdown.is_set(),
        }
    }

    /// Starts the shutdown: every open turn stream ends with an `error` event of kind
    /// `shutdown`, and new turns are refused. Idempotent.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.set();
    }

    fn count_error(&self, kind: &'static str) {
        *self.inner.errors.lock().entry(kind).or_default() += 1;
    }
}

/// The routes over `handle`'s connection: `router(handle)` is `App::new(handle).router()`.
///
/// Serve it with [`serve`] (which also runs the shutdown sequence) or any hyper/axum server.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_claude::Error> {
/// tether_claude::connect(web_chat::agent_options(None), async |client| {
///     let routes = web_chat::router(client.handle());
///     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     axum::serve(listener, routes).await.unwrap();
/// })
/// .await
/// # }
/// ```
pub fn router(handle: ClientHandle) -> Router {
    App::new(handle).router()
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn status(State(app): State<App>) -> Json<Status> {
    Json(app.status())
}

/// The body of `POST /api/turn`.
#[derive(Debug, Deserialize)]
struct TurnBody {
    prompt: String,
}

/// The body of `POST /api/interrupt` (optional).
#[derive(Debug, Default, Deserialize)]
struct InterruptBody {
    turn: Option<u64>,
}

fn json_error(status: StatusCode, kind: &str, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(json!({"error": {"kind": kind, "message": message.to_string()}})),
    )
        .into_response()
}

async fn turn_post(
    State(app): State<App>,
    body: Result<Json<TurnBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(Json(body)) => start_turn(app, body.prompt),
        Err(e) => json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body must be JSON {{\"prompt\": \"...\"}}: {e}"),
        ),
    }
}

async fn turn_get(
    State(app): State<App>,
    query: Result<Query<TurnBody>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(Query(body)) => start_turn(app, body.prompt),
        Err(e) => json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("add the prompt as ?prompt=...: {e}"),
        ),
    }
}

async fn interrupt(State(app): State<App>, body: axum::body::Bytes) -> Response {
    let wanted = if body.iter().all(u8::is_ascii_whitespace) {
        InterruptBody::default()
    } else {
        match serde_json::from_slice::<InterruptBody>(&body) {
            Ok(b) => b,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("the body must be empty or JSON {{\"turn\": N}}: {e}"),
                );
            }
        }
    };
    let handle = &app.inner.handle;
    let outcome = match wanted.turn {
        // This turn only: a no-op once it ended, so it can never hit the next turn.
        Some(turn) => {
            let interrupter = app.inner.interrupters.lock().get(&turn).cloned();
            let interrupted = match interrupter {
                Some(interrupter) => interrupter.interrupt().await,
                None => Ok(false),
            };
            match interrupted {
                Ok(false) => {
                    let message =
                        format!("turn {turn} is not the running turn; nothing was interrupted");
                    let body = json!({
                        "interrupted": false,
                        "turn": turn,
                        "running": handle.current_turn(),
                        "error": {"kind": "not_running", "message": message},
                    });
                    return (StatusCode::CONFLICT, Json(body)).into_response();
                }
                Ok(true) => Ok(Some(turn)),
                Err(e) => Err(e),
            }
        }
        // Whatever runs now.
        None => {
            let running = handle.current_turn();
            handle.interrupt().await.map(|()| running)
        }
    };
    match outcome {
        Ok(turn) => Json(json!({"interrupted": turn.is_some(), "turn": turn})).into_response(),
        Err(e) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            error_kind(&e),
            format!("the interrupt failed: {e}"),
        ),
    }
}

fn error_kind(e: &tether_claude::Error) -> &'static str {
    match e {
        tether_claude::Error::Closed(_) => "closed",
        tether_claude::Error::Decode { .. } => "decode",
        tether_claude::Error::LineTooLong { .. } => "line_too_long",
        tether_claude::Error::ControlTimeout { .. } => "control_timeout",
        _ => "other",
    }
}

/// `/api/turn`: refuses at once when closed or shutting down, else streams the turn.
fn start_turn(app: App, prompt: String) -> Response {
    if app.inner.shutdown.is_set() {
        app.count_error("shutdown");
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutdown",
            "the server is shutting down; no new turns",
        );
    }
    if app.inner.handle.is_closed() {
        app.count_error("closed");
        let cause = app.status().cause.unwrap_or_default();
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "closed",
            format!("the agent connection has ended ({cause}); restart the server"),
        );
    }
    if prompt.trim().is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the prompt is empty; type something",
        );
    }
    let keep_alive = app.inner.keep_alive;
    let stream = TurnEvents::enqueue(app, prompt)
        .map(futures::stream::iter)
        .flatten()
        .map(Ok::<_, Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(keep_alive))
        .into_response()
}

enum Phase {
    /// Waiting for the connection to take the turn.
    Queued(PendingTurn),
    /// Refused before it was queued (the connection had ended).
    Refused(Option<tether_claude::Error>),
    /// The turn is running; its messages arrive here.
    Running(ResponseStream),
    /// The last event was sent.
    Done,
}

/// One turn's event stream. Dropped by the HTTP connection's task when the client goes away:
/// dropping a queued turn's query withdraws it; dropping a running turn's response stream
/// interrupts it (the client crate discards the rest of its messages).
struct TurnEvents {
    app: App,
    turn: u64,
    phase: Phase,
    /// Events to send before anything else (the `queued` event).
    first: Option<Event>,
}

impl TurnEvents {
    /// Puts the turn into the connection's queue now; its arrival number is the client's
    /// turn number (the queue's order).
    fn enqueue(app: App, prompt: String) -> impl Stream<Item = Vec<Event>> + Send + 'static {
        let c = &app.inner.counters;
        c.requests.fetch_add(1, Ordering::SeqCst);
        c.open_streams.fetch_add(1, Ordering::SeqCst);
        let handle = &app.inner.handle;
        let (queued, ahead) = {
            let _order = app.inner.enqueue.lock();
            let ahead = handle.queue_len();
            (handle.enqueue(prompt), ahead)
        };
        let (turn, phase) = match queued {
            Ok(pending) => (pending.turn_number(), Phase::Queued(pending)),
            // The connection ended: the stream says so after `queued`.
            Err(e) => (0, Phase::Refused(Some(e))),
        };
        let events = TurnEvents {
            app,
            turn,
            phase,
            first: Some(event("queued", json!({"turn": turn, "ahead": ahead}))),
        };
        futures::stream::unfold(events, |mut events| async move {
            let batch = events.next_events().await?;
            Some((batch, events))
        })
    }

    /// The next events; `None` after the last one.
    async fn next_events(&mut self) -> Option<Vec<Event>> {
        if let Some(first) = self.first.take() {
            return Some(vec![first]);
        }
        let inner = self.app.inner.clone();
        let shutdown = &inner.shutdown;
        match &mut self.phase {
            Phase::Done => None,
            Phase::Refused(e) => {
                let e = e.take().expect("refused once");
                Some(self.fail(error_kind(&e), e, true))
            }
            Phase::Queued(query) => {
                let outcome = tokio::select! {
                    biased;
                    () = shutdown.wait() => None,
                    outcome = query => Some(outcome),
                };
                match outcome {
                    None => Some(self.fail("shutdown", "the server is shutting down", true)),
                    Some(Err(e)) => Some(self.fail(error_kind(&e), e, true)),
                    Some(Ok(stream)) => {
                        self.app
                            .inner
                            .counters
                            .turns_started
                            .fetch_add(1, Ordering::SeqCst);
                        self.app
                            .inner
                            .interrupters
                            .lock()
                            .insert(self.turn, stream.interrupter());
                        self.phase = Phase::Running(stream);
                        Some(vec![event("start", json!({"turn": self.turn}))])
                    }
                }
            }
            Phase::Running(stream) => {
                let item = tokio::select! {
                    biased;
                    () = shutdown.wait() => None,
                    item = stream.next() => Some(item),
                };
                match item {
                    None => Some(self.fail("shutdown", "the server is shutting down", true)),
                    Some(None) => {
                        // Ended without a result and without an error: not expected from the
                        // client crate, but never leave the page waiting.
                        Some(self.fail("other", "the turn ended without a result", true))
                    }
                    Some(Some(Err(e))) => {
                        let fatal = e.is_closed()
                            || !matches!(
                                e,
                                tether_claude::Error::Decode { .. }
                                    | tether_claude::Error::LineTooLong { .. }
                            );
                        Some(self.fail(error_kind(&e), e, fatal))
                    }
                    Some(Some(Ok(message))) => Some(self.on_message(message)),
                }
            }
        }
    }

    /// An `error` event; a fatal one ends the stream (dropping the turn).
    fn fail(
        &mut self,
        kind: &'static str,
        message: impl std::fmt::Display,
        fatal: bool,
    ) -> Vec<Event> {
        self.app.count_error(kind);
        if fatal {
            self.finish();
        }
        vec![event(
            "error",
            json!({"kind": kind, "message": message.to_string(), "fatal": fatal, "turn": self.turn}),
        )]
    }

    /// Ends the stream: drops the query or response stream here, in this task.
    fn finish(&mut self) {
        if let Phase::Running(_) = self.phase {
            self.clear_running();
        }
        self.phase = Phase::Done;
    }

    fn clear_running(&self) {
        self.app.inner.interrupters.lock().remove(&self.turn);
    }

    fn on_message(&mut self, message: Message) -> Vec<Event> {
        match message {
            Message::StreamEvent(e) => {
                let delta = &e.event["delta"];
                if e.event["type"] == "content_block_delta" && delta["type"] == "text_delta" {
                    let text = delta["text"].as_str().unwrap_or_default();
                    vec![event("delta", json!({"text": text}))]
                } else {
                    Vec::new()
                }
            }
            Message::Assistant(a) => a
                .message
                .content
                .iter()
                .filter_map(|block| match block {
                    ContentBlock::Text { text } => Some(event("text", json!({"text": text}))),
                    ContentBlock::Thinking { thinking, .. } => {
                        Some(event("thinking", json!({"text": thinking})))
                    }
                    ContentBlock::ToolUse { name, input, .. } => {
                        Some(event("tool_use", json!({"name": name, "input": input})))
                    }
                    _ => None,
                })
                .collect(),
            Message::Result(r) => {
                let c = &self.app.inner.counters;
                c.turns_served.fetch_add(1, Ordering::SeqCst);
                let interrupted = r
                    .terminal_reason
                    .as_deref()
                    .is_some_and(|t| t.starts_with("aborted"));
                if interrupted {
                    c.turns_interrupted.fetch_add(1, Ordering::SeqCst);
                }
                self.finish();
                vec![event(
                    "result",
                    json!({
                        "turn": self.turn,
                        "subtype": r.subtype,
                        "is_error": r.is_error,
                        "result": r.result,
                        "terminal_reason": r.terminal_reason,
                        "duration_ms": r.duration_ms,
                        "num_turns": r.num_turns,
                        "session_id": r.session_id,
                    }),
                )]
            }
            _ => Vec::new(),
        }
    }
}

impl Drop for TurnEvents {
    fn drop(&mut self) {
        let c = &self.app.inner.counters;
        match self.phase {
            Phase::Queued(_) => {
                c.withdrawn.fetch_add(1, Ordering::SeqCst);
            }
            Phase::Running(_) => {
                c.abandoned.fetch_add(1, Ordering::SeqCst);
                self.clear_running();
            }
            Phase::Refused(_) | Phase::Done => {}
        }
        c.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

fn event(name: &str, data: Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// What [`serve`] reports when it returns.
#[derive(Debug, Clone)]
pub struct ServeReport {
    /// The counters at the end.
    pub status: Status,
    /// The agent process id (exited and reaped when `serve` returns).
    pub pid: u32,
}

/// Why [`serve`] failed. `Display` says what failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Starting the agent failed.
    #[error("could not start the agent: {0}")]
    Connect(#[from] tether_claude::Error),
    /// The server's task group failed (a failed accept, or a task error).
    #[error("the web server failed: {0}")]
    Server(String),
}

/// How long open turn streams get to end after a shutdown starts, before the server's task
/// group is cancelled.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Connects to the agent, serves [`App::router`] on `listener` until `shutdown` completes, then
/// shuts down in order (see the crate docs) and returns once the agent has exited and been
/// reaped.
///
/// Every HTTP connection is a child of one tether task group inside the agent connection's
/// scope: a turn's response stream is dropped in whichever connection task runs it, and
/// nothing outlives this call.
///
/// # Errors
///
/// [`ServeError::Connect`] if the agent cannot be started; [`ServeError::Server`] if accepting
/// failed.
///
/// # Cancel safety
///
/// Cancelled by a tether scope: the server's group is cancelled and the agent torn down
/// (shielded). Dropped otherwise: the agent is killed (SIGKILL) and reaped by tokio.
///
/// # Panics
///
/// Resumes a panic of a request handler (after the teardown); panics outside a tokio runtime.
///
/// # Examples
///
/// Serve the mock agent, ask for the status over plain HTTP, stop:
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), web_chat::ServeError> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(web_chat::serve(listener, web_chat::agent_options(None), async {
///     let _ = stopped.await; // a binary would wait for Ctrl-C here
/// }));
///
/// // Accepted once the agent is up (the listener is bound already).
/// let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
/// socket.write_all(b"GET /api/status HTTP/1.0\r\n\r\n").await.unwrap();
/// let mut answer = String::new();
/// socket.read_to_string(&mut answer).await.unwrap();
/// assert!(answer.contains(r#""alive":true"#), "{answer}");
///
/// stop.send(()).unwrap();
/// let report = server.await.unwrap()?;
/// assert_eq!(report.status.turns_served, 0); // and the agent has exited and been reaped
/// # Ok(()) }
/// ```
pub async fn serve(
    listener: TcpListener,
    options: ClaudeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<ServeReport, ServeError> {
    let outcome = tether_claude::connect(options, async |client| {
        let handle = client.handle();
        let app = App::new(handle.clone());
        let router = app.router();
        let served = tether::task_group(async |tg| {
            let group = tg.handle();
            tg.spawn(accept_loop(listener, router, group));
            shutdown.await;
            tracing::info!("shutting down: ending open turns");
            app.begin_shutdown();
            if let Err(e) = tether::move_on_after(SHUTDOWN_GRACE, handle.interrupt())
                .await
                .unwrap_or(Ok(()))
            {
                tracing::debug!(error = %e, "interrupting at shutdown");
            }
            let drained = tether::move_on_after(SHUTDOWN_GRACE, async {
                while app.inner.counters.open_streams.load(Ordering::SeqCst) > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            if drained.is_none() {
                tracing::warn!("open turn streams did not end in time; cancelling the server");
            }
            tg.cancel_scope().cancel();
        })
        .await;
        let status = app.status();
        match served {
            Ok(()) => Ok(status),
            Err(e) if e.is_cancelled() && e.is_empty() => Ok(status),
            Err(e) => Err(ServeError::Server(e.to_string())),
        }
    })
    .await?;
    let status = outcome?;
    let pid = status.pid;
    Ok(ServeReport { status, pid })
}

/// Accepts connections and runs each as a child of the server's group.
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    group: tether::TaskGroupHandle,
) -> Result<(), std::io::Error> {
    loop {
        let (socket, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin or die.
                tracing::warn!(error = %e, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = async move {
            let io = hyper_util::rt::TokioIo::new(socket);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
        };
        if group.spawn(connection).is_err() {
            return Ok(()); // the server is closing
        }
    }
}
