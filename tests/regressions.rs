//! Regressions: one test per bug of issue 8 (found by suites written outside the repository),
//! named after the behaviour it pins down. Every test that could hang is bounded; the nested
//! executor tests block a thread, so they run on their own thread with a time limit.

mod support;

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use support::{DropCounter, bounded};
use tether::{
    CancelScope, CancelSource, OwnedTaskGroup, current_effective_deadline, move_on_after, shield,
    task_group, with_cleanup,
};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        String::new()
    }
}

/// Panics when dropped (only when not already unwinding).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// Runs `f` on a thread of its own and fails if it has not returned within `limit` (a blocked
/// thread cannot be bounded by a tokio timeout).
fn on_thread_bounded<R: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("test hung: the nested executor never returned")
}

// ----- bug 1: the outermost cancelled scope catches --------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_outer_cancel_made_in_the_inner_body_is_caught_by_the_outer_scope() {
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let mut between = false;
    let result = bounded(outer.run(async {
        let _ = inner
            .run(async {
                inner.cancel();
                outer.cancel();
                pending::<()>().await
            })
            .await;
        between = true;
    }))
    .await;
    assert!(result.is_err(), "the outer scope must catch");
    assert!(!between, "code between the scopes must not run");
    assert!(outer.cancelled_caught());
    assert!(inner.cancel_called());
    assert!(!inner.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn an_outer_deadline_that_passed_is_caught_by_the_outer_scope() {
    let outer = CancelScope::new().with_timeout(HOUR);
    let inner = CancelScope::new();
    let mut between = false;
    let result = bounded(outer.run(async {
        let _ = inner
            .run(async {
                inner.cancel();
                outer.set_deadline(Some(Instant::now()));
                pending::<()>().await
            })
            .await;
        between = true;
    }))
    .await;
    assert!(result.unwrap_err().is_deadline());
    assert!(!between);
    assert!(outer.cancelled_caught());
    assert!(!inner.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn an_outer_cancel_made_while_the_inner_body_unwinds_is_caught_by_the_outer_scope() {
    struct CancelOnDrop(CancelScope);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            self.0.cancel();
        }
    }
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let mut between = false;
    let result = bounded(outer.run(async {
        let _ = inner
            .run(async {
                let _guard = CancelOnDrop(outer.clone());
                inner.cancel();
                pending::<()>().await
            })
            .await;
        between = true;
    }))
    .await;
    assert!(result.is_err());
    assert!(!between);
    assert!(outer.cancelled_caught());
    assert!(!inner.cancelled_caught());
}

// ----- bug 2: a parked scope is never stranded by a shield raised above it ---------------------

#[tokio::test(start_paused = true)]
async fn a_shield_raised_between_a_parked_scope_and_its_origin_does_not_strand_it() {
    let o = CancelScope::new();
    let s = CancelScope::new();
    let (tx, rx) = oneshot::channel::<()>();
    let after = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let (o, s, after) = (o.clone(), s.clone(), after.clone());
        async move {
            o.run(async {
                let _ = s
                    .run(futures::future::join(
                        CancelScope::new().run(rx),
                        shield(sleep(30 * MS)),
                    ))
                    .await;
                after.store(true, Ordering::SeqCst);
                pending::<()>().await
            })
            .await
        }
    });
    sleep(MS).await;
    o.cancel();
    sleep(5 * MS).await;
    s.set_shield(true);
    let _ = tx.send(());
    let result = bounded(task).await.unwrap();
    assert!(result.is_err(), "the origin catches");
    assert!(o.cancelled_caught());
    assert!(!s.cancelled_caught());
    assert!(!after.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_shield_raised_on_a_group_while_a_child_cleans_up_does_not_hang_it() {
    let o = CancelScope::new();
    let (scope_tx, scope_rx) = oneshot::channel::<CancelScope>();
    let cleaned = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let (o, cleaned, after) = (o.clone(), cleaned.clone(), after.clone());
        async move {
            o.run(async {
                let r = task_group(async |tg| {
                    let _ = scope_tx.send(tg.cancel_scope().clone());
                    tg.spawn(with_cleanup(pending::<()>(), async move {
                        sleep(30 * MS).await;
                        cleaned.store(true, Ordering::SeqCst);
                    }));
                    pending::<()>().await
                })
                .await;
                after.store(true, Ordering::SeqCst);
                r
            })
            .await
        }
    });
    let group_scope = scope_rx.await.unwrap();
    sleep(MS).await;
    o.cancel();
    sleep(5 * MS).await;
    group_scope.set_shield(true);
    let result = bounded(task).await.unwrap();
    assert!(cleaned.load(Ordering::SeqCst));
    let cancelled = result.expect_err("the origin catches; the group reports nobody's cancel");
    assert_eq!(cancelled.reason().source(), CancelSource::Explicit);
    assert!(o.cancelled_caught());
    assert!(!after.load(Ordering::SeqCst), "the group must not resolve");
}

