//! Task groups: waiting, failure propagation, panics, nesting, start(), owned groups, binding.

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{DropCounter, bounded};
use tether::{
    CancelScope, CancelSource, CloseError, GroupError, OwnedTaskGroup, StartError, TaskGroup,
    TaskId, shield, task_group,
};
use tokio::sync::{Barrier, Notify};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("boom {0}")]
struct Boom(u32);

#[tokio::test]
async fn two_children_add_to_a_set_and_exit_waits_for_both() {
    let set = Arc::new(Mutex::new(BTreeSet::new()));
    bounded(task_group(async |tg| {
        for name in ["a", "b"] {
            let set = set.clone();
            tg.spawn(async move {
                tokio::task::yield_now().await;
                set.lock().unwrap().insert(name);
            });
        }
    }))
    .await
    .unwrap();
    assert_eq!(*set.lock().unwrap(), BTreeSet::from(["a", "b"]));
}

#[tokio::test(start_paused = true)]
async fn exit_waits_for_slow_children() {
    let start = Instant::now();
    bounded(task_group(async |tg| {
        tg.spawn(sleep(300 * MS));
        tg.spawn(sleep(100 * MS));
    }))
    .await
    .unwrap();
    assert_eq!(start.elapsed(), 300 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_failing_child_cancels_its_sleeping_sibling() {
    let drops = DropCounter::default();
    let resumed = Arc::new(AtomicBool::new(false));
    let (guard, r) = (drops.guard(), resumed.clone());
    let err = bounded(task_group(async |tg| {
        tg.spawn(async move {
            let _guard = guard;
            sleep(HOUR).await;
            r.store(true, Ordering::SeqCst);
        });
        tg.spawn(async {
            sleep(10 * MS).await;
            Err::<(), _>(Boom(1))
        });
    }))
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err.find::<Boom>(), Some(&Boom(1)));
    assert!(matches!(
        err.failures()[0].origin(),
        tether::FailureOrigin::Child(_)
    ));
    assert_eq!(drops.count(), 1, "the sibling was dropped");
    assert!(!resumed.load(Ordering::SeqCst), "and never resumed");
}

#[tokio::test(start_paused = true)]
async fn a_failing_body_cancels_the_children_and_is_reported() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    let err = bounded(task_group(async |tg| {
        tg.spawn(async move {
            let _guard = guard;
            sleep(HOUR).await;
        });
        sleep(10 * MS).await;
        Err::<(), _>(Boom(7))
    }))
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(matches!(
        err.failures()[0].origin(),
        tether::FailureOrigin::Body(_)
    ));
    assert_eq!(drops.count(), 1);
}

#[tokio::test]
async fn every_failure_is_collected() {
    // Each child fails right after a shielded section, so the first failure's cancellation
    // cannot stop the others before they fail too: all three are real failures.
    let barrier = Arc::new(Barrier::new(3));
    let err = bounded(task_group(async |tg| {
        for i in 0..3 {
            let barrier = barrier.clone();
            tg.spawn(async move {
                shield(barrier.wait()).await;
                Err::<(), _>(Boom(i))
            });
        }
    }))
    .await
    .unwrap_err();
    assert_eq!(err.len(), 3, "{err}");
    let (booms, rest) = err.split::<Boom>();
    let mut ids: Vec<u32> = booms.iter().map(|b| b.0).collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2]);
    assert!(rest.is_none());
}

#[tokio::test]
async fn nested_group_errors_flatten() {
    let err = bounded(task_group(async |tg| {
        tg.spawn(async {
            task_group(async |inner| {
                inner.spawn(async { Err::<(), _>(Boom(1)) });
            })
            .await
        });
    }))
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(err.failures()[0].downcast_ref::<GroupError>().is_some());
    assert_eq!(err.find::<Boom>(), Some(&Boom(1)));
    let flat = err.flatten();
    assert_eq!(flat.len(), 1);
    assert_eq!(flat.failures()[0].downcast_ref::<Boom>(), Some(&Boom(1)));
    assert!(flat.to_string().contains("boom 1"), "{flat}");
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_outer_group_reaches_an_inner_groups_sleeping_child() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    let inner_running = Arc::new(Notify::new());
    let notify = inner_running.clone();
    bounded(task_group(async |tg| {
        tg.spawn(async move {
            task_group(async |inner| {
                inner.spawn(async move {
                    let _guard = guard;
                    notify.notify_one();
                    sleep(HOUR).await;
                });
            })
            .await
        });
        inner_running.notified().await;
        tg.cancel_scope().cancel();
    }))
    .await
    .unwrap(); // the body finished, cancellation is not a failure: no error escapes
    assert_eq!(drops.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_outer_scope_cancel_waits_for_the_groups_children_and_skips_the_code_after() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let scope = CancelScope::new().with_timeout(50 * MS);
    let counter = drops.clone();
    let result = bounded(scope.run(async move {
        let _ = task_group(async |tg| {
            tg.spawn(async move {
                let _guard = guard;
                sleep(HOUR).await;
            });
            sleep(HOUR).await;
        })
        .await;
        a.store(true, Ordering::SeqCst);
    }))
    .await;
    assert!(result.unwrap_err().is_deadline());
    assert_eq!(
        counter.count(),
        1,
        "the child was dropped before the scope returned"
    );
    assert!(!after.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_child_in_a_shield_finishes_then_its_next_await_is_cut_off() {
    let start = Instant::now();
    let shielded_done = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicBool::new(false));
    let (s, a) = (shielded_done.clone(), after.clone());
    let err = bounded(task_group(async |tg| {
        tg.spawn(async move {
            shield(sleep(1000 * MS)).await;
            s.store(true, Ordering::SeqCst);
            sleep(MS).await;
            a.store(true, Ordering::SeqCst);
        });
        tg.spawn(async {
            sleep(10 * MS).await;
            Err::<(), _>(Boom(0))
        });
    }))
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(shielded_done.load(Ordering::SeqCst));
    assert!(!after.load(Ordering::SeqCst));
    assert_eq!(start.elapsed(), 1000 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_group_cancel_reason_names_the_failed_task() {
    let err_reason = Arc::new(Mutex::new(None));
    let seen = err_reason.clone();
    let _ = bounded(task_group(async |tg| {
        let scope = tg.cancel_scope().clone();
        tg.spawn(async move {
            shield(scope.cancelled()).await;
            *seen.lock().unwrap() = scope.cancel_reason();
        });
        tg.spawn(async { Err::<(), _>(Boom(9)) });
    }))
    .await;
    let reason = err_reason.lock().unwrap().clone().unwrap();
    assert_eq!(reason.source(), CancelSource::GroupFailure);
    assert!(reason.to_string().contains("boom 9"), "{reason}");
}

#[tokio::test]
async fn a_child_panic_stops_the_siblings_then_resumes_in_the_parent() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    let counter = drops.clone();
    let outcome = tokio::spawn(async move {
        task_group(async |tg| {
            tg.spawn(async move {
                let _guard = guard;
                sleep(HOUR).await;
            });
            tg.spawn(async {
                tokio::task::yield_now().await;
                if true {
                    panic!("child exploded");
                }
            });
        })
        .await
    })
    .await;
    let payload = outcome.unwrap_err().into_panic();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "child exploded");
    assert_eq!(counter.count(), 1, "the sibling was stopped first");
}

#[tokio::test]
async fn a_body_panic_stops_the_children_then_resumes() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    let counter = drops.clone();
    let outcome = tokio::spawn(async move {
        task_group(async |tg| {
            tg.spawn(async move {
                let _guard = guard;
                sleep(HOUR).await;
            });
            tokio::task::yield_now().await;
            if true {
                panic!("body exploded");
            }
        })
        .await
    })
    .await;
    let payload = outcome.unwrap_err().into_panic();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "body exploded");
    assert_eq!(counter.count(), 1);
}

