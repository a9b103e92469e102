//! The floor both throughput benches measure the client against: the same mock process and
//! lines, read with `read_line` + `serde_json::from_str::<Value>` and nothing else.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Starts the mock with one turn of `messages` messages and counts them to the `result`.
pub(crate) async fn bare_bufreader(messages: u64) -> u64 {
    let mut child = tokio::process::Command::new(mock_claude::binary_path())
        .args([
            "--output-format",
            "stream-json",
            "--verbose",
            "--system-prompt",
            "",
            "--input-format",
            "stream-json",
        ])
        .env("MOCK_CLAUDE_SCENARIO", format!("messages:{messages}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            b"{\"type\":\"control_request\",\"request_id\":\"req_1_0\",\"request\":{\"subtype\":\"initialize\",\"hooks\":null}}\n\
              {\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"go\"},\"parent_tool_use_id\":null,\"session_id\":\"default\"}\n",
        )
        .await
        .unwrap();
    let mut out = BufReader::with_capacity(64 * 1024, child.stdout.take().unwrap());
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        if out.read_line(&mut line).await.unwrap() == 0 {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["type"] == "control_response" {
            continue;
        }
        n += 1;
        if v["type"] == "result" {
            break;
        }
    }
    drop(stdin);
    child.wait().await.unwrap();
    n
}