// ----- bug 3: a finished scope's dependents are still reached ----------------------------------

#[tokio::test(start_paused = true)]
async fn a_watcher_of_a_finished_scope_wakes_when_an_enclosing_scope_is_cancelled() {
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    let (tx, rx) = oneshot::channel::<()>();
    let host = tokio::spawn({
        let (outer, inner) = (outer.clone(), inner.clone());
        async move {
            outer
                .run(async {
                    inner.run(sleep(MS)).await.unwrap();
                    let _ = tx.send(());
                    pending::<()>().await
                })
                .await
        }
    });
    rx.await.unwrap();
    let watcher = tokio::spawn({
        let inner = inner.clone();
        async move { inner.cancelled().await }
    });
    sleep(MS).await;
    outer.cancel();
    bounded(watcher).await.unwrap();
    assert!(bounded(host).await.unwrap().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_watcher_of_a_scope_that_finished_at_once_wakes_when_an_enclosing_scope_is_cancelled() {
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    let (tx, rx) = oneshot::channel::<()>();
    let host = tokio::spawn({
        let (outer, inner) = (outer.clone(), inner.clone());
        async move {
            outer
                .run(async {
                    sleep(MS).await; // the outer scope is registered in the tree
                    inner.run(async {}).await.unwrap(); // never pending
                    let _ = tx.send(());
                    pending::<()>().await
                })
                .await
        }
    });
    rx.await.unwrap();
    let watcher = tokio::spawn({
        let inner = inner.clone();
        async move { inner.cancelled().await }
    });
    sleep(MS).await;
    outer.cancel();
    bounded(watcher).await.unwrap();
    assert!(bounded(host).await.unwrap().is_err());
}

#[tokio::test(start_paused = true)]
async fn an_owned_group_opened_in_a_finished_scope_follows_the_enclosing_cancel() {
    let outer = CancelScope::new();
    let drops = DropCounter::default();
    let guard = drops.guard();
    let host = tokio::spawn({
        let outer = outer.clone();
        async move {
            outer
                .run(async move {
                    let mut group = move_on_after(HOUR, async move {
                        sleep(MS).await;
                        let group = OwnedTaskGroup::open();
                        group
                            .spawn(async move {
                                let _guard = guard;
                                pending::<()>().await
                            })
                            .unwrap();
                        group
                    })
                    .await
                    .unwrap();
                    // The child must be cancelled by the outer scope, so this close returns.
                    shield(group.close()).await.unwrap();
                    pending::<()>().await
                })
                .await
        }
    });
    sleep(10 * MS).await;
    outer.cancel();
    let result = bounded(host).await.unwrap();
    assert!(result.is_err());
    assert_eq!(drops.count(), 1);
}

// ----- bug 4: nested executors inside a scope ---------------------------------------------------
//
// A scope polled by a nested executor (a `block_on` inside a scope's body) is part of the
// tree, but the cancelled scope around the blocked executor cannot drop it: such a scope
// resolves with `Err(Cancelled)` (source `ParentScope`) instead of parking forever.

#[test]
fn futures_block_on_inside_a_cancelled_scope_returns() {
    let out = on_thread_bounded(Duration::from_secs(10), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let outer = CancelScope::new();
            let mut nested = None;
            let _ = outer
                .run(async {
                    outer.cancel();
                    nested = Some(futures::executor::block_on(
                        CancelScope::new().run(async { 5 }),
                    ));
                    pending::<()>().await
                })
                .await;
            nested
        })
    });
    // The nested scope cannot be dropped by the cancelled scope around the blocked executor,
    // so instead of parking it resolves with the inherited cancellation.
    let err = out
        .expect("the body ran")
        .expect_err("inherited cancellation");
    assert_eq!(err.reason().source(), CancelSource::ParentScope);
}

