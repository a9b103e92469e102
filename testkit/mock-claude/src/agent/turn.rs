//! One turn: the steps of the script, the interrupt, and the `result`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use mock_claude::{Permission, Step, Turn};
use serde_json::{Map, Value, json};

use super::io::uuid;
use super::wire::{self, REJECTED};
use super::{Agent, sleep};

/// How the steps ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Go on with the next step.
    Go,
    /// The turn ends early with `TurnCtx::end` merged into its result (a hook's `continue: false`,
    /// `--max-turns`, an API error).
    End,
    /// The client denied a tool with `interrupt: true`.
    DenyInterrupt,
    /// An `interrupt` control request arrived.
    Interrupted,
}

/// A tool call under way (for the interrupt to reject it).
#[derive(Debug, Clone)]
struct ToolCall {
    id: String,
    name: String,
    input: Value,
}

#[derive(Debug, Default)]
struct TurnCtx {
    prompt: String,
    index: usize,
    /// Model round trips (the result's `num_turns`).
    api_calls: u64,
    out_tokens: u64,
    denials: Vec<Value>,
    last_text: Option<String>,
    /// The tool call whose permission/execution is under way.
    in_tool: Option<ToolCall>,
    /// Text streamed so far by a slow step: (message id, text).
    partial: Option<(String, String)>,
    /// Result fields for a turn that ends early (`Flow::End`).
    end: Option<Map<String, Value>>,
}

enum Exec {
    Local {
        output: Option<Value>,
        is_error: bool,
    },
    Mcp {
        server: String,
        tool: String,
    },
}

enum Decision {
    Allow {
        input: Value,
        source: &'static str,
    },
    Deny {
        message: String,
        interrupt: bool,
        kind: &'static str,
        source: &'static str,
    },
}

