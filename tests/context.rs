//! Integration tests for `tether::context`: what children inherit, from whom, and what they
//! cannot change.
//!
//! Deterministic: a current-thread runtime, and events (not sleeps) to order a parent's and a
//! child's reads and writes.

mod support;

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use support::bounded;
use tether::Event;
use tether::{BlockingPortal, from_thread, to_thread};
use tether::{ContextVar, Snapshot};

/// A group body's value (bodies return `()` or a `Result`).
fn ok<T>(value: T) -> Result<T, std::convert::Infallible> {
    Ok(value)
}

static REQUEST: ContextVar<u32> = ContextVar::new("request");
static USER: ContextVar<String> = ContextVar::new("user");

tokio::task_local! {
    static TRACE_ID: u64;
    static NOT_REGISTERED: u64;
}

#[tokio::test]
async fn children_inherit_through_spawn_start_and_handle() {
    let seen = bounded(REQUEST.scope(1, async {
        tether::task_group(async |tg| {
            let by_spawn = tokio::sync::oneshot::channel();
            let by_handle = tokio::sync::oneshot::channel();
            let (spawn_tx, handle_tx) = (by_spawn.0, by_handle.0);
            tg.spawn(async move { spawn_tx.send(REQUEST.get()).unwrap() });
            tg.handle()
                .spawn(async move { handle_tx.send(REQUEST.get()).unwrap() })
                .unwrap();
            let by_start = tg
                .start(|status| async move { status.started(REQUEST.get()) })
                .await
                .unwrap();
            ok((
                by_spawn.1.await.unwrap(),
                by_handle.1.await.unwrap(),
                by_start,
            ))
        })
        .await
        .unwrap()
    }))
    .await;
    assert_eq!(seen, (Some(1), Some(1), Some(1)));
}

#[tokio::test]
async fn the_context_comes_from_the_spawning_task_not_the_group_host() {
    let (from_child, from_host) = bounded(USER.scope("host".into(), async {
        tether::task_group(async |tg| {
            let handle = tg.handle();
            let (tx, rx) = tokio::sync::oneshot::channel();
            tg.spawn(async move {
                USER.set("child".into()).unwrap();
                // A sibling spawned by this child, into the host's group:
                handle
                    .spawn(async move { tx.send(USER.get()).unwrap() })
                    .unwrap();
            });
            let (tx2, rx2) = tokio::sync::oneshot::channel();
            tg.spawn(async move { tx2.send(USER.get()).unwrap() });
            ok((rx.await.unwrap(), rx2.await.unwrap()))
        })
        .await
        .unwrap()
    }))
    .await;
    assert_eq!(from_child.as_deref(), Some("child"));
    assert_eq!(from_host.as_deref(), Some("host"));
}

#[tokio::test]
async fn a_childs_changes_are_invisible_to_its_parent_and_siblings() {
    let set_done = Event::new();
    let sibling_saw = bounded(REQUEST.scope(1, async {
        let out = tether::task_group(async |tg| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let waits = set_done.clone();
            // The sibling is spawned first and reads after the other child has set.
            tg.spawn(async move {
                waits.wait().await;
                tx.send(REQUEST.get()).unwrap();
            });
            let fires = set_done.clone();
            tg.spawn(async move {
                REQUEST.set(99).unwrap();
                assert_eq!(REQUEST.get(), Some(99));
                fires.set();
            });
            ok(rx.await.unwrap())
        })
        .await
        .unwrap();
        assert_eq!(
            REQUEST.get(),
            Some(1),
            "the parent never sees a child's set"
        );
        out
    }))
    .await;
    assert_eq!(sibling_saw, Some(1));
}

