//! The web demo against the REAL Claude Code CLI (the pinned version from
//! `scripts/install-claude-cli.sh`, or `CLAUDE_CLI_PATH`), which talks to the loopback fake
//! Messages API: every byte stays on the machine. Real clock (the CLI is a real process).
//!
//! If the CLI cannot be found or installed, the test fails saying why (no silent skip), as the
//! other interop tests do.

mod support;

use std::time::Duration;

use fake_messages_api::{FakeMessagesApi, Reply};
use hyper::StatusCode;
use serde_json::json;
use support::{Server, Turn, assert_reaped, deltas, request, texts};
use tether_claude::ClaudeOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_demo_streams_interrupts_and_survives_drops_with_the_real_cli() {
    let cli = fake_messages_api::real_cli_path()
        .unwrap_or_else(|e| panic!("the real Claude Code CLI is needed for this test: {e}"));
    let api = FakeMessagesApi::start().await.unwrap();
    let home = support::scratch("home");
    let mut options = ClaudeOptions::new()
        .cli_path(cli)
        .include_partial_messages(true)
        .close_grace(Duration::from_secs(5))
        .term_grace(Duration::from_secs(5));
    for (key, value) in fake_messages_api::cli_env(&api, &home) {
        options = options.env(key, value);
    }
    // Remove inherited variables that could send the CLI elsewhere.
    for key in fake_messages_api::CLI_ENV_REMOVE {
        options = options.env_remove(*key);
    }
    let server = Server::start_with(options, support::scratch("server")).await;
    let pid = server.status().await["pid"].as_u64().unwrap() as u32;

    // 1. A whole turn, streamed.
    api.push(Reply::text(
        "Hello from the fake API, through one shared connection.",
    ));
    let mut a = Turn::post(server.addr, "say hello").await;
    assert_eq!(a.expect("queued").await, json!({"turn": 1, "ahead": 0}));
    a.expect("start").await;
    let rest = a.rest().await;
    assert_eq!(rest.last().unwrap().name, "result", "{rest:?}");
    assert_eq!(
        texts(&rest),
        ["Hello from the fake API, through one shared connection."]
    );
    assert_eq!(
        deltas(&rest),
        "Hello from the fake API, through one shared connection."
    );
    assert_eq!(rest.last().unwrap().data["is_error"], false);

    // 2. Interrupted from another request while the API stream stalls.
    api.push(Reply::text("partial answer that never ends").stalling());
    let mut b = Turn::post(server.addr, "take your time").await;
    b.expect("queued").await;
    b.expect("start").await;
    b.until("delta").await;
    let (code, body) = request(server.addr, "POST", "/api/interrupt", Some("{\"turn\": 2}")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let rest = b.rest().await;
    let result = &rest.last().unwrap().data;
    assert_eq!(rest.last().unwrap().name, "result", "{rest:?}");
    assert_eq!(result["terminal_reason"], "aborted_streaming", "{result}");

    // 3. The client goes away mid-stream; the next turn is clean.
    api.push(Reply::text("you will not read this to the end").stalling());
    let mut c = Turn::post(server.addr, "then leave").await;
    c.expect("queued").await;
    c.expect("start").await;
    c.until("delta").await;
    drop(c);
    server
        .wait_status("the dropped turn to end", |s| s["open_streams"] == 0)
        .await;
    api.push(Reply::text("A clean fourth turn."));
    let mut d = Turn::post(server.addr, "still there?").await;
    d.expect("queued").await;
    d.expect("start").await;
    let rest = d.rest().await;
    assert_eq!(
        texts(&rest),
        ["A clean fourth turn."],
        "no leftovers: {rest:?}"
    );
    assert_eq!(rest.last().unwrap().data["is_error"], false);

    let status = server.status().await;
    assert_eq!(status["turns_served"], 3);
    assert_eq!(status["turns_interrupted"], 1);
    assert_eq!(status["abandoned"], 1);
    assert_eq!(status["alive"], true);
    let report = server.shutdown().await;
    assert_eq!(report.pid, pid);
    assert_reaped(pid).await;
    // The CLI really talked to the fake: every prompt reached the Messages API.
    let bodies = serde_json::to_string(&api.messages_bodies()).unwrap();
    for p in ["say hello", "take your time", "then leave", "still there?"] {
        assert!(bodies.contains(p), "{p} did not reach the API");
    }
    let _ = api.shutdown().await;
}
