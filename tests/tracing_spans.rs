//! Tracing spans and events, in a test binary of its own.
//!
//! `tracing` caches each callsite's interest process-wide. When another test
//! in the same binary hits a tether callsite on another thread while this test's
//! scoped subscriber is being installed, the callsite can be cached as
//! uninteresting and this test sees no span for it. One test per process keeps
//! the recording exact.
#![cfg(feature = "tracing")]
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Metadata, Subscriber};

/// An event's target and the fields of the spans entered when it fired.
type Inside = (String, Vec<String>);

/// Records every span (name and fields) and event (target and fields), and for each event the
/// names of the spans entered when it fired (one runtime thread: one stack).
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<(String, String)>>>,
    events: Arc<Mutex<Vec<(String, String)>>>,
    entered: Arc<Mutex<Vec<u64>>>,
    inside: Arc<Mutex<Vec<Inside>>>,
    next: Arc<AtomicU64>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        let name = attrs.metadata().name().to_owned();
        self.spans.lock().unwrap().push((name, fields.0));
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let target = event.metadata().target().to_owned();
        let spans = self.spans.lock().unwrap();
        let entered = self.entered.lock().unwrap();
        let names = entered
            .iter()
            .map(|id| spans[*id as usize - 1].1.clone())
            .collect();
        self.inside.lock().unwrap().push((target.clone(), names));
        self.events.lock().unwrap().push((target, fields.0));
    }
    fn enter(&self, id: &Id) {
        self.entered.lock().unwrap().push(id.into_u64());
    }
    fn exit(&self, id: &Id) {
        let mut entered = self.entered.lock().unwrap();
        let at = entered.iter().rposition(|e| *e == id.into_u64());
        entered.remove(at.expect("a span is exited after it was entered"));
    }
}

#[test]
fn groups_children_and_scopes_have_spans_and_failures_and_cancellations_are_events() {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let result = tether::task_group(async |tg| {
                // a scope in the body, entered before the failure cancels the group
                tether::move_on_after(std::time::Duration::from_secs(3600), async {
                    // A child with nothing to inherit (no context variables, the task tree
                    // off) still runs in its own span.
                    tg.spawn_named("probe", async {
                        tracing::info!(target: "probe", "in the child");
                    });
                    tokio::task::yield_now().await;
                    tg.spawn_named("failing", async { Err::<(), _>("boom") });
                    std::future::pending::<()>().await
                })
                .await;
            })
            .await;
            assert_eq!(result.unwrap_err().len(), 1);
        });
    });
    let spans = recorder.spans.lock().unwrap();
    let file = file!();
    assert!(
        spans.iter().any(|(name, fields)| name == "tether.child"
            && fields.contains("name=\"failing\"")
            && fields.contains(file)),
        "{spans:?}"
    );
    assert!(
        spans
            .iter()
            .any(|(name, fields)| name == "tether.group" && fields.contains(file)),
        "{spans:?}"
    );
    // One scope span, the `move_on_after`'s, from this file. The group's own scope is polled
    // in the group's span, not in a scope span of its own.
    let scopes: Vec<_> = spans
        .iter()
        .filter(|(name, _)| name == "tether.scope")
        .collect();
    assert_eq!(scopes.len(), 1, "{spans:?}");
    assert!(scopes[0].1.contains(file), "{spans:?}");
    let inside = recorder.inside.lock().unwrap();
    let probe: Vec<_> = inside
        .iter()
        .filter(|(target, _)| target == "probe")
        .collect();
    assert_eq!(probe.len(), 1, "{inside:?}");
    assert!(
        probe[0]
            .1
            .iter()
            .any(|fields| fields.contains("name=\"probe\"")),
        "the child's event fires inside the child's span: {inside:?}"
    );
    let events = recorder.events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|(target, fields)| target == "tether::task_group" && fields.contains("boom")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(target, fields)| target == "tether::cancel"
                && fields.contains("GroupFailure")
                && fields.contains("boom")),
        "{events:?}"
    );
}
