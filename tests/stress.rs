//! Stress runs on the multi-thread runtime: scale, depth, cancel storms, drops from other tasks,
//! memory across cycles, and a stream under load with concurrent closes.
//!
//! Sized to finish in seconds in a debug build. `TETHER_STRESS_SCALE` multiplies the sizes (for
//! example `TETHER_STRESS_SCALE=10 cargo test --release --test stress -- --nocapture`); each test
//! prints its figures with `--nocapture`. Every test is bounded by a real-time timeout.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use support::{DropCounter, HOUR};
use tether::{CancelScope, OwnedTaskGroup, RecvError, task_group};
use tokio::time::sleep;

fn scale(n: usize) -> usize {
    let factor: f64 = std::env::var("TETHER_STRESS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64) * factor).max(1.0) as usize
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    support::bounded_for(what, support::STRESS_LIMIT, fut).await
}

/// Resident set size in bytes, from `/proc/self/statm`.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_hundred_thousand_children_in_one_group() {
    let n = scale(100_000);
    let rt = multi_thread();
    let done = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    rt.block_on(bounded("100k children", async {
        task_group(async |tg| {
            for _ in 0..n {
                let done = done.clone();
                tg.spawn(async move {
                    tokio::task::yield_now().await;
                    done.fetch_add(1, Ordering::Relaxed);
                });
            }
        })
        .await
        .unwrap();
    }));
    // The group returned only after every child finished.
    assert_eq!(done.load(Ordering::Relaxed), n);
    println!("{n} children spawned and joined in {:?}", started.elapsed());
}

#[test]
fn a_hundred_thousand_sleeping_children_cancelled_at_once() {
    let n = scale(100_000);
    let rt = multi_thread();
    let drops = DropCounter::default();
    let started = std::time::Instant::now();
    rt.block_on(bounded("100k cancelled children", async {
        task_group(async |tg| {
            for _ in 0..n {
                let guard = drops.guard();
                tg.spawn(async move {
                    let _guard = guard;
                    sleep(HOUR).await;
                });
            }
            tokio::task::yield_now().await;
            tg.cancel_scope().cancel();
            std::future::pending::<()>().await; // cut off here
        })
        .await
        .unwrap_err();
    }));
    assert_eq!(drops.count(), n);
    println!(
        "{n} sleeping children cancelled and joined in {:?}",
        started.elapsed()
    );
}

/// Depth-`depth` chain of groups, each hosted by a child task of the one above; the bottom
/// child sleeps. Returns when cancelled from the top.
fn nest_in_children(depth: usize, bottom: Arc<AtomicBool>) -> BoxFuture<'static, ()> {
    async move {
        if depth == 0 {
            bottom.store(true, Ordering::SeqCst);
            sleep(HOUR).await;
            return;
        }
        let _ = task_group(async |tg| {
            tg.spawn(nest_in_children(depth - 1, bottom));
        })
        .await;
    }
    .boxed()
}

/// Depth-`depth` chain of groups nested in one task: each group's body awaits the next group.
fn nest_in_bodies(depth: usize, bottom: Arc<AtomicBool>) -> BoxFuture<'static, ()> {
    async move {
        if depth == 0 {
            bottom.store(true, Ordering::SeqCst);
            sleep(HOUR).await;
            return;
        }
        let _ = task_group(async |_tg| nest_in_bodies(depth - 1, bottom).await).await;
    }
    .boxed()
}

const DEEP_STACK: usize = 8 << 20;

/// Runs `f` on a thread with a known stack size (the figure the report quotes).
fn on_stack<R: Send + 'static>(size: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(size)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn deep(depth: usize, nest: fn(usize, Arc<AtomicBool>) -> BoxFuture<'static, ()>) {
    let started = std::time::Instant::now();
    on_stack(DEEP_STACK, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_stack_size(DEEP_STACK)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(bounded("deep nesting", async move {
            let bottom = Arc::new(AtomicBool::new(false));
            let scope = CancelScope::new();
            let top = scope.clone();
            let reached = bottom.clone();
            let canceller = tokio::spawn(async move {
                while !reached.load(Ordering::SeqCst) {
                    sleep(Duration::from_millis(1)).await;
                }
                top.cancel();
            });
            let result = scope.run(nest(depth, bottom.clone())).await;
            assert!(result.is_err(), "the top scope caught its cancellation");
            assert!(bottom.load(Ordering::SeqCst));
            canceller.await.unwrap();
        }));
    });
    println!(
        "{depth} nested groups built, cancelled from the top and dropped in {:?} (stack {} MiB)",
        started.elapsed(),
        DEEP_STACK >> 20
    );
}

#[test]
fn groups_nested_a_thousand_deep_in_child_tasks() {
    deep(scale(1_000), nest_in_children);
}