#[test]
fn futures_block_on_of_a_pending_scope_inside_a_cancelled_scope_returns() {
    let out = on_thread_bounded(Duration::from_secs(10), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let outer = CancelScope::new();
            let mut nested = None;
            let _ = outer
                .run(async {
                    outer.cancel();
                    nested = Some(futures::executor::block_on(CancelScope::new().run(async {
                        let (tx, rx) = futures::channel::oneshot::channel();
                        std::thread::spawn(move || tx.send(7));
                        rx.await.unwrap()
                    })));
                    pending::<()>().await
                })
                .await;
            nested
        })
    });
    // The nested scope cannot be dropped by the cancelled scope around the blocked executor,
    // so instead of parking it resolves with the inherited cancellation.
    let err = out
        .expect("the body ran")
        .expect_err("inherited cancellation");
    assert_eq!(err.reason().source(), CancelSource::ParentScope);
}

#[test]
fn block_in_place_and_handle_block_on_inside_a_cancelled_scope_return() {
    let out = on_thread_bounded(Duration::from_secs(10), || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::spawn(async {
                let outer = CancelScope::new();
                let mut nested = None;
                let _ = outer
                    .run(async {
                        outer.cancel();
                        nested = Some(tokio::task::block_in_place(|| {
                            tokio::runtime::Handle::current().block_on(CancelScope::new().run(
                                async {
                                    tokio::task::yield_now().await;
                                    9
                                },
                            ))
                        }));
                        pending::<()>().await
                    })
                    .await;
                nested
            })
            .await
            .unwrap()
        })
    });
    // The nested scope cannot be dropped by the cancelled scope around the blocked executor,
    // so instead of parking it resolves with the inherited cancellation.
    let err = out
        .expect("the body ran")
        .expect_err("inherited cancellation");
    assert_eq!(err.reason().source(), CancelSource::ParentScope);
}

// Stream and sync waits under a nested executor inside a cancelled scope. A stream operation is
// a cancellation point: inside a cancelled scope it does not complete, so the scope drops it.
// Under a `block_on` the scope cannot drop it, and it used to return `Pending` forever without
// a wake-up: a hang where plain tokio code returns. Like `checkpoint()` and a nested scope, it
// now escapes after a few polls and runs as plain code (completes, or waits for a real wake-up).
// The sync primitives are cancellation points only while they wait (dropping the wait is the
// cancellation), so they already behave as plain code there; the test holds them to it.

/// Runs `body` inside a cancelled scope on a current-thread runtime on its own thread, with a
/// time limit, and returns what it produced.
fn in_a_cancelled_scope<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    on_thread_bounded(Duration::from_secs(10), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let outer = CancelScope::new();
            let mut out = None;
            let _ = outer
                .run(async {
                    outer.cancel();
                    out = Some(body());
                    pending::<()>().await
                })
                .await;
            out.expect("the body ran")
        })
    })
}

