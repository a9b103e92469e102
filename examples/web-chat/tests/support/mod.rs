//! Test support: a server on loopback driving the mock agent, a small HTTP/1 client that reads
//! server-sent events, bounds, and process checks.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tether_claude::ClaudeOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Runs `fut`, failing the test if it takes longer than `limit`.
pub async fn bounded<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

/// A fresh scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "web-chat-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A running `web_chat::serve` on 127.0.0.1, with the mock agent playing `script`.
pub struct Server {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<web_chat::ServeReport, web_chat::ServeError>>>,
}

impl Server {
    pub async fn start(script: &mock_claude::Script) -> Server {
        let dir = scratch("server");
        let options = mock_options(script, &dir);
        Server::start_with(options, dir).await
    }

    /// A server with any agent options; `dir` is its scratch directory.
    pub async fn start_with(options: ClaudeOptions, dir: PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(web_chat::serve(listener, options, async {
            let _ = rx.await;
        }));
        let server = Server {
            addr,
            dir,
            shutdown: Some(tx),
            task: Some(task),
        };
        // Ready once the agent answered `initialize` and the status endpoint answers.
        bounded(Duration::from_secs(60), "server start", async {
            loop {
                if let Ok((StatusCode::OK, _)) = try_get(addr, "/api/status").await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        server
    }

    pub async fn status(&self) -> Value {
        let (code, body) = get(self.addr, "/api/status").await;
        assert_eq!(code, StatusCode::OK, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls the status until `check` holds (bounded).
    pub async fn wait_status(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        bounded(Duration::from_secs(30), what, async {
            loop {
                let status = self.status().await;
                if check(&status) {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// Stops the server (its shutdown future completes) and waits for `serve` to return.
    pub async fn shutdown(mut self) -> web_chat::ServeReport {
        let _ = self.shutdown.take().unwrap().send(());
        let task = self.task.take().unwrap();
        bounded(
            Duration::from_secs(30),
            "serve to return after shutdown",
            task,
        )
        .await
        .expect("serve panicked")
        .expect("serve failed")
    }

    /// The prompts the agent received, in the order it received them (its stdin log).
    pub fn prompts_received(&self) -> Vec<String> {
        prompts_received(&self.dir)
    }

    /// The control requests the agent received (their `subtype`s), in order.
    pub fn control_requests_received(&self) -> Vec<String> {
        stdin_lines(&self.dir)
            .iter()
            .filter(|line| line["type"] == "control_request")
            .filter_map(|line| line["request"]["subtype"].as_str().map(str::to_string))
            .collect()
    }

    pub fn mock_log(&self) -> Vec<Value> {
        mock_log(&self.dir)
    }

    /// Every agent process started for this server.
    pub fn agent_pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.join("mock.pid"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Options for the mock agent playing `script`, logging to `dir`.
pub fn mock_options(script: &mock_claude::Script, dir: &Path) -> ClaudeOptions {
    ClaudeOptions::new()
        .cli_path(mock_claude::binary_path())
        .include_partial_messages(true)
        .close_grace(Duration::from_secs(2))
        .term_grace(Duration::from_secs(2))
        .env(
            "MOCK_CLAUDE_SCRIPT_JSON",
            serde_json::to_string(script).unwrap(),
        )
        .env(
            "MOCK_CLAUDE_LOG",
            dir.join("mock.log").display().to_string(),
        )
        .env(
            "MOCK_CLAUDE_PIDFILE",
            dir.join("mock.pid").display().to_string(),
        )
}

/// Every JSON line the agent read on stdin, in order.
pub fn stdin_lines(dir: &Path) -> Vec<Value> {
    mock_log(dir)
        .into_iter()
        .filter(|e| e["event"] == "stdin")
        .map(|mut e| e["line"].take())
        .collect()
}

/// The prompts (`user` lines) the agent read, in order. Reads the log a line at a time (the
/// load test reads it while measuring memory: no whole-log parse).
pub fn prompts_received(dir: &Path) -> Vec<String> {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(dir.join("mock.log")) else {
        return Vec::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("\"stdin\"") && l.contains("\"user\""))
        .filter_map(|l| {
            let mut e: Value = serde_json::from_str(&l).ok()?;
            let line = e["line"].take();
            (e["event"] == "stdin" && line["type"] == "user")
                .then(|| line["message"]["content"].as_str().map(str::to_string))?
        })
        .collect()
}

pub fn mock_log(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("mock.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `None` if no process `pid` exists; else its state letter from `/proc/<pid>/stat`
/// (`Z` = exited but not reaped).
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ..." — comm may contain spaces; the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Waits (bounded) until the process is gone: exited and reaped.
pub async fn assert_reaped(pid: u32) {
    bounded(Duration::from_secs(10), "the agent to be reaped", async {
        loop {
            match process_state(pid) {
                None => return,
                Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
}

/// The resident set size of this process, in bytes (`/proc/self/statm`, field 2, pages).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

async fn connect(
    addr: SocketAddr,
) -> hyper::Result<(
    hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    JoinHandle<()>,
)> {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the server");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, driver))
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> hyper::Result<(hyper::Response<Incoming>, JoinHandle<()>)> {
    let (mut sender, driver) = connect(addr).await?;
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_string())))
        .unwrap();
    let response = sender.send_request(request).await?;
    Ok((response, driver))
}

async fn try_get(addr: SocketAddr, path: &str) -> hyper::Result<(StatusCode, String)> {
    let (response, driver) = send(addr, "GET", path, None).await?;
    let code = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    driver.abort();
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// A request whose whole body is read (bounded).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, String) {
    bounded(Duration::from_secs(30), "an http request", async {
        let (response, driver) = send(addr, method, path, body).await.unwrap();
        let code = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        driver.abort();
        let _ = headers;
        (code, String::from_utf8_lossy(&body).into_owned())
    })
    .await
}

pub async fn get(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    request(addr, "GET", path, None).await
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub name: String,
    pub data: Value,
}

/// A turn in progress: its response's events, one at a time. Dropping it closes the TCP
/// connection (the client going away).
pub struct Turn {
    pub status: StatusCode,
    pub content_type: String,
    body: Incoming,
    buffer: String,
    driver: JoinHandle<()>,
}

impl Turn {
    /// `POST /api/turn` with `{"prompt": prompt}`.
    pub async fn post(addr: SocketAddr, prompt: &str) -> Turn {
        let body = serde_json::json!({ "prompt": prompt }).to_string();
        Turn::open(addr, "POST", "/api/turn", Some(&body)).await
    }

    pub async fn open(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Turn {
        let (response, driver) = send(addr, method, path, body).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        Turn {
            status,
            content_type,
            body: response.into_body(),
            buffer: String::new(),
            driver,
        }
    }

    /// The next event; `None` when the response ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
                return Some(SseEvent { name, data });
            }
            match self.body.frame().await {
                None => return None,
                Some(Err(e)) => panic!("the event stream failed: {e}"),
                Some(Ok(frame)) => {
                    if let Ok(bytes) = frame.into_data() {
                        self.buffer.push_str(std::str::from_utf8(&bytes).unwrap());
                    }
                }
            }
        }
    }

    /// The next event, which must be named `name`.
    pub async fn expect(&mut self, name: &str) -> Value {
        let event = bounded(Duration::from_secs(30), name, self.next())
            .await
            .unwrap_or_else(|| panic!("the stream ended before a `{name}` event"));
        assert_eq!(event.name, name, "expected `{name}`, got {event:?}");
        event.data
    }

    /// Skips events until one named `name`; returns its data.
    pub async fn until(&mut self, name: &str) -> Value {
        bounded(Duration::from_secs(30), name, async {
            loop {
                match self.next().await {
                    Some(e) if e.name == name => return e.data,
                    Some(e) if e.name == "error" || e.name == "result" => {
                        panic!("expected `{name}`, the turn ended: {e:?}")
                    }
                    Some(_) => {}
                    None => panic!("the stream ended before a `{name}` event"),
                }
            }
        })
        .await
    }

    /// Every remaining event (bounded).
    pub async fn rest(&mut self) -> Vec<SseEvent> {
        bounded(Duration::from_secs(60), "the rest of a turn", async {
            let mut events = Vec::new();
            while let Some(e) = self.next().await {
                events.push(e);
            }
            events
        })
        .await
    }

    /// The whole body as text (for non-SSE answers).
    pub async fn text(mut self) -> String {
        let mut body = Vec::new();
        while let Some(frame) = self.body.frame().await {
            if let Ok(bytes) = frame.unwrap().into_data() {
                body.extend_from_slice(&bytes);
            }
        }
        String::from_utf8_lossy(&body).into_owned()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// The text of every `delta` event, joined.
pub fn deltas(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.name == "delta")
        .map(|e| e.data["text"].as_str().unwrap().to_string())
        .collect()
}

/// The texts of the `text` events.
pub fn texts(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.name == "text")
        .map(|e| e.data["text"].as_str().unwrap().to_string())
        .collect()
}
