//! Context propagation: what a spawned child pays for inheriting its spawner's context, with
//! nothing set, with one `ContextVar`, and with one registered tokio task-local, against a
//! bare spawn of the same future (the peer: no context at all).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use tether::ContextVar;

static REQUEST: ContextVar<u64> = ContextVar::new("request");

tokio::task_local! {
    static TRACE: u64;
}

/// Capture + scope + poll a ready future, `n` times: the per-child cost of the spawn hook.
async fn capture_scope(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        black_box(
            tether::capture_context()
                .scope(async move { black_box(i) })
                .await,
        );
    }
    t.elapsed()
}

async fn capture_only(n: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        black_box(tether::capture_context());
    }
    t.elapsed()
}

async fn scope_only(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        black_box(
            tether::Snapshot::empty()
                .scope(async move { black_box(i) })
                .await,
        );
    }
    t.elapsed()
}

/// The peer: the same ready future, polled bare.
async fn bare(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        black_box(async move { black_box(i) }.await);
    }
    t.elapsed()
}

async fn spawn_join_tether(n: usize) -> Duration {
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

// Nothing is registered until `with_task_local` runs (criterion runs the functions in order),
// so the first cases measure the hook with an empty registry.
fn hook(c: &mut Criterion) {
    let rt = multi_thread();
    let mut group = c.benchmark_group("context/capture_scope");
    group.bench_function("bare_future", |b| {
        b.iter_custom(|iters| in_task(&rt, move || bare(iters as usize)))
    });
    group.bench_function("capture_only", |b| {
        b.iter_custom(|iters| in_task(&rt, move || capture_only(iters as usize)))
    });
    group.bench_function("scope_only", |b| {
        b.iter_custom(|iters| in_task(&rt, move || scope_only(iters as usize)))
    });
    group.bench_function("nothing_set", |b| {
        b.iter_custom(|iters| in_task(&rt, move || capture_scope(iters as usize)))
    });
    group.bench_function("one_var", |b| {
        b.iter_custom(|iters| in_task(&rt, move || REQUEST.scope(1, capture_scope(iters as usize))))
    });
    group.finish();

    let mut group = c.benchmark_group("context/spawn_join");
    group.bench_function("tokio_spawn", |b| {
        b.iter_custom(|iters| in_task(&rt, move || spawn_join_tokio(iters as usize)))
    });
    group.bench_function("tether_nothing_set", |b| {
        b.iter_custom(|iters| in_task(&rt, move || spawn_join_tether(iters as usize)))
    });
    group.bench_function("tether_one_var", |b| {
        b.iter_custom(|iters| {
            in_task(&rt, move || {
                REQUEST.scope(1, spawn_join_tether(iters as usize))
            })
        })
    });
    group.finish();
}

fn with_task_local(c: &mut Criterion) {
    let rt = multi_thread();
    tether::propagate_task_local(&TRACE);
    let mut group = c.benchmark_group("context/task_local");
    group.bench_function("capture_scope_one_var_one_task_local", |b| {
        b.iter_custom(|iters| {
            in_task(&rt, move || {
                TRACE.scope(7, REQUEST.scope(1, capture_scope(iters as usize)))
            })
        })
    });
    group.bench_function("spawn_join_one_var_one_task_local", |b| {
        b.iter_custom(|iters| {
            in_task(&rt, move || {
                TRACE.scope(7, REQUEST.scope(1, spawn_join_tether(iters as usize)))
            })
        })
    });
    group.finish();
}

criterion_group!(benches, hook, with_task_local);
criterion_main!(benches);
