//! Cancel scopes against their peers: a scope around a ready future (with and without a
//! deadline), a cancel storm over 20k sleeping children, and cancel-to-exit latency.

mod common;

use std::time::Duration;

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};

macro_rules! per_op {
    ($group:ident, $rt:ident, $name:literal, $f:path) => {
        $group.bench_function($name, |b| {
            b.iter_custom(|iters| in_task(&$rt, move || $f(iters as usize)))
        });
    };
}

fn scope_ready(c: &mut Criterion) {
    let rt = multi_thread();
    let mut group = c.benchmark_group("cancel/scope_ready");
    per_op!(group, rt, "tether", scope_ready_tether);
    per_op!(group, rt, "child_token_select", scope_ready_child_token);
    per_op!(group, rt, "token_select", scope_ready_token);
    group.finish();

    let mut group = c.benchmark_group("cancel/deadline_ready");
    per_op!(group, rt, "tether_fail_after", fail_after_tether);
    per_op!(group, rt, "tether_move_on_after", move_on_after_tether);
    per_op!(group, rt, "tokio_timeout", timeout_tokio);
    group.finish();
}

fn storm(c: &mut Criterion) {
    let rt = multi_thread();
    let mut group = c.benchmark_group("cancel/storm_20k");
    group.throughput(criterion::Throughput::Elements(20_000));
    macro_rules! case {
        ($name:literal, $f:path) => {
            group.bench_function($name, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| in_task(&rt, || $f(20_000)))
                        .sum::<Duration>()
                })
            });
        };
    }
    case!("tether", storm_tether);
    case!("joinset_abort_all", storm_joinset);
    case!("token_tracker", storm_token_tracker);
    group.finish();

    let mut group = c.benchmark_group("cancel/latency");
    per_op!(group, rt, "tether", latency_tether);
    per_op!(group, rt, "joinset_abort_all", latency_joinset);
    per_op!(group, rt, "token_tracker", latency_token_tracker);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = scope_ready, storm
}
criterion_main!(benches);
