//! The HTTP server: routes, shared state, the streamed body.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::script::Reply;
use crate::sse;

/// How often a stalled stream sends a `ping` event: the write is what tells the server that the
/// client went away (HTTP/1 notices a closed peer only when it writes).
const STALL_PING: Duration = Duration::from_millis(100);

/// The largest request body the fake accepts (the CLI's requests are ~50 KiB; long sessions grow).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// One HTTP request the fake received, as the client sent it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let api = fake_messages_api::FakeMessagesApi::start().await?;
/// // … run the CLI against api.base_url() …
/// for request in api.requests() {
///     println!("{} {} {:?}", request.method, request.path, request.header("user-agent"));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query (`/v1/messages`).
    pub path: String,
    /// The query string, if any (the CLI sends `beta=true`).
    pub query: Option<String>,
    /// The headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Value::Null` when empty, a JSON string when it is not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of this header (case-insensitive name).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// assert!(api.requests().iter().all(|r| r.header("x-api-key").is_some()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a `POST /v1/messages` (the requests that take scripted replies).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// let turns = api.requests().iter().filter(|r| r.is_messages()).count();
    /// assert_eq!(turns, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_messages(&self) -> bool {
        self.method == "POST" && self.path == "/v1/messages"
    }
}

/// Counters a test can wait on with [`FakeMessagesApi::wait_until`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let api = fake_messages_api::FakeMessagesApi::start().await?;
/// let stats = api.statistics();
/// assert_eq!((stats.requests, stats.messages_requests, stats.replies_pending), (0, 0, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Statistics {
    /// Every request received (control endpoints under `/_fake/` excluded).
    pub requests: usize,
    /// `POST /v1/messages` requests received.
    pub messages_requests: usize,
    /// Scripted replies not yet taken.
    pub replies_pending: usize,
    /// Event streams that have sent their first content delta (or ended before having one).
    pub streams_started: usize,
    /// Event streams sent to the end (`message_stop`).
    pub streams_completed: usize,
    /// Event streams the client dropped before the end (the CLI aborted the request: an interrupt,
    /// a kill), or that shutdown cut off.
    pub streams_aborted: usize,
}

/// State shared by the handle and the handlers.
struct Shared {
    inner: Mutex<Inner>,
    /// Bumped on every change of `inner`, so waiters can re-check their condition.
    changed: watch::Sender<u64>,
    /// Set once on shutdown; stalled streams end when they see it.
    closing: watch::Sender<bool>,
}

#[derive(Default)]
struct Inner {
    /// The script, front first.
    replies: VecDeque<Reply>,
    /// Every request received, in order.
    requests: Vec<RecordedRequest>,
    stats: Statistics,
    /// Numbers the message ids (`msg_fake_…`).
    next_message: u64,
}

impl Shared {
    fn update<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let out = {
            let mut inner = self.inner.lock();
            let out = f(&mut inner);
            inner.stats.replies_pending = inner.replies.len();
            out
        };
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        out
    }
}

/// A loopback fake of the Anthropic Messages API, for driving the real Claude Code CLI in tests.
///
/// [`start`](Self::start) binds `127.0.0.1:0` and serves on the current tokio runtime until
/// [`shutdown`](Self::shutdown) or drop. Point the CLI at it with
/// `ANTHROPIC_BASE_URL=`[`base_url()`](Self::base_url) and any `ANTHROPIC_API_KEY`.
///
/// - `POST /v1/messages` takes the next scripted [`Reply`] ([`push`](Self::push)), or, when the
///   script is empty, [`Reply::default_for`] the request (`echo: <last user text>`). Streamed
///   requests get server-sent events exactly like the real API; others one JSON message.
/// - `POST /v1/messages/count_tokens` answers `{"input_tokens": n}`; `GET /v1/models` a one-model
///   list; anything else a 404 in the API's error shape. Every request is recorded
///   ([`requests`](Self::requests)).
/// - For drivers that are not Rust: `POST /_fake/replies` (a reply or an array of replies, as JSON)
///   appends to the script, `GET /_fake/requests` and `GET /_fake/statistics` report.
///
/// # Examples
///
/// ```
/// use fake_messages_api::{FakeMessagesApi, Reply};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let api = FakeMessagesApi::start().await?;
/// api.push(Reply::tool_use("toolu_01", "Bash", serde_json::json!({"command": "echo hi"})));
/// api.push(Reply::text("done"));
/// assert!(api.base_url().starts_with("http://127.0.0.1:"));
/// // spawn `claude` with ANTHROPIC_BASE_URL = api.base_url(), then e.g.
/// // api.wait_until(|s| s.messages_requests >= 2).await;
/// // assert!(api.messages_bodies()[1].to_string().contains("tool_result"));
/// api.shutdown().await?;
/// # Ok(())
/// # }
/// ```
pub struct FakeMessagesApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<io::Result<()>>>,
}

