//! The mock agent driven over its pipes, as a client would: every test spawns the binary, writes
//! NDJSON lines and asserts the replies. Each test is bounded so a hang fails instead of stalling.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_mock-claude");
const LIMIT: Duration = Duration::from_secs(30);

struct Mock {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    log: PathBuf,
    _dir: TempDir,
}

/// A scratch directory removed on drop (no tempfile crate).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "mock-claude-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Mock {
    fn spawn(env: &[(&str, &str)], args: &[&str]) -> Mock {
        let dir = TempDir::new();
        let log = dir.0.join("log.jsonl");
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--output-format",
            "stream-json",
            "--verbose",
            "--input-format",
            "stream-json",
        ])
        .args(args)
        .env("MOCK_CLAUDE_LOG", &log)
        .env("MOCK_CLAUDE_PIDFILE", dir.0.join("pid"))
        .env_remove("MOCK_CLAUDE_SCENARIO")
        .env_remove("MOCK_CLAUDE_SCRIPT")
        .env_remove("MOCK_CLAUDE_SCRIPT_JSON")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn mock-claude");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Mock {
            child,
            stdin,
            lines,
            log,
            _dir: dir,
        }
    }

    fn script(script: Value, args: &[&str]) -> Mock {
        Mock::spawn(&[("MOCK_CLAUDE_SCRIPT_JSON", &script.to_string())], args)
    }

    async fn send(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    async fn user(&mut self, text: &str) {
        self.send(json!({"type": "user", "message": {"role": "user", "content": text}, "parent_tool_use_id": null, "session_id": "default"}))
            .await;
    }

    async fn control(&mut self, id: &str, request: Value) {
        self.send(json!({"type": "control_request", "request_id": id, "request": request}))
            .await;
    }

    async fn answer(&mut self, id: &str, response: Value) {
        self.send(json!({"type": "control_response", "response": {"subtype": "success", "request_id": id, "response": response}}))
            .await;
    }

    async fn next(&mut self) -> Value {
        let line = self
            .lines
            .next_line()
            .await
            .unwrap()
            .expect("mock-claude closed stdout too early");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:.200}"))
    }

    /// Read until a message matches `pred`; returns everything read, the match last.
    async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let v = self.next().await;
            let done = pred(&v);
            seen.push(v);
            if done {
                return seen;
            }
        }
    }

    async fn result(&mut self) -> Vec<Value> {
        self.until(|v| v["type"] == "result").await
    }

    async fn eof_and_wait(&mut self) -> std::process::ExitStatus {
        self.stdin.take();
        while self.lines.next_line().await.unwrap().is_some() {}
        self.child.wait().await.unwrap()
    }

    fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test exceeded its time bound")
}

fn of_type<'a>(msgs: &'a [Value], t: &str) -> Vec<&'a Value> {
    msgs.iter().filter(|m| m["type"] == t).collect()
}

#[tokio::test]
async fn version_flag_prints_a_cli_like_version() {
    let out = bounded(Command::new(BIN).arg("-v").output()).await.unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2.1.330 (Claude Code)"
    );
}

#[tokio::test]
async fn echo_turn_has_init_text_and_a_full_result_then_exit_0_at_eof() {
    bounded(async {
        let mut m = Mock::spawn(
            &[],
            &[
                "--model",
                "claude-x",
                "--resume=sess-1",
                "--unknown-flag",
                "v",
            ],
        );
        m.control("req_1_aa", json!({"subtype": "initialize", "hooks": null}))
            .await;
        let r = m.next().await;
        assert_eq!(r["type"], "control_response");
        assert_eq!(r["response"]["subtype"], "success");
        assert_eq!(r["response"]["request_id"], "req_1_aa");
        assert_eq!(r["response"]["response"]["claude_code_version"], "2.1.330");
        m.user("hello there").await;
        let msgs = m.result().await;
        let init = &msgs[0];
        assert_eq!(
            (init["type"].as_str(), init["subtype"].as_str()),
            (Some("system"), Some("init"))
        );
        assert_eq!(
            init["session_id"], "sess-1",
            "--resume= keeps the session id"
        );
        assert_eq!(init["model"], "claude-x");
        let assistant = of_type(&msgs, "assistant");
        assert_eq!(assistant.len(), 1);
        assert_eq!(assistant[0]["message"]["content"][0]["text"], "hello there");
        let result = msgs.last().unwrap();
        for key in [
            "subtype",
            "is_error",
            "duration_ms",
            "duration_api_ms",
            "num_turns",
            "session_id",
            "total_cost_usd",
            "usage",
            "result",
            "permission_denials",
            "terminal_reason",
            "uuid",
        ] {
            assert!(result.get(key).is_some(), "result lacks {key}: {result}");
        }
        assert_eq!(result["subtype"], "success");
        assert_eq!(result["result"], "hello there");
        assert_eq!(result["terminal_reason"], "completed");
        let status = m.eof_and_wait().await;
        assert_eq!(status.code(), Some(0));
        let log = m.log();
        assert_eq!(log[0]["event"], "start");
        assert_eq!(log[0]["args"]["unknown"][0]["flag"], "--unknown-flag");
        let stdin: Vec<&Value> = log.iter().filter(|e| e["event"] == "stdin").collect();
        assert_eq!(stdin.len(), 2);
        assert_eq!(stdin[1]["line"]["message"]["content"], "hello there");
        assert_eq!(log.last().unwrap()["event"], "exit");
        let pid = log[0]["pid"].as_u64().unwrap();
        let pidfile = std::fs::read_to_string(m._dir.0.join("pid")).unwrap();
        assert_eq!(pidfile.trim().parse::<u64>().unwrap(), pid);
    })
    .await;
}