#[tokio::test]
async fn children_spawn_siblings_through_a_handle() {
    let count = Arc::new(AtomicUsize::new(0));
    bounded(task_group(async |tg| {
        let handle = tg.handle();
        let count = count.clone();
        tg.spawn(async move {
            for _ in 0..10 {
                let count = count.clone();
                handle
                    .spawn(async move {
                        count.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
            }
        });
    }))
    .await
    .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn spawning_into_an_exited_group_is_an_error_that_hands_the_future_back() {
    let handle = bounded(task_group(async |tg| Ok::<_, GroupError>(tg.handle())))
        .await
        .unwrap();
    assert!(handle.is_closed());
    let err = handle.spawn(async { 42 }.map_to_unit()).unwrap_err();
    assert_eq!(err.host(), TaskId::current());
    assert!(
        err.to_string().starts_with(&format!(
            "task group hosted by {} has already exited",
            TaskId::current()
        )),
        "{err}"
    );
    let _future = err.into_inner();
    let start_err = handle
        .start(|status| async move { status.started(()) })
        .await;
    assert!(matches!(start_err, Err(StartError::GroupClosed(_))));
}

trait MapToUnit: std::future::Future + Sized {
    fn map_to_unit(self) -> futures::future::Map<Self, fn(Self::Output)> {
        futures::FutureExt::map(self, drop as fn(Self::Output))
    }
}
impl<F: std::future::Future> MapToUnit for F {}

#[tokio::test]
async fn the_body_value_comes_back() {
    let v = bounded(task_group(async |tg| {
        tg.spawn(async {});
        Ok::<_, GroupError>(41 + 1)
    }))
    .await
    .unwrap();
    assert_eq!(v, 42);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_group_scope_before_the_body_finishes_is_a_cancelled_result() {
    let err = bounded(task_group(async |tg| {
        tg.spawn(sleep(HOUR));
        tg.cancel_scope().cancel_with("enough");
        sleep(HOUR).await;
        Ok::<_, GroupError>(1)
    }))
    .await
    .unwrap_err();
    assert!(err.is_cancelled());
    assert!(err.is_empty());
    assert_eq!(err.cancel_reason().unwrap().message(), Some("enough"));
}

// ----- start() ---------------------------------------------------------------------------

#[tokio::test]
async fn start_returns_the_started_value_and_the_child_keeps_running() {
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    bounded(task_group(async |tg| {
        let v = tg
            .start(|status| async move {
                status.started("foo");
                tokio::task::yield_now().await;
                f.store(true, Ordering::SeqCst);
            })
            .await
            .unwrap();
        assert_eq!(v, "foo");
    }))
    .await
    .unwrap();
    assert!(finished.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_child_failing_before_started_fails_start_and_not_the_group() {
    let sibling_done = Arc::new(AtomicBool::new(false));
    let s = sibling_done.clone();
    bounded(task_group(async |tg| {
        tg.spawn(async move {
            sleep(50 * MS).await;
            s.store(true, Ordering::SeqCst);
        });
        let err = tg
            .start(|status: tether::TaskStatus<u16>| async move {
                let _status = status;
                sleep(10 * MS).await;
                Err::<(), _>(Boom(5))
            })
            .await
            .unwrap_err();
        match &err {
            StartError::Failed(e) => assert_eq!(e.downcast_ref::<Boom>(), Some(&Boom(5))),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            !tg.cancel_scope().cancel_called(),
            "the group is not cancelled"
        );
    }))
    .await
    .unwrap();
    assert!(sibling_done.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_child_that_returns_without_started_is_an_error_that_says_so() {
    // Whether or not the child held on to its status until it returned.
    bounded(task_group(async |tg| {
        let err = tg.start(|_status: tether::TaskStatus<()>| async {}).await;
        assert!(matches!(err, Err(StartError::NotStarted)), "{err:?}");
    }))
    .await
    .unwrap();
    bounded(task_group(async |tg| {
        let err = tg
            .start(|status: tether::TaskStatus<()>| async move {
                let _status = status;
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StartError::NotStarted));
        assert!(
            err.to_string()
                .starts_with("child exited without calling started()"),
            "{err}"
        );
    }))
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn dropping_the_status_fails_start_and_cancels_the_child() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    bounded(task_group(async |tg| {
        let err = tg
            .start(|status: tether::TaskStatus<()>| async move {
                let _guard = guard;
                drop(status);
                sleep(HOUR).await;
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StartError::StatusDropped), "{err}");
    }))
    .await
    .unwrap();
    assert_eq!(drops.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_start_call_cancels_the_child() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    bounded(task_group(async |tg| {
        let out = tether::move_on_after(
            10 * MS,
            tg.start(|status: tether::TaskStatus<()>| async move {
                let (_guard, _status) = (guard, status);
                sleep(HOUR).await;
            }),
        )
        .await;
        assert!(out.is_none());
    }))
    .await
    .unwrap();
    assert_eq!(drops.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn after_started_a_failure_belongs_to_the_group() {
    let err = bounded(task_group(async |tg| {
        tg.start(|status| async move {
            status.started(());
            sleep(10 * MS).await;
            Err::<(), _>(Boom(2))
        })
        .await
        .unwrap();
        sleep(HOUR).await;
    }))
    .await
    .unwrap_err();
    assert_eq!(err.find::<Boom>(), Some(&Boom(2)));
}

#[tokio::test]
async fn a_panic_before_started_comes_out_of_start() {
    let outcome = tokio::spawn(async {
        task_group(async |tg| {
            let _ = tg
                .start(|_status: tether::TaskStatus<()>| async {
                    if true {
                        panic!("failed to bind");
                    }
                })
                .await;
        })
        .await
    })
    .await;
    let payload = outcome.unwrap_err().into_panic();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "failed to bind");
}

// ----- owned groups ----------------------------------------------------------------------

#[tokio::test]
async fn an_owned_group_closed_from_another_task_is_a_task_context_error_at_once() {
    let mut group = OwnedTaskGroup::open();
    group.spawn(async {}).unwrap();
    let opener = TaskId::current();
    let (mut group, err, closer) = bounded(tokio::spawn(async move {
        let err = group.close().await.unwrap_err();
        (group, err, TaskId::current())
    }))
    .await
    .unwrap();
    let ctx = err.task_context().expect("a TaskContextError");
    assert_eq!(ctx.owner(), opener);
    assert_eq!(ctx.current(), closer);
    assert_eq!(ctx.resource(), "task group");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("task group opened in {opener} was closed from {closer}; close it in the task that opened it")),
        "{text}"
    );
    // Still open and usable; closing in the right task works.
    group.spawn(async {}).unwrap();
    bounded(group.close()).await.unwrap();
    assert!(group.is_closed());
    assert!(group.spawn(async {}).is_err());
}

#[tokio::test(start_paused = true)]
async fn dropping_an_owned_group_cancels_and_aborts_even_shielded_children() {
    let drops = DropCounter::default();
    let (g1, g2) = (drops.guard(), drops.guard());
    let group = OwnedTaskGroup::open();
    let running = Arc::new(Barrier::new(3));
    let (r1, r2) = (running.clone(), running.clone());
    group
        .spawn(async move {
            let _g = g1;
            r1.wait().await;
            sleep(HOUR).await;
        })
        .unwrap();
    group
        .spawn(async move {
            let _g = g2;
            shield(async {
                r2.wait().await;
                sleep(HOUR).await;
            })
            .await;
        })
        .unwrap();
    running.wait().await;
    drop(group);
    bounded(async {
        while drops.count() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_owned_group_reports_failures_on_close() {
    let mut group = OwnedTaskGroup::open();
    group.spawn(async { Err::<(), _>(Boom(4)) }).unwrap();
    group.spawn(sleep(HOUR)).unwrap();
    let err = bounded(group.close()).await.unwrap_err();
    match err {
        CloseError::Failed(e) => assert_eq!(e.find::<Boom>(), Some(&Boom(4))),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_owned_group_follows_the_scope_it_was_opened_in() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    let scope = CancelScope::new();
    let s = scope.clone();
    let mut group = scope
        .run(async move {
            let group = OwnedTaskGroup::open();
            group
                .spawn(async move {
                    let _guard = guard;
                    sleep(HOUR).await;
                })
                .unwrap();
            group
        })
        .await
        .unwrap();
    s.cancel();
    bounded(group.close()).await.unwrap();
    assert_eq!(drops.count(), 1);
}

// ----- scale and threads -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_children_on_the_multi_thread_runtime() {
    let count = Arc::new(AtomicUsize::new(0));
    bounded(task_group(async |tg| {
        for _ in 0..10_000 {
            let count = count.clone();
            tg.spawn(async move {
                count.fetch_add(1, Ordering::Relaxed);
            });
        }
    }))
    .await
    .unwrap();
    assert_eq!(count.load(Ordering::Relaxed), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_storm_on_the_multi_thread_runtime() {
    let drops = DropCounter::default();
    let counter = drops.clone();
    bounded(task_group(async |tg| {
        for _ in 0..5_000 {
            let guard = drops.guard();
            tg.spawn(async move {
                let _guard = guard;
                sleep(HOUR).await;
            });
        }
        tg.cancel_scope().cancel();
    }))
    .await
    .unwrap();
    assert_eq!(counter.count(), 5_000);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_on_the_group_scope_cancels_the_group() {
    let start = Instant::now();
    let drops = DropCounter::default();
    let guard = drops.guard();
    let err = bounded(task_group(async |tg| {
        tg.cancel_scope()
            .set_deadline(Some(Instant::now() + 30 * MS));
        tg.spawn(async move {
            let _guard = guard;
            sleep(HOUR).await;
        });
        sleep(HOUR).await;
        Ok::<_, GroupError>(())
    }))
    .await
    .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(
        err.cancel_reason().unwrap().source(),
        CancelSource::Deadline
    );
    assert_eq!(start.elapsed(), 30 * MS);
    assert_eq!(drops.count(), 1);
}

/// Builds groups nested `depth` deep, each level in a child task, with a sleeper at every level.
fn nested(
    depth: usize,
    drops: DropCounter,
    ready: Arc<Barrier>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), GroupError>> + Send>> {
    Box::pin(async move {
        task_group(async |tg| {
            let guard = drops.guard();
            let r = ready.clone();
            tg.spawn(async move {
                let _guard = guard;
                r.wait().await;
                sleep(HOUR).await;
            });
            if depth > 1 {
                tg.spawn(nested(depth - 1, drops.clone(), ready.clone()));
            }
        })
        .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outer_scope_cancel_reaches_groups_nested_across_tasks_all_the_way_down() {
    const DEPTH: usize = 8;
    let drops = DropCounter::default();
    let ready = Arc::new(Barrier::new(DEPTH + 1));
    let scope = CancelScope::new();
    let run = tokio::spawn({
        let scope = scope.clone();
        let (drops, ready) = (drops.clone(), ready.clone());
        async move { scope.run(nested(DEPTH, drops, ready)).await }
    });
    ready.wait().await; // every level's sleeper is running
    scope.cancel_with("shutdown");
    let result = bounded(run).await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.reason().message(), Some("shutdown"));
    assert_eq!(
        drops.count(),
        DEPTH,
        "every level's sleeper was dropped before the scope returned"
    );
}

#[tokio::test]
async fn main_body_and_children_each_have_an_identity() {
    let main = TaskId::current();
    assert!(!main.is_tokio_task());
    let ids = Arc::new(Mutex::new(Vec::new()));
    bounded(task_group(async |tg| {
        assert_eq!(tg.host(), main);
        for _ in 0..3 {
            let ids = ids.clone();
            tg.spawn(async move { ids.lock().unwrap().push(TaskId::current()) });
        }
    }))
    .await
    .unwrap();
    let ids = ids.lock().unwrap();
    let distinct: BTreeSet<String> = ids.iter().map(|i| i.to_string()).collect();
    assert_eq!(distinct.len(), 3);
    assert!(ids.iter().all(|i| i.is_tokio_task() && *i != main));
}

#[tokio::test(start_paused = true)]
async fn every_form_of_group_lends_the_same_scope_by_the_same_type() {
    // One API: `cancel_scope()` is `&CancelScope` on all three forms, and it is one scope.
    fn scope_of<G>(group: &G, get: fn(&G) -> &CancelScope) -> CancelScope {
        get(group).clone()
    }
    let owned = OwnedTaskGroup::open();
    let from_owned = scope_of(&owned, OwnedTaskGroup::cancel_scope);
    let handle = owned.handle();
    let from_handle = scope_of(&handle, tether::TaskGroupHandle::cancel_scope);
    from_handle.cancel();
    assert!(from_owned.cancel_called());
    assert_eq!(handle.host(), owned.host());
    drop(owned);

    bounded(task_group(async |tg| {
        let from_scoped = scope_of(tg, TaskGroup::cancel_scope);
        let from_handle = scope_of(&tg.handle(), tether::TaskGroupHandle::cancel_scope);
        from_handle.cancel_with("through the handle");
        assert_eq!(
            from_scoped.cancel_reason().unwrap().message(),
            Some("through the handle")
        );
    }))
    .await
    .unwrap(); // the body finished without another await: its value stands
}

// ----- outcomes nobody reads (found by mutation testing, docs/reliability.md) -------------------

#[tokio::test(start_paused = true)]
async fn a_start_failure_nobody_reads_is_handed_to_the_group_with_the_childs_task() {
    // The child fails before `started` while nobody polls its `start()` future; that future is
    // then dropped. The failure must reach the group (and name the child's task), not vanish.
    let child_task = Arc::new(Mutex::new(None));
    let seen = child_task.clone();
    let err = bounded(task_group(async |tg| {
        let start = tg.start(move |status: tether::TaskStatus<u16>| async move {
            let _status = status;
            *seen.lock().unwrap() = Some(TaskId::current());
            Err::<(), _>(Boom(7))
        });
        sleep(MS).await; // the child runs and fails meanwhile
        assert!(
            !tg.cancel_scope().cancel_called(),
            "a failure before started does not cancel the group by itself"
        );
        drop(start);
        sleep(HOUR).await; // cut off: the group is cancelled by the handed-over failure
    }))
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert_eq!(err.find::<Boom>(), Some(&Boom(7)));
    let child = child_task.lock().unwrap().expect("the child ran");
    assert_eq!(
        err.failures()[0].origin(),
        tether::FailureOrigin::Child(child)
    );
}

#[tokio::test(start_paused = true)]
async fn a_start_panic_nobody_reads_is_handed_to_the_group() {
    let outcome = tokio::spawn(async {
        task_group(async |tg| {
            let start = tg.start(|status: tether::TaskStatus<u16>| async move {
                let _status = status;
                if true {
                    panic!("unread panic");
                }
            });
            sleep(MS).await; // the child panics meanwhile
            drop(start);
            sleep(HOUR).await; // cut off: the group is cancelled by the handed-over panic
        })
        .await
    });
    let payload = bounded(outcome).await.unwrap_err().into_panic();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "unread panic");
}

#[tokio::test(start_paused = true)]
async fn a_child_that_returns_while_its_status_lives_on_elsewhere_fails_start_with_not_started() {
    // The status outlives the child (handed to someone else): the child's exit, not the
    // status's drop, is what `start()` must report.
    let kept = Arc::new(Mutex::new(None));
    let keeper = kept.clone();
    bounded(task_group(async |tg| {
        let err = tg
            .start(move |status: tether::TaskStatus<u16>| async move {
                *keeper.lock().unwrap() = Some(status);
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StartError::NotStarted), "{err}");
    }))
    .await
    .unwrap();
    // A late `started` through the surviving status goes nowhere and fails nothing.
    kept.lock().unwrap().take().expect("status kept").started(1);
}

#[tokio::test(start_paused = true)]
async fn a_starting_child_cancelled_by_its_group_fails_start_with_the_groups_reason() {
    // The child keeps its status elsewhere, so only the group's cancel explains its exit:
    // `start()` says `Cancelled` with that reason (not `StatusDropped`, not `NotStarted`).
    let kept = Arc::new(Mutex::new(None));
    let keeper = kept.clone();
    let mut group = OwnedTaskGroup::open();
    let scope = group.cancel_scope().clone();
    let start = group.start(move |status: tether::TaskStatus<u16>| async move {
        *keeper.lock().unwrap() = Some(status);
        sleep(HOUR).await;
    });
    let canceller = tokio::spawn(async move {
        sleep(10 * MS).await;
        scope.cancel_with("shutting down");
    });
    let err = bounded(start).await.unwrap_err();
    match &err {
        StartError::Cancelled(reason) => {
            assert_eq!(reason.source(), CancelSource::ParentScope, "{err}");
            assert!(err.to_string().contains("shutting down"), "{err}");
        }
        other => panic!("expected Cancelled, got {other:?}"),
    }
    canceller.await.unwrap();
    bounded(group.close()).await.unwrap();
    drop(kept);
}

#[tokio::test(start_paused = true)]
async fn a_starting_child_holding_its_status_and_cancelled_by_its_group_fails_start_as_cancelled() {
    // The usual shape: the status lives in the child's body, so the group's cancel drops it
    // along with the body. That is a cancellation, not a child abandoning its status.
    let mut group = OwnedTaskGroup::open();
    let scope = group.cancel_scope().clone();
    let start = group.start(move |status: tether::TaskStatus<u16>| async move {
        sleep(HOUR).await;
        status.started(1);
    });
    let canceller = tokio::spawn(async move {
        sleep(10 * MS).await;
        scope.cancel_with("shutting down");
    });
    let err = bounded(start).await.unwrap_err();
    match &err {
        StartError::Cancelled(reason) => {
            assert_eq!(reason.source(), CancelSource::ParentScope, "{err}");
            assert!(err.to_string().contains("shutting down"), "{err}");
        }
        other => panic!("expected Cancelled, got {other:?}"),
    }
    canceller.await.unwrap();
    bounded(group.close()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_handle_says_closed_only_once_the_group_has_exited() {
    let mut kept = None;
    bounded(task_group(async |tg| {
        let handle = tg.handle();
        assert!(!handle.is_closed(), "open while the body runs");
        let h = handle.clone();
        tg.spawn(async move {
            sleep(10 * MS).await;
            assert!(!h.is_closed(), "open while a child runs");
        });
        kept = Some(handle);
    }))
    .await
    .unwrap();
    let handle = kept.unwrap();
    assert!(handle.is_closed(), "closed after exit");
    assert!(handle.spawn(async {}).is_err());
}

#[tokio::test(start_paused = true)]
async fn one_panic_and_one_failure_both_come_out_in_a_group_panic() {
    // A lone panic resumes its own payload; a panic *and* a failure must not lose the failure.
    let outcome = tokio::spawn(async {
        task_group(async |tg| {
            tg.spawn(async {
                sleep(MS).await;
                Err::<(), _>(Boom(3))
            });
            tg.spawn(async {
                // Shielded, so the failure's cancel does not stop it before it panics.
                shield(async {
                    sleep(2 * MS).await;
                    if true {
                        panic!("second child panicked");
                    }
                })
                .await;
            });
        })
        .await
    });
    let payload = bounded(outcome).await.unwrap_err().into_panic();
    let group_panic = payload
        .downcast::<tether::GroupPanic>()
        .expect("a GroupPanic carrying both outcomes");
    assert_eq!(group_panic.panic_messages(), ["second child panicked"]);
    let failures = group_panic.failures().expect("the failure is kept");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures.find::<Boom>(), Some(&Boom(3)));
    // One panic is "1 panic" (no plural), and the failures follow after "; and ".
    let panicked = group_panic.panics()[0].0;
    assert_eq!(
        group_panic.to_string(),
        format!(
            "task group panicked (1 panic): {panicked} panicked: second child panicked; and {failures}"
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_panic_keeps_every_panic_in_order_with_its_task_and_message() {
    // Three children panic one after the other (shielded, so the first panic's cancel does not
    // stop the others): a `&str` payload, a `String` payload and a payload that is neither.
    let ids = Arc::new(Mutex::new(Vec::new()));
    let record = ids.clone();
    let outcome = tokio::spawn(async move {
        task_group(async |tg| {
            for n in 1..=3_u32 {
                let record = record.clone();
                tg.spawn(async move {
                    shield(async move {
                        sleep(n * MS).await;
                        record.lock().unwrap().push(TaskId::current());
                        match n {
                            1 => panic!("first"),
                            2 => panic!("second {n}"),
                            _ => std::panic::panic_any(7_u8),
                        }
                    })
                    .await;
                });
            }
        })
        .await
    });
    let payload = bounded(outcome).await.unwrap_err().into_panic();
    let group_panic = payload
        .downcast::<tether::GroupPanic>()
        .expect("several panics come out as a GroupPanic");
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 3);
    assert!(group_panic.failures().is_none(), "{group_panic}");
    assert_eq!(
        group_panic.panic_messages(),
        ["first", "second 2", "Box<dyn Any>"]
    );
    let tasks: Vec<TaskId> = group_panic.panics().iter().map(|(id, _)| *id).collect();
    assert_eq!(
        tasks, ids,
        "each panic names its task, in the order they happened"
    );
    assert_eq!(
        group_panic.to_string(),
        format!(
            "task group panicked (3 panics): {} panicked: first; {} panicked: second 2; {} panicked: Box<dyn Any>",
            ids[0], ids[1], ids[2]
        )
    );
    let owned = group_panic.into_panics();
    assert_eq!(owned.len(), 3);
    assert_eq!(owned[0].0, ids[0]);
    assert_eq!(owned[0].1.downcast_ref::<&str>(), Some(&"first"));
    assert_eq!(
        owned[1].1.downcast_ref::<String>().map(String::as_str),
        Some("second 2")
    );
    assert_eq!(owned[2].1.downcast_ref::<u8>(), Some(&7));
}

#[tokio::test(start_paused = true)]
async fn a_handle_spawns_and_starts_named_children_and_knows_its_host_and_scope() {
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = ran.clone();
    let host = TaskId::current();
    let err = bounded(task_group(async |tg| {
        let handle = tg.handle();
        assert_eq!(handle.host(), host, "the task that opened the group");
        let ran2 = seen.clone();
        handle
            .spawn_named("named", async move {
                ran2.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        let ran3 = seen.clone();
        let value = handle
            .start_named("started", |status: tether::TaskStatus<u32>| async move {
                ran3.fetch_add(10, Ordering::SeqCst);
                status.started(5);
            })
            .await
            .unwrap();
        assert_eq!(value, 5);
        let value = handle
            .start(|status: tether::TaskStatus<u32>| async move { status.started(6) })
            .await
            .unwrap();
        assert_eq!(value, 6);
        // The handle's scope is the group's: cancelling it cuts the body's wait short.
        let scope = handle.cancel_scope().clone();
        tg.spawn(async move {
            sleep(MS).await;
            scope.cancel();
        });
        sleep(HOUR).await;
    }))
    .await
    .unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(ran.load(Ordering::SeqCst), 11, "both named children ran");
}

#[tokio::test(start_paused = true)]
async fn a_failure_right_after_started_still_cancels_the_group_when_nobody_reads_the_value() {
    // The group's cancellation is held back until `start()` takes the value; if the `start()`
    // future is dropped instead, the drop must deliver it.
    let err = bounded(task_group(async |tg| {
        let start = tg.start(|status: tether::TaskStatus<u16>| async move {
            status.started(1);
            Err::<(), _>(Boom(4))
        });
        sleep(MS).await; // the child starts and fails meanwhile
        drop(start);
        sleep(HOUR).await; // cut off by the failure's cancellation
    }))
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert_eq!(err.find::<Boom>(), Some(&Boom(4)));
}

#[tokio::test(start_paused = true)]
async fn an_owned_group_spawns_and_starts_named_children_and_knows_its_host() {
    let ran = Arc::new(AtomicUsize::new(0));
    let mut group = OwnedTaskGroup::open();
    assert_eq!(
        group.host(),
        TaskId::current(),
        "the task that opened the group"
    );
    assert!(!group.is_closed(), "open until closed");
    let r = ran.clone();
    group
        .spawn_named("named", async move {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let r = ran.clone();
    let value = bounded(group.start_named(
        "started",
        |status: tether::TaskStatus<u32>| async move {
            r.fetch_add(10, Ordering::SeqCst);
            status.started(5);
        },
    ))
    .await
    .unwrap();
    assert_eq!(value, 5);
    let value =
        bounded(group.start(|status: tether::TaskStatus<u32>| async move { status.started(6) }))
            .await
            .unwrap();
    assert_eq!(value, 6);
    let r = ran.clone();
    group
        .handle()
        .spawn(async move {
            r.fetch_add(100, Ordering::SeqCst);
        })
        .unwrap();
    bounded(group.close()).await.unwrap();
    assert!(group.is_closed());
    assert_eq!(
        ran.load(Ordering::SeqCst),
        111,
        "every child ran before close returned"
    );
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("other {0}")]
struct Other(u32);

#[tokio::test(start_paused = true)]
async fn a_group_error_lists_each_failure_with_its_origin_in_order_and_reads_back_every_way() {
    use tether::FailureOrigin::{Body, Child};
    // Two children fail, then the body (all shielded, so the first failure's cancel stops
    // none of them): three failures, in the order they happened, each with its origin.
    let ids = Arc::new(Mutex::new(Vec::new()));
    let (r1, r2) = (ids.clone(), ids.clone());
    let host = TaskId::current();
    let err = bounded(task_group(async |tg| {
        tg.spawn(async move {
            shield(sleep(MS)).await;
            r1.lock().unwrap().push(TaskId::current());
            Err::<(), _>(Boom(1))
        });
        tg.spawn(async move {
            shield(sleep(2 * MS)).await;
            r2.lock().unwrap().push(TaskId::current());
            Err::<(), _>(Other(2))
        });
        shield(sleep(3 * MS)).await;
        Err::<(), _>(Boom(3))
    }))
    .await
    .unwrap_err();
    let ids = ids.lock().unwrap().clone();
    assert_eq!(err.len(), 3, "{err}");
    assert!(!err.is_empty());
    assert!(!err.is_cancelled(), "failed, not cancelled: {err}");
    let origins: Vec<_> = err.iter().map(tether::TaskFailure::origin).collect();
    assert_eq!(origins, [Child(ids[0]), Child(ids[1]), Body(host)]);
    let by_ref: Vec<_> = (&err).into_iter().map(|f| f.origin()).collect();
    assert_eq!(by_ref, origins);
    assert_eq!(err.failures()[0].downcast_ref::<Boom>(), Some(&Boom(1)));
    assert_eq!(err.failures()[1].downcast_ref::<Boom>(), None);
    assert_eq!(err.failures()[1].error().to_string(), "other 2");
    assert_eq!(Child(ids[0]).to_string(), format!("child {}", ids[0]));
    assert_eq!(Body(host).to_string(), format!("group body ({host})"));
    assert_eq!(
        err.failures()[2].to_string(),
        format!("group body ({host}): boom 3")
    );
    assert_eq!(
        err.to_string(),
        format!(
            "task group failed (3 failures): child {}: boom 1; child {}: other 2; group body ({host}): boom 3",
            ids[0], ids[1]
        )
    );
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("boom 1"),
        "the first failure is the source"
    );
    assert!(err.contains::<Other>());
    assert!(!err.contains::<std::fmt::Error>());
    let owned: Vec<tether::TaskFailure> = err.into_iter().collect();
    assert_eq!(owned.len(), 3);
    let other = owned
        .into_iter()
        .nth(1)
        .unwrap()
        .into_error()
        .downcast::<Other>()
        .expect("the second failure's own error");
    assert_eq!(*other, Other(2));
}

#[tokio::test(start_paused = true)]
async fn a_close_error_says_which_kind_it_is() {
    let mut group = OwnedTaskGroup::open();
    group.spawn(async { Err::<(), _>(Boom(5)) }).unwrap();
    let err = bounded(group.close()).await.unwrap_err();
    assert!(err.task_context().is_none(), "{err}");
    let failures = err.group_error().expect("CloseError::Failed");
    assert_eq!(failures.len(), 1);
    let failures = match err {
        CloseError::Failed(e) => e.into_failures(),
        other => panic!("expected Failed, got {other}"),
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].downcast_ref::<Boom>(), Some(&Boom(5)));

    let mut group = OwnedTaskGroup::open();
    let (mut group, err) = bounded(tokio::spawn(async move {
        let err = group.close().await.unwrap_err();
        (group, err)
    }))
    .await
    .unwrap();
    assert!(err.group_error().is_none(), "{err}");
    assert!(err.task_context().is_some(), "{err}");
    bounded(group.close()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_named_child_of_a_scoped_group_runs_before_the_group_returns() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    bounded(task_group(async |tg| {
        tg.spawn_named("named", async move {
            sleep(MS).await;
            r.fetch_add(1, Ordering::SeqCst);
        });
    }))
    .await
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

// ----- a group's end and its abandonment (mutation survivors, session 3) ------------------------

#[tokio::test(start_paused = true)]
async fn a_scoped_group_that_ends_normally_leaves_its_scope_uncancelled() {
    // Nobody cancelled the group: after a normal exit its scope says so (AnyIO's
    // `cancel_called` stays false), and a later cancel is an ordinary first cancel.
    let scope = bounded(task_group(async |tg| {
        tg.spawn(sleep(MS));
        Ok::<_, Boom>(tg.cancel_scope().clone())
    }))
    .await
    .unwrap();
    assert!(!scope.cancel_called());
    assert_eq!(scope.cancel_reason(), None);
    scope.cancel_with("after the exit");
    assert_eq!(
        scope.cancel_reason().unwrap().source(),
        CancelSource::Explicit
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_scoped_group_future_cancels_and_aborts_even_shielded_children_at_once() {
    // "Dropping the future cancels and aborts the children at once: they are dropped at their
    // next poll, even inside shields." The shielded child takes one step per tick; a tick given
    // before the drop must not be taken after it: its body is not polled again.
    let (plain_tx, plain_dropped) = tokio::sync::oneshot::channel::<()>();
    let (shielded_tx, shielded_dropped) = tokio::sync::oneshot::channel::<()>();
    let running = Arc::new(Barrier::new(3));
    let (r1, r2) = (running.clone(), running.clone());
    let steps = Arc::new(AtomicUsize::new(0));
    let tick = Arc::new(Notify::new());
    let (steps2, tick2) = (steps.clone(), tick.clone());
    let mut group = Box::pin(task_group(async move |tg| {
        tg.spawn(async move {
            let _tx = plain_tx;
            r1.wait().await;
            sleep(HOUR).await;
        });
        tg.spawn(async move {
            let _tx = shielded_tx;
            shield(async move {
                r2.wait().await;
                loop {
                    tick2.notified().await;
                    steps2.fetch_add(1, Ordering::SeqCst);
                }
            })
            .await;
        });
        std::future::pending::<()>().await;
    }));
    tokio::select! {
        _ = &mut group => unreachable!("the body never ends"),
        _ = bounded(running.wait()) => {}
    }
    // While the group lives, a tick is a step.
    tick.notify_one();
    tokio::select! {
        _ = &mut group => unreachable!("the body never ends"),
        _ = bounded(async {
            while steps.load(Ordering::SeqCst) < 1 {
                tokio::task::yield_now().await;
            }
        }) => {}
    }
    tick.notify_one();
    drop(group);
    bounded(plain_dropped).await.unwrap_err();
    bounded(shielded_dropped).await.unwrap_err();
    assert_eq!(
        steps.load(Ordering::SeqCst),
        1,
        "a child's body was polled after its group was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_that_drops_its_own_owned_group_inside_a_shield_is_dropped_at_once() {
    // The child holds the last owner of its group and drops it during its first poll, inside a
    // shield: the group is abandoned while that very child is running. The child's body must be
    // dropped (not left waiting for a wake-up that nothing will send), and the group's scope
    // says why.
    let (tx, dropped) = tokio::sync::oneshot::channel::<()>();
    let slot: Arc<Mutex<Option<OwnedTaskGroup>>> = Arc::default();
    let group = OwnedTaskGroup::open();
    let scope = group.cancel_scope().clone();
    let s = slot.clone();
    group
        .spawn(async move {
            let _tx = tx;
            shield(async move {
                drop(s.lock().unwrap().take());
                sleep(HOUR).await;
            })
            .await;
        })
        .unwrap();
    *slot.lock().unwrap() = Some(group);
    bounded(dropped).await.unwrap_err();
    assert!(slot.lock().unwrap().is_none(), "the child took the group");
    assert_eq!(
        scope.cancel_reason().unwrap().source(),
        CancelSource::GroupDropped
    );
}

#[tokio::test(start_paused = true)]
async fn a_start_child_that_dropped_its_status_sees_no_time_left() {
    // Dropping the status without `started` cancels the child (and only the child, not the
    // group): from then on, no time is left at the child's top level.
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    bounded(task_group(async |tg| {
        let err = tg
            .start(|status: tether::TaskStatus<()>| async move {
                drop(status);
                *s.lock().unwrap() = Some(tether::current_effective_deadline());
                sleep(HOUR).await;
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StartError::StatusDropped), "{err}");
        assert!(!tg.cancel_scope().cancel_called());
    }))
    .await
    .unwrap();
    let seen = seen.lock().unwrap().expect("the child ran");
    assert!(
        seen.is_some_and(|d| d <= Instant::now()),
        "a cancelled child has no time left, saw {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_start_polled_again_with_another_waker_is_woken_through_the_new_one() {
    // A `start()` future first polled by hand (or by a combinator) with one waker and then
    // awaited with another must be woken through the one it was polled with last.
    // The child keeps running after `started`, so nothing else wakes the group's task. The
    // body then cancels it and ends without another await: its value stands.
    bounded(task_group(async |tg| {
        let mut start = pin!(tg.start(|status: tether::TaskStatus<u8>| async move {
            sleep(MS).await;
            status.started(5);
            sleep(HOUR).await;
        }));
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(start.as_mut().poll(&mut cx).is_pending());
        assert_eq!(start.await.unwrap(), 5);
        tg.cancel_scope().cancel();
    }))
    .await
    .unwrap();
}

/// A current-thread runtime with a paused clock, so `bounded` fails a hang at once.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

static SHUTDOWN_GUARD: tether::ContextVar<support::DropGuard> =
    tether::ContextVar::new("shutdown guard");

#[test]
fn children_dropped_by_their_runtimes_shutdown_count_as_gone_for_a_group_closed_elsewhere() {
    // An owned group opened (on this thread) with runtime A's handle: its children are tasks
    // of A. A is dropped while they wait forever, so tokio drops their futures without their
    // finishing. The group, closed from runtime B, must see them gone (not wait for them),
    // and what they held is dropped with them, not when the group goes.
    let runtime_a = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = {
        let _in_a = runtime_a.enter();
        OwnedTaskGroup::open()
    };
    let bodies = DropCounter::default();
    let vars = DropCounter::default();
    for _ in 0..3 {
        let body = bodies.guard();
        let var = vars.guard();
        group
            .spawn(async move {
                let _body = body;
                // A child that inherited no context gets one when it sets a variable; the
                // group keeps it between the child's polls.
                SHUTDOWN_GUARD.set(var).expect("a child has a context");
                std::future::pending::<()>().await
            })
            .unwrap();
    }
    // Every child runs up to its wait (and has set its variable).
    runtime_a.block_on(support::settle());
    assert_eq!((bodies.count(), vars.count()), (0, 0));
    drop(runtime_a);
    assert_eq!(
        bodies.count(),
        3,
        "shutting A down drops the children's bodies"
    );
    assert_eq!(
        vars.count(),
        3,
        "a child dropped unfinished takes its context variables with it (the group keeps none)"
    );
    let closed = paused_runtime().block_on(bounded(group.close()));
    assert!(
        closed.is_ok(),
        "children dropped by their runtime are cancelled, not failed: {closed:?}"
    );
    drop(group);
}

#[test]
fn a_child_dropped_by_its_runtimes_shutdown_before_its_first_poll_counts_as_gone() {
    // Never polled: the child dropped with A's queue, before its group root or context exist.
    let runtime_a = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = {
        let _in_a = runtime_a.enter();
        OwnedTaskGroup::open()
    };
    let bodies = DropCounter::default();
    let body = bodies.guard();
    group
        .spawn(async move {
            let _body = body;
            std::future::pending::<()>().await
        })
        .unwrap();
    drop(runtime_a);
    assert_eq!(bodies.count(), 1);
    let closed = paused_runtime().block_on(bounded(group.close()));
    assert!(closed.is_ok(), "{closed:?}");
}
