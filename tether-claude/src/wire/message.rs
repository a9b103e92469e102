//! The messages the CLI writes on stdout (everything but control traffic).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::content::{ContentBlock, UserContent};
use crate::error::Error;

/// One message from the CLI.
///
/// Unknown message types are kept whole as [`Message::Unknown`] (newer CLIs add types; an
/// older SDK must not crash on them). Unknown fields of known types are ignored.
///
/// # Examples
///
/// ```
/// use tether_claude::Message;
///
/// let m = Message::from_json(r#"{"type":"result","subtype":"success","is_error":false,
///     "duration_ms":5,"duration_api_ms":4,"num_turns":1,"session_id":"s","result":"hi"}"#).unwrap();
/// let Message::Result(r) = m else { panic!() };
/// assert_eq!(r.result.as_deref(), Some("hi"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// `system`: `init` first, then others (`task_started`, `hook_response`, ...).
    System(SystemMessage),
    /// `assistant`: the model's output.
    Assistant(AssistantMessage),
    /// `user`: the prompt echoed back, or tool results.
    User(UserMessage),
    /// `result`: the end of a turn, with cost and usage.
    Result(ResultMessage),
    /// `stream_event`: a partial-message event (with `include_partial_messages`).
    StreamEvent(StreamEvent),
    /// `rate_limit_event`.
    RateLimit(RateLimitEvent),
    /// Any other type, as the CLI sent it.
    Unknown(Value),
}

impl Message {
    /// Parses one line of the CLI's output.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the text is not JSON, or is a known type with a missing or
    /// mistyped field.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = tether_claude::Message::from_json(r#"{"type":"future_kind","x":1}"#).unwrap();
    /// assert!(matches!(m, tether_claude::Message::Unknown(_)));
    /// assert!(tether_claude::Message::from_json("not json").is_err());
    /// ```
    pub fn from_json(text: &str) -> Result<Message, Error> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Decode {
            kind: "(not json)".into(),
            message: e.to_string(),
        })?;
        Message::from_value(value)
    }

    /// Parses a message straight from the bytes of one line whose `type` is already known
    /// (no intermediate `Value` for the known types: the reader's hot path).
    pub(crate) fn from_slice_of_kind(kind: &str, bytes: &[u8]) -> Result<Message, Error> {
        fn de<'a, T: serde::Deserialize<'a>>(kind: &str, b: &'a [u8]) -> Result<T, Error> {
            serde_json::from_slice(b).map_err(|e| Error::Decode {
                kind: kind.to_string(),
                message: e.to_string(),
            })
        }
        Ok(match kind {
            "system" => Message::System(de(kind, bytes)?),
            "assistant" => Message::Assistant(de(kind, bytes)?),
            "user" => Message::User(de(kind, bytes)?),
            "result" => Message::Result(de(kind, bytes)?),
            "stream_event" => Message::StreamEvent(de(kind, bytes)?),
            "rate_limit_event" => Message::RateLimit(de(kind, bytes)?),
            _ => Message::Unknown(de(kind, bytes)?),
        })
    }

    /// Reads a message from parsed JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] for a known type with a missing or mistyped field.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = serde_json::json!({"type": "system", "subtype": "init", "session_id": "s"});
    /// let m = tether_claude::Message::from_value(v).unwrap();
    /// assert!(matches!(m, tether_claude::Message::System(_)));
    /// ```
    pub fn from_value(value: Value) -> Result<Message, Error> {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        fn de<T: serde::de::DeserializeOwned>(kind: &str, v: Value) -> Result<T, Error> {
            serde_json::from_value(v).map_err(|e| Error::Decode {
                kind: kind.to_string(),
                message: e.to_string(),
            })
        }
        Ok(match kind.as_str() {
            "system" => Message::System(de(&kind, value)?),
            "assistant" => Message::Assistant(de(&kind, value)?),
            "user" => Message::User(de(&kind, value)?),
            "result" => Message::Result(de(&kind, value)?),
            "stream_event" => Message::StreamEvent(de(&kind, value)?),
            "rate_limit_event" => Message::RateLimit(de(&kind, value)?),
            _ => Message::Unknown(value),
        })
    }

    /// The message as JSON, with its `type` field (unknown fields that were ignored on the way
    /// in are not restored).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = tether_claude::Message::from_json(r#"{"type":"system","subtype":"init","x":1}"#).unwrap();
    /// assert_eq!(m.to_value()["type"], "system");
    /// assert_eq!(m.to_value()["x"], 1);
    /// ```
    pub fn to_value(&self) -> Value {
        fn with_type<T: Serialize>(kind: &str, m: &T) -> Value {
            let mut v = serde_json::to_value(m).expect("message types serialize");
            if let Value::Object(map) = &mut v {
                map.insert("type".into(), Value::String(kind.into()));
            }
            v
        }
        match self {
            Message::System(m) => with_type("system", m),
            Message::Assistant(m) => with_type("assistant", m),
            Message::User(m) => with_type("user", m),
            Message::Result(m) => with_type("result", m),
            Message::StreamEvent(m) => with_type("stream_event", m),
            Message::RateLimit(m) => with_type("rate_limit_event", m),
            Message::Unknown(v) => v.clone(),
        }
    }

    /// Whether this is the `result` that ends a turn.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = tether_claude::Message::from_json(r#"{"type":"result","subtype":"success"}"#).unwrap();
    /// assert!(m.is_result());
    /// ```
    pub fn is_result(&self) -> bool {
        matches!(self, Message::Result(_))
    }

    /// The text of an assistant message's text blocks, joined; `None` for other messages.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = tether_claude::Message::from_json(
    ///     r#"{"type":"assistant","message":{"model":"m","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}"#,
    /// ).unwrap();
    /// assert_eq!(m.text().as_deref(), Some("ab"));
    /// ```
    pub fn text(&self) -> Option<String> {
        match self {
            Message::Assistant(a) => Some(
                a.message
                    .content
                    .iter()
                    .filter_map(|b| match b {
                        ContentBlock::Text { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(""),
            ),
            _ => None,
        }
    }
}

/// A `system` message. Its fields vary by subtype, so all of them are kept in
/// [`data`](Self::data); [`init`](Self::init) reads the `init` subtype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SystemMessage {
    /// `init`, `task_started`, `hook_response`, `compact_boundary`, ...
    pub subtype: String,
    /// Every other field.
    #[serde(flatten)]
    pub data: Map<String, Value>,
}

/// The `system`/`init` message's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SystemInit {
    /// The session id.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The model.
    #[serde(default)]
    pub model: Option<String>,
    /// The tools available.
    #[serde(default)]
    pub tools: Vec<String>,
    /// MCP servers and their status.
    #[serde(default)]
    pub mcp_servers: Vec<Value>,
    /// The permission mode.
    #[serde(default, rename = "permissionMode")]
    pub permission_mode: Option<String>,
    /// Slash commands.
    #[serde(default)]
    pub slash_commands: Vec<String>,
    /// The working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// The CLI version.
    #[serde(default)]
    pub claude_code_version: Option<String>,
}

