//! Integration tests for `tether::thread`: `to_thread`, `from_thread` and `BlockingPortal`.
//!
//! Worker threads run in real time (tokio does not auto-advance a paused clock while a blocking
//! task runs), so the tests order events with channels, never with sleeps: a thread reports that
//! it started, the test cancels, the thread observes it. Every test that could hang is bounded:
//! async ones by `support::bounded`, blocking ones by `bounded_sync` (a watchdog on a thread).

mod support;

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use futures::FutureExt;
use support::{DropCounter, bounded};
use tether::CapacityLimiter;
use tether::{
    BlockingPortal, CloseMode, FromThreadError, PortalError, PortalTask, default_thread_limiter,
    from_thread, to_thread,
};
use tether::{CancelScope, CancelSource, TaskStatus};

/// Runs blocking test code on its own thread and fails (instead of hanging) after 30 s.
fn bounded_sync<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let out = std::panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(());
        out
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("test hung: still blocked after its time limit");
    match worker.join().unwrap() {
        Ok(out) => out,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Polls `from_thread::check_cancelled` until it reports something, the way a worker loop would.
fn spin_until_cancelled() -> FromThreadError {
    loop {
        if let Err(err) = from_thread::check_cancelled() {
            return err;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[derive(Debug, PartialEq)]
struct Payload(u32);

fn panic_payload<T>(result: Result<T, Box<dyn Any + Send>>) -> Box<dyn Any + Send> {
    match result {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload,
    }
}

// ---------------------------------------------------------------------------------------------
// to_thread

#[tokio::test]
async fn to_thread_returns_the_value_and_the_thread_holds_one_token() {
    let limiter = Arc::new(CapacityLimiter::new(3));
    let inside = limiter.clone();
    let seen = bounded(to_thread(move || inside.borrowed_tokens()).limiter(limiter.clone())).await;
    assert_eq!(seen, 1);
    assert_eq!(limiter.borrowed_tokens(), 0);
    assert_eq!(default_thread_limiter().total_tokens(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limiter_bounds_the_threads_running_at_once() {
    let limiter = Arc::new(CapacityLimiter::new(2));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    bounded(tether::task_group(async |tg| {
        for _ in 0..6 {
            let (running, most, limiter) = (running.clone(), most.clone(), limiter.clone());
            tg.spawn(async move {
                to_thread(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .limiter(limiter)
                .await;
            });
        }
    }))
    .await
    .unwrap();
    let most = most.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&most),
        "{most} threads ran at once under a limit of 2"
    );
    assert_eq!(limiter.borrowed_tokens(), 0);
}

#[tokio::test]
async fn default_mode_waits_for_the_thread_then_delivers_the_cancellation() {
    let scope = CancelScope::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let after_await = Arc::new(AtomicBool::new(false));
    let value_seen = Arc::new(AtomicUsize::new(0));
    let body = {
        let (after_await, value_seen) = (after_await.clone(), value_seen.clone());
        async move {
            let saw = to_thread(move || {
                started_tx.send(()).unwrap();
                let err = spin_until_cancelled();
                assert!(matches!(err, FromThreadError::Cancelled(_)), "{err:?}");
                7usize
            })
            .await;
            // The shielded wait returns the thread's value...
            value_seen.store(saw, Ordering::SeqCst);
            // ...and the cancellation is delivered at the next await that waits.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            after_await.store(true, Ordering::SeqCst);
        }
    };
    let run = scope.run(body);
    let canceller = {
        let scope = scope.clone();
        async move {
            started_rx.await.unwrap();
            scope.cancel_with("stop");
        }
    };
    let (result, ()) = bounded(async { tokio::join!(run, canceller) }).await;
    let cancelled = result.unwrap_err();
    assert_eq!(cancelled.reason().message(), Some("stop"));
    assert!(scope.cancelled_caught());
    assert_eq!(
        value_seen.load(Ordering::SeqCst),
        7,
        "the thread's work was not abandoned"
    );
    assert!(!after_await.load(Ordering::SeqCst));
}

#[tokio::test]
async fn default_mode_as_the_whole_body_returns_the_value() {
    // Nothing awaits after the thread: the scope completes with its value, cancel_called but
    // not cancelled_caught, exactly as a shielded section at the end of a Trio scope.
    let scope = CancelScope::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let run = scope.run(to_thread(move || {
        started_tx.send(()).unwrap();
        spin_until_cancelled();
        "finished"
    }));
    let canceller = {
        let scope = scope.clone();
        async move {
            started_rx.await.unwrap();
            scope.cancel();
        }
    };
    let (result, ()) = bounded(async { tokio::join!(run, canceller) }).await;
    assert_eq!(result, Ok("finished"));
    assert!(scope.cancel_called());
    assert!(!scope.cancelled_caught());
}

#[tokio::test]
async fn a_failing_sibling_reaches_the_thread_through_the_group() {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let seen = Arc::new(parking_lot::Mutex::new(None));
    let err = {
        let seen = seen.clone();
        bounded(tether::task_group(async move |tg| {
            tg.spawn(async move {
                let observed = to_thread(move || {
                    started_tx.send(()).unwrap();
                    spin_until_cancelled()
                })
                .await;
                // The shielded wait returned the thread's value before the group dropped us.
                *seen.lock() = Some(observed);
            });
            tg.spawn(async move {
                started_rx.await.unwrap();
                Err::<(), _>("boom")
            });
        }))
        .await
        .unwrap_err()
    };
    assert_eq!(err.len(), 1, "the cancelled thread is not a failure");
    let observed = seen
        .lock()
        .take()
        .expect("the thread finished before the group exited");
    assert!(
        matches!(observed, FromThreadError::Cancelled(_)),
        "{observed:?}"
    );
}

#[tokio::test]
async fn abandon_mode_returns_at_once_and_the_thread_keeps_its_token_until_it_ends() {
    let limiter = Arc::new(CapacityLimiter::new(1));
    let scope = CancelScope::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let run = scope.run(
        to_thread(move || {
            started_tx.send(()).unwrap();
            gate_rx.recv().unwrap(); // blocked until the test lets it go
            let seen = from_thread::check_cancelled();
            let ran = from_thread::run(async { "must not run" });
            done_tx.send((seen, ran)).unwrap();
        })
        .limiter(limiter.clone())
        .abandon_on_cancel(true),
    );
    let canceller = {
        let scope = scope.clone();
        async move {
            started_rx.await.unwrap();
            scope.cancel();
        }
    };
    let (result, ()) = bounded(async { tokio::join!(run, canceller) }).await;
    assert!(
        result.is_err(),
        "the caller returned while the thread was still blocked"
    );
    assert_eq!(
        limiter.borrowed_tokens(),
        1,
        "the running thread still holds its token"
    );
    gate_tx.send(()).unwrap();
    let (seen, ran) = bounded(done_rx).await.unwrap();
    assert!(
        matches!(seen, Err(FromThreadError::Cancelled(_))),
        "{seen:?}"
    );
    assert!(matches!(ran, Err(FromThreadError::Cancelled(_))), "{ran:?}");
    // The token comes back as the thread's closure returns.
    bounded(async {
        while limiter.borrowed_tokens() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
async fn dropping_the_future_outside_a_scope_abandons_the_thread_visibly() {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let call = to_thread(move || {
        started_tx.send(()).unwrap();
        gate_rx.recv().unwrap();
        done_tx.send(from_thread::check_cancelled()).unwrap();
    });
    tokio::select! {
        () = call => unreachable!("the thread is blocked"),
        _ = started_rx => {}
    }
    gate_tx.send(()).unwrap();
    assert_eq!(
        bounded(done_rx).await.unwrap(),
        Err(FromThreadError::Abandoned)
    );
}

#[tokio::test]
async fn a_panic_in_the_thread_resumes_in_the_caller_with_its_payload() {
    let limiter = Arc::new(CapacityLimiter::new(1));
    let result = bounded(
        AssertUnwindSafe(to_thread(|| std::panic::panic_any(Payload(7))).limiter(limiter.clone()))
            .catch_unwind(),
    )
    .await;
    let payload = panic_payload(result);
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(7)));
    assert_eq!(
        limiter.borrowed_tokens(),
        0,
        "the token came back despite the panic"
    );
}

// ---------------------------------------------------------------------------------------------
// from_thread

#[tokio::test]
async fn from_thread_after_the_caller_was_cancelled_returns_the_cancellation() {
    let scope = CancelScope::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let ran = Arc::new(AtomicBool::new(false));
    let outcome = {
        let ran = ran.clone();
        scope.run(to_thread(move || {
            started_tx.send(()).unwrap();
            gate_rx.recv().unwrap();
            let ran2 = ran.clone();
            let a = from_thread::run(async move { ran.store(true, Ordering::SeqCst) });
            let b = from_thread::run_sync(move || ran2.store(true, Ordering::SeqCst));
            (a, b)
        }))
    };
    let canceller = {
        let scope = scope.clone();
        async move {
            started_rx.await.unwrap();
            scope.cancel_with("caller gone");
            gate_tx.send(()).unwrap();
        }
    };
    let (outcome, ()) = bounded(async { tokio::join!(outcome, canceller) }).await;
    let (a, b) = outcome.unwrap();
    for err in [a.unwrap_err(), b.unwrap_err()] {
        let FromThreadError::Cancelled(cancelled) = &err else {
            panic!("expected a cancellation, got {err:?}")
        };
        assert_eq!(cancelled.reason().source(), CancelSource::Explicit);
        assert_eq!(cancelled.reason().message(), Some("caller gone"));
        assert!(err.is_cancelled());
    }
    assert!(
        !ran.load(Ordering::SeqCst),
        "nothing ran after the cancellation"
    );
}

#[tokio::test]
async fn from_thread_run_is_cut_off_when_the_caller_is_cancelled() {
    let scope = CancelScope::new();
    let drops = DropCounter::default();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let outcome = {
        let guard = drops.guard();
        scope.run(to_thread(move || {
            from_thread::run(async move {
                let _guard = guard;
                entered_tx.send(()).unwrap();
                std::future::pending::<()>().await
            })
        }))
    };
    let canceller = {
        let scope = scope.clone();
        async move {
            entered_rx.await.unwrap();
            scope.cancel();
        }
    };
    let (outcome, ()) = bounded(async { tokio::join!(outcome, canceller) }).await;
    let err = outcome.unwrap().unwrap_err();
    assert!(matches!(err, FromThreadError::Cancelled(_)), "{err:?}");
    assert_eq!(drops.count(), 1, "the async work was dropped at its await");
}

#[tokio::test]
async fn a_panic_in_from_thread_work_reaches_the_to_thread_caller() {
    let result = bounded(
        AssertUnwindSafe(to_thread(|| {
            let _ = from_thread::run(async { std::panic::panic_any(Payload(3)) });
            unreachable!("the panic resumes in the thread");
        }))
        .catch_unwind(),
    )
    .await;
    assert_eq!(
        panic_payload(result).downcast_ref::<Payload>(),
        Some(&Payload(3))
    );
}

#[tokio::test]
async fn nested_to_thread_from_thread_to_thread() {
    let value = bounded(to_thread(|| {
        from_thread::run(async { to_thread(|| from_thread::run_sync(|| 5).unwrap() * 2).await })
            .unwrap()
            + 1
    }))
    .await;
    assert_eq!(value, 11);
}

#[tokio::test]
async fn cancellation_reaches_the_innermost_nested_thread() {
    let scope = CancelScope::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let outcome = scope.run(to_thread(move || {
        from_thread::run(async move {
            to_thread(move || {
                started_tx.send(()).unwrap();
                spin_until_cancelled()
            })
            .await
        })
    }));
    let canceller = {
        let scope = scope.clone();
        async move {
            started_rx.await.unwrap();
            scope.cancel_with("outer");
        }
    };
    let (outcome, ()) = bounded(async { tokio::join!(outcome, canceller) }).await;
    // The inner thread saw the cancellation and returned; its wait was shielded, so the value
    // made it all the way out.
    let inner = outcome.unwrap().unwrap();
    assert!(matches!(inner, FromThreadError::Cancelled(_)), "{inner:?}");
}

#[tokio::test]
async fn from_thread_outside_a_worker_thread_is_a_typed_error() {
    // From async code on the runtime itself:
    let err = from_thread::run_sync(|| ()).unwrap_err();
    assert!(
        matches!(err, FromThreadError::NotInWorkerThread { .. }),
        "{err:?}"
    );
    // From a plain thread, named in the message:
    let err = std::thread::Builder::new()
        .name("plain-worker".into())
        .spawn(|| from_thread::run(async {}))
        .unwrap()
        .join()
        .unwrap()
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("plain-worker"), "{message}");
    assert!(message.contains("BlockingPortal"), "{message}");
    // From a bare spawn_blocking thread too: tether did not start it.
    let err = tokio::task::spawn_blocking(from_thread::check_cancelled)
        .await
        .unwrap();
    assert!(matches!(
        err,
        Err(FromThreadError::NotInWorkerThread { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// BlockingPortal

#[test]
fn portal_call_start_task_soon_and_await_from_async() {
    bounded_sync(|| {
        let portal = BlockingPortal::new().unwrap();
        assert_eq!(portal.call(|| async { 40 + 2 }), Ok(42));
        let task = portal.start_task_soon(|| async { "soon" }).unwrap();
        assert_eq!(task.join(), Ok("soon"));
        // An async caller on another runtime awaits the handle instead of blocking.
        let task = portal.start_task_soon(|| async { 9 }).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(task), Ok(9));
        portal.close(CloseMode::Wait).unwrap();
    });
}

#[test]
fn portal_from_16_threads_at_once() {
    bounded_sync(|| {
        let portal = Arc::new(BlockingPortal::new().unwrap());
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                let (portal, barrier) = (portal.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..50u64)
                        .map(|i| {
                            portal
                                .call(move || async move {
                                    tokio::task::yield_now().await;
                                    t * 1000 + i
                                })
                                .unwrap()
                        })
                        .sum::<u64>()
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let expected: u64 = (0..16u64)
            .map(|t| (0..50).map(|i| t * 1000 + i).sum::<u64>())
            .sum();
        assert_eq!(total, expected);
        portal.close(CloseMode::Wait).unwrap();
    });
}

#[test]
fn closing_the_portal_gives_every_call_in_flight_a_typed_error() {
    bounded_sync(|| {
        let portal = Arc::new(BlockingPortal::new().unwrap());
        let drops = DropCounter::default();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (portal, guard, entered_tx) =
                    (portal.clone(), drops.guard(), entered_tx.clone());
                std::thread::spawn(move || {
                    portal.call(move || async move {
                        let _guard = guard;
                        entered_tx.send(()).unwrap();
                        std::future::pending::<()>().await
                    })
                })
            })
            .collect();
        for _ in 0..8 {
            entered_rx.recv().unwrap();
        }
        portal.close(CloseMode::Cancel).unwrap();
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Err(PortalError::ClosedWhileRunning));
        }
        assert_eq!(
            drops.count(),
            8,
            "every task was dropped, none left running"
        );
        assert_eq!(portal.call(|| async {}), Err(PortalError::Closed));
        assert!(matches!(
            portal.start_task_soon(|| async {}),
            Err(PortalError::Closed)
        ));
        // Closing again is a no-op.
        portal.close(CloseMode::Wait).unwrap();
    });
}

#[test]
fn close_in_wait_mode_lets_running_tasks_finish() {
    bounded_sync(|| {
        let portal = BlockingPortal::new().unwrap();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let task = portal
            .start_task_soon(|| async move {
                release_rx.await.unwrap();
                "finished"
            })
            .unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            release_tx.send(()).unwrap();
        });
        portal.close(CloseMode::Wait).unwrap(); // returns only once the task ended
        assert_eq!(task.join(), Ok("finished"));
        releaser.join().unwrap();
    });
}

thread_local! {
    static ON_EXIT: std::cell::RefCell<Option<support::DropGuard>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn no_thread_or_task_is_left_behind() {
    bounded_sync(|| {
        let portal = BlockingPortal::new().unwrap();
        let thread_exits = DropCounter::default();
        let held = Arc::new(());
        // The loop thread gets a thread-local whose destructor runs when the thread exits.
        let guard = thread_exits.guard();
        portal
            .call(move || async move { ON_EXIT.with(|slot| *slot.borrow_mut() = Some(guard)) })
            .unwrap();
        // Tasks and a worker thread holding `held`, left running at close.
        for _ in 0..4 {
            let held = held.clone();
            let _task = portal
                .start_task_soon(move || async move {
                    let _held = held;
                    std::future::pending::<()>().await
                })
                .unwrap();
        }
        let held2 = held.clone();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let in_thread = portal
            .start_task_soon(move || async move {
                to_thread(move || {
                    let _held = held2;
                    started_tx.send(()).unwrap();
                    spin_until_cancelled()
                })
                .await
            })
            .unwrap();
        started_rx.recv().unwrap();
        assert_eq!(Arc::strong_count(&held), 6);
        drop(portal); // closes with CloseMode::Cancel and joins the loop thread
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "every task and thread let go of `held`"
        );
        assert_eq!(thread_exits.count(), 1, "the loop thread has exited");
        // The close reached the worker thread as a cancellation; its shielded wait was not
        // abandoned, and as nothing awaited after it, its task delivered the thread's value.
        let seen = in_thread.join().unwrap();
        assert!(matches!(seen, FromThreadError::Cancelled(_)), "{seen:?}");
    });
}

#[test]
fn a_borrowed_portal_leaves_no_task_on_the_runtime() {
    bounded_sync(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let baseline = rt.metrics().num_alive_tasks();
        let portal = BlockingPortal::with_handle(rt.handle());
        for _ in 0..3 {
            let _task = portal.start_task_soon(std::future::pending::<()>).unwrap();
        }
        assert_eq!(portal.call(|| async { 1 }), Ok(1));
        assert!(rt.metrics().num_alive_tasks() > baseline);
        portal.close(CloseMode::Cancel).unwrap();
        // The loop signals its end from inside its own task; the task itself ends right after.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while rt.metrics().num_alive_tasks() != baseline {
            assert!(
                std::time::Instant::now() < deadline,
                "portal tasks left on the runtime"
            );
            std::thread::yield_now();
        }
    });
}

#[test]
fn portal_start_task_returns_the_started_value() {
    bounded_sync(|| {
        let portal = BlockingPortal::new().unwrap();
        let (port, server) = portal
            .start_task(|status: TaskStatus<u16>| async move {
                status.started(8080);
                std::future::pending::<()>().await
            })
            .unwrap();
        assert_eq!(port, 8080);
        server.cancel();
        assert!(matches!(server.join(), Err(PortalError::Cancelled(_))));

        let err = portal
            .start_task(|_status: TaskStatus<u16>| async move { "returned without started" })
            .unwrap_err();
        assert_eq!(err, PortalError::NotStarted);

        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            portal.start_task(|status: TaskStatus<u16>| async move {
                let _keep = status;
                std::panic::panic_any(Payload(11))
            })
        }));
        assert_eq!(
            panic_payload(result).downcast_ref::<Payload>(),
            Some(&Payload(11))
        );
    });
}

