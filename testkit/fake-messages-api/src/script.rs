//! What a test scripts: the replies the fake gives, in order.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One content block of a scripted assistant reply.
///
/// Serialized the way the Messages API spells blocks (`{"type":"text","text":…}`,
/// `{"type":"tool_use","id":…,"name":…,"input":…}`), so a script can be written as JSON.
///
/// # Examples
///
/// ```
/// use fake_messages_api::Block;
/// use serde_json::json;
///
/// let block = Block::tool_use("toolu_01", "Bash", json!({"command": "echo hi"}));
/// assert_eq!(
///     serde_json::to_value(&block).unwrap(),
///     json!({"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "echo hi"}})
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Block {
    /// Plain text, streamed as `text_delta`s of one word each.
    Text {
        /// The text.
        text: String,
    },
    /// A tool call, streamed as `input_json_delta`s of the serialized input. The CLI runs the tool
    /// (asking permission first when it has to) and sends the `tool_result` in its next request.
    ToolUse {
        /// The tool-use id the CLI echoes back in its `tool_result` (`toolu_…`).
        id: String,
        /// The tool's name as the CLI knows it (`Bash`, `mcp__server__tool`, …).
        name: String,
        /// The tool's input object.
        input: Value,
    },
    /// Extended thinking, streamed as `thinking_delta`s then one `signature_delta`.
    Thinking {
        /// The thinking text.
        thinking: String,
        /// The opaque signature (any string: nothing checks it here).
        signature: String,
    },
}

impl Block {
    /// A text block.
    ///
    /// # Examples
    ///
    /// ```
    /// let block = fake_messages_api::Block::text("hello");
    /// assert!(matches!(block, fake_messages_api::Block::Text { .. }));
    /// ```
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// A `tool_use` block.
    ///
    /// # Examples
    ///
    /// ```
    /// let block = fake_messages_api::Block::tool_use("toolu_1", "Read", serde_json::json!({"file_path": "/x"}));
    /// assert!(matches!(block, fake_messages_api::Block::ToolUse { .. }));
    /// ```
    pub fn tool_use(id: impl Into<String>, name: impl Into<String>, input: Value) -> Self {
        Self::ToolUse {
            id: id.into(),
            name: name.into(),
            input,
        }
    }
}

/// An error the fake answers instead of a message, as the real API shapes it:
/// `{"type":"error","error":{"type":…,"message":…}}` with the given HTTP status.
///
/// # Examples
///
/// ```
/// let error = fake_messages_api::ApiError::new(401, "authentication_error", "invalid x-api-key");
/// assert_eq!(error.status, 401);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status (400, 401, 429, 500, 529, …).
    pub status: u16,
    /// The error type (`invalid_request_error`, `overloaded_error`, …).
    #[serde(rename = "type")]
    pub error_type: String,
    /// The human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error reply with this status, type and message.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = fake_messages_api::ApiError::new(529, "overloaded_error", "overloaded");
    /// assert_eq!(error.error_type, "overloaded_error");
    /// ```
    pub fn new(status: u16, error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

/// One scripted answer to one `POST /v1/messages`.
///
/// The fake keeps a FIFO queue of replies; each messages request takes the next one, and an empty
/// queue gives the default reply (see [`Reply::default_for`]). Streamed requests (`"stream": true`,
/// which is what the CLI always sends) get server-sent events; others get one JSON message.
///
/// As JSON (for the binary's `--script` file or `POST /_fake/replies`):
/// `{"blocks":[{"type":"text","text":"hi"}],"stop_reason":null,"delta_delay_ms":0,"stall":false}` or
/// `{"error":{"status":400,"type":"invalid_request_error","message":"…"}}`. Every field is optional.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fake_messages_api::{Block, Reply};
///
/// // A text answer that streams one word every 50 ms.
/// let slow = Reply::text("a long story").with_delta_delay(Duration::from_millis(50));
/// assert_eq!(slow.stop_reason(), "end_turn");
///
/// // Text, then a tool call: the stop reason becomes `tool_use`.
/// let tool = Reply::blocks([
///     Block::text("Let me check."),
///     Block::tool_use("toolu_01", "Bash", serde_json::json!({"command": "ls"})),
/// ]);
/// assert_eq!(tool.stop_reason(), "tool_use");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    /// The content blocks, in order.
    pub blocks: Vec<Block>,
    /// The stop reason sent in `message_delta`; `None` means `tool_use` if a block is a tool call,
    /// else `end_turn`.
    pub stop_reason: Option<String>,
    /// Pause before each content delta, in milliseconds (to make a turn slow enough to interrupt).
    pub delta_delay_ms: u64,
    /// After the first content delta, send nothing more and keep the response open until the client
    /// goes away. The deterministic way to catch the CLI mid-stream (interrupt, kill, EOF tests).
    pub stall: bool,
    /// If set, answer this error instead of a message.
    pub error: Option<ApiError>,
}

