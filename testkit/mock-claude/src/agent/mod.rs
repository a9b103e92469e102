//! The mock agent: shared state, the stdin reader, the control protocol, and the turn loop.
//!
//! # Structure
//!
//! - The **reader** task reads stdin lines: `user` messages go to the turn queue; `control_request`s
//!   from the client are answered (the `initialize` handler runs in its own task, since it may wait
//!   on MCP replies from the client, which the reader must keep routing); `control_response`s are
//!   routed by `request_id` to whoever sent the request.
//! - The **turn loop** (the main task) runs one turn per queued `user` message, in order.
//! - An `interrupt` bumps a watch counter; the running turn selects on it.
//! - At stdin end-of-file the reader fails every pending request of ours and closes the queue; the
//!   turn loop finishes the queued turns and exits (unless the script says to ignore EOF).

pub(crate) mod args;
pub(crate) mod io;
mod turn;
pub(crate) mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mock_claude::Script;
use serde_json::{Map, Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot, watch};

use args::Args;
use io::{Log, Out, uuid};

/// A reply to one of our control requests: the `response` body, or why there is none.
pub(crate) type Reply = Result<Value, ReplyError>;

/// Why a request of ours got no success reply.
#[derive(Debug, Clone)]
pub(crate) enum ReplyError {
    /// The client answered with an error reply carrying this text.
    Error(String),
    /// Stdin closed before the reply.
    Closed,
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Error(e) => f.write_str(e),
            ReplyError::Closed => f.write_str("stream closed before the reply arrived"),
        }
    }
}

/// One hook registration from `initialize`.
#[derive(Debug, Clone)]
pub(crate) struct HookReg {
    event: String,
    matcher: Option<String>,
    ids: Vec<String>,
}

/// An in-process MCP server named in `--mcp-config`.
#[derive(Debug, Default)]
pub(crate) struct McpServers {
    /// Names of `"type":"sdk"` servers, in config order.
    sdk: Vec<String>,
    /// Names of other servers (the mock cannot run them; reported as failed).
    other: Vec<String>,
    /// Per sdk server: status (`pending`, `connected`, `failed`) and the tool names from `tools/list`.
    state: HashMap<String, (String, Vec<String>)>,
    /// Servers whose JSON-RPC `initialize` was sent.
    initialized: Vec<String>,
    /// `notifications/initialized` and `tools/list` were sent (once per process).
    listed: bool,
    /// The next JSON-RPC id (one sequence over all servers, like the CLI's).
    next_rpc_id: u64,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub(crate) out: Out,
    pub(crate) log: Log,
    pub(crate) args: Args,
    pub(crate) script: Script,
    pub(crate) session_id: String,
    pub(crate) cwd: String,
    pub(crate) model: Mutex<String>,
    pub(crate) default_model: String,
    pub(crate) mode: Mutex<String>,
    hooks: Mutex<Vec<HookReg>>,
    /// Our requests awaiting a reply, by request id.
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    /// Ids of our requests sent by the running turn and not yet answered (cancelled on interrupt).
    outstanding: Mutex<Vec<String>>,
    /// Reply slots of cancelled requests, kept (not dropped) so their waiter stays pending until the
    /// turn notices the interrupt instead of seeing a closed channel first. Cleared per turn.
    cancelled: Mutex<Vec<oneshot::Sender<Reply>>>,
    /// SDK MCP `tools/call` requests awaiting a reply: control request id → (server, JSON-RPC id).
    /// The real CLI does not withdraw these with `control_cancel_request`: it sends the server a
    /// JSON-RPC `notifications/cancelled` in a new `mcp_message` instead.
    mcp_calls: Mutex<HashMap<String, (String, Value)>>,
    /// Bumped by every `interrupt`.
    interrupt: watch::Sender<u64>,
    /// Set by SIGINT: exit 0 after the current turn.
    pub(crate) exit_after_turn: AtomicBool,
    sigint_notify: tokio::sync::Notify,
    pub(crate) last_result_error: AtomicBool,
    /// Stdin reached EOF (and the script does not ignore it).
    stdin_closed: AtomicBool,
    /// Results written so far (the next result's `result_index`).
    pub(crate) results_emitted: AtomicUsize,
    /// `--max-turns`.
    pub(crate) max_turns: Option<u64>,
    pub(crate) mcp: Arc<tokio::sync::Mutex<McpServers>>,
    pub(crate) include_partial: bool,
    pub(crate) prompt_tool_stdio: bool,
    pub(crate) allowed_tools: Vec<String>,
    pub(crate) disallowed_tools: Vec<String>,
    pub(crate) session_state_events: bool,
    pub(crate) auto_hooks: bool,
}