/// Counts drops of a value held in a context variable.
#[derive(Clone)]
struct Dropped(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

static HELD: ContextVar<(u32, Dropped)> = ContextVar::new("held");

#[tokio::test]
async fn a_child_that_inherited_nothing_still_has_a_context_of_its_own() {
    // The host has no context at all: its children inherit nothing, yet each may `set`, keeps
    // what it set across its awaits, passes it to its own children, and shows it to nobody else.
    assert!(tether::capture_context().is_empty());
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let both_set = Event::new();
    let seen = bounded(tether::task_group(async |tg| {
        let mut rxs = Vec::new();
        for id in [1u32, 2] {
            let (tx, rx) = tokio::sync::oneshot::channel();
            rxs.push(rx);
            let (drops, both_set) = (drops.clone(), both_set.clone());
            tg.spawn(async move {
                assert_eq!(REQUEST.get(), None, "nothing inherited");
                REQUEST.set(id).unwrap();
                HELD.set((id, Dropped(drops))).unwrap();
                if id == 2 {
                    both_set.set();
                }
                // Pending here: the variables must survive between polls.
                both_set.wait().await;
                tokio::task::yield_now().await;
                let grandchild = tether::task_group(async |inner| {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    inner.spawn(async move {
                        tokio::task::yield_now().await;
                        tx.send(REQUEST.get()).unwrap()
                    });
                    ok(rx.await.unwrap())
                })
                .await
                .unwrap();
                tx.send((
                    REQUEST.get(),
                    HELD.with(|held| held.map(|h| h.0)),
                    grandchild,
                ))
                .unwrap();
            });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        tg.spawn(async move {
            tokio::task::yield_now().await;
            tx.send(REQUEST.get()).unwrap()
        });
        let mut seen = Vec::new();
        for rx in rxs {
            seen.push(rx.await.unwrap());
        }
        ok((seen, rx.await.unwrap()))
    }))
    .await
    .unwrap();
    assert_eq!(
        seen,
        (
            vec![(Some(1), Some(1), Some(1)), (Some(2), Some(2), Some(2))],
            None
        ),
        "each child its own values, a sibling none"
    );
    assert_eq!(
        drops.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "each child's values are dropped when it ends"
    );
    assert!(REQUEST.set(3).is_err(), "the host still has no context");
}

#[tokio::test]
async fn a_cancelled_child_that_inherited_nothing_has_its_context_while_its_body_drops() {
    // Cleanup in a `Drop` of a cancelled child's body runs with the child's own context: it
    // reads what the child set before its last await, and may set (the child inherited nothing,
    // so its context exists only from its first `set`). Two children: one that set something,
    // one that never did.
    /// What each child's cleanup saw: (child, what it read, whether its `set` worked).
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u32, Option<u32>, bool)>>>;
    struct Cleanup(Seen, u32);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let read = REQUEST.get();
            let set = REQUEST.set(99).is_ok();
            self.0.lock().unwrap().push((self.1, read, set));
        }
    }
    assert!(tether::capture_context().is_empty());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let both_waiting = Event::new();
    let waiting = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    bounded(tether::task_group(async |tg| {
        for id in [1u32, 2] {
            let (seen, both_waiting, waiting) =
                (seen.clone(), both_waiting.clone(), waiting.clone());
            tg.spawn(async move {
                let _cleanup = Cleanup(seen, id);
                if id == 1 {
                    REQUEST.set(7).unwrap();
                }
                if waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                    both_waiting.set();
                }
                std::future::pending::<()>().await;
            });
        }
        both_waiting.wait().await;
        tg.cancel_scope().cancel();
    }))
    .await
    .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![(1, Some(7), true), (2, None, true)],
        "the dropping body reads its child's values and may set"
    );
}

#[tokio::test]
async fn a_parents_later_set_does_not_reach_children_already_spawned() {
    let go = Event::new();
    let (early, late) = bounded(tether::capture_context().scope(async {
        REQUEST.set(1).unwrap();
        tether::task_group(async |tg| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let waits = go.clone();
            tg.spawn(async move {
                waits.wait().await;
                tx.send(REQUEST.get()).unwrap();
            });
            REQUEST.set(2).unwrap();
            let (tx2, rx2) = tokio::sync::oneshot::channel();
            tg.spawn(async move { tx2.send(REQUEST.get()).unwrap() });
            go.set();
            ok((rx.await.unwrap(), rx2.await.unwrap()))
        })
        .await
        .unwrap()
    }))
    .await;
    assert_eq!(early, Some(1), "copied at spawn time");
    assert_eq!(late, Some(2));
}

#[tokio::test]
async fn set_outside_any_context_is_a_typed_error_and_scopes_nest() {
    let err = REQUEST.set(5).unwrap_err();
    assert_eq!(err.var(), "request");
    assert!(err.to_string().contains("request"), "{err}");
    assert_eq!(REQUEST.get(), None);
    assert!(tether::capture_context().is_empty());

    let inner = bounded(REQUEST.scope(1, async {
        let inner = REQUEST.scope(2, async { REQUEST.get() }).await;
        assert_eq!(
            REQUEST.get(),
            Some(1),
            "the inner scope ended with its future"
        );
        inner
    }))
    .await;
    assert_eq!(inner, Some(2));
    assert_eq!(REQUEST.get(), None);
}

