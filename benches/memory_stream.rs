//! Memory streams against tokio mpsc, flume and async-channel: 1 producer / 1 consumer and
//! 4 / 4, capacity 0 / 1 / 128 / 1024 (peers that do not support a configuration are left out).

mod common;

use std::time::Duration;

use common::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn streams(c: &mut Criterion) {
    let rt = multi_thread();
    const N: usize = 10_000;
    for (p, cons) in [(1usize, 1usize), (4, 4)] {
        let mut group = c.benchmark_group(format!("memory_stream/{p}p{cons}c"));
        group.throughput(Throughput::Elements(N as u64));
        for cap in [0usize, 1, 128, 1024] {
            macro_rules! case {
                ($name:literal, $f:path) => {
                    group.bench_with_input(BenchmarkId::new($name, cap), &cap, |b, &cap| {
                        b.iter_custom(|iters| {
                            (0..iters)
                                .map(|_| in_task(&rt, move || $f(N, cap, p, cons)))
                                .sum::<Duration>()
                        })
                    });
                };
            }
            case!("tether", stream_tether);
            if cons == 1 && cap > 0 {
                case!("tokio_mpsc", stream_tokio_mpsc);
            }
            case!("flume", stream_flume);
            if cap > 0 {
                case!("async_channel", stream_async_channel);
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10);
    targets = streams
}
criterion_main!(benches);