impl Agent {
    pub(crate) fn new(args: Args, script: Script, log: Log) -> Agent {
        let default_model = script
            .model
            .clone()
            .or_else(|| args.value(&["--model"]).map(str::to_owned))
            .unwrap_or_else(|| "claude-sonnet-4-5".to_owned());
        let session_id = script
            .session_id
            .clone()
            .or_else(|| args.value(&["--session-id"]).map(str::to_owned))
            .or_else(|| {
                if args.has(&["--fork-session"]) {
                    None
                } else {
                    args.value(&["--resume", "-r"]).map(str::to_owned)
                }
            })
            .unwrap_or_else(uuid);
        let mode = args
            .value(&["--permission-mode"])
            .unwrap_or(if args.has(&["--dangerously-skip-permissions"]) {
                "bypassPermissions"
            } else {
                "default"
            })
            .to_owned();
        let mut mcp = McpServers::default();
        for cfg in args.values(&["--mcp-config"]) {
            let parsed: Option<Value> = if cfg.trim_start().starts_with('{') {
                serde_json::from_str(cfg).ok()
            } else {
                std::fs::read_to_string(cfg)
                    .ok()
                    .and_then(|s| serde_json::from_str(&s).ok())
            };
            if let Some(Value::Object(servers)) = parsed.as_ref().and_then(|v| v.get("mcpServers"))
            {
                for (name, server) in servers {
                    if server.get("type").and_then(Value::as_str) == Some("sdk") {
                        mcp.sdk.push(name.clone());
                    } else {
                        mcp.other.push(name.clone());
                    }
                }
            }
        }
        let max_turns = args.value(&["--max-turns"]).and_then(|v| v.parse().ok());
        let env_on = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0");
        Agent {
            out: Out::new(),
            log,
            include_partial: args.has(&["--include-partial-messages"]),
            prompt_tool_stdio: args.value(&["--permission-prompt-tool"]) == Some("stdio"),
            allowed_tools: args.tool_list(&["--allowedTools", "--allowed-tools"]),
            disallowed_tools: args.tool_list(&["--disallowedTools", "--disallowed-tools"]),
            auto_hooks: script.auto_hooks.unwrap_or(true),
            session_state_events: env_on("CLAUDE_CODE_SDK_READS_SESSION_STATE")
                || env_on("CLAUDE_CODE_EMIT_SESSION_STATE_EVENTS"),
            args,
            script,
            session_id,
            cwd: std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            model: Mutex::new(default_model.clone()),
            default_model,
            mode: Mutex::new(mode),
            hooks: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            outstanding: Mutex::new(Vec::new()),
            cancelled: Mutex::new(Vec::new()),
            mcp_calls: Mutex::new(HashMap::new()),
            interrupt: watch::channel(0).0,
            exit_after_turn: AtomicBool::new(false),
            sigint_notify: tokio::sync::Notify::new(),
            last_result_error: AtomicBool::new(false),
            stdin_closed: AtomicBool::new(false),
            results_emitted: AtomicUsize::new(0),
            max_turns,
            mcp: Arc::new(tokio::sync::Mutex::new(mcp)),
        }
    }

    pub(crate) fn model(&self) -> String {
        lock(&self.model).clone()
    }

    pub(crate) fn mode(&self) -> String {
        lock(&self.mode).clone()
    }

    /// Exit the process after flushing stdout and logging.
    pub(crate) async fn exit(&self, code: i32, why: &str) -> ! {
        self.out.flush().await;
        self.log.event("exit", json!({"code": code, "why": why}));
        std::process::exit(code);
    }

