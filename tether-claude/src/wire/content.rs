//! Content blocks of assistant and user messages.

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

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

/// The wire shape of the known blocks, for writing them.
#[derive(Serialize)]
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

/// Parsed in one pass, with no intermediate map and no buffering of the whole block: each
/// field's value is read as it comes (known field names without allocating), and once the
/// `type` is known — wherever it stood; the CLI writes it first or last — the fields become the
/// typed variant, or, for an unknown type, the block is kept whole as
/// [`ContentBlock::Unknown`]. Unknown fields of known types are ignored.
impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(BlockVisitor)
    }
}

struct BlockVisitor;

/// A block's key.
enum Key {
    Type,
    Field(Field),
    Other(String),
}

/// A field of a known block type.
#[derive(Clone, Copy)]
enum Field {
    Text,
    Thinking,
    Signature,
    Id,
    Name,
    Input,
    ToolUseId,
    Content,
    IsError,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Text => "text",
            Field::Thinking => "thinking",
            Field::Signature => "signature",
            Field::Id => "id",
            Field::Name => "name",
            Field::Input => "input",
            Field::ToolUseId => "tool_use_id",
            Field::Content => "content",
            Field::IsError => "is_error",
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "type" => Key::Type,
                    "text" => Key::Field(Field::Text),
                    "thinking" => Key::Field(Field::Thinking),
                    "signature" => Key::Field(Field::Signature),
                    "id" => Key::Field(Field::Id),
                    "name" => Key::Field(Field::Name),
                    "input" => Key::Field(Field::Input),
                    "tool_use_id" => Key::Field(Field::ToolUseId),
                    "content" => Key::Field(Field::Content),
                    "is_error" => Key::Field(Field::IsError),
                    other => Key::Other(other.to_string()),
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// The fields read so far, by name (few: a block has a handful).
#[derive(Default)]
struct Fields {
    kind: Option<Value>,
    known: Vec<(Field, Value)>,
    other: Vec<(String, Value)>,
}

impl Fields {
    fn take(&mut self, field: Field) -> Option<Value> {
        // The last occurrence wins, as in a map.
        let i = self
            .known
            .iter()
            .rposition(|(f, _)| *f as u8 == field as u8)?;
        Some(self.known.swap_remove(i).1)
    }

    fn required<T: serde::de::DeserializeOwned, E: serde::de::Error>(
        &mut self,
        field: Field,
    ) -> Result<T, E> {
        let value = self
            .take(field)
            .ok_or_else(|| E::missing_field(field.name()))?;
        serde_json::from_value(value).map_err(|e| E::custom(format_args!("{}: {e}", field.name())))
    }

    fn optional<T: serde::de::DeserializeOwned, E: serde::de::Error>(
        &mut self,
        field: Field,
    ) -> Result<Option<T>, E> {
        match self.take(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value)
                .map(Some)
                .map_err(|e| E::custom(format_args!("{}: {e}", field.name()))),
        }
    }

    /// The whole block, as sent.
    fn into_value(self) -> Value {
        let mut map = Map::new();
        if let Some(kind) = self.kind {
            map.insert("type".into(), kind);
        }
        for (field, value) in self.known {
            map.insert(field.name().into(), value);
        }
        map.extend(self.other);
        Value::Object(map)
    }
}

