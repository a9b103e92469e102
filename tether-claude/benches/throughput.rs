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
//!
//! After the timings it prints a table of medians (messages per second, client ÷ floor of the
//! same run, per runtime flavor). With `TETHER_CLAUDE_REPORT=<file>` it also writes the table
//! (and the memory figures) into that file between `<!-- tether-claude-throughput:begin -->`
//! and `<!-- tether-claude-throughput:end -->` — how `docs/sdk.md` §7 is generated:
//!
//! ```sh
//! cargo build --release -p mock-claude
//! MOCK_CLAUDE_BIN=$PWD/target/release/mock-claude TETHER_CLAUDE_REPORT=$PWD/docs/sdk.md \
//!     cargo bench -p tether-claude --bench throughput
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod floor;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;

const MESSAGES: u64 = 100_000;

/// Criterion's samples per case (the last this many calls of a case are its measurement; the
/// calls before them are its warm-up).
const SAMPLE_SIZE: usize = 10;

/// Seconds per run of `MESSAGES`, per case, as criterion measured them (warm-up calls too; the
/// report keeps the last `SAMPLE_SIZE`).
static SAMPLES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// The memory line, for the report.
static MEMORY: Mutex<Option<String>> = Mutex::new(None);

fn record(case: &str, elapsed: Duration, iters: u64) {
    if iters > 0 {
        SAMPLES
            .lock()
            .unwrap()
            .entry(case.to_string())
            .or_default()
            .push(elapsed.as_secs_f64() / iters as f64);
    }
}

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
    let line = format!(
        "memory over {n} messages: RSS before {before} KiB; samples every {} messages (KiB): \
         {samples:?}; first {first}, last {last}, peak {peak}; growth first->last {} KiB",
        n / 10,
        last as i64 - first as i64,
    );
    println!("{line}");
    *MEMORY.lock().unwrap() = Some(line);
}

fn throughput(c: &mut Criterion) {
    // Build (or find) the mock before measuring.
    let _ = mock_claude::binary_path();
    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(SAMPLE_SIZE);
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
                    let elapsed = start.elapsed();
                    record(&format!("client/{flavor}"), elapsed, iters);
                    elapsed
                })
            })
        });
        group.bench_function(format!("bare_bufreader_serde_json/{flavor}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        assert!(floor::bare_bufreader(MESSAGES).await >= MESSAGES);
                    }
                    let elapsed = start.elapsed();
                    record(&format!("floor/{flavor}"), elapsed, iters);
                    elapsed
                })
            })
        });
    }
    group.finish();
}

/// The median of the measurement samples (the last `SAMPLE_SIZE`; the warm-up calls before
/// them are dropped).
fn median(xs: Vec<f64>) -> Option<f64> {
    let mut xs = xs[xs.len().saturating_sub(SAMPLE_SIZE)..].to_vec();
    xs.sort_by(f64::total_cmp);
    (!xs.is_empty()).then(|| xs[xs.len() / 2])
}

/// The medians as a markdown table; written into `TETHER_CLAUDE_REPORT` if set.
fn report(_: &mut Criterion) {
    let samples = std::mem::take(&mut *SAMPLES.lock().unwrap());
    let rate = |case: &str| {
        median(samples.get(case).cloned().unwrap_or_default()).map(|s| MESSAGES as f64 / s)
    };
    let flavors = ["current_thread", "multi_thread"];
    if flavors
        .iter()
        .all(|f| rate(&format!("client/{f}")).is_none())
    {
        return; // filtered out
    }
    let k = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.0} K msg/s", r / 1000.0));
    let mut table = String::from(
        "| case | current-thread runtime | multi-thread runtime (2 workers) |\n|---|---|---|\n",
    );
    let row = |name: &str, f: &dyn Fn(&str) -> String| {
        format!("| {name} | {} | {} |\n", f(flavors[0]), f(flavors[1]))
    };
    table += &row("client (median)", &|f| k(rate(&format!("client/{f}"))));
    table += &row(
        "floor: `BufReader` + `serde_json`, same run (median)",
        &|f| k(rate(&format!("floor/{f}"))),
    );
    table += &row("**client ÷ floor**", &|f| match (
        rate(&format!("client/{f}")),
        rate(&format!("floor/{f}")),
    ) {
        (Some(c), Some(b)) => format!("**{:.2}×**", c / b),
        _ => "-".into(),
    });
    let mock = std::env::var("MOCK_CLAUDE_BIN").map_or_else(
        |_| "found by `mock_claude::binary_path()`".to_string(),
        |p| {
            format!(
                "`MOCK_CLAUDE_BIN` ({})",
                if p.contains("release") {
                    "release"
                } else {
                    "as given"
                }
            )
        },
    );
    let mut text = format!(
        "{table}\n{MESSAGES} messages per run; medians of criterion's {SAMPLE_SIZE} samples per \
         case (warm-up excluded); mock: {mock}; load average at the end: {}.\n",
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "unknown".into()),
    );
    if let Some(memory) = MEMORY.lock().unwrap().take() {
        text += &format!("\nMemory (same run, multi-thread runtime): {memory}.\n");
    }
    println!("\n{text}");
    if let Ok(path) = std::env::var("TETHER_CLAUDE_REPORT") {
        write_between_markers(&path, "tether-claude-throughput", &text);
    }
}

/// Replaces the text between `<!-- {name}:begin -->` and `<!-- {name}:end -->` in `path`.
fn write_between_markers(path: &str, name: &str, text: &str) {
    let (begin, end) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let (Some(a), Some(b)) = (doc.find(&begin), doc.find(&end)) else {
        panic!("{path} has no {begin} … {end} markers");
    };
    let out = format!("{}{begin}\n{text}{}", &doc[..a], &doc[b..]);
    std::fs::write(path, out).unwrap_or_else(|e| panic!("write {path}: {e}"));
    println!("wrote the table into {path}");
}

criterion_group!(benches, memory, throughput, report);
criterion_main!(benches);