impl SystemMessage {
    /// The `init` fields, for the `init` subtype.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether_claude::Message;
    ///
    /// let m = Message::from_json(r#"{"type":"system","subtype":"init","session_id":"s","tools":["Bash"]}"#).unwrap();
    /// let Message::System(s) = m else { unreachable!() };
    /// assert_eq!(s.init().unwrap().tools, ["Bash"]);
    /// ```
    pub fn init(&self) -> Option<SystemInit> {
        if self.subtype != "init" {
            return None;
        }
        serde_json::from_value(Value::Object(self.data.clone())).ok()
    }

    /// The session id, if the message has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether_claude::Message;
    ///
    /// let m = Message::from_json(r#"{"type":"system","subtype":"init","session_id":"s1"}"#).unwrap();
    /// let Message::System(s) = m else { unreachable!() };
    /// assert_eq!(s.session_id(), Some("s1"));
    /// ```
    pub fn session_id(&self) -> Option<&str> {
        self.data.get("session_id").and_then(Value::as_str)
    }
}

/// An `assistant` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssistantMessage {
    /// The API message.
    pub message: AssistantBody,
    /// The tool use this belongs to, for a subagent's messages.
    #[serde(default)]
    pub parent_tool_use_id: Option<String>,
    /// The session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The message's uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// An API error (`authentication_failed`, `rate_limit`, ...), if the turn failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The turn was interrupted while this message streamed: its content is the part
    /// streamed so far (the CLI's top-level `"aborted": true`; absent means `false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aborted: bool,
}

/// The API message inside an [`AssistantMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssistantBody {
    /// The model that wrote it.
    #[serde(default)]
    pub model: String,
    /// The API message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `"assistant"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The blocks.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    /// Why the model stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
}

/// A `user` message (the prompt echoed back, or tool results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserMessage {
    /// The API message.
    pub message: UserBody,
    /// The tool use this belongs to, for a subagent's messages.
    #[serde(default)]
    pub parent_tool_use_id: Option<String>,
    /// The session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The message's uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The tool's structured result, for tool-result messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_result: Option<Value>,
}

/// The API message inside a [`UserMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserBody {
    /// `"user"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A string or blocks.
    pub content: UserContent,
}

/// A `result` message: the end of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResultMessage {
    /// `success`, `error_max_turns`, `error_during_execution`, `error_max_budget_usd`, ...
    pub subtype: String,
    /// Whether the turn failed.
    #[serde(default)]
    pub is_error: bool,
    /// Wall time of the turn.
    #[serde(default)]
    pub duration_ms: u64,
    /// Time spent in the API.
    #[serde(default)]
    pub duration_api_ms: u64,
    /// How many agent turns ran.
    #[serde(default)]
    pub num_turns: u32,
    /// The session id.
    #[serde(default)]
    pub session_id: String,
    /// The cost so far, in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_usd: Option<f64>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    /// The final text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The structured output (with a JSON schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_output: Option<Value>,
    /// Usage per model.
    #[serde(
        default,
        rename = "modelUsage",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_usage: Option<Value>,
    /// The tool uses that were denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_denials: Option<Vec<Value>>,
    /// Why the turn ended (`aborted_streaming` when interrupted, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_reason: Option<String>,
    /// The API stop reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Error texts, for error subtypes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Value>>,
    /// The message's uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The HTTP status of the API error that ended the turn (`401` for a bad key, ...), when
    /// the turn ended on one (`terminal_reason == Some("api_error")`); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_error_status: Option<u16>,
    /// The number of this result in the session, from 0: one per turn, so a client that queued
    /// turns can match each result to its turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_index: Option<u64>,
}

/// A `stream_event`: one raw API streaming event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamEvent {
    /// The event's uuid.
    #[serde(default)]
    pub uuid: String,
    /// The session id.
    #[serde(default)]
    pub session_id: String,
    /// The API event (`message_start`, `content_block_delta`, ...).
    pub event: Value,
    /// The tool use this belongs to, for a subagent's events.
    #[serde(default)]
    pub parent_tool_use_id: Option<String>,
}

/// A `rate_limit_event`. Its fields are kept as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitEvent {
    /// Every field but `type`.
    #[serde(flatten)]
    pub data: Map<String, Value>,
}
