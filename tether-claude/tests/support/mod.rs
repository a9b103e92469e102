//! Shared test helpers: mock-claude options, bounds, process checks.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tether_claude::{ClaudeOptions, Message, ResponseStream};

/// Every test that could hang is bounded by this.
pub const BOUND: Duration = Duration::from_secs(60);

/// Runs `fut`, failing the test if it takes longer than [`BOUND`].
pub async fn bounded<F: Future>(fut: F) -> F::Output {
    match tokio::time::timeout(BOUND, fut).await {
        Ok(out) => out,
        Err(_) => panic!("the test did not finish within {BOUND:?}: a hang"),
    }
}

/// Options running mock-claude with short grace periods.
pub fn mock() -> ClaudeOptions {
    ClaudeOptions::new()
        .cli_path(mock_claude::binary_path())
        .close_grace(Duration::from_millis(500))
        .term_grace(Duration::from_millis(500))
        .control_timeout(Duration::from_secs(30))
}

/// mock-claude playing a built-in scenario.
pub fn scenario(name: &str) -> ClaudeOptions {
    mock().env("MOCK_CLAUDE_SCENARIO", name)
}

/// mock-claude playing an inline JSON script.
pub fn script(script: Value) -> ClaudeOptions {
    mock().env("MOCK_CLAUDE_SCRIPT_JSON", script.to_string())
}

/// A fresh path in the temp dir (for logs and pidfiles).
pub fn temp_file(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "tether-claude-{tag}-{}-{n}.jsonl",
        std::process::id()
    ))
}

/// The mock's log lines (JSON objects).
pub fn read_log(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Whether `pid` exists at all (alive or a zombie).
pub fn pid_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The process state letter from /proc (`Z` for a zombie), if it exists.
pub fn pid_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

/// Waits (bounded) until `pid` is gone: neither running nor a zombie.
pub async fn wait_reaped(pid: u32) {
    bounded(async {
        while pid_exists(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Collects a turn: every item until the stream ends.
pub async fn collect(mut turn: ResponseStream) -> Vec<Result<Message, tether_claude::Error>> {
    let mut out = Vec::new();
    while let Some(item) = turn.next().await {
        out.push(item);
    }
    out
}

/// The joined assistant text of a turn's messages.
pub fn text_of(items: &[Result<Message, tether_claude::Error>]) -> String {
    items
        .iter()
        .filter_map(|m| m.as_ref().ok().and_then(Message::text))
        .collect::<Vec<_>>()
        .join("")
}

/// The prompts (`user` lines) the mock read, in order, as their text content.
pub fn logged_prompts(path: &PathBuf) -> Vec<String> {
    read_log(path)
        .into_iter()
        .filter(|e| e["event"] == "stdin" && e["line"]["type"] == "user")
        .map(|e| match &e["line"]["message"]["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}