impl Reply {
    /// A reply made of these blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let reply = fake_messages_api::Reply::blocks([fake_messages_api::Block::text("hi")]);
    /// assert_eq!(reply.blocks.len(), 1);
    /// ```
    pub fn blocks(blocks: impl IntoIterator<Item = Block>) -> Self {
        Self {
            blocks: blocks.into_iter().collect(),
            ..Self::default()
        }
    }

    /// A reply of one text block.
    ///
    /// # Examples
    ///
    /// ```
    /// let reply = fake_messages_api::Reply::text("hello");
    /// assert_eq!(reply.stop_reason(), "end_turn");
    /// ```
    pub fn text(text: impl Into<String>) -> Self {
        Self::blocks([Block::text(text)])
    }

    /// A reply of one `tool_use` block (stop reason `tool_use`).
    ///
    /// # Examples
    ///
    /// ```
    /// let reply = fake_messages_api::Reply::tool_use("toolu_1", "Bash", serde_json::json!({"command": "true"}));
    /// assert_eq!(reply.stop_reason(), "tool_use");
    /// ```
    pub fn tool_use(id: impl Into<String>, name: impl Into<String>, input: Value) -> Self {
        Self::blocks([Block::tool_use(id, name, input)])
    }

    /// An error reply (no message is streamed).
    ///
    /// Note that the CLI retries some errors by itself: a 400 is retried with fewer
    /// `anthropic-beta` values, and 429/5xx with backoff, so one scripted error may be followed by
    /// further requests that take the next replies.
    ///
    /// # Examples
    ///
    /// ```
    /// use fake_messages_api::{ApiError, Reply};
    /// let reply = Reply::error(ApiError::new(401, "authentication_error", "invalid x-api-key"));
    /// assert!(reply.error.is_some());
    /// ```
    pub fn error(error: ApiError) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }

    /// The same reply with a pause before each content delta.
    ///
    /// # Examples
    ///
    /// ```
    /// let reply = fake_messages_api::Reply::text("slow").with_delta_delay(std::time::Duration::from_millis(20));
    /// assert_eq!(reply.delta_delay_ms, 20);
    /// ```
    #[must_use]
    pub fn with_delta_delay(mut self, delay: Duration) -> Self {
        self.delta_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// The same reply, but the stream stops after its first content delta and stays open until the
    /// client disconnects (see [`Reply::stall`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let reply = fake_messages_api::Reply::text("never finishes").stalling();
    /// assert!(reply.stall);
    /// ```
    #[must_use]
    pub fn stalling(mut self) -> Self {
        self.stall = true;
        self
    }

    /// The same reply with this stop reason (`end_turn`, `tool_use`, `max_tokens`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// let reply = fake_messages_api::Reply::text("cut").with_stop_reason("max_tokens");
    /// assert_eq!(reply.stop_reason(), "max_tokens");
    /// ```
    #[must_use]
    pub fn with_stop_reason(mut self, stop_reason: impl Into<String>) -> Self {
        self.stop_reason = Some(stop_reason.into());
        self
    }

    /// The stop reason this reply sends: the scripted one, else `tool_use` when a block is a tool
    /// call, else `end_turn`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(fake_messages_api::Reply::text("x").stop_reason(), "end_turn");
    /// ```
    pub fn stop_reason(&self) -> &str {
        match &self.stop_reason {
            Some(reason) => reason,
            None if self
                .blocks
                .iter()
                .any(|b| matches!(b, Block::ToolUse { .. })) =>
            {
                "tool_use"
            }
            None => "end_turn",
        }
    }

    /// The reply the fake gives when the script is empty: one text block `echo: <text>`, where
    /// `<text>` is the last plain text of the last user message in the request (skipping the CLI's
    /// `<system-reminder>` blocks), or `tool_result: <content>` when that message carries a tool
    /// result, or `echo: (nothing)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fake_messages_api::{Block, Reply};
    /// let request = serde_json::json!({"messages": [{"role": "user", "content": "hi"}]});
    /// assert_eq!(Reply::default_for(&request).blocks, vec![Block::text("echo: hi")]);
    /// ```
    pub fn default_for(request: &Value) -> Self {
        Self::text(default_text(request))
    }
}

fn default_text(request: &Value) -> String {
    let last_user = request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|messages| {
            messages
                .iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        });
    let Some(content) = last_user.and_then(|m| m.get("content")) else {
        return "echo: (nothing)".to_owned();
    };
    if let Some(text) = content.as_str() {
        return format!("echo: {text}");
    }
    let blocks = content.as_array().map(Vec::as_slice).unwrap_or_default();
    if let Some(result) = blocks
        .iter()
        .rev()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
    {
        return format!("tool_result: {}", flatten_content(result.get("content")));
    }
    blocks
        .iter()
        .rev()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .find(|t| !t.starts_with("<system-reminder>"))
        .map_or_else(|| "echo: (nothing)".to_owned(), |t| format!("echo: {t}"))
}

/// A tool result's content as one string: a string as is, text blocks joined.
fn flatten_content(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}
