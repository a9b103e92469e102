//! Fixed `Lock` workloads, counted rather than timed: `cargo bench --bench lock_cost --no-run`,
//! then with the binary it names
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/lock_cost-* <workload>
//! ```
//!
//! Every workload runs on a current-thread runtime inside spawned tasks. Subtract the baseline
//! and divide by the count:
//!
//! - `uncontended` (baseline `empty`): 100,000 × take a free lock with `lock().await`, drop the
//!   guard.
//! - `handoff` (baseline `yield_only`): two tasks, 50,000 rounds each of take the lock, yield,
//!   drop the guard; every drop hands the lock to the other task, queued meanwhile (100,000
//!   hand-offs, each with one queueing and one wake-up). `yield_only` is the same two tasks
//!   yielding without the lock.
//!
//! Without an argument it prints the workloads' names.
#![allow(missing_docs)]

mod common;

use std::sync::Arc;

use common::*;

const OPS: usize = 100_000;

const WORKLOADS: [&str; 4] = ["empty", "uncontended", "yield_only", "handoff"];

/// Two tasks, `OPS / 2` rounds each: with `lock`, take it, yield, drop it; without, yield.
async fn two_tasks(lock: Option<Arc<tether::Lock>>) {
    let round = |lock: Option<Arc<tether::Lock>>| async move {
        for _ in 0..OPS / 2 {
            match &lock {
                Some(lock) => {
                    let guard = lock.lock().await.unwrap();
                    tokio::task::yield_now().await;
                    drop(guard);
                }
                None => tokio::task::yield_now().await,
            }
        }
    };
    let a = tokio::spawn(round(lock.clone()));
    let b = tokio::spawn(round(lock));
    a.await.unwrap();
    b.await.unwrap();
}

/// Runs workload `name` once; false if there is no such workload.
async fn run(name: &str) -> bool {
    match name {
        "empty" => {}
        "uncontended" => {
            let lock = tether::Lock::new();
            for _ in 0..OPS {
                drop(std::hint::black_box(lock.lock().await.unwrap()));
            }
        }
        "yield_only" => two_tasks(None).await,
        "handoff" => {
            let lock = Arc::new(tether::Lock::new());
            two_tasks(Some(lock.clone())).await;
            assert!(!lock.is_locked());
        }
        _ => return false,
    }
    true
}

fn main() {
    callgrind_main(&WORKLOADS, |name| async move { run(&name).await });
}
