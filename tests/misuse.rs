//! Misuse and bad input: every misuse the API can express at run time gives a typed error (or,
//! where a future is polled from the wrong task, a panic) with this exact message.
//!
//! The messages are spelled out in full on purpose: changing one is an API change, and
//! `docs/reliability.md` quotes them.

mod support;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use support::bounded;
use tether::sync::{
    Borrower, CapacityLimiter, CapacityLimiterError, Lock, LockError, Semaphore, SemaphoreError,
};
use tether::{
    CancelScope, CloseError, OwnedTaskGroup, RecvError, SendError, StartError, TaskId, TaskStatus,
    TryRecvError, TrySendError, task_group,
};

/// Runs `f` in a new tokio task and returns what it returned, with that task's id.
async fn in_other_task<R: Send + 'static>(
    f: impl std::future::Future<Output = R> + Send + 'static,
) -> (R, TaskId) {
    tokio::spawn(async move { (f.await, TaskId::current()) })
        .await
        .unwrap()
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

// ----- task groups --------------------------------------------------------------------------------

#[tokio::test]
async fn closing_an_owned_group_from_another_task_is_a_task_context_error() {
    let mut group = OwnedTaskGroup::open();
    let owner = TaskId::current();
    let (group_back, (err, current)) = tokio::spawn(async move {
        let err = group.close().await.unwrap_err();
        (group, (err, TaskId::current()))
    })
    .await
    .unwrap();
    let ctx = err.task_context().expect("CloseError::WrongTask");
    assert_eq!(ctx.owner(), owner);
    assert_eq!(ctx.current(), current);
    assert_eq!(ctx.resource(), "task group");
    assert_eq!(
        err.to_string(),
        format!(
            "task group opened in {owner} was closed from {current}; close it in the task that \
             opened it, or give other tasks a TaskGroupHandle (group.handle()) to spawn with and \
             keep closing where it was opened"
        )
    );
    assert!(matches!(err, CloseError::WrongTask(_)));
    // The group is still open and usable, and closes from its own task.
    let mut group = group_back;
    assert!(!group.is_closed());
    group.spawn(async {}).unwrap();
    bounded(group.close()).await.unwrap();
}

#[tokio::test]
async fn polling_a_group_future_from_another_task_panics_with_a_task_context_message() {
    let mut fut = Box::pin(task_group(async |_tg| {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }));
    let owner = TaskId::current();
    assert!((&mut fut).now_or_never().is_none()); // first poll: the group is opened here
    let (payload, current) = in_other_task(async move {
        AssertUnwindSafe(async move { (&mut fut).now_or_never().map(|_| ()) })
            .catch_unwind()
            .await
            .unwrap_err()
    })
    .await;
    assert_eq!(
        panic_message(payload),
        format!(
            "task group opened in {owner} was polled from {current}; await task_group(...) in the \
             task that first polled it; to feed it from elsewhere, pass a TaskGroupHandle \
             (tg.handle())"
        )
    );
}

#[tokio::test]
async fn polling_a_scope_future_from_another_task_panics_with_a_task_context_message() {
    let scope = CancelScope::new();
    let mut fut = Box::pin(scope.run(tokio::time::sleep(Duration::from_secs(3600))));
    let owner = TaskId::current();
    assert!((&mut fut).now_or_never().is_none()); // entered here
    let (payload, current) = in_other_task(async move {
        AssertUnwindSafe(async move { (&mut fut).now_or_never().map(|_| ()) })
            .catch_unwind()
            .await
            .unwrap_err()
    })
    .await;
    assert_eq!(
        panic_message(payload),
        format!(
            "cancel scope entered in {owner} was polled from {current}; await a scope's future in \
             the task that first polled it; to cancel it from elsewhere, clone the CancelScope \
             handle and call cancel()"
        )
    );
}

#[tokio::test]
async fn entering_a_scope_twice_panics() {
    let scope = CancelScope::new();
    bounded(scope.run(async {})).await.unwrap();
    let payload = AssertUnwindSafe(scope.run(async {}))
        .catch_unwind()
        .await
        .unwrap_err();
    assert_eq!(
        panic_message(payload),
        "cancel scope entered twice; a CancelScope runs one body, so create a new CancelScope for \
         each run"
    );
}

#[tokio::test]
async fn spawning_after_exit_hands_the_future_back() {
    let mut handle = None;
    task_group(async |tg| handle = Some(tg.handle()))
        .await
        .unwrap();
    let handle = handle.unwrap();
    let host = TaskId::current();
    assert!(handle.is_closed());
    let err = handle.spawn(async { 42 }.map(|_| ())).unwrap_err();
    assert_eq!(err.host(), host);
    assert_eq!(
        err.to_string(),
        format!(
            "task group hosted by {host} has already exited; spawn while the group is open (its \
             body is running, or an owned group is not yet closed)"
        )
    );
    // The future comes back, unpolled, and still works.
    err.into_inner().await;

    let mut group = OwnedTaskGroup::open();
    bounded(group.close()).await.unwrap();
    let err = group.spawn(async { Ok::<_, String>(7) }).unwrap_err();
    assert_eq!(bounded(err.into_inner()).await, Ok(7));
}

#[tokio::test]
async fn starting_after_exit_is_group_closed() {
    let mut handle = None;
    task_group(async |tg| handle = Some(tg.handle()))
        .await
        .unwrap();
    let host = TaskId::current();
    let err = handle
        .unwrap()
        .start(|status: TaskStatus<()>| async move { status.started(()) })
        .await
        .unwrap_err();
    assert!(matches!(err, StartError::GroupClosed(h) if h == host));
    assert_eq!(
        err.to_string(),
        format!("task group hosted by {host} has already exited; start children while it is open")
    );
}

#[tokio::test(start_paused = true)]
async fn start_without_started_and_a_dropped_status_say_so() {
    bounded(task_group(async |tg| {
        let err = tg
            .start(|status: TaskStatus<u16>| async move {
                let _keep = status; // returns without calling started()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StartError::NotStarted));
        assert_eq!(
            err.to_string(),
            "child exited without calling started(); call status.started(value) once the child is \
             ready"
        );

        let err = tg
            .start(|status: TaskStatus<u16>| async move {
                drop(status);
                tokio::time::sleep(Duration::from_secs(3600)).await; // cancelled here
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StartError::StatusDropped));
        assert_eq!(
            err.to_string(),
            "child dropped its TaskStatus without calling started(); keep the status until the \
             child is ready, then call status.started(value)"
        );

        let err = tg
            .start(|status: TaskStatus<u16>| async move {
                let _keep = status;
                Err::<(), _>("no port")
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "child failed before calling started(): no port"
        );
    }))
    .await
    .unwrap();
}

// ----- streams ------------------------------------------------------------------------------------

#[tokio::test]
async fn a_closed_handle_of_your_own_gives_closed_resource() {
    let (tx, rx) = tether::memory_stream::<u32>(4);
    let tx2 = tx.clone();
    tx.close();
    let err = tx.send(1).await.unwrap_err();
    assert!(err.is_closed());
    assert_eq!(
        err.to_string(),
        "this send end of the memory stream was closed by its own close(); send through a clone \
         that is still open, or send before closing"
    );
    assert_eq!(err.into_inner(), 1);
    match tx.try_send(2).unwrap_err() {
        TrySendError::Send(SendError::Closed(item)) => assert_eq!(item, 2),
        other => panic!("expected Closed, got {other:?}"),
    }
    // The clone is still open.
    tx2.send(3).await.unwrap();

    let rx2 = rx.clone();
    rx.close();
    let err = rx.recv().await.unwrap_err();
    assert!(matches!(err, RecvError::Closed));
    assert_eq!(
        err.to_string(),
        "this receive end of the memory stream was closed by its own close(); receive through a \
         clone that is still open, or receive before closing"
    );
    assert!(matches!(
        rx.try_recv(),
        Err(TryRecvError::Recv(RecvError::Closed))
    ));
    assert_eq!(rx2.recv().await.unwrap(), 3);
}

#[tokio::test]
async fn sending_with_every_receiver_gone_is_broken_resource_with_the_item_back() {
    let (tx, rx) = tether::memory_stream::<String>(4);
    drop(rx);
    let err = tx.send("x".to_string()).await.unwrap_err();
    assert!(err.is_broken());
    assert_eq!(
        err.to_string(),
        "every receive end of the memory stream is closed, so nothing can take the item; keep a \
         receive end open while sending, or stop sending on this error"
    );
    assert_eq!(err.into_inner(), "x");
}

#[tokio::test]
async fn receiving_after_every_sender_is_gone_is_end_of_stream() {
    let (tx, rx) = tether::memory_stream::<u8>(4);
    tx.send(1).await.unwrap();
    drop(tx);
    assert_eq!(rx.recv().await.unwrap(), 1);
    let err = rx.recv().await.unwrap_err();
    assert!(err.is_end_of_stream());
    assert_eq!(
        err.to_string(),
        "end of stream: every send end of the memory stream is closed and the buffer is drained; \
         stop receiving"
    );
}

#[tokio::test]
async fn a_receiver_bound_to_a_task_used_from_another_is_a_task_context_error() {
    let (_tx, rx) = tether::memory_stream::<u8>(4);
    let rx = rx.bind_to_current_task();
    let owner = TaskId::current();
    let (err, current) = in_other_task(async move { rx.recv().await.unwrap_err() }).await;
    let RecvError::WrongTask(ctx) = &err else {
        panic!("expected WrongTask, got {err:?}");
    };
    assert_eq!((ctx.owner(), ctx.current()), (owner, current));
    assert_eq!(
        err.to_string(),
        format!(
            "memory stream receive end bound in {owner} was used from {current}; receive from the \
             task that bound it, or give the other task its own clone made before \
             bind_to_current_task()"
        )
    );
}

#[tokio::test]
async fn a_stream_bound_to_a_group_that_ended_says_which_group() {
    let mut ends = None;
    task_group(async |tg| {
        ends = Some(tether::memory_stream_in::<u8>(&tg.handle(), 4));
    })
    .await
    .unwrap();
    let host = TaskId::current();
    let (tx, rx) = ends.unwrap();
    let err = tx.send(9).await.unwrap_err();
    assert_eq!(err.owner_ended(), Some(host));
    assert_eq!(
        err.to_string(),
        format!(
            "the task group that owned this memory stream ended (it was hosted by {host}), so the \
             stream is closed and the item was not sent; create or bind the stream in a group \
             that outlives its producers, or stop sending when the group ends"
        )
    );
    assert_eq!(err.into_inner(), 9);
    let err = rx.recv().await.unwrap_err();
    assert!(matches!(err, RecvError::OwnerEnded { owner } if owner == host));
}

// ----- sync ---------------------------------------------------------------------------------------

#[tokio::test]
async fn releasing_a_lock_from_a_task_that_does_not_own_it() {
    let lock = std::sync::Arc::new(Lock::new());
    lock.acquire().await.unwrap();
    let owner = TaskId::current();
    let other = lock.clone();
    let (err, current) = in_other_task(async move { other.release().unwrap_err() }).await;
    assert_eq!(err, LockError::NotOwner { owner, current });
    assert_eq!(
        err.to_string(),
        format!(
            "lock is held by {owner}, not by {current}; only the task that acquired a lock may \
             release it"
        )
    );
    lock.release().unwrap();
    let err = lock.release().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{owner} released a lock that is not locked; call release() once per successful \
             acquire()"
        )
    );
}

#[tokio::test]
async fn acquiring_a_lock_twice_in_one_task() {
    let lock = Lock::new();
    lock.acquire().await.unwrap();
    let task = TaskId::current();
    let err = lock.acquire().await.unwrap_err();
    assert_eq!(err, LockError::AlreadyOwned { task });
    assert_eq!(
        err.to_string(),
        format!(
            "{task} already holds this lock and tried to acquire it again; a lock is not \
             reentrant: release it first, or acquire it once and pass the guard down"
        )
    );
}

#[tokio::test]
async fn releasing_a_semaphore_past_its_max() {
    let sem = Semaphore::with_max(1, 1);
    let err = sem.release().unwrap_err();
    assert_eq!(err, SemaphoreError::Overflow { max_value: 1 });
    assert_eq!(
        err.to_string(),
        "semaphore released past its max_value of 1; release only tokens that were acquired, or \
         raise max_value with Semaphore::with_max"
    );
}

#[tokio::test]
async fn the_same_limiter_borrower_twice_and_a_release_by_a_non_borrower() {
    let limiter = CapacityLimiter::new(2);
    limiter.acquire().await.unwrap();
    let borrower = Borrower::current_task();
    let err = limiter.acquire().await.unwrap_err();
    assert_eq!(err, CapacityLimiterError::AlreadyBorrowing { borrower });
    assert_eq!(
        err.to_string(),
        format!(
            "{borrower} already holds a token of this capacity limiter; a borrower holds at most \
             one: release it first, or acquire on behalf of a distinct borrower"
        )
    );
    let stranger = Borrower::key(7);
    let err = limiter.release_on_behalf_of(stranger).unwrap_err();
    assert_eq!(
        err.to_string(),
        "borrower 7 does not hold a token of this capacity limiter; release only a token \
         acquired by the same borrower"
    );
}
