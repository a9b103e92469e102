//! serde round trips over transcripts captured from the real CLI 2.1.330
//! (`tests/fixtures/real-cli/*.jsonl`): every message the CLI wrote parses into its typed
//! variant, and what we write back agrees with what the CLI sent on every field we keep.

use std::path::Path;

use serde_json::Value;
use tether_claude::{ContentBlock, Message, PermissionRequest};

fn fixtures() -> Vec<(String, Vec<Value>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-cli");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let lines = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        out.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            lines,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every field we serialize agrees with the original; a field we add that the original lacks
/// must be an empty default (null, false, 0, "", [] or {}).
fn assert_agrees(ours: &Value, original: &Value, path: &str) {
    match (ours, original) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(o) => assert_agrees(v, o, &format!("{path}.{k}")),
                    None => assert!(
                        matches!(v, Value::Null | Value::Bool(false))
                            || v == &Value::from(0)
                            || v.as_str() == Some("")
                            || v.as_array().is_some_and(Vec::is_empty)
                            || v.as_object().is_some_and(|m| m.is_empty()),
                        "{path}.{k}: we wrote {v} where the cli wrote nothing"
                    ),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_agrees(x, y, &format!("{path}[{i}]"));
            }
        }
        (a, b) => {
            // Numbers may differ in representation (1 vs 1.0); compare as f64 then.
            if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
                assert!((x - y).abs() < 1e-9, "{path}: {a} != {b}");
            } else {
                assert_eq!(a, b, "{path}");
            }
        }
    }
}

#[test]
fn every_captured_message_parses_into_its_typed_variant_and_round_trips() {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut files = 0;
    for (name, lines) in fixtures() {
        files += 1;
        for line in lines {
            if line["dir"] != "out" {
                continue;
            }
            let msg = &line["msg"];
            let kind = msg["type"].as_str().unwrap_or("").to_string();
            *seen.entry(kind.clone()).or_default() += 1;
            if kind.starts_with("control_") {
                if kind == "control_request" && msg["request"]["subtype"] == "can_use_tool" {
                    let req: PermissionRequest = serde_json::from_value(msg["request"].clone())
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(!req.tool_name.is_empty());
                }
                continue;
            }
            let parsed =
                Message::from_value(msg.clone()).unwrap_or_else(|e| panic!("{name}: {e}: {msg}"));
            let known = matches!(
                kind.as_str(),
                "system" | "assistant" | "user" | "result" | "stream_event" | "rate_limit_event"
            );
            assert_eq!(
                !matches!(parsed, Message::Unknown(_)),
                known,
                "{name}: {kind}"
            );
            if let Message::Assistant(a) = &parsed {
                assert!(
                    a.message
                        .content
                        .iter()
                        .all(|b| !matches!(b, ContentBlock::Unknown(_))),
                    "{name}: a block type we should know: {msg}"
                );
            }
            let ours = parsed.to_value();
            assert_agrees(&ours, msg, &format!("{name}:{kind}"));
            // Parsing what we wrote gives the same message.
            assert_eq!(Message::from_value(ours).unwrap(), parsed, "{name}");
        }
    }
    assert!(files >= 40, "the fixture set is there ({files} files)");
    for kind in ["system", "assistant", "user", "result", "stream_event"] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in the fixtures: {seen:?}"
        );
    }
}

#[test]
fn results_keep_the_api_error_status_and_their_index() {
    let (mut statuses, mut indexed) = (0, 0);
    for (file, lines) in fixtures() {
        let out = lines
            .iter()
            .filter(|l| l["dir"] == "out")
            .map(|l| &l["msg"]);
        for line in out.filter(|m| m["type"] == "result") {
            let Message::Result(r) = Message::from_value(line.clone()).unwrap() else {
                panic!("{file}: a result line did not parse as one");
            };
            let status = line["api_error_status"].as_u64().map(|s| s as u16);
            assert_eq!(r.api_error_status, status, "{file}: {line}");
            assert_eq!(r.result_index, line["result_index"].as_u64(), "{file}");
            statuses += usize::from(status.is_some());
            indexed += usize::from(r.result_index.is_some());
        }
    }
    // api_error_no_retry ends on a 401; every 2.1.330 result carries its index.
    assert!(
        statuses >= 1,
        "no result with an api error status in the fixtures"
    );
    assert!(indexed >= 10, "too few results with an index ({indexed})");
}

