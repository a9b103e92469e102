//! The script format: what the mock agent does, turn by turn.
//!
//! A [`Script`] is read from JSON (`MOCK_CLAUDE_SCRIPT=<file>` or `MOCK_CLAUDE_SCRIPT_JSON=<json>`) or
//! built from a scenario name (`MOCK_CLAUDE_SCENARIO`, see [`crate::scenario`]). The types here are the
//! same ones the binary deserializes, so a test can build a script in Rust, serialize it with
//! `serde_json`, and hand it over in the environment.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the mock agent does for one whole process lifetime.
///
/// Every field has a default, so `{}` is a valid script (every turn echoes its prompt).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Script {
    /// Delay before the agent reads its first input line (simulates a slow start).
    pub startup_delay_ms: u64,
    /// Steps run once after the startup delay, before any input is read (e.g. a crash at startup).
    pub on_start: Vec<Step>,
    /// Keep running after stdin reaches end-of-file (the agent then only ends by a signal or a step).
    pub ignore_eof: bool,
    /// Install a SIGTERM handler that ignores the signal (only SIGKILL ends the process).
    pub ignore_sigterm: bool,
    /// Install a SIGINT handler that ignores the signal.
    pub ignore_sigint: bool,
    /// Exit code on end-of-input. Default: 0, or 1 when the last result was an error (as the real
    /// CLI does).
    pub exit_code: Option<i32>,
    /// The session id to report. Default: `--session-id=`, else `--resume=` (unless
    /// `--fork-session`), else a fresh UUID.
    pub session_id: Option<String>,
    /// The model to report. Default: `--model`, else `claude-sonnet-4-5`.
    pub model: Option<String>,
    /// Fire the hooks the client registered at `initialize` on their natural events
    /// (`UserPromptSubmit`, `PreToolUse`, `PostToolUse`, `Stop`). Default: true.
    pub auto_hooks: Option<bool>,
    /// With `--resume`: behave like the real CLI given an unknown session id. After the first input
    /// line it writes `No conversation found with session ID: <id>` to stderr and a `result` with
    /// `subtype: "error_during_execution"`, `num_turns: 0`, `errors: [...]`, never answers
    /// `initialize`, and exits 1.
    pub missing_session: bool,
    /// Fields merged into the `result` of an interrupted turn (override the defaults).
    pub interrupt_result: Map<String, Value>,
    /// The turns, in order: the n-th `user` message runs `turns[n]`.
    pub turns: Vec<Turn>,
    /// The turn used once `turns` is exhausted. Default: one `echo` step.
    pub default_turn: Option<Turn>,
}

/// One turn: the steps run after a `user` message, then the `result`, then `after_result` steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Turn {
    /// Steps run in order; an `interrupt` control request stops them between or inside steps.
    pub steps: Vec<Step>,
    /// Fields merged into this turn's `result` message (e.g. `{"subtype":"error_max_turns"}`).
    pub result: Map<String, Value>,
    /// Steps run after the `result` is written (e.g. control requests after the result).
    pub after_result: Vec<Step>,
}

/// Whether a tool call asks the client for permission (`can_use_tool`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Like the real CLI: ask when `--permission-prompt-tool stdio` was given, unless the tool is in
    /// `--allowedTools`, the mode is `bypassPermissions`, or a `PreToolUse` hook decided; without a
    /// prompt tool, a tool that is not allowed is denied.
    #[default]
    Auto,
    /// Always send `can_use_tool`.
    Ask,
    /// Never ask: run the tool.
    Allow,
}