#[test]
fn stream_operations_under_a_nested_executor_in_a_cancelled_scope_complete() {
    // Ready at once: each completes as plain code would.
    let (sent, received, reserved, streamed) = in_a_cancelled_scope(|| {
        let (tx, mut rx) = tether::memory_stream::<u32>(2);
        let sent = futures::executor::block_on(tx.send(1));
        tx.try_send(2).unwrap();
        let received = futures::executor::block_on(rx.recv());
        let reserved = futures::executor::block_on(tx.reserve()).map(|p| p.send(3));
        let streamed = futures::executor::block_on(futures::StreamExt::next(&mut rx));
        (sent, received, reserved, streamed)
    });
    assert_eq!(sent, Ok(()));
    assert_eq!(received, Ok(1));
    assert!(matches!(reserved, Ok(Ok(()))));
    assert_eq!(streamed, Some(2));

    // A receiver whose `poll_next` escaped under a nested executor is a cancellation point
    // again afterwards: in a later cancelled scope, with an item ready, it is cut off.
    let cut_off_again = on_thread_bounded(Duration::from_secs(10), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, mut rx) = tether::memory_stream::<u32>(4);
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            let outer = CancelScope::new();
            let _ = outer
                .run(async {
                    outer.cancel();
                    let first = futures::executor::block_on(futures::StreamExt::next(&mut rx));
                    assert_eq!(first, Some(1));
                    pending::<()>().await
                })
                .await;
            let again = CancelScope::new();
            let result = again
                .run(async {
                    again.cancel();
                    futures::StreamExt::next(&mut rx).await
                })
                .await;
            (result.is_err(), rx.try_recv())
        })
    });
    assert_eq!(cut_off_again, (true, Ok(2)));

    // Not ready at once: they wait for a real wake-up from another thread, and get it.
    let (received, sent) = in_a_cancelled_scope(|| {
        let (tx, rx) = tether::memory_stream::<u32>(0);
        let (tx2, rx2) = tether::memory_stream::<u32>(0);
        let helper = std::thread::spawn(move || {
            // Feeds the first stream, then drains the second.
            futures::executor::block_on(tx.send(7)).unwrap();
            futures::executor::block_on(rx2.recv())
        });
        let received = futures::executor::block_on(rx.recv());
        let sent = futures::executor::block_on(tx2.send(8));
        assert_eq!(helper.join().unwrap(), Ok(8));
        (received, sent)
    });
    assert_eq!(received, Ok(7));
    assert_eq!(sent, Ok(()));
}

#[test]
fn sync_waits_under_a_nested_executor_in_a_cancelled_scope_complete() {
    let (acquired, locked, waited, limited) = in_a_cancelled_scope(|| {
        let sem = Arc::new(tether::Semaphore::new(0));
        let lock = Arc::new(tether::Lock::new());
        let event = Arc::new(tether::Event::new());
        let limiter = tether::CapacityLimiter::new(1);
        let held = lock.try_lock().unwrap();
        let helper = std::thread::spawn({
            let (sem, event) = (sem.clone(), event.clone());
            move || {
                // Wake the blocked acquire only once it waits, so it really waited.
                while sem.statistics().tasks_waiting == 0 {
                    std::thread::yield_now();
                }
                sem.release().unwrap();
                event.set();
            }
        });
        let acquired = {
            let _token = futures::executor::block_on(sem.acquire());
            true
        };
        let waited = {
            futures::executor::block_on(event.wait());
            event.is_set()
        };
        drop(held);
        let locked = futures::executor::block_on(lock.lock()).is_ok();
        let limited = futures::executor::block_on(limiter.acquire()).is_ok();
        helper.join().unwrap();
        (acquired, locked, waited, limited)
    });
    assert!(acquired && locked && waited && limited);
}

// ----- bug 5: with_cleanup is bound to its task --------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_with_cleanup_moved_to_another_task_panics_there_and_frees_the_first_task() {
    let outer = CancelScope::new();
    let (wc_tx, wc_rx) = oneshot::channel();
    let first = tokio::spawn({
        let outer = outer.clone();
        async move {
            outer
                .run(async move {
                    let mut wc = Box::pin(with_cleanup(pending::<()>(), async {}));
                    assert!((&mut wc).now_or_never().is_none());
                    let _ = wc_tx.send(wc);
                    pending::<()>().await
                })
                .await
        }
    });
    let wc = wc_rx.await.unwrap();
    outer.cancel();
    sleep(MS).await;
    let second = tokio::spawn(wc);
    let err = bounded(second).await.unwrap_err();
    let message = panic_message(&*err.into_panic());
    assert!(
        message.contains("with_cleanup") && message.contains("task"),
        "unexpected message: {message}"
    );
    assert!(bounded(first).await.unwrap().is_err());
    assert!(outer.cancelled_caught());
}