#[test]
fn an_interrupted_assistant_message_is_marked_aborted() {
    let mut aborted = 0;
    let mut whole = 0;
    for (file, lines) in fixtures() {
        let out = lines
            .iter()
            .filter(|l| l["dir"] == "out")
            .map(|l| &l["msg"]);
        for line in out.filter(|m| m["type"] == "assistant") {
            let Message::Assistant(a) = Message::from_value(line.clone()).unwrap() else {
                panic!("{file}: an assistant line did not parse as one");
            };
            assert_eq!(a.aborted, line["aborted"] == true, "{file}: {line}");
            if a.aborted {
                aborted += 1;
                assert_eq!(Message::Assistant(a).to_value()["aborted"], true);
            } else {
                whole += 1;
                // Not written back when false (the cli omits it).
                assert!(Message::Assistant(a).to_value().get("aborted").is_none());
            }
        }
    }
    // The interrupt transcripts have them (interrupt, sigint, partial messages).
    assert!(
        aborted >= 3,
        "aborted assistant messages in the fixtures: {aborted}"
    );
    assert!(whole > aborted);
}

#[test]
fn system_init_and_result_fields_are_read_from_the_real_cli() {
    let (_, lines) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "one_shot.jsonl")
        .unwrap();
    let out: Vec<Message> = lines
        .iter()
        .filter(|l| l["dir"] == "out")
        .map(|l| Message::from_value(l["msg"].clone()).unwrap())
        .collect();
    let Message::System(s) = &out[0] else {
        panic!()
    };
    let init = s.init().unwrap();
    assert!(init.session_id.is_some() && init.model.is_some() && !init.tools.is_empty());
    assert_eq!(init.claude_code_version.as_deref(), Some("2.1.330"));
    let Some(Message::Result(r)) = out.last() else {
        panic!()
    };
    assert_eq!(r.subtype, "success");
    assert!(!r.is_error && r.num_turns >= 1 && r.total_cost_usd.is_some() && r.usage.is_some());
    assert!(r.result.is_some() && r.model_usage.is_some() && r.permission_denials.is_some());
}

/// Fields of the real CLI's messages that the typed messages deliberately do not model (the
/// issue: "unknown fields are ignored"). Everything else the CLI sent must survive a parse and
/// re-serialize unchanged — a field dropped that is not listed here fails the test, so a new or
/// renamed field shows up instead of vanishing. (`system` and `rate_limit_event` keep every field.)
const NOT_MODELED: &[(&str, &[&str])] = &[
    (
        "assistant",
        &[
            "timestamp",
            "agent_id",
            "subagent_type",
            "task_description",
            "request_id",
            "is_api_error_message",
            "api_error_status",
            "api_error_type",
            "thinking_display",
            "thinking_duration_ms",
            "tool_use_meta",
        ],
    ),
    (
        "assistant.message",
        &[
            "type",
            "stop_sequence",
            "context_management",
            "container",
            "diagnostics",
            "stop_details",
        ],
    ),
    ("user", &["timestamp", "tool_result_meta"]),
    (
        "result",
        &[
            "api_error_type",
            "begun_message_ids",
            "fast_mode_disabled_reason",
            "fast_mode_state",
            "first_content_frame_ms",
            "model_usage_since_last_result",
            "origin",
            "queued_turn_count",
            "safety_stops",
            "subagent_stats",
            "time_to_request_ms",
            "ttft_ms",
            "ttft_stream_ms",
        ],
    ),
    (
        "stream_event",
        &[
            "abandoned_blocks",
            "api_message_id",
            "thinking_display",
            "ttft_ms",
        ],
    ),
];

fn not_modeled(kind: &str) -> &'static [&'static str] {
    NOT_MODELED
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[], |(_, fields)| fields)
}

/// Drops `null` object entries (an absent `Option` and a `null` are the same to us), recursively.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The CLI's message minus the fields we deliberately do not model, nulls dropped.
fn modeled_part(msg: &Value) -> Value {
    let kind = msg["type"].as_str().unwrap_or_default();
    let mut out = without_nulls(msg);
    if let Value::Object(m) = &mut out {
        for field in not_modeled(kind) {
            m.remove(*field);
        }
        if let Some(Value::Object(inner)) = m.get_mut("message") {
            for field in not_modeled(&format!("{kind}.message")) {
                inner.remove(*field);
            }
        }
    }
    out
}

