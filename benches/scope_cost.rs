//! Fixed workloads of the scope and stream cases, counted rather than timed:
//! `cargo bench --bench scope_cost --no-run`, then with the binary it names
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/scope_cost-* <workload>
//! ```
//!
//! Instruction counts are repeatable on a loaded machine where wall-clock times are not. Every
//! workload runs on a current-thread runtime, inside one spawned task, as the compare bench's
//! one-worker cases do. Subtract `empty` (runtime start and stop) and divide by the count:
//!
//! - `fail_after`, `move_on_after`, `timeout_tokio`: 100,000 ready futures wrapped.
//! - `latency_tether`, `latency_joinset`, `latency_token_tracker`: 2,000 groups (sets) with one
//!   sleeping child each, cancelled and joined.
//! - `stream_tether`, `stream_flume`, `stream_tokio_mpsc`: 1 producer, 1 consumer, capacity
//!   128, 100,000 items.
//!
//! Without an argument it prints the workloads' names.
#![allow(missing_docs)]

mod common;

use common::*;

const SCOPES: usize = 100_000;
const LATENCY: usize = 2_000;
const ITEMS: usize = 100_000;

const WORKLOADS: [&str; 10] = [
    "empty",
    "fail_after",
    "move_on_after",
    "timeout_tokio",
    "latency_tether",
    "latency_joinset",
    "latency_token_tracker",
    "stream_tether",
    "stream_flume",
    "stream_tokio_mpsc",
];

/// Runs workload `name` once; false if there is no such workload.
async fn run(name: &str) -> bool {
    match name {
        "empty" => {}
        "fail_after" => {
            fail_after_tether(SCOPES).await;
        }
        "move_on_after" => {
            move_on_after_tether(SCOPES).await;
        }
        "timeout_tokio" => {
            timeout_tokio(SCOPES).await;
        }
        "latency_tether" => {
            latency_tether(LATENCY).await;
        }
        "latency_joinset" => {
            latency_joinset(LATENCY).await;
        }
        "latency_token_tracker" => {
            latency_token_tracker(LATENCY).await;
        }
        "stream_tether" => {
            stream_tether(ITEMS, 128, 1, 1).await;
        }
        "stream_flume" => {
            stream_flume(ITEMS, 128, 1, 1).await;
        }
        "stream_tokio_mpsc" => {
            stream_tokio_mpsc(ITEMS, 128, 1, 1).await;
        }
        _ => return false,
    }
    true
}

fn main() {
    callgrind_main(&WORKLOADS, |name| async move { run(&name).await });
}