#[tokio::test]
async fn control_requests_get_exactly_one_reply_each() {
    bounded(async {
        let mut m = Mock::spawn(&[], &[]);
        m.control(
            "a",
            json!({"subtype": "set_permission_mode", "mode": "acceptEdits"}),
        )
        .await;
        let r = m.next().await;
        assert_eq!(r["response"]["response"]["mode"], "acceptEdits");
        let status = m.next().await;
        assert_eq!(
            (
                status["subtype"].as_str(),
                status["permissionMode"].as_str()
            ),
            (Some("status"), Some("acceptEdits"))
        );
        m.control(
            "b",
            json!({"subtype": "set_permission_mode", "mode": "nope"}),
        )
        .await;
        let r = m.next().await;
        assert_eq!(r["response"]["subtype"], "error");
        assert_eq!(r["response"]["error_code"], "invalid_mode");
        m.control("c", json!({"subtype": "set_model", "model": "claude-y"}))
            .await;
        assert_eq!(m.next().await["response"]["response"]["model"], "claude-y");
        m.control("d", json!({"subtype": "interrupt"})).await;
        assert_eq!(
            m.next().await["response"]["response"],
            json!({"still_queued": []})
        );
        m.control("e", json!({"subtype": "no_such_thing"})).await;
        let r = m.next().await;
        assert_eq!(r["response"]["subtype"], "error");
        assert_eq!(r["response"]["request_id"], "e");
        assert_eq!(
            r["response"]["error"],
            "Unsupported control request subtype: no_such_thing"
        );
        m.user("after").await;
        let msgs = m.result().await;
        assert_eq!(msgs[0]["model"], "claude-y");
        assert_eq!(msgs[0]["permissionMode"], "acceptEdits");
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn can_use_tool_allow_rewrites_input_and_deny_with_interrupt_ends_the_turn() {
    bounded(async {
        let script = json!({"default_turn": {"steps": [
            {"type": "tool_use", "name": "Bash", "input": {"command": "echo original"}},
            {"type": "text", "text": "after the tool"},
        ]}});
        let mut m = Mock::script(script, &["--permission-prompt-tool", "stdio"]);
        m.user("go").await;
        let before = m.until(|v| v["type"] == "control_request").await;
        let tool_use = &of_type(&before, "assistant")[0]["message"]["content"][0];
        assert_eq!(tool_use["type"], "tool_use");
        let req = before.last().unwrap();
        assert_eq!(req["request"]["subtype"], "can_use_tool");
        assert_eq!(req["request"]["tool_name"], "Bash");
        assert_eq!(req["request"]["tool_use_id"], tool_use["id"]);
        let id = req["request_id"].as_str().unwrap().to_owned();
        m.answer(
            &id,
            json!({"behavior": "allow", "updatedInput": {"command": "echo rewritten"}}),
        )
        .await;
        let msgs = m.result().await;
        let tr = &of_type(&msgs, "user")[0]["message"]["content"][0];
        assert_eq!(tr["type"], "tool_result");
        assert_eq!(tr["is_error"], false);
        assert!(
            tr["content"].as_str().unwrap().contains("echo rewritten"),
            "{tr}"
        );
        assert_eq!(msgs.last().unwrap()["subtype"], "success");
        assert_eq!(msgs.last().unwrap()["num_turns"], 2);

        m.user("again").await;
        let req = m
            .until(|v| v["type"] == "control_request")
            .await
            .pop()
            .unwrap();
        let id = req["request_id"].as_str().unwrap().to_owned();
        m.answer(
            &id,
            json!({"behavior": "deny", "message": "no", "interrupt": true}),
        )
        .await;
        let msgs = m.result().await;
        let users = of_type(&msgs, "user");
        assert_eq!(users[0]["message"]["content"][0]["is_error"], true);
        assert_eq!(
            users[1]["message"]["content"][0]["text"],
            "[Request interrupted by user for tool use]"
        );
        assert!(
            of_type(&msgs, "assistant").is_empty(),
            "the turn stopped at the denial"
        );
        let result = msgs.last().unwrap();
        assert_eq!(result["subtype"], "error_during_execution");
        assert_eq!(result["terminal_reason"], "aborted_tools");
        assert_eq!(result["permission_denials"][0]["tool_name"], "Bash");
        assert_eq!(
            m.eof_and_wait().await.code(),
            Some(1),
            "exit 1 after an error result"
        );
        let log = m.log();
        let replies: Vec<&Value> = log
            .iter()
            .filter(|e| e["event"] == "control_response")
            .collect();
        assert_eq!(replies.len(), 2);
        assert!(replies.iter().all(|r| r["expected"] == true));
    })
    .await;
}

#[tokio::test]
async fn interrupt_mid_stream_replies_first_then_aborted_result_and_the_next_turn_is_clean() {
    bounded(async {
        let script = json!({"turns": [
            {"steps": [{"type": "slow_text", "text": "one two three four five six", "chunks": 6, "chunk_ms": 100}]},
        ]});
        let mut m = Mock::script(script, &["--include-partial-messages"]);
        m.user("stream").await;
        // Wait for the first streamed delta, then interrupt.
        m.until(|v| v["type"] == "stream_event" && v["event"]["type"] == "content_block_delta").await;
        m.control("int", json!({"subtype": "interrupt"})).await;
        let msgs = m.result().await;
        let reply_at = msgs.iter().position(|v| v["type"] == "control_response").expect("interrupt reply");
        let aborted_at = msgs.iter().position(|v| v["aborted"] == true).expect("aborted assistant");
        assert!(reply_at < aborted_at);
        let partial = msgs[aborted_at]["message"]["content"][0]["text"].as_str().unwrap();
        assert!(partial.starts_with("one") && partial != "one two three four five six", "{partial}");
        let result = msgs.last().unwrap();
        assert_eq!(result["subtype"], "error_during_execution");
        assert_eq!(result["is_error"], true);
        assert_eq!(result["terminal_reason"], "aborted_streaming");
        m.user("next").await;
        let msgs = m.result().await;
        assert_eq!(of_type(&msgs, "assistant")[0]["message"]["content"][0]["text"], "next");
        assert_eq!(msgs.last().unwrap()["subtype"], "success");
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn interrupt_while_permission_pending_cancels_the_request() {
    bounded(async {
        let mut m = Mock::spawn(
            &[("MOCK_CLAUDE_SCENARIO", "tool")],
            &["--permission-prompt-tool", "stdio"],
        );
        m.user("go").await;
        let req = m
            .until(|v| v["type"] == "control_request")
            .await
            .pop()
            .unwrap();
        let req_id = req["request_id"].as_str().unwrap().to_owned();
        m.control("int", json!({"subtype": "interrupt"})).await;
        let cancel = m.next().await;
        assert_eq!(
            cancel,
            json!({"type": "control_cancel_request", "request_id": req_id})
        );
        let reply = m.next().await;
        assert_eq!(reply["response"]["request_id"], "int");
        let msgs = m.result().await;
        assert_eq!(msgs.last().unwrap()["terminal_reason"], "aborted_tools");
        // A late answer to the cancelled request is logged as unexpected and otherwise ignored.
        m.answer(&req_id, json!({"behavior": "allow", "updatedInput": {}}))
            .await;
        assert_eq!(m.eof_and_wait().await.code(), Some(1));
        let late: Vec<Value> = m
            .log()
            .into_iter()
            .filter(|e| e["event"] == "control_response")
            .collect();
        assert_eq!(late.len(), 1);
        assert_eq!(late[0]["expected"], false);
    })
    .await;
}

#[tokio::test]
async fn hooks_registered_at_initialize_are_called_and_a_deny_refuses_the_tool() {
    bounded(async {
        let mut m = Mock::spawn(&[("MOCK_CLAUDE_SCENARIO", "tool")], &["--permission-prompt-tool", "stdio"]);
        m.control(
            "init",
            json!({"subtype": "initialize", "hooks": {"PreToolUse": [{"matcher": "Bash", "hookCallbackIds": ["hook_0"]}]}}),
        )
        .await;
        m.next().await;
        m.user("go").await;
        let req = m.until(|v| v["type"] == "control_request").await.pop().unwrap();
        assert_eq!(req["request"]["subtype"], "hook_callback");
        assert_eq!(req["request"]["callback_id"], "hook_0");
        assert_eq!(req["request"]["input"]["hook_event_name"], "PreToolUse");
        assert_eq!(req["request"]["input"]["tool_name"], "Bash");
        let id = req["request_id"].as_str().unwrap().to_owned();
        m.answer(
            &id,
            json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "hook says no"}}),
        )
        .await;
        let msgs = m.result().await;
        assert!(of_type(&msgs, "control_request").is_empty(), "no can_use_tool after a hook deny");
        let tr = &of_type(&msgs, "user")[0]["message"]["content"][0];
        assert_eq!(tr["content"], "PreToolUse:Bash hook error: hook says no");
        assert_eq!(msgs.last().unwrap()["permission_denials"][0]["tool_name"], "Bash");
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn sdk_mcp_server_handshake_precedes_the_initialize_reply_and_tools_call_works() {
    bounded(async {
        let cfg = json!({"mcpServers": {"calc": {"type": "sdk", "name": "calc"}}}).to_string();
        let mut m = Mock::spawn(
            &[("MOCK_CLAUDE_SCENARIO", "mcp:calc:add")],
            &["--mcp-config", &cfg, "--allowedTools", "mcp__calc__add"],
        );
        m.control("init", json!({"subtype": "initialize", "hooks": null})).await;
        let mut rpc_ids = Vec::new();
        let mut methods = Vec::new();
        loop {
            let v = m.next().await;
            if v["type"] == "control_response" {
                assert_eq!(methods, ["initialize"], "MCP initialize goes out before the reply");
                break;
            }
            assert_eq!(v["request"]["subtype"], "mcp_message");
            assert_eq!(v["request"]["server_name"], "calc");
            methods.push(v["request"]["message"]["method"].as_str().unwrap().to_owned());
            rpc_ids.push(v["request"]["message"]["id"].clone());
            m.answer(
                v["request_id"].as_str().unwrap(),
                json!({"mcp_response": {"jsonrpc": "2.0", "id": v["request"]["message"]["id"], "result": {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "calc", "version": "1"}}}}),
            )
            .await;
        }
        for expected in ["notifications/initialized", "tools/list"] {
            let v = m.next().await;
            assert_eq!(v["request"]["message"]["method"], expected);
            let resp = if expected == "tools/list" {
                json!({"jsonrpc": "2.0", "id": v["request"]["message"]["id"], "result": {"tools": [{"name": "add", "inputSchema": {"type": "object"}}]}})
            } else {
                json!({"jsonrpc": "2.0", "result": {}})
            };
            m.answer(v["request_id"].as_str().unwrap(), json!({"mcp_response": resp})).await;
        }
        m.user("add").await;
        let msgs = m.until(|v| v["type"] == "control_request").await;
        let init = &msgs[0];
        assert!(init["tools"].as_array().unwrap().contains(&json!("mcp__calc__add")));
        assert_eq!(init["mcp_servers"][0]["status"], "connected");
        let call = msgs.last().unwrap();
        assert_eq!(call["request"]["message"]["method"], "tools/call");
        assert_eq!(call["request"]["message"]["params"]["name"], "add");
        m.answer(
            call["request_id"].as_str().unwrap(),
            json!({"mcp_response": {"jsonrpc": "2.0", "id": call["request"]["message"]["id"], "result": {"content": [{"type": "text", "text": "5"}]}}}),
        )
        .await;
        let msgs = m.result().await;
        let tr = &of_type(&msgs, "user")[0]["message"]["content"][0];
        assert_eq!(tr["content"], json!([{"type": "text", "text": "5"}]));
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
    })
    .await;
}

/// As the real CLI 2.1.330 (`interrupt_pending_mcp_call.jsonl`): an interrupt while an SDK MCP
/// `tools/call` is unanswered sends no `control_cancel_request`; it sends a new `mcp_message`
/// with the JSON-RPC notification `notifications/cancelled` naming the call's JSON-RPC id, then
/// the interrupt reply, then the turn ends aborted. The `tools/call` stays unanswered.
#[tokio::test]
async fn interrupt_while_an_mcp_tool_call_is_pending_sends_notifications_cancelled() {
    bounded(async {
        let cfg = json!({"mcpServers": {"calc": {"type": "sdk", "name": "calc"}}}).to_string();
        let mut m = Mock::spawn(
            &[("MOCK_CLAUDE_SCENARIO", "mcp:calc:add")],
            &["--mcp-config", &cfg, "--allowedTools", "mcp__calc__add"],
        );
        m.control("init", json!({"subtype": "initialize", "hooks": null})).await;
        // Answer the handshake (initialize, notifications/initialized, tools/list) until the
        // tools/call arrives.
        m.user("add").await;
        let call = loop {
            let v = m.next().await;
            if v["type"] != "control_request" {
                continue;
            }
            let message = &v["request"]["message"];
            let result = match message["method"].as_str().unwrap() {
                "tools/call" => break v.clone(),
                "tools/list" => json!({"tools": [{"name": "add", "inputSchema": {"type": "object"}}]}),
                "initialize" => json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "calc", "version": "1"}}),
                _ => json!({}),
            };
            m.answer(
                v["request_id"].as_str().unwrap(),
                json!({"mcp_response": {"jsonrpc": "2.0", "id": message["id"], "result": result}}),
            )
            .await;
        };
        let rpc_id = call["request"]["message"]["id"].clone();
        m.control("stop", json!({"subtype": "interrupt"})).await;
        let cancel = m.next().await;
        assert_eq!(cancel["type"], "control_request", "{cancel}");
        assert_eq!(cancel["request"]["subtype"], "mcp_message");
        assert_eq!(cancel["request"]["server_name"], "calc");
        assert_eq!(
            cancel["request"]["message"],
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                   "params": {"requestId": rpc_id, "reason": "AbortError: remote-cancel"}})
        );
        m.answer(
            cancel["request_id"].as_str().unwrap(),
            json!({"mcp_response": {"jsonrpc": "2.0", "result": {}}}),
        )
        .await;
        let msgs = m.result().await;
        assert!(
            msgs.iter().all(|v| v["type"] != "control_cancel_request"),
            "no control_cancel_request for an MCP call: {msgs:?}"
        );
        assert!(msgs.iter().any(|v| v["type"] == "control_response"
            && v["response"]["request_id"] == "stop"));
        let result = msgs.last().unwrap();
        assert_eq!(result["subtype"], "error_during_execution");
        assert_eq!(result["terminal_reason"], "aborted_tools");
        assert!(m.log().iter().any(|e| e["event"] == "mcp_cancel_sent"));
    })
    .await;
}

