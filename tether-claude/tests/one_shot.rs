//! The one-shot `query()`: the full control protocol, the input-closing rule, the exit status.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use support::*;
use tether_claude::{CloseCause, Message, PermissionDecision, query};

fn event_index(log: &[serde_json::Value], pred: impl Fn(&serde_json::Value) -> bool) -> usize {
    log.iter().position(pred).expect("event in the log")
}

#[tokio::test]
async fn without_callbacks_input_ends_right_after_the_prompt_and_every_message_arrives() {
    let log = temp_file("oneshot-plain");
    let options = scenario("messages:500").env("MOCK_CLAUDE_LOG", log.display().to_string());
    let items: Vec<_> = bounded(query("many", options).collect()).await;
    assert!(
        items.iter().all(Result::is_ok),
        "{:?}",
        items.iter().find(|i| i.is_err())
    );
    let assistants = items
        .iter()
        .filter(|m| matches!(m, Ok(Message::Assistant(_))))
        .count();
    assert_eq!(assistants, 500);
    assert!(matches!(items.last(), Some(Ok(Message::Result(_)))));
    let lines = read_log(&log);
    let prompt = event_index(&lines, |e| {
        e["event"] == "stdin" && e["line"]["type"] == "user"
    });
    let eof = event_index(&lines, |e| e["event"] == "stdin_eof");
    assert!(prompt < eof);
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn with_a_permission_callback_input_stays_open_until_the_result() {
    let log = temp_file("oneshot-perm");
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    let options = scenario("tools:3")
        .env("MOCK_CLAUDE_LOG", log.display().to_string())
        .can_use_tool(move |_| {
            let a = a.clone();
            async move {
                a.fetch_add(1, Ordering::SeqCst);
                Ok::<_, tether::BoxError>(PermissionDecision::allow())
            }
        });
    let items: Vec<_> = bounded(query("three tools", options).collect()).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        3,
        "the callback answered every tool"
    );
    assert!(matches!(items.last(), Some(Ok(Message::Result(r))) if !r.is_error));
    let lines = read_log(&log);
    let last_reply = lines
        .iter()
        .rposition(|e| e["event"] == "control_response")
        .unwrap();
    let eof = event_index(&lines, |e| e["event"] == "stdin_eof");
    assert!(last_reply < eof, "input ended only after the last reply");
    let exit = lines.iter().find(|e| e["event"] == "exit").unwrap();
    assert_eq!(exit["code"], 0);
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn a_failing_exit_status_ends_the_stream_with_a_typed_error() {
    let items: Vec<_> = bounded(query("x", scenario("error-result")).collect()).await;
    let n = items.len();
    assert!(
        matches!(&items[n - 2], Ok(Message::Result(r)) if r.is_error),
        "{items:?}"
    );
    let err = items[n - 1].as_ref().unwrap_err();
    let Some(CloseCause::Exited { status, .. }) = err.close_cause() else {
        panic!("{err}")
    };
    assert_eq!(status.and_then(|s| s.code()), Some(1));
}

#[tokio::test]
async fn a_missing_cli_comes_out_of_the_stream() {
    let items: Vec<_> = bounded(
        query(
            "x",
            tether_claude::ClaudeOptions::new().cli_path("/nope/claude"),
        )
        .collect(),
    )
    .await;
    assert_eq!(items.len(), 1);
    assert!(matches!(
        items[0],
        Err(tether_claude::Error::CliNotFound { .. })
    ));
}