impl<'de> Visitor<'de> for BlockVisitor {
    type Value = ContentBlock;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a content block object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ContentBlock, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Type => fields.kind = Some(map.next_value()?),
                Key::Field(field) => fields.known.push((field, map.next_value()?)),
                Key::Other(name) => fields.other.push((name, map.next_value()?)),
            }
        }
        let kind = fields.kind.as_ref().and_then(Value::as_str).unwrap_or("");
        Ok(match kind {
            "text" => ContentBlock::Text {
                text: fields.required(Field::Text)?,
            },
            "thinking" => ContentBlock::Thinking {
                thinking: fields.required(Field::Thinking)?,
                signature: fields.optional(Field::Signature)?.unwrap_or_default(),
            },
            "tool_use" => ContentBlock::ToolUse {
                id: fields.required(Field::Id)?,
                name: fields.required(Field::Name)?,
                input: fields.take(Field::Input).unwrap_or_default(),
            },
            "tool_result" => ContentBlock::ToolResult {
                tool_use_id: fields.required(Field::ToolUseId)?,
                content: fields.optional(Field::Content)?,
                is_error: fields.optional(Field::IsError)?,
            },
            _ => ContentBlock::Unknown(fields.into_value()),
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum UserContent {
    /// A plain string.
    Text(String),
    /// Blocks.
    Blocks(Vec<ContentBlock>),
}

/// A string or a sequence of blocks, read directly (an untagged derive would buffer the
/// input first).
impl<'de> Deserialize<'de> for UserContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UserContent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content blocks")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<UserContent, E> {
                Ok(UserContent::Text(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<UserContent, E> {
                Ok(UserContent::Text(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<UserContent, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(UserContent::Blocks(blocks))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(text: &str) -> Result<ContentBlock, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn known_blocks_parse_directly_and_skip_unknown_fields() {
        assert_eq!(
            parse(r#"{"type":"text","text":"hi","citations":[{"a":1}],"extra":null}"#).unwrap(),
            ContentBlock::Text { text: "hi".into() }
        );
        assert_eq!(
            parse(r#"{"type":"thinking","thinking":"hm"}"#).unwrap(),
            ContentBlock::Thinking {
                thinking: "hm".into(),
                signature: String::new()
            }
        );
        assert_eq!(
            parse(r#"{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}"#)
                .unwrap(),
            ContentBlock::ToolUse {
                id: "t1".into(),
                name: "Bash".into(),
                input: json!({"command": "ls"})
            }
        );
        assert_eq!(
            parse(r#"{"type":"tool_result","tool_use_id":"t1","content":null}"#).unwrap(),
            ContentBlock::ToolResult {
                tool_use_id: "t1".into(),
                content: None,
                is_error: None
            }
        );
        assert_eq!(
            parse(r#"{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"x"}],"is_error":true}"#)
                .unwrap(),
            ContentBlock::ToolResult {
                tool_use_id: "t1".into(),
                content: Some(json!([{"type": "text", "text": "x"}])),
                is_error: Some(true)
            }
        );
    }

    #[test]
    fn type_in_any_position_reads_the_same() {
        assert_eq!(
            parse(r#"{"text":"hi","type":"text"}"#).unwrap(),
            ContentBlock::Text { text: "hi".into() }
        );
        let block = r#"{"source":{"data":"x"},"type":"image"}"#;
        assert_eq!(
            parse(block).unwrap(),
            ContentBlock::Unknown(serde_json::from_str(block).unwrap())
        );
    }

    #[test]
    fn unknown_types_are_kept_whole_and_round_trip() {
        let block = r#"{"type":"server_tool_use","id":7,"text":{"not":"a string"},"input":[1,2]}"#;
        let parsed = parse(block).unwrap();
        let want: Value = serde_json::from_str(block).unwrap();
        assert_eq!(parsed, ContentBlock::Unknown(want.clone()));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), want);
        assert_eq!(parse("{}").unwrap(), ContentBlock::Unknown(json!({})));
    }

    #[test]
    fn a_known_type_with_a_missing_or_mistyped_field_is_an_error() {
        let e = parse(r#"{"type":"text"}"#).unwrap_err().to_string();
        assert!(e.contains("missing field `text`"), "{e}");
        let e = parse(r#"{"type":"tool_use","id":"t","input":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `name`"), "{e}");
        assert!(parse(r#"{"type":"text","text":5}"#).is_err());
        assert!(parse(r#"{"text":5,"type":"text"}"#).is_err());
        assert!(parse(r#""text""#).is_err());
    }

    #[test]
    fn user_content_is_a_string_or_blocks() {
        let c: UserContent = serde_json::from_str(r#""hi""#).unwrap();
        assert_eq!(c, UserContent::Text("hi".into()));
        let c: UserContent =
            serde_json::from_str(r#"[{"type":"text","text":"a"},{"type":"image"}]"#).unwrap();
        assert_eq!(
            c,
            UserContent::Blocks(vec![
                ContentBlock::Text { text: "a".into() },
                ContentBlock::Unknown(json!({"type": "image"}))
            ])
        );
        // An escaped string (not borrowable) too.
        let c: UserContent = serde_json::from_str(r#""a\nb""#).unwrap();
        assert_eq!(c, UserContent::Text("a\nb".into()));
        assert!(serde_json::from_str::<UserContent>("5").is_err());
        assert_eq!(
            serde_json::to_value(UserContent::Text("x".into())).unwrap(),
            json!("x")
        );
    }
}
