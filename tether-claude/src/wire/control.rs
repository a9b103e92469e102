//! Control-protocol envelopes and the lines this SDK writes to the CLI's stdin.
//!
//! ```text
//! SDK → CLI  {"type":"control_request","request_id":"req_1_1a2b3c4d","request":{"subtype":...}}
//! CLI → SDK  {"type":"control_response","response":{"subtype":"success","request_id":...,"response":{...}}}
//!            {"type":"control_response","response":{"subtype":"error","request_id":...,"error":"..."}}
//! CLI → SDK  {"type":"control_request","request_id":...,"request":{"subtype":"can_use_tool",...}}
//! CLI → SDK  {"type":"control_cancel_request","request_id":...}
//! ```

use serde_json::{Value, json};

/// What the prompt of a turn is: text, or content blocks (images, documents...).
///
/// # Examples
///
/// ```
/// use tether_claude::Prompt;
///
/// let p: Prompt = "hello".into();
/// let q = Prompt::blocks(vec![serde_json::json!({"type": "text", "text": "hello"})]);
/// # let _ = (p, q);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    content: Value,
}

impl Prompt {
    /// A text prompt.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = tether_claude::Prompt::text("hello");
    /// assert_eq!(p, "hello".into());
    /// ```
    pub fn text(text: impl Into<String>) -> Self {
        Prompt {
            content: Value::String(text.into()),
        }
    }

    /// A prompt of content blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = tether_claude::Prompt::blocks(vec![serde_json::json!({"type": "text", "text": "hi"})]);
    /// # let _ = p;
    /// ```
    pub fn blocks(blocks: Vec<Value>) -> Self {
        Prompt {
            content: Value::Array(blocks),
        }
    }

    /// The stdin line for this prompt (`{"type":"user",...}` and a newline).
    pub(crate) fn to_line(&self) -> Vec<u8> {
        line(&json!({
            "type": "user",
            "message": {"role": "user", "content": self.content},
            "parent_tool_use_id": null,
            "session_id": "default",
        }))
    }
}

impl From<&str> for Prompt {
    fn from(s: &str) -> Self {
        Prompt::text(s)
    }
}

impl From<String> for Prompt {
    fn from(s: String) -> Self {
        Prompt::text(s)
    }
}

fn line(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).expect("a Value always serializes");
    out.push(b'\n');
    out
}

pub(crate) fn request_line(request_id: &str, request: &Value) -> Vec<u8> {
    line(&json!({"type": "control_request", "request_id": request_id, "request": request}))
}

pub(crate) fn success_line(request_id: &str, response: Value) -> Vec<u8> {
    line(&json!({
        "type": "control_response",
        "response": {"subtype": "success", "request_id": request_id, "response": response},
    }))
}

pub(crate) fn error_line(request_id: &str, error: &str) -> Vec<u8> {
    line(&json!({
        "type": "control_response",
        "response": {"subtype": "error", "request_id": request_id, "error": error},
    }))
}

/// One line from the CLI, sorted by the reader before anything is queued.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A reply to one of our requests.
    Response {
        request_id: String,
        result: Result<Value, String>,
    },
    /// The CLI asks us something.
    Request { request_id: String, request: Value },
    /// The CLI withdraws a request.
    Cancel { request_id: String },
    /// Anything else: a message for the consumer (parsed by the caller from the line).
    Message,
}

/// The `type` of a line, read without building the object (every other field is skipped).
#[derive(serde::Deserialize)]
pub(crate) struct Peek<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(crate) kind: Option<std::borrow::Cow<'a, str>>,
}

/// Whether a line of this `type` is control traffic (routed by the reader, never queued).
pub(crate) fn is_control(kind: &str) -> bool {
    matches!(
        kind,
        "control_response" | "control_request" | "control_cancel_request"
    )
}

