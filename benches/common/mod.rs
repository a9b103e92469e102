//! Workloads shared by the criterion benches and the one-command comparison (`compare`).
//!
//! Every workload takes a runtime and a number of operations, runs them inside one spawned
//! tokio task (as application code would run), and returns the time the operations took. The
//! tether workload and its peers are written side by side so they do the same work.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::future::{Future, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The runtime every case runs on: multi-thread, 2 workers (the machine has 2 cores).
pub fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A current-thread runtime, for the cases where a single thread is the point.
pub fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The `main` of a callgrind harness (`benches/scope_cost.rs`, `benches/lock_cost.rs`): runs the
/// workload named on the command line with `run`, inside one spawned task on a current-thread
/// runtime, or prints the workloads' names without an argument. `cargo bench` passes `--bench`,
/// which is not a name.
pub fn callgrind_main<F, Fut>(workloads: &[&str], run: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let Some(name) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        println!(
            "workloads (run one under callgrind): {}",
            workloads.join(", ")
        );
        return;
    };
    current_thread().block_on(async {
        let known = tokio::spawn(run(name.clone())).await.unwrap();
        assert!(known, "unknown workload {name}");
    });
}

/// Runs `f` inside a spawned task on `rt` and returns the duration it reports.
pub fn in_task<F, Fut>(rt: &Runtime, f: F) -> Duration
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Duration> + Send + 'static,
{
    rt.block_on(async move {
        tokio::spawn(async move { f().await })
            .await
            .expect("bench task")
    })
}

const LONG: Duration = Duration::from_secs(3600);

// ----- task_group: spawn + join ---------------------------------------------------------------

pub async fn spawn_join_tether(n: usize) -> Duration {
    let t = Instant::now();
    tether::task_group(async |tg| {
        for _ in 0..n {
            tg.spawn(async {});
        }
    })
    .await
    .unwrap();
    t.elapsed()
}

pub async fn spawn_join_tokio(n: usize) -> Duration {
    let t = Instant::now();
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
    for h in handles {
        h.await.unwrap();
    }
    t.elapsed()
}

pub async fn spawn_join_joinset(n: usize) -> Duration {
    let t = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(async {});
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    t.elapsed()
}

pub async fn spawn_join_tracker(n: usize) -> Duration {
    let t = Instant::now();
    let tracker = TaskTracker::new();
    for _ in 0..n {
        tracker.spawn(async {});
    }
    tracker.close();
    tracker.wait().await;
    t.elapsed()
}

// ----- task_group: start() round trip -------------------------------------------------------

/// `n` sequential `start()` calls in one group (each child reports a value and ends).
pub async fn start_tether(n: usize) -> Duration {
    let t = Instant::now();
    tether::task_group(async |tg| {
        for i in 0..n {
            let v = tg
                .start(move |status| async move { status.started(i) })
                .await
                .unwrap();
            black_box(v);
        }
    })
    .await
    .unwrap();
    t.elapsed()
}

/// The peer: spawn a task that sends on a oneshot, await the value, join the tasks at the end.
pub async fn start_spawn_oneshot(n: usize) -> Duration {
    let t = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel();
        handles.push(tokio::spawn(async move {
            let _ = tx.send(i);
        }));
        black_box(rx.await.unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }
    t.elapsed()
}

// ----- task_group: contention (many spawners into one group at once) ------------------------

/// How many tasks spawn into the one group (set, tracker) at once.
pub const SPAWNERS: usize = 8;

/// `SPAWNERS` children of one group each spawn `n / SPAWNERS` trivial siblings through a
/// `TaskGroupHandle`, all at once; the group exits when every sibling is done.
pub async fn contention_tether(n: usize) -> Duration {
    let per = n / SPAWNERS;
    let t = Instant::now();
    tether::task_group(async |tg| {
        for _ in 0..SPAWNERS {
            let handle = tg.handle();
            tg.spawn(async move {
                for _ in 0..per {
                    handle.spawn(async {}).unwrap();
                }
            });
        }
    })
    .await
    .unwrap();
    t.elapsed()
}