// ----- bug 6: no time is left inside a cancelled scope -------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_effective_deadline_inside_a_cancelled_scope_has_passed() {
    let scope = CancelScope::new();
    let no_deadline = scope
        .run(async {
            scope.cancel();
            current_effective_deadline()
        })
        .now_or_never()
        .expect("the body never awaits")
        .unwrap();
    let timed = CancelScope::new().with_timeout(HOUR);
    let (old_deadline, shielded) = timed
        .run(async {
            timed.cancel();
            let shielded = shield(async { current_effective_deadline() }).await;
            (current_effective_deadline(), shielded)
        })
        .now_or_never()
        .expect("the body never awaits")
        .unwrap();
    let now = Instant::now();
    assert!(no_deadline.is_some_and(|d| d <= now), "{no_deadline:?}");
    assert!(old_deadline.is_some_and(|d| d <= now), "{old_deadline:?}");
    assert_eq!(shielded, None, "a shield keeps the cancellation out");
}

// ----- bugs 7 and 8: panics in Drop are never lost ----------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_drop_of_a_cancelled_childs_body_reaches_the_parent() {
    let outcome = tokio::spawn(async {
        task_group(async |tg| {
            tg.spawn(async {
                let _bomb = PanicOnDrop("child body drop");
                pending::<()>().await
            });
            sleep(MS).await;
            tg.cancel_scope().cancel();
        })
        .await
    })
    .await;
    let payload = outcome
        .expect_err("the panic must reach the parent")
        .into_panic();
    assert_eq!(panic_message(&*payload), "child body drop");
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_drop_of_a_cancelled_group_body_waits_for_the_children() {
    let shielded_done = Arc::new(AtomicBool::new(false));
    let outcome = tokio::spawn({
        let shielded_done = shielded_done.clone();
        async move {
            task_group(async |tg| {
                tg.spawn(async move {
                    shield(sleep(30 * MS)).await;
                    shielded_done.store(true, Ordering::SeqCst);
                });
                sleep(MS).await;
                let _bomb = PanicOnDrop("group body drop");
                tg.cancel_scope().cancel();
                pending::<()>().await
            })
            .await
        }
    });
    let payload = bounded(outcome)
        .await
        .expect_err("the panic must reach the parent")
        .into_panic();
    assert_eq!(panic_message(&*payload), "group body drop");
    assert!(
        shielded_done.load(Ordering::SeqCst),
        "the child's shielded section must finish before the panic resumes"
    );
}

// ----- bug 9: start() returns the value even when the child fails right after ----------------------

async fn start_then_fail() -> (Result<u32, String>, Result<(), String>) {
    let mut started = Err("start() was never resolved".to_string());
    let group = task_group(async |tg| {
        started = tg
            .start(|s| async move {
                s.started(2u32);
                Err::<(), _>("foo")
            })
            .await
            .map_err(|e| e.to_string());
    })
    .await
    .map_err(|e| e.to_string());
    (started, group)
}

#[tokio::test(start_paused = true)]
async fn start_returns_the_value_when_the_child_fails_right_after_started() {
    let (started, group) = bounded(start_then_fail()).await;
    assert_eq!(started, Ok(2));
    let err = group.unwrap_err();
    assert!(err.contains("foo"), "{err}");
}

#[test]
fn start_returns_the_value_when_the_child_fails_right_after_started_on_many_threads() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..200 {
            let (started, group) = bounded(tokio::spawn(start_then_fail())).await.unwrap();
            assert_eq!(started, Ok(2));
            assert!(group.unwrap_err().contains("foo"));
        }
    });
}

