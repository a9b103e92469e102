//! The fake Messages API over real loopback HTTP, with a hand-written HTTP/1.1 client (so the
//! tests depend on nothing but tokio and see the bytes the CLI would see).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use fake_messages_api::{ApiError, Block, FakeMessagesApi, Reply};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// Every test's waits are bounded by this; a hang fails instead of stalling the suite.
const BOUND: Duration = Duration::from_secs(20);

async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(BOUND, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {BOUND:?}"),
    }
}

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("the body is UTF-8")
    }
}

fn request_bytes(method: &str, path: &str, body: Option<&Value>) -> Vec<u8> {
    let body = body.map(Value::to_string).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-api-key: dummy\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One request on a fresh connection, read to the end.
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
    bounded("an HTTP exchange", async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(&request_bytes(method, path, body))
            .await
            .expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        parse_response(&raw)
    })
    .await
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = std::str::from_utf8(&rest[..line_end]).expect("ASCII chunk size");
        let size = usize::from_str_radix(size_text.trim(), 16).expect("a hex chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// `(event name, data)` pairs of a server-sent-event body.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = None;
            let mut data = None;
            for line in e.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).expect("data is JSON"));
                }
            }
            let name = name.expect("an event line");
            let data: Value = data.expect("a data line");
            assert_eq!(data["type"], name.as_str(), "data.type names the event");
            (name, data)
        })
        .collect()
}

/// The text of a streamed reply: its `text_delta`s joined.
fn streamed_text(response: &HttpResponse) -> String {
    sse_events(&response.text())
        .iter()
        .filter(|(n, d)| n == "content_block_delta" && d["delta"]["type"] == "text_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect()
}

fn stream_request(text: &str) -> Value {
    json!({
        "model": "claude-test",
        "max_tokens": 100,
        "stream": true,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>\nignore me\n</system-reminder>"},
            {"type": "text", "text": text},
        ]}],
    })
}