/// The peer: one `JoinSet` behind a mutex, `SPAWNERS` spawned tasks spawning into it at once;
/// the spawners are awaited, then the set is drained.
pub async fn contention_joinset_mutex(n: usize) -> Duration {
    let per = n / SPAWNERS;
    let t = Instant::now();
    let set = Arc::new(std::sync::Mutex::new(JoinSet::new()));
    let spawners: Vec<_> = (0..SPAWNERS)
        .map(|_| {
            let set = set.clone();
            tokio::spawn(async move {
                for _ in 0..per {
                    set.lock().unwrap().spawn(async {});
                }
            })
        })
        .collect();
    for s in spawners {
        s.await.unwrap();
    }
    let mut set = std::mem::take(&mut *set.lock().unwrap());
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    t.elapsed()
}

/// The peer: one `TaskTracker`, `SPAWNERS` tracked tasks spawning into it at once.
pub async fn contention_tracker(n: usize) -> Duration {
    let per = n / SPAWNERS;
    let t = Instant::now();
    let tracker = TaskTracker::new();
    for _ in 0..SPAWNERS {
        let inner = tracker.clone();
        tracker.spawn(async move {
            for _ in 0..per {
                inner.spawn(async {});
            }
        });
    }
    tracker.close();
    tracker.wait().await;
    t.elapsed()
}

// ----- task_group: nesting -----------------------------------------------------------------

/// A chain of `depth` groups, each hosting one child that opens the next group.
pub fn nested_tether(depth: usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return;
        }
        tether::task_group(async move |tg| {
            tg.spawn(nested_tether(depth - 1));
        })
        .await
        .unwrap();
    })
}

/// The peer: a chain of `depth` JoinSets, each holding one task that opens the next.
pub fn nested_joinset(depth: usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return;
        }
        let mut set = JoinSet::new();
        set.spawn(nested_joinset(depth - 1));
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    })
}

/// The peer: a chain of `depth` spawned tasks, each awaiting the next's handle.
pub fn nested_spawn(depth: usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return;
        }
        tokio::spawn(nested_spawn(depth - 1)).await.unwrap();
    })
}

pub async fn timed(
    iters: usize,
    mut f: impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        f().await;
    }
    t.elapsed()
}

// ----- cancel: a scope around a ready future ----------------------------------------------

pub async fn scope_ready_tether(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        let r = tether::CancelScope::new().run(ready(i)).await;
        black_box(r.unwrap());
    }
    t.elapsed()
}

/// The fair peer: a child token per operation (the analogue of entering a nested scope).
pub async fn scope_ready_child_token(n: usize) -> Duration {
    let parent = CancellationToken::new();
    let t = Instant::now();
    for i in 0..n {
        let token = parent.child_token();
        let r = tokio::select! {
            biased;
            _ = token.cancelled() => None,
            v = ready(i) => Some(v),
        };
        black_box(r.unwrap());
    }
    t.elapsed()
}

/// The cheapest peer: one token made in advance, selected against every time.
pub async fn scope_ready_token(n: usize) -> Duration {
    let token = CancellationToken::new();
    let t = Instant::now();
    for i in 0..n {
        let r = tokio::select! {
            biased;
            _ = token.cancelled() => None,
            v = ready(i) => Some(v),
        };
        black_box(r.unwrap());
    }
    t.elapsed()
}

pub async fn fail_after_tether(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        let r = tether::fail_after(LONG, ready(i)).await;
        black_box(r.unwrap());
    }
    t.elapsed()
}

pub async fn move_on_after_tether(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        let r = tether::move_on_after(LONG, ready(i)).await;
        black_box(r.unwrap());
    }
    t.elapsed()
}

pub async fn timeout_tokio(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        let r = tokio::time::timeout(LONG, ready(i)).await;
        black_box(r.unwrap());
    }
    t.elapsed()
}

// ----- cancel: storm ----------------------------------------------------------------------

/// Marks where a timed phase starts and ends, for `valgrind --tool=callgrind
/// --dump-before=*phase_start --dump-before=*phase_end` (no-ops): the parts between them are
/// the cancel phase alone, without the spawns before it.
#[inline(never)]
pub fn phase_start() {
    std::hint::black_box(1_u8);
}

/// See [`phase_start`].
#[inline(never)]
pub fn phase_end() {
    // Not the same code as `phase_start`, so the linker keeps two functions.
    std::hint::black_box(2_u8);
}

/// Waits until `counter` reaches `n` (every child has been polled once and is sleeping).
async fn all_started(counter: &AtomicUsize, n: usize) {
    while counter.load(Ordering::Acquire) < n {
        tokio::task::yield_now().await;
    }
}

