//! Turning a scripted [`Reply`] into the Messages API's wire shapes: a list of server-sent events
//! for streamed requests, one JSON message for the others.

use serde_json::{Value, json};

use crate::script::{Block, Reply};

/// One server-sent event, and whether the stream pauses (per the reply's delay) before it.
#[derive(Debug)]
pub(crate) struct Event {
    /// The `event:` line.
    pub(crate) name: &'static str,
    /// The `data:` line.
    pub(crate) data: Value,
    /// A content delta: the reply's `delta_delay_ms` applies before it, and a stalling reply stops
    /// after the first one.
    pub(crate) is_delta: bool,
}

impl Event {
    fn new(name: &'static str, data: Value) -> Self {
        Self {
            name,
            data,
            is_delta: false,
        }
    }

    fn delta(data: Value) -> Self {
        Self {
            name: "content_block_delta",
            data,
            is_delta: true,
        }
    }

    /// The event as it goes on the wire.
    pub(crate) fn to_wire(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.name, self.data)
    }
}

/// The usage numbers the fake reports: a rough token estimate of the request, and of the reply.
pub(crate) fn input_tokens(request_bytes: usize) -> u64 {
    u64::try_from(request_bytes / 4).unwrap_or(u64::MAX).max(1)
}

fn output_tokens(reply: &Reply) -> u64 {
    let chars: usize = reply
        .blocks
        .iter()
        .map(|b| match b {
            Block::Text { text } => text.len(),
            Block::ToolUse { input, .. } => input.to_string().len(),
            Block::Thinking { thinking, .. } => thinking.len(),
        })
        .sum();
    u64::try_from(chars / 4).unwrap_or(u64::MAX).max(1)
}

/// The events of a streamed reply, in the real API's order: `message_start`, `ping`, per block
/// `content_block_start` / `content_block_delta`… / `content_block_stop`, `message_delta` (stop
/// reason, usage), `message_stop`.
pub(crate) fn events(reply: &Reply, message_id: &str, model: &str, input: u64) -> Vec<Event> {
    let mut out = vec![
        Event::new(
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": input, "output_tokens": 1},
                },
            }),
        ),
        Event::new("ping", json!({"type": "ping"})),
    ];
    for (index, block) in reply.blocks.iter().enumerate() {
        match block {
            Block::Text { text } => {
                out.push(block_start(index, json!({"type": "text", "text": ""})));
                for piece in word_pieces(text) {
                    out.push(Event::delta(json!({
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    })));
                }
            }
            Block::ToolUse { id, name, input } => {
                out.push(block_start(
                    index,
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                ));
                // The real API streams the input JSON in pieces; the client concatenates them.
                let serialized = input.to_string();
                for piece in halves(&serialized) {
                    out.push(Event::delta(json!({
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    })));
                }
            }
            Block::Thinking {
                thinking,
                signature,
            } => {
                out.push(block_start(
                    index,
                    json!({"type": "thinking", "thinking": "", "signature": ""}),
                ));
                for piece in word_pieces(thinking) {
                    out.push(Event::delta(json!({
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "thinking_delta", "thinking": piece},
                    })));
                }
                out.push(Event::delta(json!({
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": signature},
                })));
            }
        }
        out.push(Event::new(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    out.push(Event::new(
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason(), "stop_sequence": null},
            "usage": {"output_tokens": output_tokens(reply)},
        }),
    ));
    out.push(Event::new("message_stop", json!({"type": "message_stop"})));
    out
}

fn block_start(index: usize, content_block: Value) -> Event {
    Event::new(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": content_block}),
    )
}

/// `"a b c"` → `["a", " b", " c"]`: one delta per word, concatenating back to the text. An empty
/// text gives one empty delta, so every block has at least one.
fn word_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if ch == ' ' && !current.trim().is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The string in two pieces (split on a char boundary), or one piece if it is too short.
fn halves(s: &str) -> Vec<&str> {
    let mut mid = s.len() / 2;
    while !s.is_char_boundary(mid) {
        mid += 1;
    }
    if mid == 0 || mid == s.len() {
        vec![s]
    } else {
        vec![&s[..mid], &s[mid..]]
    }
}

/// The non-streamed form: one `message` object.
pub(crate) fn message(reply: &Reply, message_id: &str, model: &str, input: u64) -> Value {
    let content: Vec<Value> = reply
        .blocks
        .iter()
        .map(|b| serde_json::to_value(b).unwrap_or(Value::Null))
        .collect();
    json!({
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason(),
        "stop_sequence": null,
        "usage": {"input_tokens": input, "output_tokens": output_tokens(reply)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_pieces_concatenate_back() {
        for text in ["", "one", "a b  c", " lead", "trail ", "é ü ß"] {
            let pieces = word_pieces(text);
            assert!(!pieces.is_empty());
            assert_eq!(pieces.concat(), text);
        }
        assert_eq!(word_pieces("a b c"), ["a", " b", " c"]);
    }

    #[test]
    fn halves_concatenate_back_on_char_boundaries() {
        for s in ["", "x", "{}", "{\"k\":\"é\"}", "ééé"] {
            assert_eq!(halves(s).concat(), s);
        }
        assert_eq!(halves("abcd"), ["ab", "cd"]);
    }
}
