//! tether children's tokio task names, in a `RUSTFLAGS="--cfg tokio_unstable"` build only (the
//! only build in which tokio names tasks): tokio's own `runtime.spawn` span carries
//! `task.name`, which is what tokio-console shows. Run with
//! `RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/unstable cargo test --test tokio_names`.
//!
//! In a test binary of its own: `tracing` caches each callsite's interest process-wide (see
//! `tests/tracing_spans.rs`).
#![cfg(tokio_unstable)]
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Metadata, Subscriber};

/// Records the `task.name` and spawn location of every tokio `runtime.spawn` span.
#[derive(Clone, Default)]
struct TaskNames {
    names: Arc<Mutex<Vec<String>>>,
    /// (name, `loc.file`, `loc.line`).
    spawns: Arc<Mutex<Vec<(String, String, u64)>>>,
    next: Arc<AtomicU64>,
}

#[derive(Default)]
struct Name {
    name: Option<String>,
    file: String,
    line: u64,
}

impl Visit for Name {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        match field.name() {
            "task.name" => self.name = Some(format!("{value:?}")),
            "loc.file" => self.file = format!("{value:?}").trim_matches('"').to_owned(),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "loc.line" {
            self.line = value;
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "loc.line" {
            self.line = value as u64;
        }
    }
}

impl Subscriber for TaskNames {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        if attrs.metadata().name() == "runtime.spawn" {
            let mut name = Name::default();
            attrs.record(&mut name);
            if let Some(n) = name.name {
                self.names.lock().unwrap().push(n.clone());
                self.spawns.lock().unwrap().push((n, name.file, name.line));
            }
        }
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn children_are_named_tokio_tasks() {
    let recorder = TaskNames::default();
    let unnamed_line = line!() + 12;
    let reader_line = line!() + 8;
    tracing_core::dispatcher::with_default(&Dispatch::new(recorder.clone()), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tether::task_group(async |tg| {
                tg.spawn_named("reader", async {});
                let started = tg.start_named("server", async |status| status.started(7));
                assert_eq!(started.await.unwrap(), 7);
                tg.spawn(async {});
            })
            .await
            .unwrap();
        });
    });
    let names = recorder.names.lock().unwrap();
    assert!(names.iter().any(|n| n == "reader"), "{names:?}");
    assert!(names.iter().any(|n| n == "server"), "{names:?}");
    let unnamed = format!("child at {}:{unnamed_line}:", file!());
    assert!(
        names.iter().any(|n| n.starts_with(&unnamed)),
        "no task named {unnamed}...: {names:?}"
    );
    // tokio's own spawn location is the user's call too (`#[track_caller]` through tether)
    let spawns = recorder.spawns.lock().unwrap();
    assert!(
        spawns
            .iter()
            .any(|(n, file, line)| n == "reader" && file == file!() && *line == reader_line as u64),
        "{spawns:?}"
    );
}