#[test]
fn groups_nested_a_thousand_deep_in_one_task() {
    deep(scale(1_000), nest_in_bodies);
}

/// A global clock of events, to order "child dropped" against "group returned".
static SEQ: AtomicUsize = AtomicUsize::new(0);

struct Stamp(AtomicUsize);

struct StampOnDrop(Arc<Stamp>);

impl Drop for StampOnDrop {
    fn drop(&mut self) {
        self.0
            .0
            .store(SEQ.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    }
}

#[test]
fn a_cancel_storm_while_children_are_spawning() {
    let rounds = scale(200);
    let rt = multi_thread();
    let started = std::time::Instant::now();
    let mut spawned_total = 0;
    let mut refused_total = 0;
    rt.block_on(bounded("cancel storm", async {
        for round in 0..rounds {
            let drops = DropCounter::default();
            let spawned = Arc::new(AtomicUsize::new(0));
            let refused = Arc::new(AtomicUsize::new(0));
            let mut feeders = Vec::new();
            let accepted: Arc<std::sync::Mutex<Vec<Arc<Stamp>>>> = Arc::default();
            let result = task_group(async |tg| {
                // Two feeders in other tasks spawn through handles while the body cancels; they
                // go on after the group returned, and are refused from then on.
                for _ in 0..2 {
                    let handle = tg.handle();
                    let drops = drops.clone();
                    let (spawned, refused) = (spawned.clone(), refused.clone());
                    let accepted = accepted.clone();
                    feeders.push(tokio::spawn(async move {
                        for _ in 0..200 {
                            let guard = drops.guard();
                            let stamp = Arc::new(Stamp(AtomicUsize::new(usize::MAX)));
                            // Made here and moved in, so it is dropped with the future even if
                            // the child never runs.
                            let child_stamp = StampOnDrop(stamp.clone());
                            match handle.spawn(async move {
                                let _guard = guard;
                                let _stamp = child_stamp;
                                sleep(HOUR).await;
                            }) {
                                Ok(()) => {
                                    accepted.lock().unwrap().push(stamp);
                                    spawned.fetch_add(1, Ordering::SeqCst)
                                }
                                Err(e) => {
                                    drop(e.into_inner());
                                    refused.fetch_add(1, Ordering::SeqCst)
                                }
                            };
                            tokio::task::yield_now().await;
                        }
                    }));
                }
                for _ in 0..(round % 7) {
                    tokio::task::yield_now().await;
                }
                tg.cancel_scope().cancel();
                std::future::pending::<()>().await; // cut off here
            })
            .await;
            let returned_at = SEQ.fetch_add(1, Ordering::SeqCst);
            for feeder in feeders {
                feeder.await.unwrap();
            }
            // Every child the group accepted was dropped before the group returned.
            for stamp in accepted.lock().unwrap().iter() {
                assert!(
                    stamp.0.load(Ordering::SeqCst) < returned_at,
                    "round {round}: child outlived its group"
                );
            }
            assert!(result.unwrap_err().is_cancelled());
            // Every child spawned was stopped and dropped, and nothing ran after the group
            // returned (the guards of refused futures were dropped with them).
            let (s, r) = (
                spawned.load(Ordering::SeqCst),
                refused.load(Ordering::SeqCst),
            );
            assert_eq!(drops.count(), s + r, "round {round}: a child was leaked");
            spawned_total += s;
            refused_total += r;
        }
    }));
    println!(
        "{rounds} storms: {spawned_total} children spawned and cancelled, {refused_total} \
         spawns refused, in {:?}",
        started.elapsed()
    );
}

#[test]
fn an_owned_group_dropped_mid_flight_from_another_task() {
    let rounds = scale(200);
    let rt = multi_thread();
    rt.block_on(bounded("owned group dropped elsewhere", async {
        for _ in 0..rounds {
            let drops = DropCounter::default();
            let group = OwnedTaskGroup::open();
            for _ in 0..50 {
                let guard = drops.guard();
                group
                    .spawn(async move {
                        let _guard = guard;
                        tether::shield(sleep(HOUR)).await;
                    })
                    .unwrap();
            }
            let handle = group.handle();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                drop(group);
            })
            .await
            .unwrap();
            assert!(handle.is_closed());
            // The children are aborted (even in shields) and dropped soon after.
            while drops.count() < 50 {
                tokio::task::yield_now().await;
            }
            assert_eq!(drops.count(), 50);
        }
    }));
}