#[test]
fn futures_block_on_inside_a_live_scope_runs_normally_and_sees_a_later_cancel() {
    let out = on_thread_bounded(Duration::from_secs(10), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let outer = CancelScope::new();
            let mut nested = Vec::new();
            let _ = outer
                .run(async {
                    // Not cancelled: the nested scope completes normally.
                    nested.push(futures::executor::block_on(
                        CancelScope::new().run(async { 1 }),
                    ));
                    // Cancelled from another thread while the nested scope waits.
                    let handle = outer.clone();
                    nested.push(futures::executor::block_on(CancelScope::new().run(
                        async move {
                            std::thread::spawn(move || handle.cancel());
                            std::future::pending::<u32>().await
                        },
                    )));
                    pending::<()>().await
                })
                .await;
            nested
        })
    });
    assert_eq!(out[0], Ok(1));
    assert_eq!(
        out[1].as_ref().unwrap_err().reason().source(),
        CancelSource::ParentScope
    );
}

// ----- the same bug classes elsewhere (probes kept as tests) ---------------------------------------

#[tokio::test(start_paused = true)]
async fn a_scope_parked_inside_futures_unordered_never_resumes_the_code_after_it() {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    let outer = CancelScope::new();
    let after = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let result = bounded(outer.run(async {
        let items: FuturesUnordered<_> = (0..4)
            .map(|_| {
                let after = after.clone();
                async move {
                    let _ = CancelScope::new().run(pending::<()>()).await;
                    after.fetch_add(1, Ordering::SeqCst);
                }
            })
            .collect();
        let cancel = async {
            sleep(MS).await;
            outer.cancel();
            pending::<()>().await
        };
        futures::future::join(items.collect::<Vec<_>>(), cancel).await
    }))
    .await;
    assert!(result.is_err());
    assert_eq!(
        after.load(Ordering::SeqCst),
        0,
        "code after a parked scope ran"
    );
}

#[tokio::test(start_paused = true)]
async fn a_scope_that_parks_and_is_polled_again_within_one_poll_stays_parked() {
    // The parked scope cancels its enclosing scope itself and wakes itself; `FuturesUnordered`
    // polls a self-woken future once more within the same `poll_next`. That second poll must not
    // count as "nobody will drop me" (a nested executor): the scope stays parked, the enclosing
    // scope drops it, and the code after it never runs.
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    let outer = CancelScope::new();
    let after = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let result = bounded(outer.run(async {
        let items = FuturesUnordered::new();
        for i in 0..4 {
            let (after, outer) = (after.clone(), outer.clone());
            items.push(async move {
                if i == 0 {
                    sleep(MS).await;
                    let _ = CancelScope::new()
                        .run(async {
                            outer.cancel();
                            pending::<()>().await
                        })
                        .await;
                } else {
                    sleep(HOUR).await;
                }
                after.fetch_add(1, Ordering::SeqCst);
            });
        }
        items.collect::<Vec<_>>().await
    }))
    .await;
    assert!(result.is_err());
    assert!(outer.cancelled_caught());
    assert_eq!(
        after.load(Ordering::SeqCst),
        0,
        "code after a parked scope ran"
    );
}