impl fmt::Debug for FakeMessagesApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeMessagesApi")
            .field("addr", &self.addr)
            .field("statistics", &self.statistics())
            .finish_non_exhaustive()
    }
}

impl FakeMessagesApi {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// The bind's I/O error (no loopback interface, no free port).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before it returns, nothing is left listening.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// assert!(api.addr().ip().is_loopback());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            changed: watch::Sender::new(0),
            closing: watch::Sender::new(false),
        });
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .route("/v1/messages/count_tokens", post(count_tokens))
            .route("/v1/models", get(models))
            .route("/_fake/replies", post(push_replies))
            .route("/_fake/requests", get(list_requests))
            .route("/_fake/statistics", get(statistics))
            .fallback(not_found)
            .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(Arc::clone(&shared));
        let mut closing = shared.closing.subscribe();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // An Err means the handle is gone, which is also a reason to stop.
                    let _ = closing.wait_for(|c| *c).await;
                })
                .await
        });
        Ok(Self {
            addr,
            shared,
            server: Some(server),
        })
    }

    /// The bound address (always on 127.0.0.1).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// assert_ne!(api.addr().port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, the value for `ANTHROPIC_BASE_URL`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// assert_eq!(api.base_url(), format!("http://{}", api.addr()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Appends a reply to the script; the next `POST /v1/messages` without an earlier reply
    /// waiting takes it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// api.push(fake_messages_api::Reply::text("first"));
    /// assert_eq!(api.statistics().replies_pending, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn push(&self, reply: Reply) {
        self.shared.update(|inner| inner.replies.push_back(reply));
    }

    /// Every request received so far, in order (the `/_fake/` control endpoints excluded).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// assert!(api.requests().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.inner.lock().requests.clone()
    }

    /// The JSON bodies of the `POST /v1/messages` requests so far, in order: what the CLI sent the
    /// model (`messages`, `tools`, `system`, `model`, …). A test asserts on these that the CLI sent
    /// a `tool_result`, a resumed history, and so on.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// assert!(api.messages_bodies().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn messages_bodies(&self) -> Vec<Value> {
        self.shared
            .inner
            .lock()
            .requests
            .iter()
            .filter(|r| r.is_messages())
            .map(|r| r.body.clone())
            .collect()
    }

    /// The current counters.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// assert_eq!(api.statistics().streams_aborted, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn statistics(&self) -> Statistics {
        self.shared.inner.lock().stats
    }

    /// Waits until `condition` holds for the counters (checked now and after every change).
    ///
    /// This waits without a bound: wrap it in a timeout in a test.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes, nothing is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// api.push(fake_messages_api::Reply::text("x"));
    /// api.wait_until(|s| s.replies_pending == 1).await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_until(&self, mut condition: impl FnMut(&Statistics) -> bool) {
        let mut changes = self.shared.changed.subscribe();
        loop {
            if condition(&self.statistics()) {
                return;
            }
            if changes.changed().await.is_err() {
                // The sender lives in `self.shared`, so this cannot happen while `self` exists.
                return;
            }
        }
    }

    /// Stops serving: stalled streams end, idle connections close, and this waits for the server
    /// task.
    ///
    /// # Errors
    ///
    /// The server's I/O error, if it failed.
    ///
    /// # Panics
    ///
    /// Re-raises a panic of the server task.
    ///
    /// # Cancel safety
    ///
    /// Cancelling the wait leaves the server shutting down in the background.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let api = fake_messages_api::FakeMessagesApi::start().await?;
    /// api.shutdown().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shutdown(mut self) -> io::Result<()> {
        self.shared.closing.send_replace(true);
        match self.server.take() {
            Some(server) => match server.await {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(io::Error::other(e)),
            },
            None => Ok(()),
        }
    }
}

impl Drop for FakeMessagesApi {
    /// Signals shutdown (stalled streams end, the listener closes once open connections finish);
    /// use [`shutdown`](FakeMessagesApi::shutdown) to wait for it.
    fn drop(&mut self) {
        self.shared.closing.send_replace(true);
    }
}

type AppState = State<Arc<Shared>>;

/// Reads the request, records it, and hands back the parsed body and the raw length.
async fn record(shared: &Shared, request: Request) -> Result<(Value, usize), Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &e.to_string(),
        )
    })?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: header_list(&parts.headers),
        body: body.clone(),
    };
    let is_messages = recorded.is_messages();
    shared.update(|inner| {
        inner.stats.requests += 1;
        if is_messages {
            inner.stats.messages_requests += 1;
        }
        inner.requests.push(recorded);
    });
    Ok((body, bytes.len()))
}

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": "req_fake_error",
    });
    (status, axum::Json(body)).into_response()
}

