//! Cancel scopes: level-triggered cancellation, deadlines, shields, reasons, binding.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{DropCounter, bounded};
use tether::{
    CancelScope, CancelSource, checkpoint, current_effective_deadline, fail_after, move_on_after,
    shield,
};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn move_on_after_cuts_a_long_sleep_short() {
    let start = Instant::now();
    let fut = move_on_after(100 * MS, sleep(1000 * MS));
    let scope = fut.scope().clone();
    assert_eq!(bounded(fut).await, None);
    assert_eq!(start.elapsed(), 100 * MS);
    assert!(scope.cancel_called());
    assert!(scope.cancelled_caught());
    assert_eq!(
        scope.cancel_reason().unwrap().source(),
        CancelSource::Deadline
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_that_finishes_in_time_is_returned() {
    let fut = move_on_after(100 * MS, async {
        sleep(10 * MS).await;
        5
    });
    let scope = fut.scope().clone();
    assert_eq!(bounded(fut).await, Some(5));
    assert!(!scope.cancel_called());
    assert!(!scope.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn the_outer_scope_catches_and_the_inner_never_resumes() {
    let inner = CancelScope::new().with_timeout(1000 * MS);
    let outer = CancelScope::new().with_timeout(100 * MS);
    let after_inner = Arc::new(AtomicBool::new(false));
    let flag = after_inner.clone();
    let inner2 = inner.clone();
    let result = bounded(outer.run(async move {
        let _ = inner2.run(sleep(2000 * MS)).await;
        flag.store(true, Ordering::SeqCst); // must never run
    }))
    .await;
    assert!(result.unwrap_err().is_deadline());
    assert!(outer.cancelled_caught());
    assert!(!inner.cancel_called());
    assert!(!inner.cancelled_caught());
    assert!(!after_inner.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn the_inner_scope_catches_its_own_earlier_deadline() {
    let outer = CancelScope::new().with_timeout(1000 * MS);
    let inner = CancelScope::new().with_timeout(100 * MS);
    let inner2 = inner.clone();
    let result = bounded(outer.run(async move {
        let caught = inner2.run(sleep(2000 * MS)).await.is_err();
        (caught, Instant::now())
    }))
    .await
    .unwrap();
    assert!(result.0);
    assert!(inner.cancelled_caught());
    assert!(!outer.cancel_called());
}

#[tokio::test(start_paused = true)]
async fn cancellation_drops_foreign_futures_and_runs_their_drop() {
    let drops = DropCounter::default();
    let scope = CancelScope::new();
    let guard = drops.guard();
    let handle = scope.clone();
    let canceller = tokio::spawn(async move {
        sleep(50 * MS).await;
        handle.cancel();
    });
    let resumed = Arc::new(AtomicBool::new(false));
    let r = resumed.clone();
    let result = bounded(scope.run(async move {
        let _guard = guard;
        sleep(Duration::from_secs(3600)).await;
        r.store(true, Ordering::SeqCst);
    }))
    .await;
    canceller.await.unwrap();
    assert!(result.is_err());
    assert_eq!(drops.count(), 1);
    assert!(!resumed.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn cancellation_is_level_triggered_every_later_await_is_cut_off() {
    // Cancelled before entering: the body never even starts.
    let scope = CancelScope::new();
    scope.cancel();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    assert!(
        scope
            .run(async move { s.store(true, Ordering::SeqCst) })
            .await
            .is_err()
    );
    assert!(!started.load(Ordering::SeqCst));
    assert!(scope.cancelled_caught());

    // Cancelled by its own body: the next await (even a ready-after-yield one) is cut off.
    let scope = CancelScope::new();
    let handle = scope.clone();
    let steps = Arc::new(AtomicUsize::new(0));
    let st = steps.clone();
    let result = bounded(scope.run(async move {
        st.fetch_add(1, Ordering::SeqCst);
        handle.cancel();
        tokio::task::yield_now().await;
        st.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        st.fetch_add(1, Ordering::SeqCst);
    }))
    .await;
    assert!(result.is_err());
    assert_eq!(steps.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_scope_entered_inside_a_cancelled_scope_never_polls_its_body() {
    let outer = CancelScope::new();
    let handle = outer.clone();
    let inner_ran = Arc::new(AtomicBool::new(false));
    let flag = inner_ran.clone();
    let result = bounded(outer.run(async move {
        handle.cancel();
        // No await in between: the inner scope is entered while the outer is cancelled.
        let _ = CancelScope::new()
            .run(async move { flag.store(true, Ordering::SeqCst) })
            .await;
        unreachable!("code after a scope never runs once an outer scope was cancelled");
    }))
    .await;
    assert!(result.is_err());
    assert!(!inner_ran.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn cancel_is_idempotent_and_the_first_reason_wins() {
    let scope = CancelScope::new();
    scope.cancel_with("first");
    scope.cancel_with("second");
    scope.cancel();
    let reason = scope.cancel_reason().unwrap();
    assert_eq!(reason.source(), CancelSource::Explicit);
    assert_eq!(reason.message(), Some("first"));
    let err = scope.run(async {}).await.unwrap_err();
    assert_eq!(err.reason().message(), Some("first"));
    assert!(err.to_string().contains("first"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn cancel_from_another_task_with_a_reason() {
    let scope = CancelScope::new();
    let handle = scope.clone();
    tokio::spawn(async move {
        sleep(10 * MS).await;
        handle.cancel_with("operator pressed stop");
    });
    let err = bounded(scope.run(sleep(Duration::from_secs(60))))
        .await
        .unwrap_err();
    assert_eq!(err.reason().message(), Some("operator pressed stop"));
    assert!(!err.is_deadline());
}

#[tokio::test(start_paused = true)]
async fn deadlines_move_while_the_scope_runs() {
    let start = Instant::now();
    // Extend.
    let scope = CancelScope::new().with_timeout(100 * MS);
    let handle = scope.clone();
    let result = bounded(scope.run(async move {
        sleep(50 * MS).await;
        handle.set_deadline(Some(start + 500 * MS));
        sleep(300 * MS).await;
        "finished"
    }))
    .await;
    assert_eq!(result.unwrap(), "finished");

    // Bring forward from another task.
    let start = Instant::now();
    let scope = CancelScope::new().with_timeout(Duration::from_secs(100));
    let handle = scope.clone();
    tokio::spawn(async move {
        sleep(10 * MS).await;
        handle.set_deadline(Some(Instant::now() + 20 * MS));
    });
    let result = bounded(scope.run(sleep(Duration::from_secs(60)))).await;
    assert!(result.unwrap_err().is_deadline());
    assert_eq!(start.elapsed(), 30 * MS);

    // Remove.
    let scope = CancelScope::new().with_timeout(10 * MS);
    scope.set_deadline(None);
    assert!(bounded(scope.run(sleep(100 * MS))).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn fail_after_reports_a_timeout_only_when_the_deadline_fires() {
    let err = bounded(fail_after(10 * MS, sleep(Duration::from_secs(1))))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "deadline exceeded before the operation completed"
    );
    assert_eq!(bounded(fail_after(10 * MS, async { 3 })).await.unwrap(), 3);

    // An explicit cancel of a deadline scope is not a timeout.
    let scope = CancelScope::new().with_timeout(Duration::from_secs(10));
    scope.cancel();
    let err = scope.run(sleep(MS)).await.unwrap_err();
    assert!(!err.is_deadline());
    assert_eq!(err.reason().source(), CancelSource::Explicit);
}

#[tokio::test(start_paused = true)]
async fn a_shielded_section_finishes_and_the_next_await_is_cut_off() {
    let start = Instant::now();
    let outer = CancelScope::new();
    let handle = outer.clone();
    tokio::spawn(async move {
        sleep(10 * MS).await;
        handle.cancel();
    });
    let shielded_done = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicBool::new(false));
    let (s, a) = (shielded_done.clone(), after.clone());
    let result = bounded(outer.run(async move {
        shield(sleep(1000 * MS)).await;
        s.store(true, Ordering::SeqCst);
        sleep(1000 * MS).await; // cut off here
        a.store(true, Ordering::SeqCst);
    }))
    .await;
    assert!(result.is_err());
    assert!(shielded_done.load(Ordering::SeqCst));
    assert!(!after.load(Ordering::SeqCst));
    assert_eq!(start.elapsed(), 1000 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_shield_can_be_lowered_and_delivers_the_pending_cancel() {
    let outer = CancelScope::new();
    let inner = CancelScope::new().with_shield(true);
    let (o, i) = (outer.clone(), inner.clone());
    tokio::spawn(async move {
        sleep(10 * MS).await;
        o.cancel();
        sleep(10 * MS).await;
        i.set_shield(false);
    });
    let start = Instant::now();
    let inner2 = inner.clone();
    let result =
        bounded(outer.run(async move { inner2.run(sleep(Duration::from_secs(60))).await })).await;
    assert!(result.is_err());
    assert_eq!(start.elapsed(), 20 * MS);
    assert!(!inner.cancelled_caught());
    assert!(outer.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn a_shielded_scope_still_obeys_its_own_deadline() {
    let outer = CancelScope::new();
    outer.cancel();
    let result = bounded(shield(async {
        let inner = CancelScope::new().with_timeout(50 * MS);
        inner.run(sleep(Duration::from_secs(10))).await.is_err()
    }))
    .await;
    assert!(result);
}

#[tokio::test(start_paused = true)]
async fn effective_deadline_is_the_earliest_up_to_the_nearest_shield() {
    let start = Instant::now();
    assert_eq!(current_effective_deadline(), None);
    let seen = bounded(move_on_after(100 * MS, async move {
        let a = current_effective_deadline();
        let b = move_on_after(50 * MS, async { current_effective_deadline() })
            .await
            .unwrap();
        let c = move_on_after(500 * MS, async { current_effective_deadline() })
            .await
            .unwrap();
        let d = shield(async { current_effective_deadline() }).await;
        let e = shield(move_on_after(500 * MS, async {
            current_effective_deadline()
        }))
        .await
        .unwrap();
        (a, b, c, d, e)
    }))
    .await
    .unwrap();
    assert_eq!(seen.0, Some(start + 100 * MS));
    assert_eq!(seen.1, Some(start + 50 * MS));
    assert_eq!(seen.2, Some(start + 100 * MS));
    assert_eq!(seen.3, None);
    assert_eq!(seen.4, Some(start + 500 * MS));
}

#[tokio::test(start_paused = true)]
async fn checkpoint_lets_a_cpu_loop_be_cancelled() {
    let iterations = Arc::new(AtomicUsize::new(0));
    let n = iterations.clone();
    let scope = CancelScope::new();
    let handle = scope.clone();
    let result = bounded(scope.run(async move {
        loop {
            if n.fetch_add(1, Ordering::SeqCst) == 99 {
                handle.cancel();
            }
            checkpoint().await;
        }
    }))
    .await;
    assert!(result.is_err());
    assert_eq!(iterations.load(Ordering::SeqCst), 100);
}

#[tokio::test(start_paused = true)]
async fn cancelled_waits_for_the_scope_from_another_task() {
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    let watcher = tokio::spawn({
        let inner = inner.clone();
        async move {
            inner.cancelled().await;
            inner.cancel_reason().unwrap()
        }
    });
    let o = outer.clone();
    let inner2 = inner.clone();
    let run = tokio::spawn(async move {
        let _ = o
            .run(async move { inner2.run(sleep(Duration::from_secs(60))).await })
            .await;
    });
    sleep(10 * MS).await;
    outer.cancel_with("stop");
    let reason = bounded(watcher).await.unwrap();
    assert_eq!(reason.source(), CancelSource::ParentScope);
    assert!(reason.to_string().contains("stop"), "{reason}");
    run.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn polling_a_scope_from_another_task_panics_with_a_task_context_message() {
    let scope = CancelScope::new();
    let mut run = Box::pin(scope.run(sleep(Duration::from_secs(60))));
    // Enter it in this task.
    assert!(futures::poll!(run.as_mut()).is_pending());
    let owner = tether::TaskId::current();
    let err = tokio::spawn(async move {
        let _ = futures::poll!(run.as_mut());
    })
    .await
    .unwrap_err();
    let message = err
        .into_panic()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "cancel scope entered in {owner} was polled from task"
        )),
        "{message}"
    );
    assert!(
        message.contains("clone the CancelScope handle"),
        "{message}"
    );
}

#[tokio::test]
#[should_panic(expected = "cancel scope entered twice")]
async fn a_scope_runs_one_body() {
    let scope = CancelScope::new();
    scope.run(async {}).await.unwrap();
    let _ = scope.run(async {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_scope_running_on_another_worker() {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        scope
            .run(async move {
                entered_tx.send(()).unwrap();
                std::future::pending::<()>().await
            })
            .await
    });
    entered_rx.await.unwrap();
    handle.cancel();
    let result = bounded(task).await.unwrap();
    assert!(result.is_err());
}

#[tokio::test(start_paused = true)]
async fn with_cleanup_runs_shielded_cleanup_when_an_outer_scope_cuts_the_body_off() {
    let start = Instant::now();
    let cleaned = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicBool::new(false));
    let (c, a) = (cleaned.clone(), after.clone());
    let out = bounded(move_on_after(10 * MS, async move {
        tether::with_cleanup(sleep(Duration::from_secs(60)), async move {
            sleep(50 * MS).await; // the deadline has passed: only a shield lets this run
            c.store(true, Ordering::SeqCst);
        })
        .await;
        a.store(true, Ordering::SeqCst);
    }))
    .await;
    assert_eq!(out, None);
    assert!(cleaned.load(Ordering::SeqCst));
    assert!(!after.load(Ordering::SeqCst));
    assert_eq!(start.elapsed(), 60 * MS);
}

#[tokio::test(start_paused = true)]
async fn with_cleanup_runs_cleanup_after_a_finished_body_and_returns_its_value() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = cleaned.clone();
    let v = bounded(tether::with_cleanup(async { 9 }, async move {
        c.store(true, Ordering::SeqCst)
    }))
    .await;
    assert_eq!(v, 9);
    assert!(cleaned.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn with_cleanup_in_a_child_runs_before_its_group_returns() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = cleaned.clone();
    let err = bounded(tether::task_group(async |tg| {
        tg.spawn(tether::with_cleanup(
            sleep(Duration::from_secs(60)),
            async move {
                sleep(100 * MS).await;
                c.store(true, Ordering::SeqCst);
            },
        ));
        tg.spawn(async {
            sleep(10 * MS).await;
            Err::<(), _>("sibling failed")
        });
    }))
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(cleaned.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_local_task_polled_inside_a_scope_is_not_part_of_that_scope() {
    // `LocalSet::run_until` polls local tasks inside the poll of the future that awaits it, so
    // a scope around that future is "current" on the thread while a *different* task runs.
    let outer = CancelScope::new().with_timeout(Duration::from_secs(3600));
    let seen = bounded(outer.run(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                tokio::task::spawn_local(async {
                    (current_effective_deadline(), tether::TaskId::current())
                })
                .await
                .unwrap()
            })
            .await
    }))
    .await
    .unwrap();
    assert_ne!(seen.1, tether::TaskId::current(), "it ran in its own task");
    assert_eq!(
        seen.0, None,
        "a local task does not inherit the outer scope's deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_in_a_local_task_does_not_hold_the_scope_around_the_local_set() {
    let outer = CancelScope::new().with_timeout(100 * MS);
    let start = Instant::now();
    let result = bounded(outer.run(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                // A local task runs a group with a long shielded child: it must not hold back
                // the outer scope, which belongs to another task.
                let task = tokio::task::spawn_local(async {
                    tether::task_group(async |tg| {
                        tg.spawn(shield(sleep(Duration::from_secs(10))));
                    })
                    .await
                });
                let _ = task.await;
            })
            .await
    }))
    .await;
    assert!(result.unwrap_err().is_deadline());
    assert_eq!(start.elapsed(), 100 * MS);
}

#[tokio::test(start_paused = true)]
async fn fail_after_lends_its_scope_like_move_on_does() {
    let start = Instant::now();
    let call = fail_after(1000 * MS, sleep(5000 * MS));
    let scope = call.scope().clone();
    scope.set_deadline(Some(start + 10 * MS));
    let err = bounded(call).await.unwrap_err();
    assert_eq!(err.deadline(), start + 10 * MS);
    assert_eq!(start.elapsed(), 10 * MS);
    assert!(scope.cancel_called() && scope.cancelled_caught());

    // A cancel by hand ends the body as the deadline would.
    let call = fail_after(1000 * MS, sleep(5000 * MS));
    let scope = call.scope().clone();
    let canceller = async {
        sleep(MS).await;
        scope.cancel();
    };
    let (result, ()) = bounded(futures::future::join(call, canceller)).await;
    assert_eq!(result.unwrap_err().deadline(), start + 10 * MS + 1000 * MS);
    assert!(scope.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn a_scope_whose_deadline_has_passed_never_polls_its_body() {
    // A deadline exactly now has passed: the body is never polled and the deadline is the cause.
    for deadline in [Instant::now(), Instant::now() - 5 * MS] {
        let polled = Arc::new(AtomicBool::new(false));
        let flag = polled.clone();
        let scope = CancelScope::new().with_deadline(deadline);
        let result = bounded(scope.run(async move {
            flag.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }))
        .await;
        let cancelled = result.unwrap_err();
        assert!(cancelled.is_deadline(), "{cancelled:?}");
        assert!(!polled.load(Ordering::SeqCst), "the body was polled");
        assert!(scope.cancelled_caught());
    }
}

#[tokio::test(start_paused = true)]
async fn lowering_a_shield_delivers_the_pending_cancel_to_a_child_task_below_it() {
    // The outer cancel skips the shielded subtree; lowering the shield must then reach a child
    // task of a group inside it (another task: only a walk of the subtree wakes it).
    let outer = CancelScope::new();
    let shielded = CancelScope::new().with_shield(true);
    let drops = DropCounter::default();
    let guard = drops.guard();
    let (o, s, s2) = (outer.clone(), shielded.clone(), shielded.clone());
    let start = Instant::now();
    let result = bounded(outer.run(async move {
        let _ = shielded
            .run(tether::task_group(async |tg| {
                tg.spawn(async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(3600)).await;
                });
                o.cancel();
                sleep(10 * MS).await; // shielded: runs to its end
                s.set_shield(false);
                sleep(Duration::from_secs(3600)).await;
            }))
            .await;
        unreachable!("the outer scope catches");
    }))
    .await;
    assert!(result.is_err());
    assert_eq!(drops.count(), 1, "the child was dropped");
    assert_eq!(start.elapsed(), 10 * MS);
    assert!(outer.cancelled_caught());
    assert!(!s2.cancelled_caught());
}

#[test]
fn polling_a_finished_scope_future_again_panics_with_a_clear_message() {
    use std::task::{Context, Poll};
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut run = Box::pin(CancelScope::new().run(async { 7 }));
    assert!(matches!(run.as_mut().poll(&mut cx), Poll::Ready(Ok(7))));
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = run.as_mut().poll(&mut cx);
    }));
    let payload = again.expect_err("a second poll must panic");
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert_eq!(
        message,
        "a tether scope future was polled after it completed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shield_raised_from_another_task_protects_the_running_body_from_a_later_cancel() {
    // Raising the shield must wake the scope's task so it starts holding the enclosing scope:
    // an outer cancel made afterwards waits for the shielded body, then is delivered.
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    let finished = Arc::new(AtomicBool::new(false));
    let (o, i, f) = (outer.clone(), inner.clone(), finished.clone());
    let other = tokio::spawn(async move {
        sleep(5 * MS).await;
        i.set_shield(true);
        sleep(5 * MS).await;
        o.cancel();
    });
    let start = Instant::now();
    let result = bounded(outer.run(async move {
        let _ = inner
            .run(async move {
                sleep(20 * MS).await;
                f.store(true, Ordering::SeqCst);
            })
            .await;
        sleep(Duration::from_secs(3600)).await;
    }))
    .await;
    other.await.unwrap();
    assert!(result.is_err());
    assert!(finished.load(Ordering::SeqCst), "the shielded body was cut");
    assert_eq!(start.elapsed(), 20 * MS);
    assert!(outer.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_counts_its_first_poll_as_made_at_the_call() {
    // Like `tokio::time::timeout`: a body ready on its first poll wins even when that poll
    // comes after the deadline; a pending one is cut in that same poll, by the deadline.
    let ready = fail_after(10 * MS, async { 7 });
    let late = move_on_after(10 * MS, std::future::pending::<()>());
    let late_scope = late.scope().clone();
    sleep(50 * MS).await;
    assert_eq!(bounded(ready).await.unwrap(), 7);
    let start = Instant::now();
    assert_eq!(bounded(late).await, None);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "cut at once, not after a wait"
    );
    assert!(late_scope.cancelled_caught());
    assert_eq!(
        late_scope.cancel_reason().unwrap().source(),
        CancelSource::Deadline
    );

    // A moved deadline is checked on the first poll as any scope's is.
    let moved = fail_after(Duration::from_secs(3600), async { 7 });
    moved.scope().set_deadline(Some(Instant::now()));
    assert!(
        bounded(moved).await.is_err(),
        "a passed moved deadline cancels first"
    );

    // A zero timeout has passed at the call: the body never runs.
    for fail in [false, true] {
        let polled = Arc::new(AtomicBool::new(false));
        let flag = polled.clone();
        let body = async move {
            flag.store(true, Ordering::SeqCst);
        };
        if fail {
            assert!(bounded(fail_after(Duration::ZERO, body)).await.is_err());
        } else {
            assert_eq!(bounded(move_on_after(Duration::ZERO, body)).await, None);
        }
        assert!(
            !polled.load(Ordering::SeqCst),
            "the body ran past a zero timeout"
        );
    }
}

// ----- what a scope says about itself (mutation survivors, session 3) ---------------------------

#[tokio::test(start_paused = true)]
async fn is_cancelled_follows_enclosing_scopes_up_to_a_shield_and_shield_reads_back() {
    // `is_cancelled` answers for the code in the scope (its own cancel or an enclosing one, up
    // to a shield); `cancel_called` only for its own. `shield()` reads back what was set.
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    let shielded = CancelScope::new().with_shield(true);
    assert!(!inner.shield());
    assert!(shielded.shield());
    assert!(!inner.is_cancelled(), "a fresh scope is not cancelled");
    let (o, i, s) = (outer.clone(), inner.clone(), shielded.clone());
    let result = bounded(outer.run(async move {
        i.run(async {
            s.run(async {
                assert!(!i.is_cancelled() && !s.is_cancelled());
                o.cancel();
                assert!(i.is_cancelled(), "inherited from the enclosing scope");
                assert!(!i.cancel_called(), "not its own");
                assert!(!s.is_cancelled(), "the shield keeps it out");
                s.set_shield(false);
                assert!(!s.shield());
                assert!(s.is_cancelled(), "the shield is down");
            })
            .await
            .unwrap();
            std::future::pending::<()>().await;
        })
        .await
    }))
    .await;
    assert!(result.is_err() && outer.cancelled_caught());
    assert!(inner.is_cancelled() && !inner.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn a_local_task_that_runs_a_scope_gives_the_position_back_to_the_task_around_it() {
    // A local task polled inside a scope's poll (`LocalSet::run_until`) runs a scope of its own;
    // when its poll returns, the code around it, in the same poll, is in its scope again.
    let start = Instant::now();
    let outer = CancelScope::new().with_deadline(start + 10 * MS);
    let local_ran = Arc::new(AtomicBool::new(false));
    let ran = local_ran.clone();
    let seen = bounded(outer.run(async {
        let local = tokio::task::LocalSet::new();
        let watch = async {
            // Polled after `run_until` in each poll of the join: reads the position right after
            // the local task's poll, before the scope's driver polls again.
            while !local_ran.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            current_effective_deadline()
        };
        let run = local.run_until(async {
            tokio::task::spawn_local(async move {
                CancelScope::new().run(async {}).await.unwrap();
                ran.store(true, Ordering::SeqCst);
            })
            .await
            .unwrap();
        });
        futures::future::join(run, watch).await.1
    }))
    .await
    .unwrap();
    assert_eq!(seen, Some(start + 10 * MS));
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_in_a_sibling_of_a_held_shield_never_lets_its_branch_go_on() {
    // The scope is cancelled while a shield in another branch holds it: a checkpoint is a
    // cancellation point, so the code after it never runs; the scope drops the body once the
    // shield is done.
    let outer = CancelScope::new();
    let passed = AtomicBool::new(false);
    let result = bounded(outer.run(async {
        outer.cancel();
        futures::future::join(shield(sleep(30 * MS)), async {
            checkpoint().await;
            passed.store(true, Ordering::SeqCst);
        })
        .await;
    }))
    .await;
    assert!(result.is_err() && outer.cancelled_caught());
    assert!(
        !passed.load(Ordering::SeqCst),
        "the checkpoint let its branch go on"
    );
}

#[tokio::test(start_paused = true)]
async fn a_local_task_inside_a_held_cancelled_scope_is_not_cancelled_by_it() {
    // A local task polled inside the poll of a cancelled scope (held by a shielded branch) is
    // not in that scope: its checkpoint completes and it runs to its end.
    let outer = CancelScope::new();
    let local_done = Arc::new(AtomicBool::new(false));
    let done = local_done.clone();
    // The body may complete (both branches end): its result does not matter here.
    let _ = bounded(outer.run(async {
        outer.cancel();
        let local = tokio::task::LocalSet::new();
        let run = local.run_until(async move {
            tokio::task::spawn_local(async move {
                checkpoint().await;
                done.store(true, Ordering::SeqCst);
            })
            .await
            .unwrap();
        });
        futures::future::join(shield(sleep(30 * MS)), run).await;
    }))
    .await;
    assert!(
        local_done.load(Ordering::SeqCst),
        "the local task was held by a scope it is not in"
    );
}

#[tokio::test]
async fn checkpoint_yields_once_and_checkpoint_if_cancelled_does_not() {
    // `checkpoint()` is a schedule point (Trio): it yields once, so a task that is ready runs
    // first on this one-thread runtime. `checkpoint_if_cancelled()` completes at once.
    use futures::FutureExt;
    let other_ran = Arc::new(AtomicBool::new(false));
    let o = other_ran.clone();
    let other = tokio::spawn(async move { o.store(true, Ordering::SeqCst) });
    assert!(
        tether::checkpoint_if_cancelled().now_or_never().is_some(),
        "not cancelled: completes without waiting"
    );
    assert!(!other_ran.load(Ordering::SeqCst));
    checkpoint().await;
    assert!(
        other_ran.load(Ordering::SeqCst),
        "the checkpoint did not yield"
    );
    bounded(other).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_inner_cancel_beside_a_passed_deadline_is_caught_by_the_deadline_scope() {
    // Bug 1 with a deadline, one level down: the middle scope's deadline passes while the inner
    // scope cancels itself (and every scope above has a deadline). The outermost cancelled scope,
    // the middle one, catches: the inner does not, and the code between them never runs.
    let start = Instant::now();
    let top = CancelScope::new().with_deadline(start + Duration::from_secs(3600));
    let middle = CancelScope::new().with_deadline(start + Duration::from_secs(3600));
    let inner = CancelScope::new();
    let mut between = false;
    let result = bounded(top.run(async {
        middle
            .run(async {
                let _ = inner
                    .run(async {
                        middle.set_deadline(Some(Instant::now())); // passed, here and now
                        inner.cancel();
                        std::future::pending::<()>().await
                    })
                    .await;
                between = true;
            })
            .await
    }))
    .await;
    let err = result.expect("the top scope is not cancelled").unwrap_err();
    assert!(err.is_deadline(), "{err}");
    assert!(!between, "code between the scopes ran");
    assert!(middle.cancelled_caught() && !inner.cancelled_caught());
}

#[tokio::test(start_paused = true)]
async fn a_first_deadline_set_on_a_running_middle_scope_that_has_passed_is_caught_by_it() {
    // As above, but no scope had a deadline until the middle one gets its first, already
    // passed, while the body runs, after the inner scope cancelled itself and the middle one
    // was asked about its state: what the scopes remembered about the deadlines above them
    // must not hide the new one.
    let (top, middle, inner) = (CancelScope::new(), CancelScope::new(), CancelScope::new());
    let mut between = false;
    let result = bounded(top.run(async {
        middle
            .run(async {
                let _ = inner
                    .run(async {
                        tokio::task::yield_now().await;
                        inner.cancel();
                        assert!(!middle.is_cancelled(), "an inner cancel does not reach up");
                        middle.set_deadline(Some(Instant::now()));
                        std::future::pending::<()>().await
                    })
                    .await;
                between = true;
            })
            .await
    }))
    .await;
    let err = result.expect("the top scope is not cancelled").unwrap_err();
    assert!(err.is_deadline(), "{err}");
    assert!(!between, "code between the scopes ran");
    assert!(middle.cancelled_caught() && !inner.cancelled_caught());
}
