//! The spawn+join cases of `compare`, run under a chosen global allocator (each bench target
//! that includes this module picks one): the experiment behind the bimodality note in
//! `docs/benchmarks.md`.
//!
//! The hypothesis: a detached task (tether's children, `TaskTracker`'s) is freed by the worker
//! that ran it, so when the other worker steals children, memory allocated by the host thread
//! is freed on another thread; glibc's `free` then takes the owning arena's lock once the
//! freeing thread's cache is full, and the host's `malloc` contends with it. `tokio::spawn` +
//! awaiting the handle mostly frees on the host. If so, a thread-caching allocator with cheap
//! remote frees (mimalloc) should close most of the gap between the two. Compare the ratios of
//! `spawn_alloc_system` and `spawn_alloc_mimalloc`.
//!
//! The mode is per process, so each target runs `PROCESSES` child processes of itself and prints
//! every process's ratios, then the median over processes.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use super::common::*;
use tokio::runtime::Runtime;

type Sample = fn(&Runtime, usize) -> Duration;

fn tether(rt: &Runtime, n: usize) -> Duration {
    in_task(rt, move || spawn_join_tether(n))
}
fn tokio_spawn(rt: &Runtime, n: usize) -> Duration {
    in_task(rt, move || spawn_join_tokio(n))
}
fn joinset(rt: &Runtime, n: usize) -> Duration {
    in_task(rt, move || spawn_join_joinset(n))
}
fn tracker(rt: &Runtime, n: usize) -> Duration {
    in_task(rt, move || spawn_join_tracker(n))
}

/// `TaskTracker` with children whose future is padded to tether's task size (a 256-byte tokio
/// task instead of 128): separates what the task's size costs from what tether does.
fn tracker_256(rt: &Runtime, n: usize) -> Duration {
    in_task(rt, move || async move {
        let t = std::time::Instant::now();
        let tracker = tokio_util::task::TaskTracker::new();
        for _ in 0..n {
            let pad = [0u8; 64];
            tracker.spawn(async move {
                std::hint::black_box(&pad);
            });
        }
        tracker.close();
        tracker.wait().await;
        t.elapsed()
    })
}

const IMPLS: [(&str, Sample); 5] = [
    ("tether", tether),
    ("tokio_spawn", tokio_spawn),
    ("joinset", joinset),
    ("task_tracker", tracker),
    ("task_tracker_256", tracker_256),
];

const PROCESSES: usize = 4;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One process: every case interleaved round by round, as `compare` does; prints
/// `R <allocator> <case> <peer> <ratio>` and `NS <allocator> <case> <impl> <ns per task>`.
fn one_process(allocator: &str) {
    let rt = multi_thread();
    for (n, rounds) in [(1_000usize, 45usize), (10_000, 25), (100_000, 9)] {
        let reps = (20_000 / n).max(1);
        let run = |f: Sample| -> f64 {
            let d: Duration = (0..reps).map(|_| f(&rt, n)).sum();
            d.as_nanos() as f64 / (n * reps) as f64
        };
        for (_, f) in IMPLS {
            run(f);
        }
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); IMPLS.len()];
        for round in 0..rounds {
            for j in 0..IMPLS.len() {
                let i = (j + round) % IMPLS.len();
                per[i].push(run(IMPLS[i].1));
            }
        }
        let case = format!("spawn_join_{}k", n / 1000);
        for (p, (peer, _)) in IMPLS.iter().enumerate().skip(1) {
            let r = median((0..rounds).map(|k| per[0][k] / per[p][k]).collect());
            println!("R {allocator} {case} {peer} {r:.3}");
        }
        for (i, (name, _)) in IMPLS.iter().enumerate() {
            println!("NS {allocator} {case} {name} {:.1}", median(per[i].clone()));
        }
    }
}

/// Runs `PROCESSES` processes of this binary (each with `SPAWN_ALLOC_CHILD=1`) and summarises.
pub fn main(allocator: &str) {
    if std::env::var_os("SPAWN_ALLOC_CHILD").is_some() {
        one_process(allocator);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut ratios: std::collections::BTreeMap<(String, String), Vec<f64>> = Default::default();
    for p in 0..PROCESSES {
        let out = std::process::Command::new(&exe)
            .env("SPAWN_ALLOC_CHILD", "1")
            .output()
            .expect("run a measuring process");
        let text = String::from_utf8_lossy(&out.stdout);
        print!("process {p}:\n{text}");
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let ["R", _, case, peer, r] = f[..] {
                ratios
                    .entry((case.to_string(), peer.to_string()))
                    .or_default()
                    .push(r.parse().unwrap());
            }
        }
    }
    println!("\nallocator {allocator}: tether / peer per process, and the median over processes");
    for ((case, peer), rs) in ratios {
        let list: Vec<String> = rs.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "RATIO {allocator} {case} {peer} [{}] median {:.3}",
            list.join(" "),
            median(rs)
        );
    }
}