/// Spawns `n` sleeping children, waits until all sleep, then times `cancel()` until the group
/// has exited (every child is gone).
pub async fn storm_tether(n: usize) -> Duration {
    let started = Arc::new(AtomicUsize::new(0));
    let mut t0 = None;
    let _ = tether::task_group(async |tg| {
        for _ in 0..n {
            let started = started.clone();
            tg.spawn(async move {
                started.fetch_add(1, Ordering::Release);
                tokio::time::sleep(LONG).await;
            });
        }
        all_started(&started, n).await;
        t0 = Some(Instant::now());
        phase_start();
        tg.cancel_scope().cancel();
    })
    .await;
    phase_end();
    t0.unwrap().elapsed()
}

pub async fn storm_joinset(n: usize) -> Duration {
    let started = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let started = started.clone();
        set.spawn(async move {
            started.fetch_add(1, Ordering::Release);
            tokio::time::sleep(LONG).await;
        });
    }
    all_started(&started, n).await;
    let t0 = Instant::now();
    phase_start();
    set.abort_all();
    while set.join_next().await.is_some() {}
    phase_end();
    t0.elapsed()
}

pub async fn storm_token_tracker(n: usize) -> Duration {
    let started = Arc::new(AtomicUsize::new(0));
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    for _ in 0..n {
        let started = started.clone();
        let token = token.clone();
        tracker.spawn(async move {
            started.fetch_add(1, Ordering::Release);
            tokio::select! {
                _ = token.cancelled() => {}
                _ = tokio::time::sleep(LONG) => {}
            }
        });
    }
    all_started(&started, n).await;
    let t0 = Instant::now();
    token.cancel();
    tracker.close();
    tracker.wait().await;
    t0.elapsed()
}

// ----- cancel: latency --------------------------------------------------------------------

/// `n` times: a group with one sleeping child; time from `cancel()` to the group's exit.
pub async fn latency_tether(n: usize) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let started = Arc::new(AtomicUsize::new(0));
        let mut t0 = None;
        let _ = tether::task_group(async |tg| {
            let s = started.clone();
            tg.spawn(async move {
                s.fetch_add(1, Ordering::Release);
                tokio::time::sleep(LONG).await;
            });
            all_started(&started, 1).await;
            t0 = Some(Instant::now());
            tg.cancel_scope().cancel();
        })
        .await;
        total += t0.unwrap().elapsed();
    }
    total
}

pub async fn latency_joinset(n: usize) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let started = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        let s = started.clone();
        set.spawn(async move {
            s.fetch_add(1, Ordering::Release);
            tokio::time::sleep(LONG).await;
        });
        all_started(&started, 1).await;
        let t0 = Instant::now();
        set.abort_all();
        while set.join_next().await.is_some() {}
        total += t0.elapsed();
    }
    total
}

pub async fn latency_token_tracker(n: usize) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let started = Arc::new(AtomicUsize::new(0));
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let s = started.clone();
        let tk = token.clone();
        tracker.spawn(async move {
            s.fetch_add(1, Ordering::Release);
            tokio::select! {
                _ = tk.cancelled() => {}
                _ = tokio::time::sleep(LONG) => {}
            }
        });
        all_started(&started, 1).await;
        let t0 = Instant::now();
        token.cancel();
        tracker.close();
        tracker.wait().await;
        total += t0.elapsed();
    }
    total
}

// ----- memory_stream: p producers, c consumers, `n` items in all --------------------------

macro_rules! stream_workload {
    ($name:ident, |$cap:ident| $make:expr, |$tx:ident, $i:ident| $send:expr, |$rx:ident| $recv:expr) => {
        pub async fn $name(n: usize, $cap: usize, producers: usize, consumers: usize) -> Duration {
            let t = Instant::now();
            let (tx, rx) = $make;
            let mut tasks = Vec::with_capacity(producers + consumers);
            for _ in 0..consumers {
                let $rx = rx.clone();
                tasks.push(tokio::spawn(async move {
                    let mut got = 0usize;
                    while let Some(v) = $recv {
                        black_box(v);
                        got += 1;
                    }
                    got
                }));
            }
            drop(rx);
            for p in 0..producers {
                let $tx = tx.clone();
                let share = n / producers + usize::from(p < n % producers);
                tasks.push(tokio::spawn(async move {
                    for $i in 0..share {
                        $send;
                    }
                    0
                }));
            }
            drop(tx);
            let mut total = 0;
            for task in tasks {
                total += task.await.unwrap();
            }
            assert_eq!(total, n);
            t.elapsed()
        }
    };
}