#[test]
fn a_scoped_group_aborted_from_another_task_stops_its_children() {
    let rounds = scale(200);
    let rt = multi_thread();
    rt.block_on(bounded("scoped group aborted", async {
        for _ in 0..rounds {
            let drops = DropCounter::default();
            let running = Arc::new(AtomicUsize::new(0));
            let host = {
                let drops = drops.clone();
                let running = running.clone();
                tokio::spawn(async move {
                    let _ = task_group(async |tg| {
                        for _ in 0..50 {
                            let guard = drops.guard();
                            let running = running.clone();
                            tg.spawn(async move {
                                let _guard = guard;
                                running.fetch_add(1, Ordering::SeqCst);
                                sleep(HOUR).await;
                            });
                        }
                        sleep(HOUR).await;
                    })
                    .await;
                })
            };
            while running.load(Ordering::SeqCst) < 50 {
                tokio::task::yield_now().await;
            }
            let aborter = tokio::spawn(async move {
                host.abort();
                host.await.unwrap_err().is_cancelled()
            });
            assert!(aborter.await.unwrap());
            while drops.count() < 50 {
                tokio::task::yield_now().await;
            }
            assert_eq!(drops.count(), 50);
        }
    }));
}

#[test]
fn resident_memory_is_stable_across_spawn_join_cycles() {
    let cycles = scale(60);
    let rt = multi_thread();
    let mut samples = Vec::new();
    rt.block_on(bounded("memory cycles", async {
        for cycle in 0..cycles {
            task_group(async |tg| {
                for i in 0..2_000u32 {
                    tg.spawn(async move {
                        let buf = vec![i as u8; 256];
                        tokio::task::yield_now().await;
                        drop(buf);
                    });
                }
                tg.start(|status: tether::TaskStatus<()>| async move {
                    status.started(());
                })
                .await
                .unwrap();
                let scope = CancelScope::new().with_timeout(Duration::from_millis(1));
                let _ = scope.run(sleep(HOUR)).await;
            })
            .await
            .unwrap();
            samples.push((cycle, rss()));
        }
    }));
    let warm = samples[samples.len().min(5) - 1].1;
    let last = samples.last().unwrap().1;
    let peak = samples.iter().map(|s| s.1).max().unwrap();
    println!(
        "RSS over {cycles} cycles of 2,000 children: after warm-up {} KiB, peak {} KiB, last {} KiB",
        warm >> 10,
        peak >> 10,
        last >> 10
    );
    // Generous: a leak of one child per cycle would not trip this, a leak of every child would
    // (2,000 × 256 B × cycles plus task overhead).
    assert!(
        last < warm + (64 << 20),
        "RSS grew from {warm} to {last} bytes across {cycles} cycles"
    );
}

#[test]
fn a_stream_under_load_with_concurrent_closes_loses_and_duplicates_nothing() {
    let n = scale(200_000);
    let producers = 4;
    let per = n / producers;
    let n = per * producers;
    let rt = multi_thread();
    let started = std::time::Instant::now();
    let seen: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
    let (received, closed_early) = rt.block_on(bounded("stream load", async {
        let (tx, rx) = tether::memory_stream::<usize>(64);
        let received = Arc::new(AtomicUsize::new(0));
        let closed_early = Arc::new(AtomicUsize::new(0));
        task_group(async |tg| {
            for p in 0..producers {
                let tx = tx.clone();
                tg.spawn(async move {
                    for i in 0..per {
                        tx.send(p * per + i).await.expect("receivers remain");
                    }
                });
            }
            for c in 0..4 {
                let rx = rx.clone();
                let (seen, received, closed_early) =
                    (seen.clone(), received.clone(), closed_early.clone());
                tg.spawn(async move {
                    let mut mine = 0usize;
                    loop {
                        match rx.recv().await {
                            Ok(item) => {
                                assert!(!seen[item].swap(true, Ordering::SeqCst), "{item} twice");
                                received.fetch_add(1, Ordering::SeqCst);
                                mine += 1;
                                // Consumers 0 and 1 close their own handle part-way.
                                if c < 2 && mine == 1_000 * (c + 1) {
                                    rx.close();
                                    closed_early.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            Err(RecvError::Closed) => {
                                assert!(c < 2);
                                break;
                            }
                            Err(RecvError::EndOfStream) => break,
                            Err(other) => panic!("unexpected {other}"),
                        }
                    }
                });
            }
            drop(tx);
            drop(rx);
        })
        .await
        .unwrap();
        (
            received.load(Ordering::SeqCst),
            closed_early.load(Ordering::SeqCst),
        )
    }));
    assert_eq!(received, n, "every item delivered exactly once");
    assert!(seen.iter().all(|s| s.load(Ordering::SeqCst)));
    println!(
        "{n} items through a capacity-64 stream, 4 producers, 4 consumers ({closed_early} closed \
         part-way), in {:?}",
        started.elapsed()
    );
}
