//! The control protocol against mock-claude: permission callback, hooks, in-process tools,
//! failing and panicking callbacks, unknown subtypes, `control_cancel_request`, and 1,000 tool
//! calls while the consumer reads nothing.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use support::*;
use tether_claude::{
    ContentBlock, HookEvent, HookOutput, Message, PermissionDecision, SdkMcpServer, Tool,
    ToolOutput, UserContent, connect,
};

/// The text of every tool_result in a turn, in order.
fn tool_results(items: &[Result<Message, tether_claude::Error>]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for item in items {
        if let Ok(Message::User(u)) = item
            && let UserContent::Blocks(blocks) = &u.message.content
        {
            {
                for b in blocks {
                    if let ContentBlock::ToolResult {
                        content, is_error, ..
                    } = b
                    {
                        let text = match content {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        out.push((text, is_error.unwrap_or(false)));
                    }
                }
            }
        }
    }
    out
}

/// Request ids the mock sent, and how many replies each got (from the mock's log).
fn replies_per_request(log: &std::path::PathBuf) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for e in read_log(log) {
        match e["event"].as_str() {
            Some("control_request_sent") => {
                counts
                    .entry(e["request_id"].as_str().unwrap().to_string())
                    .or_insert(0);
            }
            Some("control_response") => {
                *counts
                    .entry(e["request_id"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
            _ => {}
        }
    }
    counts
}

#[tokio::test]
async fn permission_callback_allows_with_rewritten_input_and_denies_with_a_message() {
    let options = script(json!({
        "turns": [{"steps": [
            {"type": "tool_use", "name": "Bash", "input": {"command": "ls"}, "permission": "ask"},
            {"type": "tool_use", "name": "Write", "input": {"file_path": "/etc/passwd"}, "permission": "ask"},
            {"type": "text", "text": "done"}
        ]}]
    }))
    .can_use_tool(|req| async move {
        match req.tool_name.as_str() {
            "Bash" => Ok::<_, tether::BoxError>(PermissionDecision::allow_with_input(
                json!({"command": "ls -la"}),
            )),
            _ => Ok(PermissionDecision::deny("not that file")),
        }
    });
    let items = bounded(connect(options, async |client| {
        collect(client.query("go").await.unwrap()).await
    }))
    .await
    .unwrap();
    let results = tool_results(&items);
    assert_eq!(results.len(), 2, "{items:?}");
    assert!(
        results[0].0.contains("ls -la") && !results[0].1,
        "ran with the rewritten input: {results:?}"
    );
    assert!(
        results[1].0.contains("not that file") && results[1].1,
        "{results:?}"
    );
    let Some(Ok(Message::Result(r))) = items.last() else {
        panic!()
    };
    assert_eq!(r.permission_denials.as_ref().map(Vec::len), Some(1));
}

#[tokio::test]
async fn hooks_are_registered_at_initialize_and_called_per_tool() {
    let pre = Arc::new(AtomicUsize::new(0));
    let post = Arc::new(AtomicUsize::new(0));
    let (p1, p2) = (pre.clone(), post.clone());
    let log = temp_file("hooks");
    let options = scenario("tools:3")
        .allowed_tools(["Bash"])
        .env("MOCK_CLAUDE_LOG", log.display().to_string())
        .hook(HookEvent::PreToolUse, Some("Bash"), move |input| {
            let p1 = p1.clone();
            async move {
                assert_eq!(input.input["hook_event_name"], "PreToolUse");
                assert!(input.tool_use_id.is_some());
                p1.fetch_add(1, Ordering::SeqCst);
                Ok::<_, tether::BoxError>(HookOutput::default())
            }
        })
        .hook(HookEvent::PostToolUse, None, move |_| {
            let p2 = p2.clone();
            async move {
                p2.fetch_add(1, Ordering::SeqCst);
                Ok::<_, tether::BoxError>(HookOutput::default())
            }
        });
    let items = bounded(connect(options, async |client| {
        collect(client.query("go").await.unwrap()).await
    }))
    .await
    .unwrap();
    assert_eq!(tool_results(&items).len(), 3);
    let _ = std::fs::remove_file(&log);
    assert_eq!(pre.load(Ordering::SeqCst), 3);
    assert_eq!(post.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_pre_tool_use_hook_can_deny_a_tool() {
    let options = scenario("tools:1").hook(HookEvent::PreToolUse, None, |_| async {
        Ok::<_, tether::BoxError>(HookOutput {
            hook_specific_output: Some(json!({
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": "hook says no"
            })),
            ..Default::default()
        })
    });
    let items = bounded(connect(options, async |client| {
        collect(client.query("go").await.unwrap()).await
    }))
    .await
    .unwrap();
    let results = tool_results(&items);
    assert!(
        results[0].1 && results[0].0.contains("hook says no"),
        "{results:?}"
    );
}

#[tokio::test]
async fn an_in_process_tool_is_served_over_mcp_message() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let server = SdkMcpServer::new("calc").tool(Tool::new(
        "add",
        "Adds a and b",
        json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}),
        move |args: Value| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                let sum = args["a"].as_i64().unwrap_or(40) + args["b"].as_i64().unwrap_or(2);
                Ok::<_, tether::BoxError>(ToolOutput::text(format!("sum={sum}")))
            }
        },
    ));
    let options = script(json!({
        "turns": [{"steps": [
            {"type": "mcp_tool", "server": "calc", "tool": "add", "arguments": {"a": 2, "b": 3}, "permission": "allow"},
            {"type": "text", "text": "done"}
        ]}]
    }))
    .mcp_server(server);
    let items = bounded(connect(options, async |client| {
        let items = collect(client.query("add").await.unwrap()).await;
        let Some(Ok(Message::System(init))) = items.first() else {
            panic!("{items:?}")
        };
        let init = init.init().unwrap();
        assert!(
            init.tools.iter().any(|t| t == "mcp__calc__add"),
            "{:?}",
            init.tools
        );
        items
    }))
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let results = tool_results(&items);
    assert!(
        results[0].0.contains("sum=5") && !results[0].1,
        "{results:?}"
    );
}