#[tokio::test(start_paused = true)]
async fn an_outer_cancel_is_caught_by_the_outer_scope_when_the_group_cancelled_itself_too() {
    let outer = CancelScope::new();
    let mut after = false;
    let result = bounded(outer.run(async {
        let _ = task_group(async |tg| {
            tg.spawn(pending::<()>());
            tg.cancel_scope().cancel();
            outer.cancel();
            pending::<()>().await
        })
        .await;
        after = true;
    }))
    .await;
    assert!(result.is_err());
    assert!(!after);
    assert!(outer.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn fail_after_reports_no_timeout_when_an_enclosing_scope_is_cancelled_too() {
    // The enclosing cancel is made in fail_after's body.
    let outer = CancelScope::new();
    let mut after = false;
    let result = bounded(outer.run(async {
        let _ = tether::fail_after(10 * MS, async {
            outer.cancel();
            pending::<()>().await
        })
        .await;
        after = true;
    }))
    .await;
    assert!(result.is_err());
    assert!(
        !after,
        "fail_after must not resolve when the outer scope catches"
    );

    // The deadline has passed at entry, inside a scope that is already cancelled.
    let outer = CancelScope::new();
    let mut after = false;
    let result = bounded(outer.run(async {
        outer.cancel();
        let _ = tether::fail_at(Instant::now(), async {}).await;
        after = true;
    }))
    .await;
    assert!(result.is_err());
    assert!(
        !after,
        "fail_at must not resolve when the outer scope catches"
    );
}

#[tokio::test(start_paused = true)]
async fn start_returns_the_value_when_the_child_panics_right_after_started() {
    let outcome = tokio::spawn(async {
        let mut started = None;
        let _ = task_group(async |tg| {
            started = Some(
                tg.start(|s| async move {
                    s.started(3u8);
                    if true {
                        panic!("after started");
                    }
                })
                .await
                .unwrap(),
            );
            sleep(HOUR).await; // cancelled by the child's panic
        })
        .await;
        started
    })
    .await;
    let payload = outcome
        .expect_err("the panic resumes in the parent")
        .into_panic();
    assert_eq!(panic_message(&*payload), "after started");
}

#[tokio::test(start_paused = true)]
async fn an_owned_groups_start_returns_the_value_and_close_reports_the_failure() {
    let mut group = OwnedTaskGroup::open();
    let value = bounded(group.start(|s| async move {
        s.started("ready");
        Err::<(), _>("broke after ready")
    }))
    .await
    .unwrap();
    assert_eq!(value, "ready");
    match bounded(group.close()).await {
        Err(tether::CloseError::Failed(err)) => {
            assert!(err.to_string().contains("broke after ready"), "{err}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_owned_group_that_outlives_the_child_task_that_opened_it_follows_the_group_cancel() {
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let (tx, rx) = oneshot::channel();
    let result = bounded(task_group(async |tg| {
        tg.spawn(async move {
            let group = OwnedTaskGroup::open();
            group
                .spawn(async move {
                    let _done = done_tx; // dropped when this child is cancelled
                    pending::<()>().await
                })
                .unwrap();
            sleep(MS).await;
            let _ = tx.send(group); // the child ends; its group lives on
        });
        let group = rx.await.unwrap();
        sleep(MS).await;
        tg.cancel_scope().cancel(); // must reach the owned group through the ended child
        shield(async {
            assert!(
                done_rx.await.is_err(),
                "the owned group's child was cancelled"
            );
            group.cancel_scope().cancelled().await;
        })
        .await;
        drop(group);
    }))
    .await;
    // The body ran to its end (no await after the shield), so the group returns its value.
    assert!(result.is_ok());
}

#[test]
fn a_checkpoint_under_futures_block_on_inside_a_cancelled_scope_returns() {
    let out = on_thread_bounded(Duration::from_secs(10), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let outer = CancelScope::new();
            let mut returned = false;
            let _ = outer
                .run(async {
                    outer.cancel();
                    futures::executor::block_on(tether::checkpoint());
                    futures::executor::block_on(tether::checkpoint_if_cancelled());
                    returned = true;
                    pending::<()>().await
                })
                .await;
            returned
        })
    });
    assert!(out, "the nested executor returned");
}

#[test]
fn a_checkpoint_under_futures_block_on_at_the_top_of_a_cancelled_child_returns() {
    // The same at the top level of a child task (no scope of its own): the child cancels its
    // group, then blocks on checkpoints in a nested executor. They must return.
    let out = on_thread_bounded(Duration::from_secs(10), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let returned = Arc::new(AtomicBool::new(false));
            let r = returned.clone();
            let _ = task_group(async |tg| {
                let group = tg.handle();
                tg.spawn(async move {
                    group.cancel_scope().cancel();
                    futures::executor::block_on(tether::checkpoint());
                    futures::executor::block_on(tether::checkpoint_if_cancelled());
                    r.store(true, Ordering::SeqCst);
                    pending::<()>().await
                });
            })
            .await;
            returned.load(Ordering::SeqCst)
        })
    });
    assert!(out, "the nested executor returned");
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_in_a_sibling_of_a_held_shield_does_not_spin() {
    // While a shield holds the cancelled scope, a checkpoint in a sibling branch stays pending
    // without waking its task over and over (it is dropped once the shield is done).
    let outer = CancelScope::new();
    let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = {
        let polls = polls.clone();
        futures::future::poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            let _ = cx;
            std::task::Poll::<()>::Pending
        })
    };
    let result = bounded(outer.run(async {
        outer.cancel();
        futures::future::join3(shield(sleep(30 * MS)), tether::checkpoint(), counted).await;
    }))
    .await;
    assert!(result.is_err());
    assert!(
        polls.load(Ordering::SeqCst) < 10,
        "the task was polled {} times while held",
        polls.load(Ordering::SeqCst)
    );
}

