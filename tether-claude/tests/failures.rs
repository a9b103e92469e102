//! Failures: a CLI that crashes mid-turn or at start, huge and over-limit lines, unknown and
//! non-JSON lines, stderr, a missing CLI.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::json;
use support::*;
use tether_claude::{ClaudeOptions, Client, CloseCause, ContentBlock, Error, Message, connect};

/// A bound well below every timeout of the client: "at once".
const AT_ONCE: Duration = Duration::from_secs(10);

fn assert_exited(err: &Error, code: i32, stderr_has: &str) {
    let Some(CloseCause::Exited {
        status,
        stderr_tail,
    }) = err.close_cause()
    else {
        panic!("expected Closed(Exited), got {err}")
    };
    assert_eq!(status.and_then(|s| s.code()), Some(code), "{err}");
    assert!(stderr_tail.contains(stderr_has), "{stderr_tail:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("exit status: {code}")) && text.contains(stderr_has),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_killed_mid_turn_fails_the_consumer_every_waiter_and_later_calls_at_once() {
    let options = script(json!({
        "turns": [{"steps": [
            {"type": "text", "text": "partial"},
            {"type": "sleep", "ms": 300},
            {"type": "crash", "stderr": "boom: the model exploded", "code": 7}
        ]}]
    }))
    .control_timeout(Duration::from_secs(120));
    bounded(connect(options, async |client| {
        let handle = client.handle();
        let mut turn = client.query("go").await.unwrap();
        // Three more callers wait behind the crashing turn.
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let h = handle.clone();
                tokio::spawn(async move { h.query(format!("waiting {i}")).await.map(drop) })
            })
            .collect();
        let mut saw_partial = false;
        let err = tokio::time::timeout(AT_ONCE, async {
            loop {
                match turn.next().await {
                    Some(Ok(m)) => saw_partial |= m.text().as_deref() == Some("partial"),
                    Some(Err(e)) => break e,
                    None => panic!("the stream ended without an error"),
                }
            }
        })
        .await
        .expect("the consumer gets the error at once");
        assert!(saw_partial);
        assert_exited(&err, 7, "boom: the model exploded");
        assert!(turn.next().await.is_none(), "one error, then the end");
        for w in waiters {
            let err = tokio::time::timeout(AT_ONCE, w)
                .await
                .unwrap()
                .unwrap()
                .unwrap_err();
            assert_exited(&err, 7, "boom");
        }
        let err = tokio::time::timeout(AT_ONCE, handle.interrupt())
            .await
            .unwrap()
            .unwrap_err();
        assert_exited(&err, 7, "boom");
        let err = tokio::time::timeout(AT_ONCE, handle.query("later"))
            .await
            .unwrap()
            .unwrap_err();
        assert_exited(&err, 7, "boom");
    }))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_cli_that_dies_at_start_fails_the_pending_initialize_at_once_not_after_its_timeout() {
    let options = scenario("crash-on-start:3").control_timeout(Duration::from_secs(120));
    let err = tokio::time::timeout(AT_ONCE, Client::connect(options))
        .await
        .expect("initialize fails at once when the cli exits")
        .unwrap_err();
    assert_exited(&err, 3, "mock-claude");
}

#[tokio::test]
async fn a_20_mib_line_is_delivered_intact() {
    let items = bounded(connect(scenario("huge:20MiB"), async |client| {
        collect(client.query("big").await.unwrap()).await
    }))
    .await
    .unwrap();
    let text = text_of(&items);
    assert_eq!(text.len(), 20 * 1024 * 1024);
    assert!(text.bytes().all(|b| b == b'x'));
    assert!(matches!(items.last(), Some(Ok(Message::Result(_)))));
}

