//! Messages per second from mock-claude through the client, side by side with the floor: the
//! same mock, the same lines, read with a bare `BufReader::read_line` + `serde_json` in the same
//! run.
//!
//! Both cases spawn the mock, write `initialize` and one prompt, and read until the turn's
//! `result`; the mock writes `N` small assistant messages as fast as the pipe takes them. The
//! client does more per line (routing, typed messages, the bounded queue, the turn stream), so
//! the ratio is its overhead. Target: ≥ 0.8× the baseline. Memory stays flat whatever `N`: the
//! client holds at most `2 × message_buffer` messages (queue + look-ahead) plus one turn buffer.
//!
//! `cargo bench -p tether-claude --bench throughput`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const MESSAGES: u64 = 100_000;

fn options() -> tether_claude::ClaudeOptions {
    tether_claude::ClaudeOptions::new()
        .cli_path(mock_claude::binary_path())
        .env("MOCK_CLAUDE_SCENARIO", format!("messages:{MESSAGES}"))
}

/// The client: scoped connection, one turn, count every message.
async fn through_client() -> u64 {
    tether_claude::connect(options(), async |client| {
        let mut turn = client.query("go").await.unwrap();
        let mut n = 0;
        while let Some(m) = turn.next().await {
            m.unwrap();
            n += 1;
        }
        n
    })
    .await
    .unwrap()
}

/// The floor: the same process and lines, `read_line` + `serde_json::from_str::<Value>`.
async fn bare_bufreader() -> u64 {
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
        .env("MOCK_CLAUDE_SCENARIO", format!("messages:{MESSAGES}"))
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

fn throughput(c: &mut Criterion) {
    // Build (or find) the mock before measuring.
    let _ = mock_claude::binary_path();
    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    // Both flavors: on the current-thread runtime the client's task hand-offs stay on one
    // thread; on the multi-thread runtime they cross threads (which a loaded machine punishes).
    for flavor in ["current_thread", "multi_thread"] {
        let rt = match flavor {
            "current_thread" => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            _ => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        };
        group.bench_function(format!("client/{flavor}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        assert!(through_client().await >= MESSAGES);
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_function(format!("bare_bufreader_serde_json/{flavor}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        assert!(bare_bufreader().await >= MESSAGES);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