#[tokio::test]
async fn a_panic_inside_a_scope_restores_the_outer_context() {
    let scoped = REQUEST.scope(1, async {
        let _ = REQUEST.get();
        panic!("boom")
    });
    let result = AssertUnwindSafe(scoped).catch_unwind().await;
    assert!(result.is_err());
    assert_eq!(REQUEST.get(), None);
    assert!(
        REQUEST.set(1).is_err(),
        "no context leaked onto this thread"
    );
}

#[tokio::test]
async fn registered_task_locals_propagate_and_others_do_not() {
    tether::propagate_task_local(&TRACE_ID);
    tether::propagate_task_local(&TRACE_ID); // idempotent
    let seen = bounded(TRACE_ID.scope(
        7,
        NOT_REGISTERED.scope(8, async {
            tether::task_group(async |tg| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                tg.spawn(async move {
                    tokio::task::yield_now().await; // still inside on a later poll
                    tx.send((
                        TRACE_ID.try_with(|v| *v).ok(),
                        NOT_REGISTERED.try_with(|v| *v).ok(),
                    ))
                    .unwrap();
                });
                ok(rx.await.unwrap())
            })
            .await
            .unwrap()
        }),
    ))
    .await;
    assert_eq!(seen, (Some(7), None));
}

#[tokio::test]
async fn context_travels_to_worker_threads_and_back() {
    let seen = bounded(REQUEST.scope(3, async {
        to_thread(|| {
            let in_thread = REQUEST.get();
            let back_on_loop = from_thread::run(async { REQUEST.get() }).unwrap();
            let by_run_sync = from_thread::run_sync(|| REQUEST.get()).unwrap();
            (in_thread, back_on_loop, by_run_sync)
        })
        .await
    }))
    .await;
    assert_eq!(seen, (Some(3), Some(3), Some(3)));
}

/// Runs blocking test code on its own thread and fails (instead of hanging) after 30 s.
fn bounded_sync(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let out = std::panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(());
        out
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("test hung: still blocked after its time limit");
    if let Err(payload) = worker.join().unwrap() {
        std::panic::resume_unwind(payload);
    }
}

#[test]
fn portal_tasks_run_in_the_callers_context() {
    bounded_sync(portal_context);
}

fn portal_context() {
    let portal = BlockingPortal::new().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut snapshot = rt.block_on(REQUEST.scope(4, async { tether::capture_context() }));
    // A synchronous caller running in that context:
    let seen = snapshot.run(|| portal.call(|| async { REQUEST.get() }).unwrap());
    assert_eq!(seen, Some(4));
    // A caller without one:
    assert_eq!(portal.call(|| async { REQUEST.get() }), Ok(None));
    assert!(Snapshot::empty().is_empty());
}

#[cfg(feature = "tracing")]
mod spans {
    use std::sync::{Arc, Mutex};

    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};
    use tracing_core::span::Current;

    /// The smallest subscriber that tracks the entered span and records, for each event, the
    /// span it happened in (single-threaded tests only).
    #[derive(Clone, Default)]
    struct Stack(Arc<Mutex<State>>);

    #[derive(Default)]
    struct State {
        spans: Vec<&'static Metadata<'static>>,
        /// Each span's parent (explicit, or the entered span when it was made).
        parents: Vec<Option<u64>>,
        entered: Vec<u64>,
        events: Vec<Option<u64>>,
    }

    impl Subscriber for Stack {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            let mut state = self.0.lock().unwrap();
            state.spans.push(attrs.metadata());
            let parent = match attrs.parent() {
                Some(id) => Some(id.into_u64()),
                None if attrs.is_contextual() => state.entered.last().copied(),
                None => None,
            };
            state.parents.push(parent);
            Id::from_u64(state.spans.len() as u64)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {
            let mut state = self.0.lock().unwrap();
            let top = state.entered.last().copied();
            state.events.push(top);
        }
        fn enter(&self, span: &Id) {
            self.0.lock().unwrap().entered.push(span.into_u64());
        }
        fn exit(&self, _: &Id) {
            self.0.lock().unwrap().entered.pop();
        }
        fn current_span(&self) -> Current {
            let state = self.0.lock().unwrap();
            match state.entered.last() {
                Some(&id) => Current::new(Id::from_u64(id), state.spans[id as usize - 1]),
                None => Current::none(),
            }
        }
    }

    #[test]
    fn a_child_runs_in_its_spawners_current_span() {
        super::bounded_sync(child_in_span);
    }

    fn child_in_span() {
        let stack = Stack::default();
        let _default = tracing::subscriber::set_default(stack.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let span_id = rt.block_on(async {
            let span = tracing::info_span!("request");
            tether::task_group(async |tg| {
                {
                    let _entered = span.enter();
                    tg.spawn(async {
                        tokio::task::yield_now().await; // a later poll is inside it too
                        tracing::info!("in the spawner's span");
                    });
                }
                tg.spawn(async { tracing::info!("spawned outside any span") });
            })
            .await
            .unwrap();
            span.id().unwrap().into_u64()
        });
        let state = stack.0.lock().unwrap();
        // With the `tracing` feature every child runs in its own `tether.child` span, made as a
        // child of the spawner's current span (and a group's body in a `tether.group` span):
        // look through tether's own spans.
        let mut events: Vec<Option<u64>> = state
            .events
            .iter()
            .map(|&top| {
                let mut id = top?;
                while state.spans[id as usize - 1].name().starts_with("tether.") {
                    id = state.parents[id as usize - 1]?;
                }
                Some(id)
            })
            .collect();
        events.sort();
        assert_eq!(events, vec![None, Some(span_id)]);
        assert_eq!(
            state
                .spans
                .iter()
                .filter(|m| m.name() == "tether.child")
                .count(),
            2,
            "one span per child"
        );
    }
}