fn end_fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn prompt_text(msg: &Value) -> String {
    match msg.pointer("/message/content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

impl Agent {
    /// Run the `index`-th turn for `user_msg`, through its `result` and `after_result` steps.
    pub(crate) async fn run_turn(self: &Arc<Self>, index: usize, user_msg: &Value) {
        let turn = self.script.turn(index);
        self.run_turn_spec(turn, prompt_text(user_msg)).await;
    }

    /// Run `turn` (a user turn, or a background turn the mock starts on its own).
    async fn run_turn_spec(self: &Arc<Self>, turn: Turn, prompt: String) {
        let started = Instant::now();
        let index = self.results_emitted.fetch_add(1, Ordering::SeqCst);
        let mut ctx = TurnCtx {
            prompt,
            index,
            api_calls: 1,
            ..TurnCtx::default()
        };
        if self.session_state_events {
            self.out
                .send(&wire::system(
                    &self.session_id,
                    "session_state_changed",
                    json!({"state": "running", "sdk_host_only": true}),
                ))
                .await;
        }
        self.mcp_ready().await;
        if self.auto_hooks {
            // The real CLI calls UserPromptSubmit before it writes system/init.
            let extra = json!({"prompt": ctx.prompt});
            self.fire_hooks("UserPromptSubmit", None, extra, None, false)
                .await;
        }
        self.out.send(&self.init_message().await).await;
        if self.include_partial {
            self.out
                .send(&wire::system(
                    &self.session_id,
                    "status",
                    json!({"status": "requesting"}),
                ))
                .await;
        }
        let mut irx = self.interrupt_rx();
        let flow = tokio::select! {
            f = self.steps(&turn.steps, &mut ctx) => f,
            _ = irx.changed() => Flow::Interrupted,
        };
        let result = match flow {
            Flow::Go | Flow::End => {
                let mut r = self.result(&ctx, started, "success", false);
                r.insert(
                    "result".into(),
                    ctx.last_text.clone().unwrap_or_default().into(),
                );
                r.insert("stop_reason".into(), "end_turn".into());
                r.insert("terminal_reason".into(), "completed".into());
                r.insert("api_error_status".into(), Value::Null);
                if let Some(end) = ctx.end.take() {
                    if end.get("subtype").is_some_and(|s| s != "success") {
                        r.remove("result");
                    }
                    r.extend(end);
                }
                r.extend(turn.result.clone());
                r
            }
            Flow::Interrupted | Flow::DenyInterrupt => {
                // A request sent after the interrupt handler cancelled the others.
                self.cancel_outstanding().await;
                let for_tool = if flow == Flow::DenyInterrupt {
                    true
                } else if let Some(call) = ctx.in_tool.take() {
                    self.reject_tool(&mut ctx, &call).await;
                    true
                } else {
                    if let Some((msg_id, text)) = ctx.partial.take() {
                        let mut m = wire::assistant(
                            &self.session_id,
                            &self.model(),
                            &msg_id,
                            json!({"type": "text", "text": text}),
                        );
                        m["aborted"] = Value::Bool(true);
                        self.out.send(&m).await;
                    }
                    false
                };
                let text = if for_tool {
                    "[Request interrupted by user for tool use]"
                } else {
                    "[Request interrupted by user]"
                };
                self.out
                    .send(&wire::user_text(&self.session_id, text))
                    .await;
                let mut r = self.result(&ctx, started, "error_during_execution", true);
                r.insert(
                    "stop_reason".into(),
                    if flow == Flow::DenyInterrupt {
                        "tool_use".into()
                    } else {
                        Value::Null
                    },
                );
                r.insert(
                    "terminal_reason".into(),
                    if for_tool {
                        "aborted_tools"
                    } else {
                        "aborted_streaming"
                    }
                    .into(),
                );
                r.insert(
                    "errors".into(),
                    json!([
                        "[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=null"
                    ]),
                );
                r.extend(self.script.interrupt_result.clone());
                r
            }
        };
        let is_error = result
            .get("is_error")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.last_result_error.store(is_error, Ordering::SeqCst);
        self.out.send(&Value::Object(result)).await;
        if self.session_state_events {
            self.out
                .send(&wire::system(
                    &self.session_id,
                    "session_state_changed",
                    json!({"state": "idle", "sdk_host_only": true}),
                ))
                .await;
        }
        self.clear_cancelled();
        let mut after = TurnCtx {
            prompt: ctx.prompt,
            index,
            ..TurnCtx::default()
        };
        for step in &turn.after_result {
            if self.step(step, &mut after, false).await != Flow::Go {
                break;
            }
        }
    }

    /// Run the script's `on_start` steps (before any input is read).
    pub(crate) async fn run_on_start(self: &Arc<Self>, steps: &[Step]) {
        let mut ctx = TurnCtx::default();
        for step in steps {
            if self.step(step, &mut ctx, false).await != Flow::Go {
                break;
            }
        }
    }

    async fn init_message(&self) -> Value {
        let mut tools: Vec<String> = match self.args.value(&["--tools"]) {
            Some("") => Vec::new(),
            Some("default") | None => wire::DEFAULT_TOOLS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            Some(list) => list.split(',').map(|s| s.trim().to_owned()).collect(),
        };
        tools.retain(|t| !self.disallowed_tools.contains(t));
        {
            let mcp = self.mcp.lock().await;
            for (server, (status, names)) in &mcp.state {
                if status == "connected" {
                    tools.extend(names.iter().map(|t| format!("mcp__{server}__{t}")));
                }
            }
        }
        wire::system(
            &self.session_id,
            "init",
            json!({
                "cwd": self.cwd,
                "tools": tools,
                "mcp_servers": self.mcp_status().await,
                "model": self.model(),
                "permissionMode": self.mode(),
                "slash_commands": ["compact", "context", "cost", "init", "review"],
                "apiKeySource": "none",
                "claude_code_version": mock_claude::CLI_VERSION,
                "output_style": "default",
                "agents": ["general-purpose", "Explore"],
                "skills": [],
                "plugins": [],
                "capabilities": [],
                "fast_mode_state": "off",
            }),
        )
    }

    fn result(
        &self,
        ctx: &TurnCtx,
        started: Instant,
        subtype: &str,
        is_error: bool,
    ) -> Map<String, Value> {
        let input = 10 * ctx.api_calls;
        let output = ctx.out_tokens.max(1);
        let cost = (input as f64) * 3e-6 + (output as f64) * 15e-6;
        let model = self.model();
        let mut r = Map::new();
        r.insert("type".into(), "result".into());
        r.insert("subtype".into(), subtype.into());
        r.insert("is_error".into(), is_error.into());
        r.insert(
            "duration_ms".into(),
            u64::try_from(started.elapsed().as_millis())
                .unwrap_or(u64::MAX)
                .into(),
        );
        r.insert("duration_api_ms".into(), (5 * ctx.api_calls).into());
        r.insert("num_turns".into(), ctx.api_calls.into());
        r.insert("session_id".into(), self.session_id.clone().into());
        r.insert("total_cost_usd".into(), cost.into());
        r.insert("usage".into(), wire::usage(input, output));
        r.insert(
            "modelUsage".into(),
            wire::model_usage(&model, input, output, cost),
        );
        r.insert(
            "permission_denials".into(),
            Value::Array(ctx.denials.clone()),
        );
        r.insert("fast_mode_state".into(), "off".into());
        r.insert("uuid".into(), uuid().into());
        r.insert("queued_turn_count".into(), 0.into());
        r.insert("result_index".into(), ctx.index.into());
        r
    }

    async fn steps(self: &Arc<Self>, steps: &[Step], ctx: &mut TurnCtx) -> Flow {
        for step in steps {
            let flow = self.step(step, ctx, true).await;
            if flow != Flow::Go {
                return flow;
            }
        }
        if self.auto_hooks {
            self.fire_hooks("Stop", None, json!({"stop_hook_active": false}), None, true)
                .await;
        }
        Flow::Go
    }

    /// Send `hook_callback` to every callback registered for `event`; returns the replies.
    async fn fire_hooks(
        &self,
        event: &str,
        tool: Option<&str>,
        extra: Value,
        tool_use_id: Option<&str>,
        in_turn: bool,
    ) -> Vec<super::Reply> {
        let ids = self.hook_ids(event, tool);
        let mut replies = Vec::with_capacity(ids.len());
        for id in ids {
            let reply = self
                .hook_call(&id, event, &extra, tool_use_id, in_turn)
                .await;
            if let Err(super::ReplyError::Error(_)) = &reply {
                // What the real CLI says when a hook callback gets an error reply.
                let content = format!(
                    "{event}: Hook callback {id} failed: the SDK host replied with an error or an invalid answer. Its answer was treated as empty."
                );
                self.out
                    .send(&wire::system(
                        &self.session_id,
                        "informational",
                        json!({"content": content, "level": "warning", "tag": "hook_callback_failed"}),
                    ))
                    .await;
            }
            replies.push(reply);
        }
        replies
    }

    async fn hook_call(
        &self,
        callback_id: &str,
        event: &str,
        extra: &Value,
        tool_use_id: Option<&str>,
        in_turn: bool,
    ) -> super::Reply {
        let mut input = Map::new();
        input.insert("session_id".into(), self.session_id.clone().into());
        input.insert(
            "transcript_path".into(),
            format!("/tmp/mock-claude/projects/{}.jsonl", self.session_id).into(),
        );
        input.insert("cwd".into(), self.cwd.clone().into());
        input.insert("permission_mode".into(), self.mode().into());
        input.insert("hook_event_name".into(), event.into());
        if let Value::Object(m) = extra {
            input.extend(m.clone());
        }
        self.call(
            json!({"subtype": "hook_callback", "callback_id": callback_id, "input": input, "tool_use_id": tool_use_id}),
            in_turn,
        )
        .await
    }

    /// Emit one assistant message holding `block`, with its stream events when partial messages
    /// are on.
    async fn block(&self, ctx: &mut TurnCtx, block: Value, tokens: u64) {
        ctx.out_tokens += tokens;
        let model = self.model();
        let msg_id = wire::message_id();
        let msg = wire::assistant(&self.session_id, &model, &msg_id, block.clone());
        if !self.include_partial {
            self.out.send(&msg).await;
            return;
        }
        let sid = &self.session_id;
        let (start_block, delta) = match block.get("type").and_then(Value::as_str) {
            Some("text") => (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": block["text"]}),
            ),
            Some("thinking") => (
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                json!({"type": "thinking_delta", "thinking": block["thinking"]}),
            ),
            _ => (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
            ),
        };
        let stop_reason = if block["type"] == "tool_use" {
            "tool_use"
        } else {
            "end_turn"
        };
        let batch = vec![
            wire::stream_event(sid, &msg_id, wire::message_start(&model, &msg_id)),
            wire::stream_event(
                sid,
                &msg_id,
                json!({"type": "content_block_start", "index": 0, "content_block": start_block}),
            ),
            wire::stream_event(
                sid,
                &msg_id,
                json!({"type": "content_block_delta", "index": 0, "delta": delta}),
            ),
            msg,
            wire::stream_event(
                sid,
                &msg_id,
                json!({"type": "content_block_stop", "index": 0}),
            ),
            wire::stream_event(
                sid,
                &msg_id,
                json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": tokens}}),
            ),
            wire::stream_event(sid, &msg_id, json!({"type": "message_stop"})),
        ];
        self.out.send_batch(&batch).await;
    }

    async fn text(&self, ctx: &mut TurnCtx, text: String) {
        let tokens = (text.len() as u64 / 4).max(1);
        ctx.last_text = Some(text.clone());
        self.block(ctx, json!({"type": "text", "text": text}), tokens)
            .await;
    }

    async fn step(self: &Arc<Self>, step: &Step, ctx: &mut TurnCtx, in_turn: bool) -> Flow {
        match step {
            Step::Text { text } => self.text(ctx, text.clone()).await,
            Step::Echo { prefix } => {
                let t = format!("{prefix}{}", ctx.prompt);
                self.text(ctx, t).await;
            }
            Step::Thinking {
                thinking,
                signature,
            } => {
                // The real CLI reports thinking progress while the block streams.
                let estimate = (thinking.len() as u64 / 4).max(1);
                self.out
                    .send(&wire::system(
                        &self.session_id,
                        "thinking_tokens",
                        json!({"estimated_tokens": estimate, "estimated_tokens_delta": estimate}),
                    ))
                    .await;
                self.block(
                    ctx,
                    json!({"type": "thinking", "thinking": thinking, "signature": signature}),
                    estimate,
                )
                .await;
            }
            Step::ToolUse {
                name,
                input,
                id,
                permission,
                output,
                is_error,
            } => {
                let exec = Exec::Local {
                    output: output.clone(),
                    is_error: *is_error,
                };
                return self
                    .tool(
                        ctx,
                        name,
                        input.clone(),
                        id.clone(),
                        *permission,
                        exec,
                        None,
                    )
                    .await;
            }
            Step::McpTool {
                server,
                tool,
                arguments,
                permission,
            } => {
                let tools = self.mcp_tools(server).await;
                let tool = match (tool, &tools) {
                    (Some(t), _) => t.clone(),
                    (None, Some(list)) if !list.is_empty() => list[0].clone(),
                    _ => "unknown".to_owned(),
                };
                let full = format!("mcp__{server}__{tool}");
                if tools.is_none() {
                    // No such server: the model would not even see the tool; report it like the CLI
                    // reports a call to an unavailable tool.
                    let id = wire::tool_use_id();
                    ctx.api_calls += 1;
                    self.block(
                        ctx,
                        json!({"type": "tool_use", "id": id, "name": full, "input": arguments}),
                        1,
                    )
                    .await;
                    let msg = format!(
                        "<tool_use_error>Error: No such tool available: {full}</tool_use_error>"
                    );
                    self.out
                        .send(&wire::tool_result(
                            &self.session_id,
                            &id,
                            msg.clone().into(),
                            true,
                            format!("Error: {msg}").into(),
                            json!({"id": id}),
                        ))
                        .await;
                    return Flow::Go;
                }
                let exec = Exec::Mcp {
                    server: server.clone(),
                    tool,
                };
                return self
                    .tool(
                        ctx,
                        &full,
                        arguments.clone(),
                        None,
                        *permission,
                        exec,
                        Some(server),
                    )
                    .await;
            }
            Step::Hook {
                event,
                input,
                tool_name,
                callback_id,
            } => {
                let extra = Value::Object(input.clone());
                match callback_id {
                    Some(cb) => {
                        let _ = self.hook_call(cb, event, &extra, None, in_turn).await;
                    }
                    None => {
                        let _ = self
                            .fire_hooks(event, tool_name.as_deref(), extra, None, in_turn)
                            .await;
                    }
                }
            }
            Step::Messages { count, text } => {
                self.bulk_messages(*count, text).await;
                ctx.out_tokens += count;
                ctx.last_text = (*count > 0).then(|| text.replace("{i}", &(count - 1).to_string()));
            }
            Step::Huge { bytes } => {
                let n = usize::try_from(*bytes).unwrap_or(usize::MAX);
                let text = "x".repeat(n);
                ctx.out_tokens += bytes / 4;
                let msg = wire::assistant(
                    &self.session_id,
                    &self.model(),
                    &wire::message_id(),
                    json!({"type": "text", "text": text}),
                );
                self.out.send(&msg).await;
                ctx.last_text = Some(format!("<{bytes} bytes of x>"));
            }
            Step::Sleep { ms } => sleep(*ms).await,
            Step::SlowText {
                text,
                chunks,
                chunk_ms,
            } => self.slow_text(ctx, text, *chunks, *chunk_ms).await,
            Step::Crash { stderr, code } => {
                self.out.flush().await;
                if !stderr.is_empty() {
                    eprintln!("{stderr}");
                }
                self.exit(*code, "crash step").await;
            }
            Step::ControlRequest { request, wait } => {
                if *wait {
                    let r = self.call(request.clone(), in_turn).await;
                    self.log
                        .event("control_request_step_done", json!({"ok": r.is_ok()}));
                } else {
                    let _ = self.request(request.clone(), false).await;
                }
            }
            Step::CancelledPermission {
                name,
                input,
                cancel_after_ms,
            } => {
                return self
                    .cancelled_permission(ctx, name, input, *cancel_after_ms)
                    .await;
            }
            Step::Raw { line } => {
                let mut bytes = match line {
                    Value::String(s) => s.clone().into_bytes(),
                    other => serde_json::to_vec(other).expect("serializes"),
                };
                bytes.push(b'\n');
                self.out.raw(&bytes).await;
            }
            Step::ApiError {
                status,
                error,
                message,
            } => {
                let mut m = wire::assistant(
                    &self.session_id,
                    "<synthetic>",
                    &uuid(),
                    json!({"type": "text", "text": message}),
                );
                m["message"]["stop_reason"] = "stop_sequence".into();
                m["message"]["stop_sequence"] = "".into();
                m["message"]["usage"] = json!({"input_tokens": 0, "output_tokens": 0});
                m["error"] = error.clone().into();
                m["is_api_error_message"] = true.into();
                m["api_error_status"] = (*status).into();
                self.out.send(&m).await;
                ctx.last_text = Some(message.clone());
                ctx.end = Some(end_fields(json!({
                    "is_error": true,
                    "stop_reason": "stop_sequence",
                    "terminal_reason": "api_error",
                    "api_error_status": status,
                })));
                return Flow::End;
            }
            Step::BackgroundTurn { delay_ms, steps } => {
                sleep(*delay_ms).await;
                let turn = Turn {
                    steps: steps.clone(),
                    ..Turn::default()
                };
                Box::pin(self.run_turn_spec(turn, String::new())).await;
            }
            Step::Stderr { text } => eprintln!("{text}"),
            Step::Exit { code } => self.exit(*code, "exit step").await,
        }
        Flow::Go
    }

    /// `count` assistant text messages, fast: the line is serialized once with markers and the
    /// per-message parts (ids, uuid, text) are spliced in, so a million messages cost seconds, not
    /// minutes, even in a debug build.
    async fn bulk_messages(&self, count: u64, text: &str) {
        const ID: &str = "\u{1}ID\u{1}";
        const UUID: &str = "\u{1}UUID\u{1}";
        const TEXT: &str = "\u{1}TEXT\u{1}";
        const TS: &str = "\u{1}TS\u{1}";
        let mut template = wire::assistant(
            &self.session_id,
            &self.model(),
            ID,
            json!({"type": "text", "text": TEXT}),
        );
        template["uuid"] = UUID.into();
        template["timestamp"] = TS.into();
        // The same key order as every other line (`type` first).
        let mut line = Vec::new();
        super::io::write_message(&mut line, &template);
        line.pop(); // the newline
        let template = String::from_utf8(line).expect("JSON is UTF-8");
        // The markers serialize as `\u0001ID\u0001` etc.; find them in the serialized form.
        let marker = |m: &str| serde_json::to_string(m).expect("serializes");
        let marks = [marker(ID), marker(UUID), marker(TEXT), marker(TS)];
        // Split the template into literal pieces and marker slots, in order of appearance.
        let mut pieces: Vec<(String, Option<usize>)> = Vec::new();
        let mut rest = template.as_str();
        loop {
            let next = marks
                .iter()
                .enumerate()
                .filter_map(|(k, m)| rest.find(m.as_str()).map(|at| (at, k)))
                .min();
            match next {
                Some((at, k)) => {
                    pieces.push((rest[..at].to_owned(), Some(k)));
                    rest = &rest[at + marks[k].len()..];
                }
                None => {
                    pieces.push((rest.to_owned(), None));
                    break;
                }
            }
        }
        let templated = text.contains("{i}");
        let fixed_text = serde_json::to_string(text).expect("serializes");
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut ts = wire::timestamp();
        for i in 0..count {
            if i % 1024 == 0 {
                ts = wire::timestamp();
            }
            for (lit, slot) in &pieces {
                buf.extend_from_slice(lit.as_bytes());
                match slot {
                    Some(0) => {
                        buf.push(b'"');
                        buf.extend_from_slice(wire::message_id().as_bytes());
                        buf.push(b'"');
                    }
                    Some(1) => {
                        buf.push(b'"');
                        buf.extend_from_slice(super::io::uuid().as_bytes());
                        buf.push(b'"');
                    }
                    Some(2) if templated => {
                        let t = text.replace("{i}", &i.to_string());
                        serde_json::to_writer(&mut buf, &t).expect("serializes");
                    }
                    Some(2) => buf.extend_from_slice(fixed_text.as_bytes()),
                    Some(_) => {
                        buf.push(b'"');
                        buf.extend_from_slice(ts.as_bytes());
                        buf.push(b'"');
                    }
                    None => {}
                }
            }
            buf.push(b'\n');
            if buf.len() >= 1 << 20 {
                self.out.raw(&buf).await;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            self.out.raw(&buf).await;
        }
    }

    async fn slow_text(&self, ctx: &mut TurnCtx, text: &str, chunks: u64, chunk_ms: u64) {
        let chars: Vec<char> = text.chars().collect();
        let n = usize::try_from(chunks.max(1))
            .unwrap_or(1)
            .min(chars.len().max(1));
        let per = chars.len().div_ceil(n).max(1);
        let model = self.model();
        let msg_id = wire::message_id();
        let sid = self.session_id.clone();
        if self.include_partial {
            self.out
                .send_batch(&[
                    wire::stream_event(&sid, &msg_id, wire::message_start(&model, &msg_id)),
                    wire::stream_event(
                        &sid,
                        &msg_id,
                        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                    ),
                ])
                .await;
        }
        ctx.partial = Some((msg_id.clone(), String::new()));
        for piece in chars.chunks(per) {
            sleep(chunk_ms).await;
            let piece: String = piece.iter().collect();
            if let Some((_, so_far)) = &mut ctx.partial {
                so_far.push_str(&piece);
            }
            if self.include_partial {
                self.out
                    .send(&wire::stream_event(
                        &sid,
                        &msg_id,
                        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                    ))
                    .await;
            }
        }
        ctx.partial = None;
        ctx.last_text = Some(text.to_owned());
        ctx.out_tokens += chunks;
        let mut batch = vec![wire::assistant(
            &sid,
            &model,
            &msg_id,
            json!({"type": "text", "text": text}),
        )];
        if self.include_partial {
            batch.push(wire::stream_event(
                &sid,
                &msg_id,
                json!({"type": "content_block_stop", "index": 0}),
            ));
            batch.push(wire::stream_event(
                &sid,
                &msg_id,
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": chunks}}),
            ));
            batch.push(wire::stream_event(
                &sid,
                &msg_id,
                json!({"type": "message_stop"}),
            ));
        }
        self.out.send_batch(&batch).await;
    }

    fn tool_is_allowed(&self, name: &str) -> bool {
        let mode = self.mode();
        mode == "bypassPermissions"
            || (mode == "acceptEdits" && matches!(name, "Edit" | "Write" | "NotebookEdit"))
            || self
                .allowed_tools
                .iter()
                .any(|a| a == name || a.strip_prefix(name).is_some_and(|r| r.starts_with('(')))
    }

    fn can_use_tool_body(
        &self,
        name: &str,
        input: &Value,
        id: &str,
        server: Option<&String>,
    ) -> Value {
        let mut body = json!({
            "subtype": "can_use_tool",
            "tool_name": name,
            "display_name": name,
            "input": input,
            "description": input.get("description").and_then(Value::as_str).unwrap_or(name),
            "permission_suggestions": [],
            "tool_use_id": id,
        });
        if let Some(s) = server {
            body["mcp_server"] = json!({"name": s, "source": "sdk"});
        }
        body
    }

    #[allow(clippy::too_many_arguments)]
    async fn tool(
        self: &Arc<Self>,
        ctx: &mut TurnCtx,
        name: &str,
        input: Value,
        id: Option<String>,
        permission: Permission,
        exec: Exec,
        server: Option<&String>,
    ) -> Flow {
        let id = id.unwrap_or_else(wire::tool_use_id);
        ctx.api_calls += 1;
        self.block(
            ctx,
            json!({"type": "tool_use", "id": id, "name": name, "input": input}),
            1,
        )
        .await;
        ctx.in_tool = Some(ToolCall {
            id: id.clone(),
            name: name.to_owned(),
            input: input.clone(),
        });
        let mut input = input;
        let mut decision = None;
        if self.disallowed_tools.iter().any(|d| d == name) {
            decision = Some(Decision::Deny {
                message: format!("Permission to use {name} has been denied."),
                interrupt: false,
                kind: "permission-rule",
                source: "config",
            });
        }
        let mut hook_stopped = false;
        if decision.is_none() && self.auto_hooks {
            let extra = json!({"tool_name": name, "tool_input": input, "tool_use_id": id});
            for reply in self
                .fire_hooks("PreToolUse", Some(name), extra, Some(&id), true)
                .await
            {
                let Ok(v) = reply else { continue };
                if v.get("continue") == Some(&Value::Bool(false)) {
                    hook_stopped = true;
                }
                let hso = v.get("hookSpecificOutput");
                if let Some(updated) = hso.and_then(|h| h.get("updatedInput")) {
                    input = updated.clone();
                }
                let verdict = hso
                    .and_then(|h| h.get("permissionDecision"))
                    .and_then(Value::as_str)
                    .or_else(|| match v.get("decision").and_then(Value::as_str) {
                        Some("block") => Some("deny"),
                        Some("approve") => Some("allow"),
                        _ => None,
                    });
                let reason = hso
                    .and_then(|h| h.get("permissionDecisionReason"))
                    .or_else(|| v.get("reason"))
                    .and_then(Value::as_str)
                    .unwrap_or("blocked by hook");
                match verdict {
                    Some("deny") => {
                        decision = Some(Decision::Deny {
                            message: format!("PreToolUse:{name} hook error: {reason}"),
                            interrupt: false,
                            kind: "permission-rule",
                            source: "hook",
                        });
                        break;
                    }
                    Some("allow") => {
                        decision = Some(Decision::Allow {
                            input: input.clone(),
                            source: "hook",
                        })
                    }
                    _ => {}
                }
            }
        }
        let decision = match decision {
            Some(Decision::Allow { source, .. }) => Decision::Allow {
                input: input.clone(),
                source,
            },
            Some(d) => d,
            None => {
                let ask = match permission {
                    Permission::Allow => false,
                    Permission::Ask => true,
                    Permission::Auto => !self.tool_is_allowed(name),
                };
                if !ask {
                    Decision::Allow {
                        input: input.clone(),
                        source: "config",
                    }
                } else if !self.prompt_tool_stdio && permission == Permission::Auto {
                    let message = format!(
                        "Claude requested permissions to use {name}, but you haven't granted it yet."
                    );
                    self.out
                        .send(&wire::system(
                            &self.session_id,
                            "permission_denied",
                            json!({"tool_name": name, "tool_use_id": id, "message": message}),
                        ))
                        .await;
                    Decision::Deny {
                        message,
                        interrupt: false,
                        kind: "permission-rule",
                        source: "config",
                    }
                } else {
                    let body = self.can_use_tool_body(name, &input, &id, server);
                    let reply = self.call(body, true).await;
                    if self.auto_hooks && reply.is_ok() {
                        // Seen on the real CLI: PermissionRequest hooks run after can_use_tool.
                        let extra = json!({"tool_name": name, "tool_input": input});
                        self.fire_hooks("PermissionRequest", Some(name), extra, Some(&id), true)
                            .await;
                    }
                    match reply {
                        Ok(r) => match r.get("behavior").and_then(Value::as_str) {
                            Some("allow") => Decision::Allow {
                                input: r.get("updatedInput").cloned().unwrap_or(input.clone()),
                                source: "user_temporary",
                            },
                            _ => Decision::Deny {
                                message: r
                                    .get("message")
                                    .and_then(Value::as_str)
                                    .unwrap_or("Permission denied")
                                    .to_owned(),
                                interrupt: r
                                    .get("interrupt")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                                kind: "user-rejected",
                                source: "user_reject",
                            },
                        },
                        Err(e) => Decision::Deny {
                            message: match e {
                                super::ReplyError::Error(e) => {
                                    format!("Tool permission request failed: Error: {e}")
                                }
                                super::ReplyError::Closed => "Tool permission request failed: AbortError: Tool permission stream closed before response received".to_owned(),
                            },
                            interrupt: false,
                            kind: "user-rejected",
                            source: "user_reject",
                        },
                    }
                }
            }
        };
        match decision {
            Decision::Allow { input, source } => {
                let (content, is_error, tool_use_result) = match exec {
                    Exec::Local { output, is_error } => {
                        let content =
                            output.unwrap_or_else(|| format!("{name} ran with {input}").into());
                        let tur = match &content {
                            Value::String(s) => {
                                json!({"stdout": s, "stderr": "", "interrupted": false, "isImage": false, "noOutputExpected": false})
                            }
                            other => other.clone(),
                        };
                        (content, is_error, tur)
                    }
                    Exec::Mcp { server, tool } => {
                        match self.mcp_call(&server, &tool, &input, &id).await {
                            Ok(resp) => {
                                if let Some(res) = resp.get("result") {
                                    let content = res.get("content").cloned().unwrap_or(json!([]));
                                    let is_err = res
                                        .get("isError")
                                        .and_then(Value::as_bool)
                                        .unwrap_or(false);
                                    (content.clone(), is_err, content)
                                } else {
                                    let msg = resp
                                        .pointer("/error/message")
                                        .and_then(Value::as_str)
                                        .unwrap_or("MCP error")
                                        .to_owned();
                                    (msg.clone().into(), true, format!("Error: {msg}").into())
                                }
                            }
                            Err(e) => (e.to_string().into(), true, format!("Error: {e}").into()),
                        }
                    }
                };
                if self.auto_hooks {
                    let extra = json!({"tool_name": name, "tool_input": input, "tool_response": tool_use_result, "tool_use_id": id});
                    for reply in self
                        .fire_hooks("PostToolUse", Some(name), extra, Some(&id), true)
                        .await
                    {
                        if reply.is_ok_and(|v| v.get("continue") == Some(&Value::Bool(false))) {
                            hook_stopped = true;
                        }
                    }
                }
                ctx.in_tool = None;
                self.out
                    .send(&wire::tool_result(
                        &self.session_id,
                        &id,
                        content,
                        is_error,
                        tool_use_result,
                        json!({"id": id, "permission_decision": {"decision": "accept", "source": source}}),
                    ))
                    .await;
            }
            Decision::Deny {
                message,
                interrupt,
                kind,
                source,
            } => {
                ctx.in_tool = None;
                let call = ToolCall {
                    id: id.clone(),
                    name: name.to_owned(),
                    input: input.clone(),
                };
                if interrupt {
                    self.reject_tool(ctx, &call).await;
                    return Flow::DenyInterrupt;
                }
                ctx.denials
                    .push(json!({"tool_name": name, "tool_use_id": id, "tool_input": call.input}));
                self.out
                    .send(&wire::tool_result(
                        &self.session_id,
                        &id,
                        message.clone().into(),
                        true,
                        format!("Error: {message}").into(),
                        json!({"id": id, "non_execution_kind": kind, "permission_decision": {"decision": "reject", "source": source}}),
                    ))
                    .await;
            }
        }
        if hook_stopped {
            // A hook's `continue: false`: no further model call.
            ctx.last_text = None;
            ctx.end = Some(end_fields(json!({
                "stop_reason": "tool_use",
                "terminal_reason": "hook_stopped",
            })));
            return Flow::End;
        }
        if let Some(max) = self.max_turns
            && ctx.api_calls > max
        {
            ctx.end = Some(end_fields(json!({
                "subtype": "error_max_turns",
                "is_error": true,
                "stop_reason": "tool_use",
                "terminal_reason": "max_turns",
                "errors": [format!("Reached maximum number of turns ({max})")],
            })));
            return Flow::End;
        }
        Flow::Go
    }

    /// The tool_result of a tool the user rejected with an interrupt (or interrupted while pending).
    async fn reject_tool(&self, ctx: &mut TurnCtx, call: &ToolCall) {
        ctx.denials.push(
            json!({"tool_name": call.name, "tool_use_id": call.id, "tool_input": call.input}),
        );
        self.out
            .send(&wire::tool_result(
                &self.session_id,
                &call.id,
                REJECTED.into(),
                true,
                "User rejected tool use".into(),
                json!({"id": call.id, "non_execution_kind": "user-rejected"}),
            ))
            .await;
    }

    async fn cancelled_permission(
        self: &Arc<Self>,
        ctx: &mut TurnCtx,
        name: &str,
        input: &Value,
        after_ms: u64,
    ) -> Flow {
        let id = wire::tool_use_id();
        ctx.api_calls += 1;
        self.block(
            ctx,
            json!({"type": "tool_use", "id": id, "name": name, "input": input}),
            1,
        )
        .await;
        let body = self.can_use_tool_body(name, input, &id, None);
        let (req_id, rx) = self.request(body, true).await;
        let answered = if after_ms == 0 {
            None
        } else {
            tokio::select! {
                r = self.reply(&req_id, rx) => Some(r),
                () = sleep(after_ms) => None,
            }
        };
        if let Some(r) = answered {
            self.log.event(
                "cancel_skipped",
                json!({"request_id": req_id, "answered": r.is_ok()}),
            );
        } else {
            self.cancel_request(&req_id).await;
        }
        let call = ToolCall {
            id: id.clone(),
            name: name.to_owned(),
            input: input.clone(),
        };
        ctx.denials.push(
            json!({"tool_name": call.name, "tool_use_id": call.id, "tool_input": call.input}),
        );
        self.out
            .send(&wire::tool_result(
                &self.session_id,
                &id,
                "Permission request was cancelled".into(),
                true,
                "Error: Permission request was cancelled".into(),
                json!({"id": id, "non_execution_kind": "user-rejected"}),
            ))
            .await;
        Flow::Go
    }
}