/// Exact equality, except numbers compare as f64 (serde_json may re-print a float's last digit).
fn same(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => same(p, q, &format!("{path}.{k}"))?,
                    (Some(p), None) => {
                        return Err(format!("{path}.{k}: we wrote {p}, the cli did not"));
                    }
                    (None, Some(q)) => {
                        return Err(format!("{path}.{k}: the cli sent {q} and we dropped it"));
                    }
                    (None, None) => unreachable!(),
                }
            }
            Ok(())
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same(p, q, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(x), Value::Number(y)) => {
            let (p, q) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (p - q).abs() <= 1e-12 * p.abs().max(q.abs()).max(1.0) {
                Ok(())
            } else {
                Err(format!("{path}: {p} != {q}"))
            }
        }
        (x, y) if x == y => Ok(()),
        (x, y) => Err(format!("{path}: we wrote {x}, the cli sent {y}")),
    }
}

/// Nothing is silently dropped: every `out` line of every fixture is accounted for (a typed
/// message, a control envelope, or `Message::Unknown` with the whole JSON), and each typed message
/// re-serializes to exactly what the CLI sent minus the fields listed in [`NOT_MODELED`].
#[test]
fn known_fields_survive_a_round_trip_exactly() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut seen_not_modeled = std::collections::BTreeSet::new();
    for (name, lines) in fixtures() {
        for (n, line) in lines.iter().enumerate() {
            if line["dir"] != "out" {
                continue;
            }
            let msg = &line["msg"];
            let kind = msg["type"].as_str().unwrap_or_default();
            if kind.starts_with("control_") {
                continue; // routed before any message parsing; see the control tests
            }
            for field in not_modeled(kind) {
                if msg.get(*field).is_some() {
                    seen_not_modeled.insert(format!("{kind}.{field}"));
                }
            }
            let parsed = match Message::from_value(msg.clone()) {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{name}:{}: {kind}: {e}", n + 1));
                    continue;
                }
            };
            if let Message::Unknown(v) = &parsed {
                assert_eq!(v, msg, "{name}: an unknown message is kept whole");
            }
            checked += 1;
            let ours = without_nulls(&parsed.to_value());
            if let Err(e) = same(&ours, &modeled_part(msg), kind) {
                failures.push(format!("{name}:{}: {e}", n + 1));
            }
        }
    }
    assert!(checked >= 250, "{checked} messages checked");
    assert!(
        failures.is_empty(),
        "{} round-trip failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The list does not rot: every top-level field named there really occurs in the fixtures.
    for (kind, fields) in NOT_MODELED {
        if kind.contains('.') {
            continue;
        }
        for field in *fields {
            assert!(
                seen_not_modeled.contains(&format!("{kind}.{field}")),
                "{kind}.{field} is listed as not modeled but never occurs"
            );
        }
    }
}

// ----- What we write: the same requests and answers as the SDK that captured the fixtures -----
//
// The client's serializers are internal, so they are checked end to end: the client runs against
// mock-claude (which logs every stdin line), is asked what the real CLI asked in the fixtures (the
// mock replays the CLI's control requests verbatim), answers with the same decision the capturing
// SDK made, and the line it writes must equal the line in the fixture, request ids aside.

mod support;

use std::collections::BTreeSet;

use serde_json::json;

use support::{bounded, collect, mock, read_log, temp_file};
use tether_claude::{
    ClaudeOptions, HookEvent, HookOutput, PermissionDecision, PermissionMode, SdkMcpServer, Tool,
    ToolOutput, connect,
};

/// Every `in` line of every fixture (what the capturing SDK wrote), and every CLI request paired
/// with the SDK's answer to it.
struct Written {
    lines: Vec<Value>,
    answered: Vec<(String, Value, Value)>,
}

fn written() -> Written {
    let mut lines = Vec::new();
    let mut answered = Vec::new();
    for (name, fixture) in fixtures() {
        let mut asked = std::collections::HashMap::new();
        for line in &fixture {
            let msg = &line["msg"];
            if line["dir"] == "out" && msg["type"] == "control_request" {
                asked.insert(msg["request_id"].as_str().unwrap().to_owned(), msg.clone());
            }
            if line["dir"] == "in" {
                lines.push(msg.clone());
                if msg["type"] == "control_response" {
                    let id = msg["response"]["request_id"].as_str().unwrap();
                    if let Some(request) = asked.get(id) {
                        answered.push((name.clone(), request.clone(), msg.clone()));
                    }
                }
            }
        }
    }
    Written { lines, answered }
}