    // ----- our requests to the client -----

    /// Send a control request; the reply comes through the returned receiver.
    pub(crate) async fn request(
        &self,
        body: Value,
        in_turn: bool,
    ) -> (String, oneshot::Receiver<Reply>) {
        let id = uuid();
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            // After stdin EOF nothing can answer: the waiter sees `Closed` at once.
            if !self.stdin_closed.load(Ordering::SeqCst) {
                pending.insert(id.clone(), tx);
            }
        }
        if in_turn {
            lock(&self.outstanding).push(id.clone());
        }
        // Known before it is sent, so an interrupt racing the send cancels it the MCP way.
        if body["subtype"] == "mcp_message" && body["message"]["method"] == "tools/call" {
            let server = body["server_name"].as_str().unwrap_or_default().to_owned();
            lock(&self.mcp_calls).insert(id.clone(), (server, body["message"]["id"].clone()));
        }
        self.log.event(
            "control_request_sent",
            json!({"request_id": id, "request": body}),
        );
        self.out
            .send(&json!({"type": "control_request", "request_id": id, "request": body}))
            .await;
        (id, rx)
    }

    /// Wait for the reply to request `id`. A closed input (EOF) or a cancel gives an error.
    pub(crate) async fn reply(&self, id: &str, rx: oneshot::Receiver<Reply>) -> Reply {
        let r = rx.await.unwrap_or(Err(ReplyError::Closed));
        lock(&self.outstanding).retain(|x| x != id);
        r
    }

    /// Send a request and wait for its reply.
    pub(crate) async fn call(&self, body: Value, in_turn: bool) -> Reply {
        let (id, rx) = self.request(body, in_turn).await;
        self.reply(&id, rx).await
    }

    /// Withdraw request `id`: forget it and send `control_cancel_request` — or, for an SDK MCP
    /// `tools/call`, as the real CLI does, a new `mcp_message` carrying the JSON-RPC notification
    /// `notifications/cancelled` (whose reply nobody waits for); the `tools/call` itself is left
    /// unanswered on the client's side.
    pub(crate) async fn cancel_request(&self, id: &str) {
        let removed = lock(&self.pending).remove(id);
        lock(&self.outstanding).retain(|x| x != id);
        let mcp_call = lock(&self.mcp_calls).remove(id);
        if let Some(slot) = removed {
            lock(&self.cancelled).push(slot);
            if let Some((server, rpc_id)) = mcp_call {
                self.log.event(
                    "mcp_cancel_sent",
                    json!({"request_id": id, "server": server, "rpc_id": rpc_id}),
                );
                let message = json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": rpc_id, "reason": "AbortError: remote-cancel"},
                });
                let (_id, _reply) = self
                    .request(
                        json!({"subtype": "mcp_message", "server_name": server, "message": message}),
                        false,
                    )
                    .await;
                return;
            }
            self.log
                .event("control_cancel_sent", json!({"request_id": id}));
            self.out
                .send(&json!({"type": "control_cancel_request", "request_id": id}))
                .await;
        }
    }

    /// Cancel every request the running turn is waiting on.
    pub(crate) async fn cancel_outstanding(&self) -> bool {
        let ids: Vec<String> = std::mem::take(&mut *lock(&self.outstanding));
        let any = !ids.is_empty();
        for id in ids {
            self.cancel_request(&id).await;
        }
        any
    }

    /// SIGINT: interrupt the running turn (the caller set `exit_after_turn`).
    pub(crate) async fn sigint(&self) {
        self.cancel_outstanding().await;
        self.interrupt.send_modify(|n| *n += 1);
        self.sigint_notify.notify_waiters();
    }

    /// Resolves once SIGINT asked the process to exit (used while idle).
    pub(crate) async fn sigint_idle(&self) {
        loop {
            let notified = self.sigint_notify.notified();
            if self.exit_after_turn.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Forget the reply slots of requests cancelled during the last turn.
    pub(crate) fn clear_cancelled(&self) {
        lock(&self.cancelled).clear();
    }

    pub(crate) fn interrupt_rx(&self) -> watch::Receiver<u64> {
        let mut rx = self.interrupt.subscribe();
        rx.borrow_and_update();
        rx
    }

    /// Registered callback ids for `event`, matching `tool` when the matcher names tools.
    pub(crate) fn hook_ids(&self, event: &str, tool: Option<&str>) -> Vec<String> {
        lock(&self.hooks)
            .iter()
            .filter(|h| h.event == event)
            .filter(|h| match (&h.matcher, tool) {
                (None, _) | (_, None) => true,
                (Some(m), Some(t)) => {
                    m.is_empty() || m == "*" || m.split('|').any(|p| p.trim() == t)
                }
            })
            .flat_map(|h| h.ids.clone())
            .collect()
    }

    // ----- the reader -----

    /// Read stdin until EOF; route every line.
    pub(crate) async fn read_stdin(self: Arc<Self>, turns: mpsc::UnboundedSender<Value>) {
        let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, tokio::io::stdin());
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            let msg: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(_) => {
                    self.log.event("stdin_raw", json!({"raw": text}));
                    // What the real CLI does with a line that is not JSON.
                    eprintln!(
                        "Error parsing streaming input line (type=unknown, {} chars): SyntaxError",
                        text.chars().count()
                    );
                    self.exit(1, "non-JSON input line").await;
                }
            };
            self.log.event("stdin", json!({"line": msg}));
            if self.script.missing_session
                && let Some(id) = self.args.value(&["--resume", "-r"])
            {
                self.missing_session(id).await;
            }
            match msg.get("type").and_then(Value::as_str) {
                Some("user") => {
                    let _ = turns.send(msg);
                }
                Some("control_request") => self.clone().on_control_request(msg).await,
                Some("control_response") => self.on_control_response(&msg),
                _ => {}
            }
        }
        self.log.event("stdin_eof", json!({}));
        if self.script.ignore_eof {
            // Keep the turn queue open: the process lives on until a signal.
            std::future::pending::<()>().await;
        }
        // Nothing can answer our requests any more.
        {
            let mut pending = lock(&self.pending);
            self.stdin_closed.store(true, Ordering::SeqCst);
            pending.clear();
        }
        drop(turns);
    }

    /// The real CLI's answer to `--resume=<unknown id>`.
    async fn missing_session(&self, id: &str) -> ! {
        let error = format!("No conversation found with session ID: {id}");
        eprintln!("{error}");
        self.out
            .send(&json!({
                "type": "result",
                "subtype": "error_during_execution",
                "is_error": true,
                "duration_ms": 0,
                "duration_api_ms": 0,
                "num_turns": 0,
                "session_id": uuid(),
                "total_cost_usd": 0,
                "usage": wire::usage(0, 0),
                "modelUsage": {},
                "permission_denials": [],
                "errors": [error],
                "uuid": uuid(),
            }))
            .await;
        self.last_result_error.store(true, Ordering::SeqCst);
        self.exit(1, "missing session").await
    }

    fn on_control_response(&self, msg: &Value) {
        let resp = msg.get("response").cloned().unwrap_or(Value::Null);
        let id = resp
            .get("request_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let waiter = lock(&self.pending).remove(&id);
        self.log.event(
            "control_response",
            json!({"request_id": id, "response": resp, "expected": waiter.is_some()}),
        );
        if let Some(tx) = waiter {
            let reply = if resp.get("subtype").and_then(Value::as_str) == Some("error") {
                Err(ReplyError::Error(
                    resp.get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error")
                        .to_owned(),
                ))
            } else {
                Ok(resp.get("response").cloned().unwrap_or(json!({})))
            };
            let _ = tx.send(reply);
        }
    }

    async fn respond_ok(&self, id: &str, body: Value) {
        self.out
            .send(&json!({"type": "control_response", "response": {
                "subtype": "success", "request_id": id, "response": body}}))
            .await;
    }

    async fn respond_err(&self, id: &str, error: &str, code: &str) {
        self.out
            .send(&json!({"type": "control_response", "response": {
                "subtype": "error", "request_id": id, "error": error, "error_code": code}}))
            .await;
    }

    async fn on_control_request(self: Arc<Self>, msg: Value) {
        let id = msg
            .get("request_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let req = msg.get("request").cloned().unwrap_or(Value::Null);
        let subtype = req
            .get("subtype")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match subtype {
            "initialize" => {
                // Its own task: it may wait on our MCP handshake, whose replies the reader routes.
                // The MCP state is locked here, before the next line is read, so a `user` line that
                // follows waits for the initialize reply (as with the real CLI). If a turn holds the
                // lock (a client that sent a user message first), don't wait for it here: the reader
                // must keep routing that turn's replies.
                match self.mcp.clone().try_lock_owned() {
                    Ok(guard) => {
                        tokio::spawn(async move { self.initialize(&id, &req, guard).await });
                    }
                    Err(_) => {
                        tokio::spawn(async move {
                            let guard = self.mcp.clone().lock_owned().await;
                            self.initialize(&id, &req, guard).await;
                        });
                    }
                }
            }
            "interrupt" => {
                // As the real CLI: cancel what the turn waits on, reply, then the turn ends.
                self.cancel_outstanding().await;
                self.respond_ok(&id, json!({"still_queued": []})).await;
                self.interrupt.send_modify(|n| *n += 1);
            }
            "set_permission_mode" => {
                let mode = req.get("mode").and_then(Value::as_str).unwrap_or_default();
                if wire::PERMISSION_MODES.contains(&mode) {
                    *lock(&self.mode) = mode.to_owned();
                    self.respond_ok(&id, json!({"mode": mode})).await;
                    self.out
                        .send(&wire::system(
                            &self.session_id,
                            "status",
                            json!({"status": null, "permissionMode": mode}),
                        ))
                        .await;
                } else {
                    let e = format!(
                        "Cannot set permission mode: must be one of {}",
                        wire::PERMISSION_MODES.join(", ")
                    );
                    self.respond_err(&id, &e, "invalid_mode").await;
                }
            }
            "set_model" => {
                let model = req
                    .get("model")
                    .and_then(Value::as_str)
                    .map_or_else(|| self.default_model.clone(), str::to_owned);
                *lock(&self.model) = model.clone();
                self.respond_ok(&id, json!({"model": model})).await;
            }
            "mcp_status" => {
                tokio::spawn(async move {
                    let servers = self.mcp_status().await;
                    self.respond_ok(&id, json!({"mcpServers": servers})).await;
                });
            }
            other => {
                let e = format!("Unsupported control request subtype: {other}");
                self.respond_err(&id, &e, "unsupported_request").await;
            }
        }
    }

    async fn initialize(
        &self,
        id: &str,
        req: &Value,
        mut mcp: tokio::sync::OwnedMutexGuard<McpServers>,
    ) {
        // A second initialize is answered with success again (seen on the real CLI); its hooks
        // replace the earlier ones.
        if let Some(Value::Object(hooks)) = req.get("hooks") {
            let mut regs = lock(&self.hooks);
            regs.clear();
            for (event, matchers) in hooks {
                for m in matchers.as_array().into_iter().flatten() {
                    regs.push(HookReg {
                        event: event.clone(),
                        matcher: m.get("matcher").and_then(Value::as_str).map(str::to_owned),
                        ids: m
                            .get("hookCallbackIds")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect(),
                    });
                }
            }
        }
        // As the real CLI: the SDK MCP servers' JSON-RPC `initialize` goes out before the reply,
        // `notifications/initialized` and `tools/list` after it.
        self.mcp_handshake(&mut mcp).await;
        self.respond_ok(id, wire::server_info(&self.mode(), &self.model()))
            .await;
        self.mcp_list(&mut mcp).await;
    }

    // ----- SDK MCP servers -----

    async fn mcp_rpc(
        &self,
        mcp: &mut McpServers,
        server: &str,
        method: &str,
        params: Option<Value>,
    ) -> Reply {
        let mut message = Map::new();
        message.insert("method".into(), method.into());
        if let Some(p) = params {
            message.insert("params".into(), p);
        }
        message.insert("jsonrpc".into(), "2.0".into());
        if !method.starts_with("notifications/") {
            message.insert("id".into(), mcp.next_rpc_id.into());
            mcp.next_rpc_id += 1;
        }
        self.call(
            json!({"subtype": "mcp_message", "server_name": server, "message": message}),
            false,
        )
        .await
        .map(|r| r.get("mcp_response").cloned().unwrap_or(Value::Null))
    }

    pub(crate) async fn mcp_handshake(&self, mcp: &mut McpServers) {
        for server in mcp.sdk.clone() {
            if mcp.initialized.contains(&server) {
                continue;
            }
            mcp.initialized.push(server.clone());
            let params = json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "claude-code", "title": "Claude Code", "version": mock_claude::CLI_VERSION},
            });
            let r = self.mcp_rpc(mcp, &server, "initialize", Some(params)).await;
            let status = match r {
                Ok(v) if v.get("result").is_some() => "pending",
                _ => "failed",
            };
            mcp.state.insert(server, (status.to_owned(), Vec::new()));
        }
    }

    pub(crate) async fn mcp_list(&self, mcp: &mut McpServers) {
        if mcp.listed {
            return;
        }
        mcp.listed = true;
        for server in mcp.sdk.clone() {
            if mcp.state.get(&server).is_some_and(|(s, _)| s == "failed") {
                continue;
            }
            let _ = self
                .mcp_rpc(mcp, &server, "notifications/initialized", None)
                .await;
            let r = self.mcp_rpc(mcp, &server, "tools/list", None).await;
            let entry = match r {
                Ok(v) => match v.pointer("/result/tools").and_then(Value::as_array) {
                    Some(tools) => (
                        "connected".to_owned(),
                        tools
                            .iter()
                            .filter_map(|t| t.get("name").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect(),
                    ),
                    None => ("failed".to_owned(), Vec::new()),
                },
                Err(_) => ("failed".to_owned(), Vec::new()),
            };
            mcp.state.insert(server, entry);
        }
    }

    /// Make sure every SDK server is connected and listed (a client that never sent `initialize`).
    pub(crate) async fn mcp_ready(&self) {
        let mut mcp = self.mcp.lock().await;
        self.mcp_handshake(&mut mcp).await;
        self.mcp_list(&mut mcp).await;
    }

    pub(crate) async fn mcp_status(&self) -> Vec<Value> {
        let mcp = self.mcp.lock().await;
        let mut v: Vec<Value> = mcp
            .sdk
            .iter()
            .map(|s| {
                let status = mcp.state.get(s).map_or("pending", |(st, _)| st.as_str());
                json!({"name": s, "status": status, "source": "sdk"})
            })
            .collect();
        v.extend(
            mcp.other
                .iter()
                .map(|s| json!({"name": s, "status": "failed"})),
        );
        v
    }

    pub(crate) async fn mcp_tools(&self, server: &str) -> Option<Vec<String>> {
        let mcp = self.mcp.lock().await;
        mcp.state
            .get(server)
            .filter(|(s, _)| s == "connected")
            .map(|(_, t)| t.clone())
    }

    pub(crate) async fn mcp_call(
        &self,
        server: &str,
        tool: &str,
        arguments: &Value,
        tool_use_id: &str,
    ) -> Reply {
        let mut mcp = self.mcp.lock().await;
        let params = json!({
            "name": tool,
            "arguments": arguments,
            "_meta": {"claudecode/toolUseId": tool_use_id, "progressToken": mcp.next_rpc_id},
        });
        // In the turn: an interrupt cancels it.
        let mut message = Map::new();
        message.insert("method".into(), "tools/call".into());
        message.insert("params".into(), params);
        message.insert("jsonrpc".into(), "2.0".into());
        message.insert("id".into(), mcp.next_rpc_id.into());
        mcp.next_rpc_id += 1;
        drop(mcp);
        let (id, rx) = self
            .request(
                json!({"subtype": "mcp_message", "server_name": server, "message": message}),
                true,
            )
            .await;
        let reply = self.reply(&id, rx).await;
        lock(&self.mcp_calls).remove(&id);
        reply.map(|r| r.get("mcp_response").cloned().unwrap_or(Value::Null))
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn sleep(ms: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(ms))
}