#[test]
fn a_panic_in_a_portal_task_resumes_in_the_caller_and_spares_the_others() {
    bounded_sync(|| {
        let portal = BlockingPortal::new().unwrap();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let survivor = portal
            .start_task_soon(|| async move { release_rx.await.map(|()| "alive") })
            .unwrap();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            portal.call(|| async { std::panic::panic_any(Payload(5)) })
        }));
        assert_eq!(
            panic_payload(result).downcast_ref::<Payload>(),
            Some(&Payload(5))
        );
        release_tx.send(()).unwrap();
        assert_eq!(survivor.join(), Ok(Ok("alive")));
    });
}

#[test]
fn portal_enter_keeps_a_resource_open_and_closes_it_even_on_cancel() {
    bounded_sync(|| {
        let portal = BlockingPortal::new().unwrap();
        let closed = Arc::new(AtomicUsize::new(0));
        let open = |portal: &BlockingPortal, closed: &Arc<AtomicUsize>| {
            let closed = closed.clone();
            portal
                .enter(
                    || async { Arc::new(String::from("connection")) },
                    move |_conn| async move {
                        tokio::task::yield_now().await; // async cleanup
                        closed.fetch_add(1, Ordering::SeqCst);
                    },
                )
                .unwrap()
        };
        let conn = open(&portal, &closed);
        assert_eq!(conn.as_str(), "connection");
        // Used across synchronous calls:
        let shared = Arc::clone(&conn);
        assert_eq!(portal.call(move || async move { shared.len() }), Ok(10));
        conn.exit().unwrap();
        assert_eq!(closed.load(Ordering::SeqCst), 1);

        let conn = open(&portal, &closed);
        drop(conn);
        assert_eq!(closed.load(Ordering::SeqCst), 2);

        // Left open when the portal closes with Cancel: close still runs (shielded).
        let conn = open(&portal, &closed);
        portal.close(CloseMode::Cancel).unwrap();
        assert_eq!(closed.load(Ordering::SeqCst), 3);
        assert_eq!(conn.exit(), Err(PortalError::ClosedWhileRunning));
    });
}