/// `line` with its request id (where it has one) replaced by `id`.
fn with_request_id(line: &Value, id: &str) -> Value {
    let mut out = line.clone();
    if out.get("request_id").is_some() {
        out["request_id"] = Value::from(id);
    }
    if out["response"].get("request_id").is_some() {
        out["response"]["request_id"] = Value::from(id);
    }
    out
}

/// The lines the client wrote to the mock's stdin, from its log.
fn stdin_lines(log: &std::path::Path) -> Vec<Value> {
    read_log(&log.to_path_buf())
        .into_iter()
        .filter(|e| e["event"] == "stdin")
        .map(|e| e["line"].clone())
        .collect()
}

/// SDK → CLI: user turns, `initialize` (with and without hooks), `interrupt`, `set_model`,
/// `set_permission_mode` — each line the client writes is one the capturing SDK wrote too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_requests_and_user_lines_match_what_the_sdk_wrote() {
    let fixture_lines: BTreeSet<String> = written()
        .lines
        .iter()
        .map(|l| with_request_id(l, "ID").to_string())
        .collect();
    // As hooks_all_events.jsonl registered them, in the same order (hook_0 .. hook_7).
    let events = [
        HookEvent::PreToolUse,
        HookEvent::PostToolUse,
        HookEvent::UserPromptSubmit,
        HookEvent::Stop,
        HookEvent::Other("SessionStart".into()),
        HookEvent::Other("SessionEnd".into()),
        HookEvent::Notification,
        HookEvent::PermissionRequest,
    ];
    let mut with_hooks = mock();
    for event in events {
        with_hooks = with_hooks.hook(event, None, |_| async {
            Ok::<_, tether::BoxError>(HookOutput::default())
        });
    }
    let cases: Vec<(&str, ClaudeOptions)> = vec![
        ("no callbacks", mock()),
        ("eight hooks", with_hooks),
        (
            "a Bash hook",
            mock().hook(HookEvent::PreToolUse, Some("Bash"), |_| async {
                Ok::<_, tether::BoxError>(HookOutput::default())
            }),
        ),
    ];
    for (case, options) in cases {
        let log = temp_file("written");
        let options = options
            .env("MOCK_CLAUDE_LOG", log.display().to_string())
            .env(
                "MOCK_CLAUDE_SCRIPT_JSON",
                json!({"auto_hooks": false}).to_string(),
            );
        bounded(connect(options, async |client| {
            collect(client.query("write hello to out.txt").await.unwrap()).await;
            client.interrupt().await.unwrap();
            let _ = client.set_model(Some("claude-sonnet-4-5")).await;
            let _ = client.set_model(None).await;
            let _ = client
                .set_permission_mode(PermissionMode::AcceptEdits)
                .await;
            let _ = client
                .set_permission_mode(PermissionMode::Other("bogusMode".into()))
                .await;
            let _ = client
                .set_permission_mode(PermissionMode::BypassPermissions)
                .await;
        }))
        .await
        .unwrap();
        let ours: Vec<Value> = stdin_lines(&log)
            .into_iter()
            .filter(|l| l["type"] != "control_response")
            .collect();
        let _ = std::fs::remove_file(&log);
        assert_eq!(ours.len(), 8, "{case}: {ours:?}");
        for line in ours {
            let key = with_request_id(&line, "ID").to_string();
            assert!(
                fixture_lines.contains(&key),
                "{case}: we wrote {line}, which the SDK that talked to the real CLI never wrote"
            );
        }
    }
}

/// The capturing SDK's decision for a `can_use_tool` request, as our callback's answer.
fn permission_answer(request: &Value, answer: &Value) -> Result<PermissionDecision, String> {
    let response = &answer["response"];
    if response["subtype"] == "error" {
        return Err(response["error"].as_str().unwrap().to_owned());
    }
    let r = &response["response"];
    Ok(match r["behavior"].as_str().unwrap() {
        "allow" if r["updatedInput"] == request["request"]["input"] => PermissionDecision::allow(),
        "allow" => PermissionDecision::allow_with_input(r["updatedInput"].clone()),
        _ => PermissionDecision::deny(r["message"].as_str().unwrap())
            .interrupt(r["interrupt"] == true),
    })
}