#[tokio::test]
async fn a_line_over_the_limit_is_a_typed_error_and_the_next_message_still_arrives() {
    let options = script(json!({
        "turns": [{"steps": [
            {"type": "huge", "bytes": 3 * 1024 * 1024},
            {"type": "text", "text": "after the huge line"}
        ]}]
    }))
    .max_line_bytes(1024 * 1024);
    let items = bounded(connect(options, async |client| {
        collect(client.query("big").await.unwrap()).await
    }))
    .await
    .unwrap();
    let errors: Vec<&Error> = items.iter().filter_map(|i| i.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(errors[0], Error::LineTooLong { len, limit: 1048576 } if *len > 3 * 1024 * 1024),
        "{}",
        errors[0]
    );
    assert_eq!(text_of(&items), "after the huge line");
    assert!(matches!(items.last(), Some(Ok(Message::Result(_)))));
}

#[tokio::test]
async fn unknown_types_are_kept_and_non_json_lines_are_skipped() {
    let items = bounded(connect(scenario("unknown-messages"), async |client| {
        collect(client.query("x").await.unwrap()).await
    }))
    .await
    .unwrap();
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    let unknown: Vec<_> = items
        .iter()
        .filter_map(|m| match m {
            Ok(Message::Unknown(v)) => Some(v.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["type"], "mock_future_type");
    assert_eq!(unknown[0]["payload"]["x"], 1);
    let unknown_blocks = items
        .iter()
        .filter_map(|m| match m {
            Ok(Message::Assistant(a)) => Some(a.message.content.clone()),
            _ => None,
        })
        .flatten()
        .filter(|b| matches!(b, ContentBlock::Unknown(_)))
        .count();
    assert_eq!(unknown_blocks, 1);
    assert!(matches!(items.last(), Some(Ok(Message::Result(_)))));
}

#[tokio::test]
async fn stderr_goes_to_the_callback_and_the_connection_is_unaffected() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = lines.clone();
    let options = script(json!({
        "turns": [{"steps": [
            {"type": "stderr", "text": "warning: something on stderr"},
            {"type": "text", "text": "fine"}
        ]}]
    }))
    .stderr(move |line| l.lock().push(line.to_string()));
    let items = bounded(connect(options, async |client| {
        collect(client.query("x").await.unwrap()).await
    }))
    .await
    .unwrap();
    assert_eq!(text_of(&items), "fine");
    assert!(
        lines
            .lock()
            .iter()
            .any(|l| l == "warning: something on stderr"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_missing_cli_is_a_typed_error_saying_where_it_looked_and_how_to_install() {
    let err = Client::connect(ClaudeOptions::new().cli_path("/nonexistent/bin/claude"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::CliNotFound { .. }));
    assert!(text.contains("/nonexistent/bin/claude"), "{text}");
    assert!(
        text.contains("npm install -g @anthropic-ai/claude-code"),
        "{text}"
    );
}

#[tokio::test]
async fn options_reach_the_cli_as_flags_and_environment() {
    let log = temp_file("argv");
    let options = scenario("echo")
        .env("MOCK_CLAUDE_LOG", log.display().to_string())
        .model("claude-sonnet-4-5")
        .resume("-looks-like-a-flag")
        .max_turns(4)
        .allowed_tools(["Read", "Grep"]);
    bounded(connect(options, async |_| ())).await.unwrap();
    let start = read_log(&log)
        .into_iter()
        .find(|e| e["event"] == "start")
        .unwrap();
    let argv: Vec<String> = serde_json::from_value(start["argv"].clone()).unwrap();
    assert!(
        argv.contains(&"--resume=-looks-like-a-flag".to_string()),
        "{argv:?}"
    );
    assert_eq!(start["args"]["flags"]["--model"][0], "claude-sonnet-4-5");
    assert_eq!(start["args"]["flags"]["--max-turns"][0], "4");
    assert_eq!(start["args"]["flags"]["--system-prompt"][0], "");
    assert_eq!(start["env"]["CLAUDE_CODE_ENTRYPOINT"], "sdk-rs");
    assert_eq!(start["env"]["CLAUDECODE_present"], false);
    let _ = std::fs::remove_file(&log);
}