#[tokio::test]
async fn many_messages_and_a_huge_line_arrive_intact() {
    bounded(async {
        let script = json!({"default_turn": {"steps": [
            {"type": "messages", "count": 5000, "text": "m{i}"},
            {"type": "huge", "bytes": 3 * 1024 * 1024},
        ]}});
        let mut m = Mock::script(script, &[]);
        m.user("go").await;
        let msgs = m.result().await;
        let assistant = of_type(&msgs, "assistant");
        assert_eq!(assistant.len(), 5001);
        for (i, a) in assistant[..5000].iter().enumerate() {
            assert_eq!(a["message"]["content"][0]["text"], format!("m{i}"));
        }
        let huge = assistant[5000]["message"]["content"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(huge.len(), 3 * 1024 * 1024);
        assert!(huge.bytes().all(|b| b == b'x'));
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn crash_mid_turn_writes_stderr_and_exits_with_the_code() {
    bounded(async {
        let mut m = Mock::spawn(&[("MOCK_CLAUDE_SCENARIO", "crash:3")], &[]);
        m.user("go").await;
        let first = m.until(|v| v["type"] == "assistant").await;
        assert_eq!(first[0]["subtype"], "init");
        assert!(
            m.lines.next_line().await.unwrap().is_none(),
            "no result after a crash"
        );
        let status = m.child.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        let mut stderr = String::new();
        tokio::io::AsyncReadExt::read_to_string(m.child.stderr.as_mut().unwrap(), &mut stderr)
            .await
            .unwrap();
        assert!(stderr.contains("simulated crash mid-turn"), "{stderr}");
    })
    .await;
}

#[tokio::test]
async fn stubborn_mock_survives_eof_and_sigterm_until_killed() {
    bounded(async {
        let mut m = Mock::spawn(&[("MOCK_CLAUDE_SCENARIO", "stubborn")], &[]);
        m.user("hi").await;
        m.result().await;
        m.stdin.take();
        // Wait until the mock has seen EOF, then SIGTERM it.
        while !m.log().iter().any(|e| e["event"] == "stdin_eof") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pid = m.child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        while !m.log().iter().any(|e| e["event"] == "sigterm_ignored") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            m.child.try_wait().unwrap().is_none(),
            "still alive after EOF and SIGTERM"
        );
        m.child.kill().await.unwrap();
        let status = m.child.wait().await.unwrap();
        assert!(!status.success());
    })
    .await;
}

#[tokio::test]
async fn control_requests_after_the_result_and_bad_scripts() {
    bounded(async {
        let mut m = Mock::spawn(&[("MOCK_CLAUDE_SCENARIO", "after-result")], &[]);
        m.user("go").await;
        m.result().await;
        let late = m.next().await;
        assert_eq!(late["request"]["subtype"], "can_use_tool");
        m.answer(
            late["request_id"].as_str().unwrap(),
            json!({"behavior": "allow", "updatedInput": {}}),
        )
        .await;
        assert_eq!(m.eof_and_wait().await.code(), Some(0));

        let out = Command::new(BIN)
            .env(
                "MOCK_CLAUDE_SCRIPT_JSON",
                r#"{"turns": [{"steps": [{"type": "nope"}]}]}"#,
            )
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("bad script"));
    })
    .await;
}

#[test]
fn binary_path_finds_the_binary_cargo_built_for_the_tests() {
    let found = mock_claude::binary_path();
    assert_eq!(
        found.canonicalize().unwrap(),
        std::path::Path::new(BIN).canonicalize().unwrap()
    );
}

#[tokio::test]
async fn every_tool_call_asks_permission_and_fires_the_hooks() {
    bounded(async {
        let mut m = Mock::spawn(
            &[("MOCK_CLAUDE_SCENARIO", "tools:200")],
            &["--permission-prompt-tool", "stdio"],
        );
        let hooks = json!({
            "UserPromptSubmit": [{"matcher": null, "hookCallbackIds": ["hook_0"]}],
            "PreToolUse": [{"matcher": "Bash|Write", "hookCallbackIds": ["hook_1"]}],
            "PostToolUse": [{"matcher": "Read", "hookCallbackIds": ["hook_2"]}],
            "Stop": [{"matcher": null, "hookCallbackIds": ["hook_3"]}],
        });
        m.control("init", json!({"subtype": "initialize", "hooks": hooks}))
            .await;
        m.next().await;
        m.user("go").await;
        let mut asked = Vec::new();
        loop {
            let v = m.next().await;
            if v["type"] == "result" {
                assert_eq!(v["subtype"], "success");
                assert_eq!(v["num_turns"], 201);
                break;
            }
            if v["type"] != "control_request" {
                continue;
            }
            let req = &v["request"];
            let what = match req["subtype"].as_str().unwrap() {
                "hook_callback" => req["callback_id"].as_str().unwrap().to_owned(),
                other => other.to_owned(),
            };
            asked.push(what);
            let body = if req["subtype"] == "can_use_tool" {
                json!({"behavior": "allow", "updatedInput": req["input"]})
            } else {
                json!({})
            };
            m.answer(v["request_id"].as_str().unwrap(), body).await;
        }
        let mut expected = vec!["hook_0".to_owned()];
        for _ in 0..200 {
            expected.push("hook_1".into());
            expected.push("can_use_tool".into());
        }
        expected.push("hook_3".into());
        assert_eq!(
            asked, expected,
            "PostToolUse matcher `Read` does not match Bash"
        );
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
        let replies = m
            .log()
            .iter()
            .filter(|e| e["event"] == "control_response" && e["expected"] == true)
            .count();
        assert_eq!(replies, 402);
    })
    .await;
}

#[tokio::test]
async fn cancelled_permission_sends_control_cancel_request_and_ignores_the_late_answer() {
    bounded(async {
        let mut m = Mock::spawn(
            &[("MOCK_CLAUDE_SCENARIO", "cancel-permission:0")],
            &["--permission-prompt-tool", "stdio"],
        );
        m.user("go").await;
        let req = m
            .until(|v| v["type"] == "control_request")
            .await
            .pop()
            .unwrap();
        let cancel = m.next().await;
        assert_eq!(cancel["type"], "control_cancel_request");
        assert_eq!(cancel["request_id"], req["request_id"]);
        let msgs = m.result().await;
        assert_eq!(msgs.last().unwrap()["subtype"], "success");
        m.answer(
            req["request_id"].as_str().unwrap(),
            json!({"behavior": "allow"}),
        )
        .await;
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
        let late: Vec<Value> = m
            .log()
            .into_iter()
            .filter(|e| e["event"] == "control_response")
            .collect();
        assert_eq!(late.len(), 1);
        assert_eq!(late[0]["expected"], false);
    })
    .await;
}

#[tokio::test]
async fn missing_session_fails_like_the_real_cli() {
    bounded(async {
        let mut m = Mock::spawn(
            &[("MOCK_CLAUDE_SCENARIO", "missing-session")],
            &["--resume=nope"],
        );
        m.control("init", json!({"subtype": "initialize", "hooks": null}))
            .await;
        let r = m.next().await;
        assert_eq!(r["type"], "result", "the initialize is never answered");
        assert_eq!(r["subtype"], "error_during_execution");
        assert_eq!(r["num_turns"], 0);
        assert_eq!(
            r["errors"][0],
            "No conversation found with session ID: nope"
        );
        assert_eq!(m.eof_and_wait().await.code(), Some(1));
    })
    .await;
}

#[tokio::test]
async fn unknown_messages_and_a_non_json_line_are_written_verbatim() {
    bounded(async {
        let mut m = Mock::spawn(&[("MOCK_CLAUDE_SCENARIO", "unknown-messages")], &[]);
        m.user("go").await;
        let mut kinds = Vec::new();
        loop {
            let line = m.lines.next_line().await.unwrap().unwrap();
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => {
                    kinds.push(v["type"].as_str().unwrap_or("?").to_owned());
                    if v["type"] == "result" {
                        break;
                    }
                }
                Err(_) => kinds.push(format!("raw:{line}")),
            }
        }
        assert_eq!(
            kinds,
            [
                "system",
                "mock_future_type",
                "raw:this line is not JSON",
                "assistant",
                "assistant",
                "result"
            ]
        );
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn sigint_interrupts_the_turn_and_exits_0() {
    bounded(async {
        let mut m = Mock::spawn(&[("MOCK_CLAUDE_SCENARIO", "sleep:60000")], &[]);
        m.user("go").await;
        m.until(|v| v["type"] == "assistant").await;
        let pid = m.child.id().unwrap().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let msgs = m.result().await;
        assert_eq!(msgs.last().unwrap()["terminal_reason"], "aborted_streaming");
        let status = m.child.wait().await.unwrap();
        assert_eq!(status.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn max_turns_api_errors_hook_stops_and_background_turns_end_turns_like_the_cli() {
    bounded(async {
        let script = json!({"turns": [
            {"steps": [
                {"type": "tool_use", "name": "Read", "input": {"file_path": "a"}, "permission": "allow"},
                {"type": "tool_use", "name": "Read", "input": {"file_path": "b"}, "permission": "allow"},
                {"type": "text", "text": "never"},
            ]},
            {"steps": [{"type": "api_error"}, {"type": "text", "text": "never"}]},
            {"steps": [{"type": "text", "text": "first"}], "after_result": [
                {"type": "background_turn", "delay_ms": 10, "steps": [{"type": "text", "text": "from the background"}]},
            ]},
        ]});
        let mut m = Mock::script(script, &["--max-turns", "2"]);
        m.user("one").await;
        let msgs = m.result().await;
        // Two model calls ran their tools; a third call would be over the limit.
        assert_eq!(of_type(&msgs, "user").len(), 2);
        let kinds: Vec<&Value> = of_type(&msgs, "assistant")
            .iter()
            .map(|a| &a["message"]["content"][0]["type"])
            .collect();
        assert_eq!(kinds, [&json!("tool_use"), &json!("tool_use")]);
        let r = msgs.last().unwrap();
        assert_eq!(r["subtype"], "error_max_turns");
        assert_eq!(r["is_error"], true);
        assert_eq!(r["terminal_reason"], "max_turns");
        assert_eq!(r["errors"][0], "Reached maximum number of turns (2)");
        assert!(r.get("result").is_none());

        m.user("two").await;
        let msgs = m.result().await;
        let a = of_type(&msgs, "assistant");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0]["message"]["model"], "<synthetic>");
        assert_eq!(a[0]["is_api_error_message"], true);
        let r = msgs.last().unwrap();
        assert_eq!((r["subtype"].as_str(), r["is_error"].as_bool()), (Some("success"), Some(true)));
        assert_eq!(r["terminal_reason"], "api_error");
        assert_eq!(r["api_error_status"], 401);

        m.user("three").await;
        m.result().await;
        m.stdin.take(); // the background turn runs even after EOF
        let msgs = m.result().await;
        assert_eq!(msgs[0]["subtype"], "init");
        assert_eq!(of_type(&msgs, "assistant")[0]["message"]["content"][0]["text"], "from the background");
        assert_eq!(msgs.last().unwrap()["result_index"], 3);
        let status = m.child.wait().await.unwrap();
        assert_eq!(status.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn error_replies_and_eof_with_a_pending_permission_deny_the_tool() {
    bounded(async {
        let script = json!({"default_turn": {"steps": [
            {"type": "tool_use", "name": "Bash", "input": {"command": "x"}},
        ]}});
        let mut m = Mock::script(script, &["--permission-prompt-tool", "stdio"]);
        m.control(
            "init",
            json!({"subtype": "initialize", "hooks": {"PostToolUse": [{"matcher": null, "hookCallbackIds": ["h"]}]}}),
        )
        .await;
        m.next().await;
        // An error reply to can_use_tool refuses the tool.
        m.user("one").await;
        let req = m.until(|v| v["type"] == "control_request").await.pop().unwrap();
        m.send(json!({"type": "control_response", "response": {"subtype": "error", "request_id": req["request_id"], "error": "callback blew up"}}))
            .await;
        let msgs = m.result().await;
        let tr = &of_type(&msgs, "user")[0]["message"]["content"][0];
        assert_eq!(tr["content"], "Tool permission request failed: Error: callback blew up");
        assert_eq!(msgs.last().unwrap()["permission_denials"].as_array().unwrap().len(), 1);
        // Allowed, then an error reply to the PostToolUse hook: a warning, and the turn goes on.
        m.user("two").await;
        let req = m.until(|v| v["type"] == "control_request").await.pop().unwrap();
        m.answer(req["request_id"].as_str().unwrap(), json!({"behavior": "allow", "updatedInput": {"command": "x"}}))
            .await;
        let hook = m.until(|v| v["type"] == "control_request").await.pop().unwrap();
        assert_eq!(hook["request"]["input"]["hook_event_name"], "PostToolUse");
        m.send(json!({"type": "control_response", "response": {"subtype": "error", "request_id": hook["request_id"], "error": "hook blew up"}}))
            .await;
        let msgs = m.result().await;
        let info = msgs.iter().find(|v| v["subtype"] == "informational").expect("a warning");
        assert_eq!(info["tag"], "hook_callback_failed");
        assert_eq!(msgs.last().unwrap()["subtype"], "success");
        // EOF while can_use_tool is pending: the tool is refused and the turn finishes.
        m.user("three").await;
        m.until(|v| v["type"] == "control_request").await;
        m.stdin.take();
        let msgs = m.result().await;
        let tr = &of_type(&msgs, "user")[0]["message"]["content"][0];
        assert_eq!(
            tr["content"],
            "Tool permission request failed: AbortError: Tool permission stream closed before response received"
        );
        assert_eq!(m.child.wait().await.unwrap().code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn a_hook_saying_continue_false_stops_the_turn_after_the_tool() {
    bounded(async {
        let script = json!({"default_turn": {"steps": [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "tool_use", "name": "Read", "input": {"file_path": "a"}, "permission": "allow"},
            {"type": "text", "text": "never"},
        ]}});
        let mut m = Mock::script(script, &[]);
        let hooks = json!({"PostToolUse": [{"matcher": "Read", "hookCallbackIds": ["post"]}]});
        m.control("init", json!({"subtype": "initialize", "hooks": hooks})).await;
        m.next().await;
        m.user("go").await;
        let req = m.until(|v| v["type"] == "control_request").await.pop().unwrap();
        assert_eq!(req["request"]["callback_id"], "post");
        assert_eq!(req["request"]["input"]["tool_response"]["stderr"], "");
        m.answer(req["request_id"].as_str().unwrap(), json!({"continue": false, "stopReason": "enough"}))
            .await;
        let msgs = m.result().await;
        assert_eq!(of_type(&msgs, "user").len(), 1, "the tool_result is written");
        assert!(of_type(&msgs, "assistant").is_empty(), "no model call after the stop");
        let r = msgs.last().unwrap();
        assert_eq!(r["subtype"], "success");
        assert_eq!(r["result"], "");
        assert_eq!(r["terminal_reason"], "hook_stopped");
        assert_eq!(m.eof_and_wait().await.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn print_mode_runs_the_prompt_from_argv() {
    let out = bounded(
        Command::new(BIN)
            .args([
                "--print",
                "--output-format",
                "stream-json",
                "--verbose",
                "--",
                "from argv",
            ])
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.last().unwrap()["result"], "from argv");
}
