//! Messages per second from mock-claude through the client, side by side with the floor: the
//! same mock, the same lines, read with a bare `BufReader::read_line` + `serde_json` in the same
//! run.
//!
//! Both cases spawn the mock, write `initialize` and one prompt, and read until the turn's
//! `result`; the mock writes `N` small assistant messages as fast as the pipe takes them. The
//! client does more per line (routing, typed messages, the bounded queue, the turn stream), so
//! the ratio is its overhead. Target: ≥ 0.8× the baseline. Memory stays flat whatever `N`: the
//! client holds its look-ahead (at most `2 × message_buffer` messages) plus one burst per stage.
//!
//! Before the timings, one turn of 1,000,000 messages (`TETHER_CLAUDE_RSS_MESSAGES` to change
//! it) goes through the client while the consumer samples the process's resident memory
//! (`VmRSS` from `/proc/self/status`) every 10% of the way; the samples and the growth from the
//! first to the last are printed (skipped when a benchmark filter is given, and off Linux).
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

/// This process's resident set, in KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// One turn of `n` messages, sampling RSS every `n / 10` messages.
async fn rss_over(n: u64) -> (u64, Vec<u64>) {
    let options = tether_claude::ClaudeOptions::new()
        .cli_path(mock_claude::binary_path())
        .env("MOCK_CLAUDE_SCENARIO", format!("messages:{n}"));
    tether_claude::connect(options, async |client| {
        let mut turn = client.query("go").await.unwrap();
        let (mut count, mut samples) = (0, Vec::new());
        let every = (n / 10).max(1);
        while let Some(m) = turn.next().await {
            m.unwrap();
            count += 1;
            if count % every == 0 {
                samples.extend(rss_kib());
            }
        }
        (count, samples)
    })
    .await
    .unwrap()
}

/// Memory over a long turn: printed, not asserted (a bench measures; the bound is structural).
fn memory(_: &mut Criterion) {
    let filtered = std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && a != "throughput");
    if filtered || rss_kib().is_none() {
        return;
    }
    let n: u64 = std::env::var("TETHER_CLAUDE_RSS_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before = rss_kib().unwrap_or(0);
    let (count, samples) = rt.block_on(rss_over(n));
    assert!(count >= n, "every message arrived");
    let first = samples.first().copied().unwrap_or(before);
    let last = samples.last().copied().unwrap_or(before);
    let peak = samples.iter().copied().max().unwrap_or(before);
    println!(
        "memory over {n} messages: RSS before {before} KiB; samples every {} messages (KiB): \
         {samples:?}; first {first}, last {last}, peak {peak}; growth first->last {} KiB",
        n / 10,
        last as i64 - first as i64,
    );
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

criterion_group!(benches, memory, throughput);
criterion_main!(benches);
