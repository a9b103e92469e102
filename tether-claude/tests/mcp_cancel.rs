//! An in-process tool call withdrawn the way the real CLI withdraws it: on interrupt, the CLI
//! sends no `control_cancel_request` for a pending SDK MCP `tools/call`; it sends a new
//! `mcp_message` with the JSON-RPC notification `notifications/cancelled` naming the call's
//! JSON-RPC id. The client must cancel the tool handler's scope (the handler is dropped at its
//! await), answer the notification, and send no reply for the withdrawn call.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::*;
use tether_claude::{Message, SdkMcpServer, Tool, ToolOutput, connect};

/// Counts drops: proves the handler future was dropped (cancelled), not left running.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_cancelled_cancels_the_pending_tool_call_and_nothing_replies_to_it() {
    let log = temp_file("mcp-cancel");
    let started = Arc::new(tokio::sync::Notify::new());
    let dropped = Arc::new(AtomicUsize::new(0));
    let (s, d) = (started.clone(), dropped.clone());
    let tool = Tool::new(
        "add",
        "never finishes",
        json!({"type": "object"}),
        move |_| {
            let guard = DropCount(d.clone());
            let s = s.clone();
            async move {
                let _guard = guard;
                s.notify_one();
                std::future::pending::<()>().await;
                Ok::<_, tether::BoxError>(ToolOutput::text("unreachable"))
            }
        },
    );
    let options = scenario("mcp:calc:add")
        .env("MOCK_CLAUDE_LOG", log.display().to_string())
        .allowed_tools(["mcp__calc__add"])
        .mcp_server(SdkMcpServer::new("calc").tool(tool));
    let items = bounded(connect(options, async |client| {
        // A handle's stream: it is read in another task.
        let turn = client.handle().query("add").await.unwrap();
        let waiter = tokio::spawn(collect(turn));
        started.notified().await;
        client.interrupt().await.unwrap();
        let items = waiter.await.unwrap();
        // While the connection is still up (teardown would cancel the handler anyway): the
        // notification alone cancelled it.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while dropped.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "notifications/cancelled cancelled the handler while the connection lives"
        );
        assert!(!client.handle().is_closed());
        items
    }))
    .await
    .unwrap();

    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the handler was dropped");
    let result = items
        .iter()
        .find_map(|m| match m {
            Ok(Message::Result(r)) => Some(r.clone()),
            _ => None,
        })
        .expect("the turn ends with a result");
    assert_eq!(result.terminal_reason.as_deref(), Some("aborted_tools"));

    // From the mock's log: the tools/call got no reply; the notification got exactly one.
    let entries = read_log(&log);
    let sent: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "control_request_sent")
        .collect();
    let id_of = |method: &str| {
        sent.iter()
            .find(|e| e["request"]["message"]["method"] == method)
            .and_then(|e| e["request_id"].as_str())
            .unwrap_or_else(|| panic!("the mock sent {method}: {entries:?}"))
            .to_owned()
    };
    let (call, cancel) = (id_of("tools/call"), id_of("notifications/cancelled"));
    let replies = |id: &str| {
        entries
            .iter()
            .filter(|e| e["event"] == "control_response" && e["request_id"] == id)
            .count()
    };
    assert_eq!(replies(&call), 0, "no reply for the withdrawn tools/call");
    assert_eq!(replies(&cancel), 1, "the notification is answered once");
    let answer = entries
        .iter()
        .find(|e| e["event"] == "stdin" && e["line"]["response"]["request_id"] == cancel)
        .expect("our reply to the notification is in the stdin log");
    assert_eq!(
        answer["line"]["response"]["response"],
        json!({"mcp_response": {"jsonrpc": "2.0", "result": {}}})
    );
    let _ = std::fs::remove_file(&log);
}