pub(crate) fn classify(value: Value) -> Incoming {
    match value.get("type").and_then(Value::as_str) {
        Some("control_response") => {
            let resp = value.get("response").cloned().unwrap_or(Value::Null);
            let request_id = resp
                .get("request_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let result = if resp.get("subtype").and_then(Value::as_str) == Some("error") {
                Err(resp
                    .get("error")
                    .map(|e| match e {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_else(|| "unknown error".into()))
            } else {
                Ok(resp.get("response").cloned().unwrap_or(Value::Null))
            };
            Incoming::Response { request_id, result }
        }
        Some("control_request") => Incoming::Request {
            request_id: value
                .get("request_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            request: value.get("request").cloned().unwrap_or(Value::Null),
        },
        Some("control_cancel_request") => Incoming::Cancel {
            request_id: value
                .get("request_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        },
        _ => Incoming::Message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        assert_eq!(bytes.last(), Some(&b'\n'));
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn user_line_has_the_official_shape() {
        assert_eq!(
            parse(&Prompt::from("hi").to_line()),
            json!({"type":"user","message":{"role":"user","content":"hi"},"parent_tool_use_id":null,"session_id":"default"})
        );
    }

    #[test]
    fn the_user_line_is_the_one_the_real_cli_accepted() {
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/real-cli/one_shot.jsonl"
        );
        let text = std::fs::read_to_string(fixture).unwrap();
        let sent = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l["dir"] == "in")
            .unwrap()["msg"]
            .clone();
        let prompt = sent["message"]["content"].as_str().unwrap();
        assert_eq!(parse(&Prompt::from(prompt).to_line()), sent);
    }

    #[test]
    fn replies_have_the_official_shape() {
        assert_eq!(
            parse(&success_line("r1", json!({"a":1}))),
            json!({"type":"control_response","response":{"subtype":"success","request_id":"r1","response":{"a":1}}})
        );
        assert_eq!(
            parse(&error_line("r2", "bad")),
            json!({"type":"control_response","response":{"subtype":"error","request_id":"r2","error":"bad"}})
        );
        assert_eq!(
            parse(&request_line("r3", &json!({"subtype":"interrupt"}))),
            json!({"type":"control_request","request_id":"r3","request":{"subtype":"interrupt"}})
        );
    }

    #[test]
    fn peek_reads_the_type_wherever_it_is() {
        let p: Peek<'_> =
            serde_json::from_slice(br#"{"a":{"type":"x"},"type":"result","z":[1]}"#).unwrap();
        assert_eq!(p.kind.as_deref(), Some("result"));
        let p: Peek<'_> = serde_json::from_slice(br#"{"type":"res\u0075lt"}"#).unwrap();
        assert_eq!(p.kind.as_deref(), Some("result"));
        assert!(serde_json::from_slice::<Peek<'_>>(b"not json").is_err());
        assert!(is_control("control_cancel_request") && !is_control("assistant"));
    }

    #[test]
    fn classify_sorts_every_kind() {
        let ok = classify(
            json!({"type":"control_response","response":{"subtype":"success","request_id":"a","response":{"x":1}}}),
        );
        assert!(
            matches!(ok, Incoming::Response { request_id, result: Ok(v) } if request_id == "a" && v == json!({"x":1}))
        );
        let err = classify(
            json!({"type":"control_response","response":{"subtype":"error","request_id":"b","error":"no"}}),
        );
        assert!(matches!(err, Incoming::Response { result: Err(e), .. } if e == "no"));
        let req = classify(
            json!({"type":"control_request","request_id":"c","request":{"subtype":"can_use_tool"}}),
        );
        assert!(matches!(req, Incoming::Request { request_id, .. } if request_id == "c"));
        let cancel = classify(json!({"type":"control_cancel_request","request_id":"d"}));
        assert!(matches!(cancel, Incoming::Cancel { request_id } if request_id == "d"));
        assert!(matches!(
            classify(json!({"type":"assistant"})),
            Incoming::Message
        ));
    }
}