#[tokio::test]
async fn a_streamed_text_reply_follows_the_real_event_order() {
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::text("hello big world"));
    let response = http(
        api.addr(),
        "POST",
        "/v1/messages?beta=true",
        Some(&stream_request("hi")),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert!(response.header("request-id").is_some());
    let events = sse_events(&response.text());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let start = &events[0].1["message"];
    assert_eq!(start["model"], "claude-test");
    assert_eq!(start["role"], "assistant");
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "hello big world");
    assert_eq!(events[7].1["delta"]["stop_reason"], "end_turn");
    assert!(events[7].1["usage"]["output_tokens"].as_u64().unwrap() >= 1);
    assert_eq!(api.statistics().streams_completed, 1);
    assert_eq!(api.statistics().streams_aborted, 0);
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_tool_use_reply_streams_input_json_that_reassembles() {
    let api = FakeMessagesApi::start().await.unwrap();
    let input = json!({"command": "echo héllo > out.txt", "description": "write"});
    api.push(Reply::blocks([
        Block::text("Let me."),
        Block::tool_use("toolu_01", "Bash", input.clone()),
    ]));
    let response = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("go")),
    )
    .await;
    let events = sse_events(&response.text());
    let start = events
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["index"] == 1)
        .expect("a start for block 1");
    assert_eq!(
        start.1["content_block"],
        json!({"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {}})
    );
    let partial: Vec<String> = events
        .iter()
        .filter(|(n, d)| n == "content_block_delta" && d["index"] == 1)
        .map(|(_, d)| {
            assert_eq!(d["delta"]["type"], "input_json_delta");
            d["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(partial.len() > 1, "the input is streamed in pieces");
    let reassembled: Value = serde_json::from_str(&partial.concat()).unwrap();
    assert_eq!(reassembled, input);
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_thinking_block_streams_thinking_then_signature() {
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::blocks([Block::Thinking {
        thinking: "let me think".to_owned(),
        signature: "sig".to_owned(),
    }]));
    let response = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("x")),
    )
    .await;
    let deltas: Vec<Value> = sse_events(&response.text())
        .into_iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"].clone())
        .collect();
    let thinking: String = deltas
        .iter()
        .filter(|d| d["type"] == "thinking_delta")
        .map(|d| d["thinking"].as_str().unwrap())
        .collect();
    assert_eq!(thinking, "let me think");
    assert_eq!(
        deltas.last().unwrap(),
        &json!({"type": "signature_delta", "signature": "sig"})
    );
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_empty_script_echoes_the_last_user_text_or_tool_result() {
    let api = FakeMessagesApi::start().await.unwrap();
    let response = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("ping me")),
    )
    .await;
    assert_eq!(streamed_text(&response), "echo: ping me");

    let after_tool = json!({
        "model": "m", "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "5"}]}]},
        ],
    });
    let response = http(api.addr(), "POST", "/v1/messages", Some(&after_tool)).await;
    assert_eq!(response.json()["content"][0]["text"], "tool_result: 5");
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_request_without_stream_gets_one_json_message() {
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::tool_use(
        "toolu_9",
        "Read",
        json!({"file_path": "/x"}),
    ));
    let body = json!({"model": "claude-test", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let response = http(api.addr(), "POST", "/v1/messages", Some(&body)).await;
    assert_eq!(response.status, 200);
    let message = response.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["model"], "claude-test");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["content"],
        json!([{"type": "tool_use", "id": "toolu_9", "name": "Read", "input": {"file_path": "/x"}}])
    );
    // A non-streamed reply is not an event stream: neither counter moves.
    let stats = api.statistics();
    assert_eq!((stats.streams_completed, stats.streams_aborted), (0, 0));
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_scripted_error_answers_its_status_in_the_api_error_shape() {
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::error(ApiError::new(
        529,
        "overloaded_error",
        "Overloaded",
    )));
    api.push(Reply::text("after the error"));
    let response = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("x")),
    )
    .await;
    assert_eq!(response.status, 529);
    assert_eq!(
        response.json()["error"],
        json!({"type": "overloaded_error", "message": "Overloaded"})
    );
    assert_eq!(response.json()["type"], "error");
    // The error took one reply; the next request gets the next one.
    let response = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("x")),
    )
    .await;
    assert_eq!(streamed_text(&response), "after the error");
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn replies_are_taken_in_order_and_every_request_is_recorded() {
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::text("one"));
    api.push(Reply::text("two"));
    assert_eq!(api.statistics().replies_pending, 2);
    let first = http(
        api.addr(),
        "POST",
        "/v1/messages?beta=true",
        Some(&stream_request("a")),
    )
    .await;
    let second = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("b")),
    )
    .await;
    assert_eq!(streamed_text(&first), "one");
    assert_eq!(streamed_text(&second), "two");
    let _ = http(api.addr(), "GET", "/v1/nothing-here", None).await;

    let requests = api.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/messages");
    assert_eq!(requests[0].query.as_deref(), Some("beta=true"));
    assert_eq!(requests[0].header("X-API-KEY"), Some("dummy"));
    assert!(requests[0].is_messages());
    assert_eq!(requests[1].query, None);
    assert!(!requests[2].is_messages());
    assert_eq!(requests[2].body, Value::Null);
    let bodies = api.messages_bodies();
    assert_eq!(bodies, vec![stream_request("a"), stream_request("b")]);
    let stats = api.statistics();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.messages_requests, 2);
    assert_eq!(stats.replies_pending, 0);
    assert_eq!(stats.streams_completed, 2);
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn other_endpoints_answer_harmlessly() {
    let api = FakeMessagesApi::start().await.unwrap();
    let tokens = http(
        api.addr(),
        "POST",
        "/v1/messages/count_tokens",
        Some(&stream_request("count me")),
    )
    .await;
    assert_eq!(tokens.status, 200);
    assert!(tokens.json()["input_tokens"].as_u64().unwrap() >= 1);
    let models = http(api.addr(), "GET", "/v1/models", None).await;
    assert_eq!(models.status, 200);
    assert_eq!(models.json()["data"][0]["type"], "model");
    let missing = http(api.addr(), "POST", "/v1/unknown", Some(&json!({}))).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["type"], "not_found_error");
    // None of these took a scripted reply or counted as a messages request.
    assert_eq!(api.statistics().messages_requests, 0);
    assert_eq!(api.statistics().requests, 3);
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_http_control_endpoints_script_and_report() {
    let api = FakeMessagesApi::start().await.unwrap();
    let pushed = http(
        api.addr(),
        "POST",
        "/_fake/replies",
        Some(&json!([
            {"blocks": [{"type": "text", "text": "scripted over http"}]},
            {"error": {"status": 401, "type": "authentication_error", "message": "bad key"}},
        ])),
    )
    .await;
    assert_eq!(pushed.status, 204);
    let one = http(
        api.addr(),
        "POST",
        "/_fake/replies",
        Some(&json!({"blocks": [], "stall": true})),
    )
    .await;
    assert_eq!(one.status, 204);
    assert_eq!(api.statistics().replies_pending, 3);
    let bad = http(
        api.addr(),
        "POST",
        "/_fake/replies",
        Some(&json!({"blocks": "not a list"})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a reply")
    );
    assert_eq!(api.statistics().replies_pending, 3);

    let reply = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("x")),
    )
    .await;
    assert_eq!(streamed_text(&reply), "scripted over http");
    let recorded = http(api.addr(), "GET", "/_fake/requests", None).await;
    let recorded = recorded.json();
    assert_eq!(
        recorded.as_array().unwrap().len(),
        1,
        "control calls are not recorded"
    );
    assert_eq!(recorded[0]["path"], "/v1/messages");
    assert_eq!(recorded[0]["body"], stream_request("x"));
    let stats = http(api.addr(), "GET", "/_fake/statistics", None).await;
    assert_eq!(stats.json()["messages_requests"], 1);
    assert_eq!(stats.json()["replies_pending"], 2);
    api.shutdown().await.unwrap();
}

