//! Thread bridges against their peer: a `to_thread` round trip against a bare
//! `spawn_blocking` + await, and a blocking-portal call against `Handle::block_on` from a plain
//! thread.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};

async fn to_thread_tether(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        black_box(tether::to_thread(move || black_box(i)).await);
    }
    t.elapsed()
}

async fn to_thread_spawn_blocking(n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        black_box(
            tokio::task::spawn_blocking(move || black_box(i))
                .await
                .unwrap(),
        );
    }
    t.elapsed()
}

fn round_trip(c: &mut Criterion) {
    let rt = multi_thread();
    let mut group = c.benchmark_group("thread/round_trip");
    group.bench_function("tether_to_thread", |b| {
        b.iter_custom(|iters| in_task(&rt, move || to_thread_tether(iters as usize)))
    });
    group.bench_function("spawn_blocking", |b| {
        b.iter_custom(|iters| in_task(&rt, move || to_thread_spawn_blocking(iters as usize)))
    });
    group.finish();
}

fn portal_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("thread/portal_call");
    let portal = tether::BlockingPortal::new().expect("portal");
    group.bench_function("tether_portal", |b| {
        b.iter(|| portal.call(|| async { black_box(1) }).unwrap())
    });
    let rt = multi_thread();
    let handle = rt.handle().clone();
    group.bench_function("handle_spawn_block_on", |b| {
        // The peer: spawn on the runtime and block on the join handle from a plain thread.
        b.iter(|| {
            handle
                .block_on(handle.spawn(async { black_box(1) }))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, round_trip, portal_call);
criterion_main!(benches);