/// CLI → SDK: every `can_use_tool`, `hook_callback` and `mcp_message` the real CLI sent in the
/// fixtures, replayed to the client; given the capturing SDK's decision, the reply the client
/// writes equals the SDK's reply. One documented difference: our in-process MCP server answers
/// MCP `initialize` with its own protocol version (`2024-11-05`) where the capturing SDK echoed
/// the CLI's (`2025-11-25`); the real CLI accepts both (tests/real_cli.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_replies_to_the_clis_requests_match_what_the_sdk_wrote() {
    let answered = written().answered;
    let mut subtypes = BTreeSet::new();
    for (name, request, answer) in &answered {
        let subtype = request["request"]["subtype"].as_str().unwrap().to_owned();
        let mut replayed = request["request"].clone();
        let mut options = mock();
        match subtype.as_str() {
            "can_use_tool" => {
                let decision = permission_answer(request, answer);
                options = options.can_use_tool(move |_| {
                    let d = decision.clone();
                    async move { d }
                });
            }
            "hook_callback" => {
                // One hook, so the replayed request names it.
                replayed["callback_id"] = json!("hook_0");
                let response = &answer["response"];
                let output: Result<HookOutput, String> = if response["subtype"] == "error" {
                    Err(response["error"].as_str().unwrap().to_owned())
                } else {
                    Ok(serde_json::from_value(response["response"].clone()).unwrap())
                };
                options = options.hook(HookEvent::PreToolUse, None, move |_| {
                    let o = output.clone();
                    async move { o }
                });
            }
            "mcp_message" => {
                // The tool as the capturing SDK listed it.
                let add = Tool::new(
                    "add",
                    "Add two numbers",
                    json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
                    |args: Value| async move {
                        let sum = args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0);
                        Ok::<_, tether::BoxError>(ToolOutput::text(sum.to_string()))
                    },
                );
                options = options.mcp_server(SdkMcpServer::new("sdk-tools").tool(add));
            }
            other => panic!("{name}: a CLI request of subtype {other} the SDK answered"),
        }
        subtypes.insert(subtype.clone());
        let log = temp_file("replay");
        let script = json!({"auto_hooks": false, "turns": [{"steps": [
            {"type": "control_request", "request": replayed, "wait": true},
            {"type": "text", "text": "ok"}
        ]}]});
        let options = options
            .env("MOCK_CLAUDE_LOG", log.display().to_string())
            .env("MOCK_CLAUDE_SCRIPT_JSON", script.to_string());
        bounded(connect(options, async |client| {
            collect(client.query("go").await.unwrap()).await
        }))
        .await
        .unwrap();
        let entries = read_log(&log);
        let _ = std::fs::remove_file(&log);
        let sent_id = entries
            .iter()
            .rev()
            .find(|e| e["event"] == "control_request_sent" && e["request"] == replayed)
            .and_then(|e| e["request_id"].as_str())
            .unwrap_or_else(|| panic!("{name}: the mock replayed {replayed}"))
            .to_owned();
        let ours = entries
            .iter()
            .filter(|e| e["event"] == "stdin")
            .map(|e| e["line"].clone())
            .find(|l| l["type"] == "control_response" && l["response"]["request_id"] == sent_id)
            .unwrap_or_else(|| panic!("{name}: the client answered {replayed}"));
        let theirs_id = answer["response"]["request_id"].as_str().unwrap();
        let mut ours = with_request_id(&ours, theirs_id);
        let mut theirs = answer.clone();
        if replayed["message"]["method"] == "initialize" {
            for v in [&mut ours, &mut theirs] {
                v["response"]["response"]["mcp_response"]["result"]["protocolVersion"] =
                    json!("(ours differs, see above)");
            }
        }
        if let Err(e) = same(&ours, &theirs, name) {
            panic!(
                "{name}: our reply to {replayed} differs from the SDK's: {e}\nours:   {ours}\ntheirs: {theirs}"
            );
        }
    }
    assert_eq!(
        subtypes.into_iter().collect::<Vec<_>>(),
        ["can_use_tool", "hook_callback", "mcp_message"]
    );
    assert!(answered.len() >= 30, "{} replies compared", answered.len());
}