#[tokio::test(start_paused = true)]
async fn an_outer_cancel_made_while_a_cancelled_group_body_unwinds_is_caught_by_the_outer_scope() {
    struct CancelOnDrop(CancelScope);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            self.0.cancel();
        }
    }
    let outer = CancelScope::new();
    let mut after = false;
    let result = bounded(outer.run(async {
        let _ = task_group(async |tg| {
            let _guard = CancelOnDrop(outer.clone());
            tg.spawn(pending::<()>());
            tg.cancel_scope().cancel();
            pending::<()>().await
        })
        .await;
        after = true;
    }))
    .await;
    assert!(result.is_err());
    assert!(
        !after,
        "the group must not resolve when the outer scope catches"
    );
    assert!(outer.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn lowering_a_middle_shield_delivers_the_outer_cancel_to_the_outer_scope() {
    let o = CancelScope::new();
    let s = CancelScope::new().with_shield(true);
    let inner = CancelScope::new();
    let after = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let (o, s, inner, after) = (o.clone(), s.clone(), inner.clone(), after.clone());
        async move {
            o.run(async {
                let _ = s.run(inner.run(pending::<()>())).await;
                after.store(true, Ordering::SeqCst);
            })
            .await
        }
    });
    sleep(MS).await;
    o.cancel();
    sleep(MS).await;
    assert!(!task.is_finished(), "the shield keeps the cancel out");
    s.set_shield(false);
    let result = bounded(task).await.unwrap();
    assert!(result.is_err());
    assert!(o.cancelled_caught());
    assert!(!s.cancelled_caught() && !inner.cancelled_caught());
    assert!(!after.load(Ordering::SeqCst));
}

#[test]
fn watchers_of_finished_scopes_racing_an_outer_cancel_on_many_threads_all_wake() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..200 {
            let outer = CancelScope::new();
            let inners: Vec<CancelScope> = (0..8).map(|_| CancelScope::new()).collect();
            let (tx, rx) = oneshot::channel::<()>();
            let host = tokio::spawn({
                let (outer, inners) = (outer.clone(), inners.clone());
                async move {
                    outer
                        .run(async {
                            for (i, inner) in inners.iter().enumerate() {
                                // Half finish at once, half after going pending.
                                if i % 2 == 0 {
                                    inner.run(async {}).await.unwrap();
                                } else {
                                    inner.run(tokio::task::yield_now()).await.unwrap();
                                }
                            }
                            let _ = tx.send(());
                            pending::<()>().await
                        })
                        .await
                }
            });
            let watchers: Vec<_> = inners
                .iter()
                .map(|inner| {
                    let inner = inner.clone();
                    tokio::spawn(async move { inner.cancelled().await })
                })
                .collect();
            rx.await.unwrap();
            outer.cancel();
            for watcher in watchers {
                bounded(watcher).await.unwrap();
            }
            assert!(bounded(host).await.unwrap().is_err());
        }
    });
}
