//! Builders for the messages the CLI writes, in the shapes captured from CLI 2.1.330
//! (`/work/notes/real-cli-protocol.md`; fixtures on the `realcli` branch).

use serde_json::{Map, Value, json};

use super::io::{short_id, uuid};

/// Milliseconds-precision UTC timestamp like `2026-11-22T03:01:47.046Z`.
pub(crate) fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let millis = now.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
}

pub(crate) fn message_id() -> String {
    short_id("msg_")
}

pub(crate) fn tool_use_id() -> String {
    short_id("toolu_")
}

pub(crate) fn assistant(session: &str, model: &str, msg_id: &str, block: Value) -> Value {
    json!({
        "type": "assistant",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1},
            "context_management": null,
        },
        "parent_tool_use_id": null,
        "session_id": session,
        "uuid": uuid(),
        "timestamp": timestamp(),
    })
}

pub(crate) fn user_text(session: &str, text: &str) -> Value {
    json!({
        "type": "user",
        "message": {"role": "user", "content": [{"type": "text", "text": text}]},
        "parent_tool_use_id": null,
        "session_id": session,
        "uuid": uuid(),
        "timestamp": timestamp(),
    })
}

pub(crate) fn tool_result(
    session: &str,
    tool_use_id: &str,
    content: Value,
    is_error: bool,
    tool_use_result: Value,
    meta: Value,
) -> Value {
    json!({
        "type": "user",
        "message": {"role": "user", "content": [{
            "tool_use_id": tool_use_id,
            "type": "tool_result",
            "content": content,
            "is_error": is_error,
        }]},
        "parent_tool_use_id": null,
        "session_id": session,
        "uuid": uuid(),
        "timestamp": timestamp(),
        "tool_use_result": tool_use_result,
        "tool_result_meta": [meta],
    })
}

pub(crate) fn stream_event(session: &str, msg_id: &str, event: Value) -> Value {
    json!({
        "type": "stream_event",
        "event": event,
        "session_id": session,
        "parent_tool_use_id": null,
        "uuid": uuid(),
        "api_message_id": msg_id,
    })
}

pub(crate) fn message_start(model: &str, msg_id: &str) -> Value {
    json!({"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1},
    }})
}

pub(crate) fn system(session: &str, subtype: &str, fields: Value) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), "system".into());
    m.insert("subtype".into(), subtype.into());
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    m.insert("uuid".into(), uuid().into());
    m.insert("session_id".into(), session.into());
    Value::Object(m)
}

pub(crate) fn usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
        "output_tokens_details": {"thinking_tokens": 0},
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
        "inference_geo": "",
        "iterations": [],
        "speed": "standard",
    })
}

pub(crate) fn model_usage(model: &str, input: u64, output: u64, cost: f64) -> Value {
    json!({ model: {
        "inputTokens": input,
        "outputTokens": output,
        "cacheReadInputTokens": 0,
        "cacheCreationInputTokens": 0,
        "webSearchRequests": 0,
        "costUSD": cost,
        "contextWindow": 1_000_000,
        "maxOutputTokens": 128_000,
    }})
}

/// The `can_use_tool` tool_result text the real CLI writes when the user denies with interrupt or
/// interrupts a pending permission prompt.
pub(crate) const REJECTED: &str = "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell you how to proceed.";

pub(crate) const DEFAULT_TOOLS: &[&str] = &[
    "Task",
    "AskUserQuestion",
    "Bash",
    "Edit",
    "EnterPlanMode",
    "ExitPlanMode",
    "Glob",
    "Grep",
    "NotebookEdit",
    "Read",
    "Skill",
    "TodoWrite",
    "WebFetch",
    "WebSearch",
    "Write",
];

pub(crate) const PERMISSION_MODES: &[&str] = &[
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "default",
    "dontAsk",
    "plan",
];

/// The initialize response body (trimmed: the real one lists ~50 commands and all models).
pub(crate) fn server_info(mode: &str, model: &str) -> Value {
    json!({
        "commands": [
            {"name": "compact", "description": "Clear conversation history but keep a summary in context", "argumentHint": "", "builtin": true},
            {"name": "review", "description": "Review a pull request", "argumentHint": "", "builtin": true},
        ],
        "agents": [
            {"name": "general-purpose", "description": "General-purpose agent for multi-step tasks"},
            {"name": "Explore", "description": "Fast read-only search agent for locating code"},
        ],
        "output_style": "default",
        "available_output_styles": ["default", "Explanatory", "Learning"],
        "models": [
            {"value": "default", "resolvedModel": model, "displayName": "Default (recommended)", "description": "The mock's default model", "supportsEffort": true},
            {"value": "sonnet", "resolvedModel": "claude-sonnet-4-5", "displayName": "Sonnet", "description": "Sonnet", "supportsEffort": true},
        ],
        "account": {"tokenSource": "none", "apiKeySource": "ANTHROPIC_API_KEY", "apiProvider": "firstParty"},
        "pid": std::process::id(),
        "claude_code_version": mock_claude::CLI_VERSION,
        "current_permission_mode": mode,
        "hooks_applied": true,
        "hook_on_failure_supported": true,
        "session_state": "idle",
        "capabilities": [],
        "fast_mode_state": "off",
        "mock": true,
    })
}
