//! Content blocks of assistant and user messages.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A block of an assistant or user message.
///
/// Block types this crate does not know (images, server tool blocks, newer CLI additions) are
/// kept whole as [`ContentBlock::Unknown`], not dropped and not an error.
///
/// # Examples
///
/// ```
/// use tether_claude::ContentBlock;
///
/// let b: ContentBlock = serde_json::from_str(r#"{"type":"text","text":"hi"}"#).unwrap();
/// assert_eq!(b, ContentBlock::Text { text: "hi".into() });
/// let b: ContentBlock = serde_json::from_str(r#"{"type":"image","source":{}}"#).unwrap();
/// assert!(matches!(b, ContentBlock::Unknown(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ContentBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// Extended thinking.
    Thinking {
        /// The thinking text.
        thinking: String,
        /// Its signature.
        signature: String,
    },
    /// The model calls a tool.
    ToolUse {
        /// The tool use id.
        id: String,
        /// The tool's name.
        name: String,
        /// Its input.
        input: Value,
    },
    /// A tool's result.
    ToolResult {
        /// The tool use it answers.
        tool_use_id: String,
        /// The result: a string or blocks.
        content: Option<Value>,
        /// Whether the tool failed.
        is_error: Option<bool>,
    },
    /// Any other block, as the CLI sent it.
    Unknown(Value),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Known {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
    },
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "text" | "thinking" | "tool_use" | "tool_result") {
            return Ok(ContentBlock::Unknown(value));
        }
        let known: Known = serde_json::from_value(value).map_err(D::Error::custom)?;
        Ok(match known {
            Known::Text { text } => ContentBlock::Text { text },
            Known::Thinking {
                thinking,
                signature,
            } => ContentBlock::Thinking {
                thinking,
                signature,
            },
            Known::ToolUse { id, name, input } => ContentBlock::ToolUse { id, name, input },
            Known::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            },
        })
    }
}

impl Serialize for ContentBlock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let known = match self.clone() {
            ContentBlock::Text { text } => Known::Text { text },
            ContentBlock::Thinking {
                thinking,
                signature,
            } => Known::Thinking {
                thinking,
                signature,
            },
            ContentBlock::ToolUse { id, name, input } => Known::ToolUse { id, name, input },
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => Known::ToolResult {
                tool_use_id,
                content,
                is_error,
            },
            ContentBlock::Unknown(v) => return v.serialize(s),
        };
        known.serialize(s)
    }
}

/// A user message's content: a plain string or blocks.
///
/// # Examples
///
/// ```
/// let c: tether_claude::UserContent = serde_json::from_str("\"hi\"").unwrap();
/// assert_eq!(c, tether_claude::UserContent::Text("hi".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum UserContent {
    /// A plain string.
    Text(String),
    /// Blocks.
    Blocks(Vec<ContentBlock>),
}