async fn messages(State(shared): AppState, request: Request) -> Response {
    let (body, len) = match record(&shared, request).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let (reply, message_number) = shared.update(|inner| {
        inner.next_message += 1;
        (inner.replies.pop_front(), inner.next_message)
    });
    let reply = reply.unwrap_or_else(|| Reply::default_for(&body));
    if let Some(error) = &reply.error {
        let status =
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return api_error(status, &error.error_type, &error.message);
    }
    let message_id = format!("msg_fake_{message_number:016}");
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-fake")
        .to_owned();
    let input = sse::input_tokens(len);
    let request_id = HeaderValue::from_str(&format!("req_fake_{message_number:016}"))
        .unwrap_or(HeaderValue::from_static("req_fake"));
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let mut response =
            axum::Json(sse::message(&reply, &message_id, &model, input)).into_response();
        response.headers_mut().insert("request-id", request_id);
        return response;
    }
    let events = sse::events(&reply, &message_id, &model, input);
    let stream = EventStream {
        shared: Arc::clone(&shared),
        events: events.into(),
        delay: Duration::from_millis(reply.delta_delay_ms),
        stall: reply.stall,
        started: false,
        finished: false,
    };
    let body = Body::from_stream(futures::stream::unfold(stream, EventStream::next));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("request-id", request_id);
    response
}

/// The body of one streamed reply. Polled by the connection; dropped when the client goes away.
/// Its drop counts the stream as completed or aborted.
struct EventStream {
    shared: Arc<Shared>,
    /// Events still to send, front first.
    events: VecDeque<sse::Event>,
    delay: Duration,
    stall: bool,
    /// Counted in `streams_started` (first delta sent, or the stream ended without one).
    started: bool,
    /// `message_stop` went out.
    finished: bool,
}

impl EventStream {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        if self.started && self.stall && !self.finished {
            // Stalled: keep the response open, pinging so a vanished client is noticed, until
            // shutdown. Then end without `message_stop` (the stream counts as aborted).
            let mut closing = self.shared.closing.subscribe();
            if *closing.borrow_and_update() {
                return None;
            }
            tokio::select! {
                _ = tokio::time::sleep(STALL_PING) => {}
                _ = closing.wait_for(|c| *c) => return None,
            }
            return Some((
                Ok(Bytes::from_static(
                    b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
                )),
                self,
            ));
        }
        let event = self.events.pop_front()?;
        if event.is_delta && !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if event.is_delta && !self.started {
            self.mark_started();
        }
        if event.name == "message_stop" {
            self.finished = true;
            if !self.started {
                self.mark_started();
            }
        }
        Some((Ok(Bytes::from(event.to_wire())), self))
    }

    fn mark_started(&mut self) {
        self.started = true;
        self.shared.update(|inner| inner.stats.streams_started += 1);
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let finished = self.finished;
        self.shared.update(|inner| {
            if finished {
                inner.stats.streams_completed += 1;
            } else {
                inner.stats.streams_aborted += 1;
            }
        });
    }
}

async fn count_tokens(State(shared): AppState, request: Request) -> Response {
    match record(&shared, request).await {
        Ok((_, len)) => axum::Json(json!({"input_tokens": sse::input_tokens(len)})).into_response(),
        Err(response) => response,
    }
}

async fn models(State(shared): AppState, request: Request) -> Response {
    if let Err(response) = record(&shared, request).await {
        return response;
    }
    axum::Json(json!({
        "data": [{
            "type": "model",
            "id": "claude-fake",
            "display_name": "Claude (fake)",
            "created_at": "2025-01-01T00:00:00Z",
        }],
        "has_more": false,
        "first_id": "claude-fake",
        "last_id": "claude-fake",
    }))
    .into_response()
}

async fn not_found(State(shared): AppState, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if let Err(response) = record(&shared, request).await {
        return response;
    }
    if method == Method::HEAD {
        return StatusCode::NOT_FOUND.into_response();
    }
    api_error(
        StatusCode::NOT_FOUND,
        "not_found_error",
        &format!("the fake messages api has no {method} {path}"),
    )
}

async fn push_replies(State(shared): AppState, body: Bytes) -> Response {
    let replies: Vec<Reply> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => match items.into_iter().map(serde_json::from_value).collect() {
            Ok(replies) => replies,
            Err(e) => return bad_script(&e),
        },
        Ok(item) => match serde_json::from_value(item) {
            Ok(reply) => vec![reply],
            Err(e) => return bad_script(&e),
        },
        Err(e) => return bad_script(&e),
    };
    shared.update(|inner| inner.replies.extend(replies));
    StatusCode::NO_CONTENT.into_response()
}

fn bad_script(e: &serde_json::Error) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        &format!("the body is not a reply or an array of replies: {e}"),
    )
}

async fn list_requests(State(shared): AppState) -> Response {
    axum::Json(shared.inner.lock().requests.clone()).into_response()
}

async fn statistics(State(shared): AppState) -> Response {
    axum::Json(shared.inner.lock().stats).into_response()
}
