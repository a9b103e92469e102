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
