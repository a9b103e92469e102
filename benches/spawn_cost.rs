//! What one child costs, counted rather than timed: `cargo bench --bench spawn_cost`.
//!
//! Prints the heap allocations per child of tether's spawn paths and of the peers (counted by a
//! global allocator, on a current-thread runtime so the count is exact and repeatable).
//!
//! With an argument it runs one fixed workload instead, for `valgrind --tool=callgrind`, whose
//! instruction counts are repeatable on a loaded machine where wall-clock times are not:
//!
//! ```text
//! cargo bench --bench spawn_cost --no-run   # then, with the binary it names:
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/spawn_cost-* tether
//! ```
//!
//! Workloads: `empty` (runtime start and stop only: subtract it), `tether`, `tether_handle`,
//! `tether_nested`, `tether_start`, `tokio_spawn`, `joinset`, `task_tracker`, `spawn_oneshot`;
//! for the task tree's cost (not in the allocation table), `scope_ready` / `scope_ready_tree`
//! (10,000 `CancelScope::new().run(ready(i))`, tree off / on) and `tether_tree` (`tether` with
//! the tree on); for callgrind only, `storm_tether`/`storm_joinset` (sleeping children
//! cancelled at once) and `nested_chain_tether`/`nested_chain_joinset` (chains of 10 nested
//! groups or sets), `nested_chain100_tether`/`nested_chain100_joinset` (chains of 100).
//! Each spawns 10,000 trivial children (10 groups of 1,000; `tether_nested` spawns them
//! inside a group nested 10 deep), so `(Ir(workload) - Ir(empty)) / 10,000` is the
//! instructions per child.
#![allow(missing_docs)]

mod common;

use std::alloc::System;
use std::future::Future;

use common::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

// `stats_alloc` counts allocations; the crate forbids unsafe code, so no hand-written
// `GlobalAlloc`.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const GROUPS: usize = 10;
const PER_GROUP: usize = 1_000;

async fn tether_handle(n: usize) {
    tether::task_group(async |tg| {
        let handle = tg.handle();
        for _ in 0..n {
            handle.spawn(async {}).unwrap();
        }
    })
    .await
    .unwrap();
}

/// `n` children spawned into the innermost of `depth` nested groups.
fn tether_nested(
    depth: usize,
    n: usize,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
    Box::pin(async move {
        if depth == 0 {
            spawn_join_tether(n).await;
            return;
        }
        tether::task_group(async move |tg| {
            tg.spawn(tether_nested(depth - 1, n));
        })
        .await
        .unwrap();
    })
}

/// Runs workload `name` once with `n` children; false if there is no such workload.
async fn run(name: &str, n: usize) -> bool {
    match name {
        "empty" => {}
        // The shared workloads (benches/common) time themselves: two clock reads per group of
        // 1,000 children, negligible per child.
        "tether" => {
            spawn_join_tether(n).await;
        }
        "tether_handle" => tether_handle(n).await,
        "tether_nested" => tether_nested(10, n).await,
        "tether_start" => {
            start_tether(n).await;
        }
        "tokio_spawn" => {
            spawn_join_tokio(n).await;
        }
        "joinset" => {
            spawn_join_joinset(n).await;
        }
        "task_tracker" => {
            spawn_join_tracker(n).await;
        }
        "spawn_oneshot" => {
            start_spawn_oneshot(n).await;
        }
        // The task tree's cost (callgrind only; no allocation count): `n` scope entries around
        // a ready future, or `n` trivial children, with the tree off and on.
        "scope_ready" => {
            tether::disable_task_tree();
            scope_ready_tether(n).await;
        }
        "scope_ready_tree" => {
            tether::enable_task_tree();
            scope_ready_tether(n).await;
        }
        "tether_tree" => {
            tether::enable_task_tree();
            spawn_join_tether(n).await;
        }
        // Cancel storms: `n` sleeping children, cancelled at once (callgrind only; not in the
        // allocation table, as the sleeping children make the count include timer entries).
        "storm_tether" => {
            storm_tether(n).await;
        }
        "storm_joinset" => {
            storm_joinset(n).await;
        }
        // `n / 10` chains of 10 nested groups (sets), each level hosting one child.
        "nested_chain_tether" => {
            timed(n / 10, || nested_tether(10)).await;
        }
        "nested_chain_joinset" => {
            timed(n / 10, || nested_joinset(10)).await;
        }
        // `n / 100` chains of 100: with the chains of 10, whether the cost per level is flat.
        "nested_chain100_tether" => {
            timed(n / 100, || nested_tether(100)).await;
        }
        "nested_chain100_joinset" => {
            timed(n / 100, || nested_joinset(100)).await;
        }
        _ => return false,
    }
    true
}

const WORKLOADS: [&str; 8] = [
    "tether",
    "tether_handle",
    "tether_nested",
    "tether_start",
    "tokio_spawn",
    "joinset",
    "task_tracker",
    "spawn_oneshot",
];

fn main() {
    // `cargo bench` passes `--bench`; any other argument names a workload.
    let workload = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    // `mt_<workload>` runs `<workload>` on the 2-worker runtime of `cargo bench --bench
    // compare` instead (for `perf`; callgrind's counts there depend on the interleaving).
    let (rt, workload) = match workload.as_deref().and_then(|w| w.strip_prefix("mt_")) {
        Some(name) => (multi_thread(), Some(name.to_owned())),
        None => (current_thread(), workload),
    };
    if let Some(name) = workload {
        rt.block_on(async {
            tokio::spawn(async move {
                for _ in 0..GROUPS {
                    assert!(run(&name, PER_GROUP).await, "unknown workload {name}");
                }
            })
            .await
            .unwrap();
        });
        return;
    }
    println!("heap allocations per child (current-thread runtime, groups of {PER_GROUP}):");
    for name in WORKLOADS {
        let per_child = rt.block_on(async move {
            tokio::spawn(async move {
                // Warm up (vectors, slabs and runtime queues grow once).
                run(name, PER_GROUP).await;
                let region = Region::new(GLOBAL);
                run(name, PER_GROUP).await;
                let stats = region.change();
                (
                    stats.allocations as f64 / PER_GROUP as f64,
                    stats.reallocations as f64 / PER_GROUP as f64,
                    stats.bytes_allocated as f64 / PER_GROUP as f64,
                )
            })
            .await
            .unwrap()
        });
        println!(
            "ALLOC {name:<14} {:>6.3} allocs {:>6.3} reallocs {:>8.1} bytes per child",
            per_child.0, per_child.1, per_child.2
        );
    }
}
