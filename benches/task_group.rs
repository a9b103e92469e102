//! Task groups against their peers: spawn + join, `start()` round trip, nesting.
//!
//! Every case runs tether and its peers on the same runtime (multi-thread, 2 workers), inside
//! one spawned task. `cargo bench --bench compare` gives the quick side-by-side table.

mod common;

use std::time::Duration;

use common::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn spawn_join(c: &mut Criterion) {
    let rt = multi_thread();
    let mut group = c.benchmark_group("task_group/spawn_join");
    for n in [1_000usize, 10_000, 100_000] {
        group.throughput(Throughput::Elements(n as u64));
        macro_rules! case {
            ($name:literal, $f:path) => {
                group.bench_with_input(BenchmarkId::new($name, n), &n, |b, &n| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| in_task(&rt, move || $f(n)))
                            .sum::<Duration>()
                    })
                });
            };
        }
        case!("tether", spawn_join_tether);
        case!("tokio_spawn", spawn_join_tokio);
        case!("joinset", spawn_join_joinset);
        case!("task_tracker", spawn_join_tracker);
    }
    group.finish();
}

fn start(c: &mut Criterion) {
    let rt = multi_thread();
    let mut group = c.benchmark_group("task_group/start");
    group.bench_function("tether", |b| {
        b.iter_custom(|iters| in_task(&rt, move || start_tether(iters as usize)))
    });
    group.bench_function("spawn_oneshot", |b| {
        b.iter_custom(|iters| in_task(&rt, move || start_spawn_oneshot(iters as usize)))
    });
    group.finish();
}

fn nested(c: &mut Criterion) {
    let rt = multi_thread();
    let mut group = c.benchmark_group("task_group/nested");
    for depth in [1usize, 10, 100] {
        macro_rules! case {
            ($name:literal, $f:path) => {
                group.bench_with_input(BenchmarkId::new($name, depth), &depth, |b, &d| {
                    b.iter_custom(|iters| {
                        in_task(&rt, move || timed(iters as usize, move || $f(d)))
                    })
                });
            };
        }
        case!("tether", nested_tether);
        case!("joinset", nested_joinset);
        case!("tokio_spawn", nested_spawn);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = spawn_join, start, nested
}
criterion_main!(benches);