#[test]
fn blocking_on_the_portal_from_its_own_loop_is_refused_at_once() {
    bounded_sync(|| {
        let portal = Arc::new(BlockingPortal::new().unwrap());
        let inner = portal.clone();
        let errors = portal
            .call(move || async move {
                let call = inner.call(|| async {}).unwrap_err();
                let close = inner.close(CloseMode::Wait).unwrap_err();
                // Starting a task does not block, and awaiting its handle is fine.
                let task = inner.start_task_soon(|| async { 3 }).unwrap();
                let awaited = task.await;
                let join = inner
                    .start_task_soon(|| async {})
                    .unwrap()
                    .join()
                    .unwrap_err();
                (call, close, awaited, join)
            })
            .unwrap();
        let (call, close, awaited, join) = errors;
        for err in [call, close, join] {
            assert!(
                matches!(err, PortalError::CalledFromEventLoop { .. }),
                "{err:?}"
            );
            assert!(err.to_string().contains("tether-portal-"), "{err}");
        }
        assert_eq!(awaited, Ok(3));
        assert!(!portal.is_closed(), "the refused close closed nothing");
        portal.close(CloseMode::Wait).unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_to_thread_worker_may_call_a_portal_borrowed_from_its_runtime() {
    let portal = Arc::new(BlockingPortal::with_handle(
        &tokio::runtime::Handle::current(),
    ));
    let inner = portal.clone();
    let value = bounded(to_thread(move || inner.call(|| async { 5 }))).await;
    assert_eq!(value, Ok(5));
    let portal = Arc::try_unwrap(portal).unwrap();
    bounded(to_thread(move || portal.close(CloseMode::Wait)))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Auto traits (kept here, next to the types, rather than in tests/auto_traits.rs)

fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}

#[test]
fn thread_types_cross_threads() {
    send_sync::<BlockingPortal>();
    send_sync::<PortalTask<String>>();
    send_sync::<tether::PortalResource<Arc<String>>>();
    send_sync::<PortalError>();
    send_sync::<FromThreadError>();
    send_sync::<CloseMode>();
    send::<tether::ToThread<fn() -> u8, u8>>();
}