/// One step of a turn. Serialized with a `"type"` tag, e.g. `{"type":"text","text":"hi"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// An assistant message with one text block.
    Text {
        /// The text.
        text: String,
    },
    /// An assistant text message repeating the turn's prompt, after `prefix`.
    Echo {
        /// Written before the prompt.
        #[serde(default)]
        prefix: String,
    },
    /// An assistant message with one thinking block.
    Thinking {
        /// The thinking text.
        thinking: String,
        /// The block's signature.
        #[serde(default = "default_signature")]
        signature: String,
    },
    /// A tool call: assistant `tool_use`, `PreToolUse` hooks, permission, `PostToolUse` hooks, then a
    /// `user` message with the `tool_result`.
    ToolUse {
        /// Tool name, e.g. `Bash`.
        name: String,
        /// Tool input.
        #[serde(default = "empty_object")]
        input: Value,
        /// The `tool_use` id (default: a fresh `toolu_…` id).
        #[serde(default)]
        id: Option<String>,
        /// Whether to ask for permission.
        #[serde(default)]
        permission: Permission,
        /// The tool result content (default: a text naming the tool and the input it ran with, which
        /// shows a rewritten `updatedInput`).
        #[serde(default)]
        output: Option<Value>,
        /// Mark the tool result as an error.
        #[serde(default)]
        is_error: bool,
    },
    /// Call a tool of an in-process (`"type":"sdk"`) MCP server named in `--mcp-config`, through
    /// `mcp_message` control requests (`initialize`, `tools/list` once per server, then `tools/call`).
    McpTool {
        /// The server name (key in `mcpServers`).
        server: String,
        /// The tool name (default: the first tool from `tools/list`).
        #[serde(default)]
        tool: Option<String>,
        /// The tool arguments.
        #[serde(default = "empty_object")]
        arguments: Value,
        /// Whether to ask for permission (tool name `mcp__<server>__<tool>`).
        #[serde(default)]
        permission: Permission,
    },
    /// Send `hook_callback` for every callback the client registered for `event` (matching
    /// `tool_name` when given), and wait for each reply.
    Hook {
        /// Hook event name, e.g. `PreToolUse`, `Notification`.
        event: String,
        /// Extra fields merged into the hook input.
        #[serde(default)]
        input: Map<String, Value>,
        /// Tool name for matcher matching.
        #[serde(default)]
        tool_name: Option<String>,
        /// Send to this callback id even if it was not registered.
        #[serde(default)]
        callback_id: Option<String>,
    },
    /// `count` small assistant text messages, written as fast as the pipe takes them.
    Messages {
        /// How many.
        count: u64,
        /// The text of each (default `"m"`); `{i}` is replaced by the index.
        #[serde(default = "default_small_text")]
        text: String,
    },
    /// One assistant message whose text block is `bytes` bytes of `x` (one huge line).
    Huge {
        /// Size of the text in bytes.
        bytes: u64,
    },
    /// Sleep (an interrupt cuts it short).
    Sleep {
        /// Milliseconds.
        ms: u64,
    },
    /// Stream `text` in `chunks` pieces, `chunk_ms` apart (as `stream_event` deltas when
    /// `--include-partial-messages`), then the assistant message. An interrupt cuts it short.
    SlowText {
        /// The full text.
        text: String,
        /// Number of pieces.
        #[serde(default = "default_chunks")]
        chunks: u64,
        /// Delay between pieces.
        #[serde(default = "default_chunk_ms")]
        chunk_ms: u64,
    },
    /// Write `stderr` to stderr and exit at once with `code` (a crash mid-turn).
    Crash {
        /// Text written to stderr.
        #[serde(default)]
        stderr: String,
        /// Exit code.
        #[serde(default = "default_crash_code")]
        code: i32,
    },
    /// Send an arbitrary control request (`request` is the `request` object, with its `subtype`);
    /// with `wait`, wait for the reply.
    ControlRequest {
        /// The request body.
        request: Value,
        /// Wait for the reply.
        #[serde(default = "yes")]
        wait: bool,
    },
    /// Send `can_use_tool`, then after `cancel_after_ms` (or at once if 0) send
    /// `control_cancel_request` for it, and go on as if the tool had been denied.
    CancelledPermission {
        /// Tool name.
        name: String,
        /// Tool input.
        #[serde(default = "empty_object")]
        input: Value,
        /// Delay before the cancel.
        #[serde(default)]
        cancel_after_ms: u64,
    },
    /// Write one line verbatim: a JSON string is written as is (so it can be non-JSON), anything
    /// else is serialized.
    Raw {
        /// The line.
        line: Value,
    },
    /// End the turn the way the real CLI does when the API call fails for good: a synthetic
    /// assistant message (`model: "<synthetic>"`, `error`, `is_api_error_message: true`) and a
    /// `result` with `subtype: "success"` but `is_error: true`, `terminal_reason: "api_error"`.
    ApiError {
        /// HTTP status (`api_error_status`).
        #[serde(default = "default_api_status")]
        status: u16,
        /// The assistant message's `error` field.
        #[serde(default = "default_api_error")]
        error: String,
        /// The text of the synthetic message and the result.
        #[serde(default = "default_api_message")]
        message: String,
    },
    /// (In `after_result`.) After `delay_ms`, run a whole turn the client did not ask for (as the
    /// real CLI does when a background subagent finishes): `system/init`, the steps, a `result`.
    /// It runs even after stdin EOF.
    BackgroundTurn {
        /// Delay before the turn starts.
        #[serde(default)]
        delay_ms: u64,
        /// The turn's steps.
        steps: Vec<Step>,
    },
    /// Write text to stderr.
    Stderr {
        /// The text (a newline is added).
        text: String,
    },
    /// Exit at once with `code` (no result).
    Exit {
        /// Exit code.
        #[serde(default)]
        code: i32,
    },
}

fn default_signature() -> String {
    "mock-signature".to_owned()
}
fn empty_object() -> Value {
    Value::Object(Map::new())
}
fn default_small_text() -> String {
    "m".to_owned()
}
fn default_chunks() -> u64 {
    10
}
fn default_chunk_ms() -> u64 {
    50
}
fn default_crash_code() -> i32 {
    1
}
fn default_api_status() -> u16 {
    401
}
fn default_api_error() -> String {
    "authentication_failed".to_owned()
}
fn default_api_message() -> String {
    "Invalid API key · Fix external API key".to_owned()
}
fn yes() -> bool {
    true
}

impl Script {
    /// The turn the `index`-th (0-based) user message runs.
    pub fn turn(&self, index: usize) -> Turn {
        self.turns
            .get(index)
            .or(self.default_turn.as_ref())
            .cloned()
            .unwrap_or_else(|| Turn {
                steps: vec![Step::Echo {
                    prefix: String::new(),
                }],
                ..Turn::default()
            })
    }

    /// A script whose every turn runs `steps`.
    pub fn every_turn(steps: Vec<Step>) -> Self {
        Script {
            default_turn: Some(Turn {
                steps,
                ..Turn::default()
            }),
            ..Script::default()
        }
    }
}