#[tokio::test]
async fn a_failing_or_panicking_callback_gets_an_error_reply_and_the_connection_survives() {
    let log = temp_file("panic");
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let options = script(json!({
        "turns": [
            {"steps": [{"type": "tool_use", "name": "Bash", "input": {}, "permission": "ask"}]},
            {"steps": [{"type": "tool_use", "name": "Bash", "input": {}, "permission": "ask"}]},
            {"steps": [{"type": "tool_use", "name": "Bash", "input": {"ok": true}, "permission": "ask"}]}
        ]
    }))
    .env("MOCK_CLAUDE_LOG", log.display().to_string())
    .can_use_tool(move |_| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => panic!("a bug in the permission callback"),
                1 => Err::<PermissionDecision, _>("the policy service is down".into()),
                _ => Ok::<_, tether::BoxError>(PermissionDecision::allow()),
            }
        }
    });
    bounded(connect(options, async |client| {
        let first = collect(client.query("1").await.unwrap()).await;
        let r = tool_results(&first);
        assert!(
            r[0].1
                && r[0]
                    .0
                    .contains("callback panicked: a bug in the permission callback"),
            "{r:?}"
        );
        let second = collect(client.query("2").await.unwrap()).await;
        let r = tool_results(&second);
        assert!(
            r[0].1 && r[0].0.contains("the policy service is down"),
            "{r:?}"
        );
        let third = collect(client.query("3").await.unwrap()).await;
        let r = tool_results(&third);
        assert!(!r[0].1, "the connection still works: {r:?}");
    }))
    .await
    .unwrap();
    let replies = replies_per_request(&log);
    assert_eq!(replies.len(), 3);
    assert!(
        replies.values().all(|n| *n == 1),
        "exactly one reply each: {replies:?}"
    );
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn an_unknown_request_subtype_gets_an_error_reply() {
    let log = temp_file("unknown-subtype");
    let options = script(json!({
        "turns": [{"steps": [
            {"type": "control_request", "request": {"subtype": "teleport", "where": "mars"}},
            {"type": "text", "text": "still here"}
        ]}]
    }))
    .env("MOCK_CLAUDE_LOG", log.display().to_string());
    let items = bounded(connect(options, async |client| {
        collect(client.query("go").await.unwrap()).await
    }))
    .await
    .unwrap();
    assert_eq!(text_of(&items), "still here");
    let responses: Vec<Value> = read_log(&log)
        .into_iter()
        .filter(|e| e["event"] == "control_response")
        .collect();
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(responses[0]["response"]["subtype"], "error");
    assert_eq!(
        responses[0]["response"]["error"],
        "unsupported control request subtype: teleport"
    );
    let _ = std::fs::remove_file(&log);
}