stream_workload!(
    stream_tether,
    |cap| tether::memory_stream::<usize>(cap),
    |tx, i| tx.send(i).await.unwrap(),
    |rx| rx.recv().await.ok()
);
stream_workload!(
    stream_flume,
    |cap| flume::bounded::<usize>(cap),
    |tx, i| tx.send_async(i).await.unwrap(),
    |rx| rx.recv_async().await.ok()
);
stream_workload!(
    stream_async_channel,
    |cap| async_channel::bounded::<usize>(cap),
    |tx, i| tx.send(i).await.unwrap(),
    |rx| rx.recv().await.ok()
);

/// tokio mpsc: single consumer only, capacity ≥ 1.
pub async fn stream_tokio_mpsc(
    n: usize,
    cap: usize,
    producers: usize,
    consumers: usize,
) -> Duration {
    assert_eq!(consumers, 1, "tokio mpsc has one receiver");
    let t = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(cap);
    let consumer = tokio::spawn(async move {
        let mut got = 0usize;
        while let Some(v) = rx.recv().await {
            black_box(v);
            got += 1;
        }
        got
    });
    let mut tasks = Vec::new();
    for p in 0..producers {
        let tx = tx.clone();
        let share = n / producers + usize::from(p < n % producers);
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                tx.send(i).await.unwrap();
            }
        }));
    }
    drop(tx);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(consumer.await.unwrap(), n);
    t.elapsed()
}

// ----- memory_stream: placement made deterministic ------------------------------------------

/// Runs a stream workload on a fresh current-thread runtime (made outside the timed part: the
/// workload times itself). On the shared 2-worker runtime a 1-producer 1-consumer run lands in
/// one of two modes per sample — both tasks on one worker (the buffer fills, then drains in
/// batches) or one task stolen by the other worker (every item crosses threads, 5-10x slower
/// per item) — and which one is chance, so a ratio over samples mixed the modes. Here every
/// sample is in the first mode; [`stream_cross_thread`] measures the second.
pub fn on_current_thread<F, Fut>(f: F) -> Duration
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Duration> + Send + 'static,
{
    current_thread().block_on(async move { tokio::spawn(f()).await.expect("bench task") })
}

/// 1 producer, 1 consumer, each on its own thread with its own current-thread runtime: every
/// item crosses threads, in every sample. `send` and `recv` are the two halves of a workload.
pub fn stream_cross_thread<S, SF, R, RF>(send: S, recv: R) -> Duration
where
    S: FnOnce() -> SF + Send + 'static,
    SF: Future<Output = ()>,
    R: FnOnce() -> RF,
    RF: Future<Output = usize>,
{
    let producer_rt = current_thread();
    let consumer_rt = current_thread();
    let t = Instant::now();
    let producer = std::thread::spawn(move || producer_rt.block_on(send()));
    let got = consumer_rt.block_on(recv());
    producer.join().expect("producer thread");
    black_box(got);
    t.elapsed()
}

pub fn stream_cross_thread_tether(n: usize, cap: usize) -> Duration {
    let (tx, rx) = tether::memory_stream::<usize>(cap);
    stream_cross_thread(
        move || async move {
            for i in 0..n {
                tx.send(i).await.unwrap();
            }
        },
        move || async move {
            let mut got = 0;
            while let Ok(v) = rx.recv().await {
                black_box(v);
                got += 1;
            }
            assert_eq!(got, n);
            got
        },
    )
}

pub fn stream_cross_thread_flume(n: usize, cap: usize) -> Duration {
    let (tx, rx) = flume::bounded::<usize>(cap);
    stream_cross_thread(
        move || async move {
            for i in 0..n {
                tx.send_async(i).await.unwrap();
            }
        },
        move || async move {
            let mut got = 0;
            while let Ok(v) = rx.recv_async().await {
                black_box(v);
                got += 1;
            }
            assert_eq!(got, n);
            got
        },
    )
}

pub fn stream_cross_thread_tokio_mpsc(n: usize, cap: usize) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(cap);
    stream_cross_thread(
        move || async move {
            for i in 0..n {
                tx.send(i).await.unwrap();
            }
        },
        move || async move {
            let mut got = 0;
            while let Some(v) = rx.recv().await {
                black_box(v);
                got += 1;
            }
            assert_eq!(got, n);
            got
        },
    )
}