fn send_sync<T: Send + Sync>() {}

#[test]
fn context_types_cross_threads() {
    send_sync::<ContextVar<String>>();
    send_sync::<Snapshot>();
    send_sync::<tether::NoContextError>();
    send_sync::<tether::Scoped<std::future::Ready<()>>>();
}

/// Sends on a channel when dropped (to wait for a drop on another thread without sleeping).
struct DropSignal(std::sync::mpsc::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

static SIGNAL: ContextVar<DropSignal> = ContextVar::new("signal");

#[test]
fn a_child_dropped_by_its_runtimes_shutdown_reports_to_its_group_and_frees_its_variables() {
    bounded_sync(child_dropped_at_shutdown);
}

fn child_dropped_at_shutdown() {
    // The group is opened on one runtime, which runs its child and then shuts down while the
    // child is pending with a variable set; the group is closed afterwards, from another runtime
    // on the same thread (the same host). The group must learn that the child is gone (its close
    // returns instead of waiting forever), and the child's variables must be dropped with the
    // child, not kept until the group itself goes away.
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (dropped_tx, dropped_rx) = std::sync::mpsc::channel();
    let (body_dropped_tx, body_dropped_rx) = std::sync::mpsc::channel();
    let mut group = first.block_on(async move {
        let group = tether::OwnedTaskGroup::open();
        let set = Event::new();
        let set2 = set.clone();
        group
            .spawn(async move {
                let _body = DropSignal(body_dropped_tx);
                SIGNAL.set(DropSignal(dropped_tx)).unwrap();
                set2.set();
                std::future::pending::<()>().await
            })
            .unwrap();
        bounded(set.wait()).await;
        group
    });
    drop(first); // drops the pending child
    body_dropped_rx
        .try_recv()
        .expect("the runtime's shutdown dropped the child's body");
    dropped_rx
        .try_recv()
        .expect("the child's variables are dropped with the child, not kept by its group");
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second
        .block_on(bounded(group.close()))
        .expect("a child dropped at shutdown is not a failure");
}

static SLOT: ContextVar<u32> = ContextVar::new("slot");

#[tokio::test(start_paused = true)]
async fn a_child_that_ends_leaves_its_siblings_variables_where_they_are() {
    // Children that inherited no context keep the variables they set with their group between
    // polls, one entry each. The first child to set one ends first; the other two must still
    // find their own values afterwards (each entry is the child's own, and only its own
    // leaves with it).
    let first_ended = Event::new();
    let seen = bounded(tether::task_group(async |tg| {
        let (tx, rx) = std::sync::mpsc::channel();
        for n in 0..3u32 {
            let first_ended = first_ended.clone();
            let tx = tx.clone();
            tg.spawn(async move {
                SLOT.set(n).expect("a child has a context");
                if n == 0 {
                    tokio::task::yield_now().await;
                    first_ended.set();
                    return;
                }
                first_ended.wait().await;
                tokio::task::yield_now().await;
                tx.send((n, SLOT.get())).unwrap();
            });
        }
        drop(tx);
        ok(rx)
    }))
    .await
    .expect("the group ends normally");
    let mut seen: Vec<_> = seen.try_iter().collect();
    seen.sort();
    assert_eq!(seen, vec![(1, Some(1)), (2, Some(2))]);
}