/// Opens a streamed request and reads until the first content delta arrives.
async fn open_until_first_delta(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&request_bytes(
            "POST",
            "/v1/messages",
            Some(&stream_request("x")),
        ))
        .await
        .expect("write");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("content_block_delta") {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "the stream ended before its first delta");
        seen.extend_from_slice(&buf[..n]);
    }
    stream
}

#[tokio::test]
async fn a_stalled_stream_is_counted_aborted_when_the_client_goes_away() {
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::text("never finishes").stalling());
    let stream = bounded("the first delta", open_until_first_delta(api.addr())).await;
    assert_eq!(api.statistics().streams_started, 1);
    assert_eq!(api.statistics().streams_aborted, 0);
    drop(stream);
    bounded(
        "the abort to be noticed",
        api.wait_until(|s| s.streams_aborted == 1),
    )
    .await;
    assert_eq!(api.statistics().streams_completed, 0);
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_a_stalled_stream_that_a_client_still_holds() {
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::text("never finishes").stalling());
    let mut stream = bounded("the first delta", open_until_first_delta(api.addr())).await;
    bounded("shutdown", api.shutdown()).await.unwrap();
    // The response ended (no message_stop), so the client reads to EOF.
    let mut rest = Vec::new();
    bounded("EOF", stream.read_to_end(&mut rest)).await.unwrap();
    assert!(!String::from_utf8_lossy(&rest).contains("message_stop"));
}

#[tokio::test]
async fn a_delayed_reply_still_streams_to_the_end() {
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::text("a b c").with_delta_delay(Duration::from_millis(5)));
    let response = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("x")),
    )
    .await;
    let events = sse_events(&response.text());
    assert_eq!(events.last().unwrap().0, "message_stop");
    assert_eq!(api.statistics().streams_completed, 1);
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_binary_prints_its_url_serves_a_script_and_exits_on_stdin_eof() {
    let dir = std::env::temp_dir().join(format!("fake-messages-api-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("replies.json");
    std::fs::write(
        &script,
        json!([{"blocks": [{"type": "text", "text": "from the script"}]}]).to_string(),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-messages-api"))
        .arg("--script")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    bounded("the URL line", stdout.read_line(&mut line))
        .await
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("FAKE_MESSAGES_API_URL=http://")
        .expect("the URL line");
    let addr: SocketAddr = url.parse().unwrap();
    assert!(addr.ip().is_loopback());
    let response = http(addr, "POST", "/v1/messages", Some(&stream_request("x"))).await;
    assert_eq!(streamed_text(&response), "from the script");
    drop(child.stdin.take());
    let status = bounded("the binary to exit", child.wait()).await.unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_binary_refuses_a_bad_script_with_a_message() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-messages-api"))
        .arg("--script")
        .arg("/nonexistent/replies.json")
        .stdin(Stdio::null())
        .output();
    let output = bounded("the binary", output).await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot read the script"), "{stderr}");
}

#[tokio::test]
async fn a_stalling_reply_without_deltas_still_ends() {
    // Stalling starts after the first content delta; with no content there is none, so the
    // stream runs to message_stop instead of hanging.
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::blocks([]).stalling());
    let response = http(
        api.addr(),
        "POST",
        "/v1/messages",
        Some(&stream_request("x")),
    )
    .await;
    let names: Vec<String> = sse_events(&response.text())
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["message_start", "ping", "message_delta", "message_stop"]
    );
    assert_eq!(api.statistics().streams_completed, 1);
    api.shutdown().await.unwrap();
}