/// Counts drops: proves a cancelled callback was dropped at its await.
struct DropFlag(Arc<AtomicUsize>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_cancelled_permission_request_drops_the_callback_and_gets_no_reply() {
    let log = temp_file("cancel");
    let started = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (s, d, f) = (started.clone(), dropped.clone(), finished.clone());
    let options = scenario("cancel-permission:200")
        .env("MOCK_CLAUDE_LOG", log.display().to_string())
        .can_use_tool(move |_| {
            let (s, d, f) = (s.clone(), d.clone(), f.clone());
            async move {
                let _guard = DropFlag(d);
                s.fetch_add(1, Ordering::SeqCst);
                // Waits for a human who never answers; the CLI withdraws the request.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok::<_, tether::BoxError>(PermissionDecision::allow())
            }
        });
    let items = bounded(connect(options, async |client| {
        collect(client.query("go").await.unwrap()).await
    }))
    .await
    .unwrap();
    assert!(
        matches!(items.last(), Some(Ok(Message::Result(_)))),
        "{items:?}"
    );
    assert_eq!(started.load(Ordering::SeqCst), 1);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the callback was dropped at its await"
    );
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    let log_lines = read_log(&log);
    assert_eq!(
        log_lines
            .iter()
            .filter(|e| e["event"] == "control_cancel_sent")
            .count(),
        1
    );
    let replies = replies_per_request(&log);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies.values().all(|n| *n == 0),
        "no reply for a cancelled request: {replies:?}"
    );
    let _ = std::fs::remove_file(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tool_calls_with_callbacks_while_the_consumer_reads_nothing_do_not_deadlock() {
    let log = temp_file("thousand");
    let permissions = Arc::new(AtomicUsize::new(0));
    let hooks = Arc::new(AtomicUsize::new(0));
    let (p, h) = (permissions.clone(), hooks.clone());
    let options = scenario("tools:1000")
        .env("MOCK_CLAUDE_LOG", log.display().to_string())
        .can_use_tool(move |_| {
            let p = p.clone();
            async move {
                p.fetch_add(1, Ordering::SeqCst);
                Ok::<_, tether::BoxError>(PermissionDecision::allow())
            }
        })
        .hook(HookEvent::PreToolUse, None, move |_| {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                Ok::<_, tether::BoxError>(HookOutput::default())
            }
        });
    bounded(connect(options, async |client| {
        let mut turn = client.query("run them").await.unwrap();
        // The consumer reads nothing while the official SDK's limit (about 50 tool calls with
        // a 100-slot queue) is passed: control traffic keeps flowing, the queue does not.
        while permissions.load(Ordering::SeqCst) < 60 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Then everything arrives.
        let mut tool_uses = 0;
        let mut results = 0;
        let mut last = None;
        while let Some(item) = turn.next().await {
            let msg = item.unwrap();
            if let Message::Assistant(a) = &msg {
                tool_uses += a
                    .message
                    .content
                    .iter()
                    .filter(|b| matches!(b, ContentBlock::ToolUse { .. }))
                    .count();
            }
            if let Message::User(_) = &msg {
                results += 1;
            }
            last = Some(msg);
        }
        assert_eq!(tool_uses, 1000);
        assert_eq!(results, 1000);
        assert!(matches!(last, Some(Message::Result(r)) if !r.is_error));
    }))
    .await
    .unwrap();
    assert_eq!(permissions.load(Ordering::SeqCst), 1000);
    assert_eq!(hooks.load(Ordering::SeqCst), 1000);
    let replies = replies_per_request(&log);
    assert_eq!(replies.len(), 2000);
    assert!(
        replies.values().all(|n| *n == 1),
        "every request got exactly one reply"
    );
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn a_permission_callback_that_never_answers_does_not_block_an_interrupt() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let options = script(json!({
        "turns": [{"steps": [
            {"type": "tool_use", "name": "Bash", "input": {"command": "ls"}, "permission": "ask"}
        ]}]
    }))
    .can_use_tool(move |_| {
        let d = d.clone();
        async move {
            let _guard = DropFlag(d);
            std::future::pending::<()>().await;
            Ok::<_, tether::BoxError>(PermissionDecision::allow())
        }
    });
    bounded(connect(options, async |client| {
        let turn = client.query("go").await.unwrap();
        let handle = client.handle();
        // The callback is stuck; interrupt from another task still gets through at once, and
        // the CLI withdraws the permission request (control_cancel_request).
        let interrupt = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tokio::time::timeout(Duration::from_secs(10), handle.interrupt()).await
        });
        let items = collect(turn).await;
        interrupt
            .await
            .unwrap()
            .expect("interrupt was not blocked")
            .unwrap();
        let Some(Ok(Message::Result(r))) = items.last() else {
            panic!("{items:?}")
        };
        assert_eq!(r.terminal_reason.as_deref(), Some("aborted_tools"));
    }))
    .await
    .unwrap();
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the stuck callback was dropped"
    );
}

#[tokio::test]
async fn requests_after_the_result_are_answered_while_the_scope_lives() {
    let log = temp_file("after-result");
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    let options = scenario("after-result")
        .env("MOCK_CLAUDE_LOG", log.display().to_string())
        .can_use_tool(move |_| {
            let a = a.clone();
            async move {
                a.fetch_add(1, Ordering::SeqCst);
                Ok::<_, tether::BoxError>(PermissionDecision::allow())
            }
        });
    bounded(connect(options, async |client| {
        let _ = collect(client.query("go").await.unwrap()).await;
        // Input stays open after the result: the CLI's later request still gets its answer.
        while asked.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }))
    .await
    .unwrap();
    let replies = replies_per_request(&log);
    assert!(!replies.is_empty());
    let lines = read_log(&log);
    let perm_id = lines
        .iter()
        .find(|e| e["event"] == "control_request_sent" && e["request"]["subtype"] == "can_use_tool")
        .map(|e| e["request_id"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(
        replies[&perm_id], 1,
        "answered after the result: {replies:?}"
    );
    let _ = std::fs::remove_file(&log);
}
