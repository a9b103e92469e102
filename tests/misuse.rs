//! Misuse and bad input, as one table: every misuse the API can express at run time gives a
//! typed error (or, where a future is polled from the wrong task, a panic) with this exact
//! message.
//!
//! Each row performs one misuse and reports what came out: the error's variant (its `Debug`)
//! and message, or the panic's message, next to what the row expects. The messages are spelled
//! out in full on purpose: changing one is an API change, and `docs/reliability.md` quotes them.
//! A row may also check that the misuse changed nothing (the group is still usable, the future
//! or item comes back).

mod support;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use support::{bounded, in_other_task, panic_message};
use tether::{
    Borrower, CancelScope, CapacityLimiter, Condition, ConditionError, Lock, OwnedTaskGroup,
    RecvError, Semaphore, SendError, TaskId, TaskStatus, TryRecvError, TrySendError, task_group,
};

/// What one misuse produced, and what it should have.
struct Outcome {
    /// The error's `Debug` (its variant first), or `panic` for a panic.
    got_kind: String,
    /// The error's `Display`, or the panic's message.
    got_message: String,
    /// The start of the expected `Debug`: the variant's name.
    kind: &'static str,
    /// The exact expected message.
    message: String,
}

impl Outcome {
    fn error(err: impl std::error::Error, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            got_kind: format!("{err:?}"),
            got_message: err.to_string(),
            kind,
            message: message.into(),
        }
    }

    fn panic(payload: Box<dyn std::any::Any + Send>, message: impl Into<String>) -> Self {
        Self {
            got_kind: "panic".into(),
            got_message: panic_message(payload),
            kind: "panic",
            message: message.into(),
        }
    }
}

type Run = fn() -> Pin<Box<dyn Future<Output = Outcome>>>;

/// The table: a name and the misuse.
const CASES: &[(&str, Run)] = &[
    ("owned group closed from another task", || {
        Box::pin(owned_group_closed_elsewhere())
    }),
    ("group future polled from another task", || {
        Box::pin(group_polled_elsewhere())
    }),
    ("scope future polled from another task", || {
        Box::pin(scope_polled_elsewhere())
    }),
    ("scope entered twice", || Box::pin(scope_entered_twice())),
    ("spawn after the group exited", || {
        Box::pin(spawn_after_exit())
    }),
    ("start after the group exited", || {
        Box::pin(start_after_exit())
    }),
    ("start whose child never calls started()", || {
        Box::pin(start_without_started())
    }),
    ("start whose child drops its status", || {
        Box::pin(start_status_dropped())
    }),
    ("start whose child fails first", || {
        Box::pin(start_child_fails())
    }),
    ("send on a handle closed by its own close()", || {
        Box::pin(send_on_closed_handle())
    }),
    ("try_send on a handle closed by its own close()", || {
        Box::pin(try_send_on_closed_handle())
    }),
    ("recv on a handle closed by its own close()", || {
        Box::pin(recv_on_closed_handle())
    }),
    ("send with every receiver gone", || {
        Box::pin(send_without_receivers())
    }),
    ("recv with every sender gone", || {
        Box::pin(recv_without_senders())
    }),
    ("try_recv on an empty stream", || {
        Box::pin(try_recv_on_empty())
    }),
    ("try_send on a full stream", || Box::pin(try_send_on_full())),
    ("recv on a receiver bound to another task", || {
        Box::pin(recv_from_wrong_task())
    }),
    ("send on a stream whose group ended", || {
        Box::pin(send_after_owner_ended())
    }),
    ("recv on a stream whose group ended", || {
        Box::pin(recv_after_owner_ended())
    }),
    ("release a lock another task keeps", || {
        Box::pin(lock_released_by_non_owner())
    }),
    ("release a lock that is not locked", || {
        Box::pin(lock_released_unlocked())
    }),
    ("release a lock held through a guard", || {
        Box::pin(lock_released_under_guard())
    }),
    ("lock a lock twice in one task", || Box::pin(lock_twice())),
    ("try_lock a lock another task holds", || {
        Box::pin(try_lock_held())
    }),
    ("release a semaphore past its max", || {
        Box::pin(semaphore_overflow())
    }),
    ("try_acquire an empty semaphore", || {
        Box::pin(semaphore_empty())
    }),
    ("the same limiter borrower twice", || {
        Box::pin(limiter_borrower_twice())
    }),
    ("release a limiter token never borrowed", || {
        Box::pin(limiter_release_by_stranger())
    }),
    ("release a limiter token held through a guard", || {
        Box::pin(limiter_release_under_guard())
    }),
    ("a limiter total past the maximum", || {
        Box::pin(limiter_too_many_tokens())
    }),
    ("try_acquire an empty limiter", || Box::pin(limiter_empty())),
    ("wait on a condition with another lock's guard", || {
        Box::pin(condition_foreign_guard())
    }),
    (
        "wait_acquired on a condition whose lock is not kept",
        || Box::pin(condition_wait_unlocked()),
    ),
];

#[tokio::test(start_paused = true)]
async fn every_misuse_gives_its_typed_error_and_message() {
    let mut failures = Vec::new();
    for (name, run) in CASES {
        let out = bounded(run()).await;
        if !out.got_kind.starts_with(out.kind) {
            failures.push(format!(
                "{name}: expected {}, got {}",
                out.kind, out.got_kind
            ));
        }
        if out.got_message != out.message {
            failures.push(format!(
                "{name}:\n  expected message: {}\n  got message:      {}",
                out.message, out.got_message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_message_is_lowercase_without_a_final_period() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    for (name, run) in CASES {
        let out = rt.block_on(run());
        let first = out.got_message.chars().next().unwrap();
        assert!(!first.is_uppercase(), "{name}: {}", out.got_message);
        assert!(
            !out.got_message.ends_with('.'),
            "{name}: {}",
            out.got_message
        );
    }
}

// ----- task groups and scopes --------------------------------------------------------------------

async fn owned_group_closed_elsewhere() -> Outcome {
    let mut group = OwnedTaskGroup::open();
    let owner = TaskId::current();
    let (mut group, (err, current)) = tokio::spawn(async move {
        let err = group.close().await.unwrap_err();
        (group, (err, TaskId::current()))
    })
    .await
    .unwrap();
    let ctx = err.task_context().expect("CloseError::WrongTask");
    assert_eq!((ctx.owner(), ctx.current()), (owner, current));
    assert_eq!(ctx.resource(), "task group");
    // Nothing changed: the group is still open and closes from its own task.
    assert!(!group.is_closed());
    group.spawn(async {}).unwrap();
    group.close().await.unwrap();
    Outcome::error(
        err,
        "WrongTask",
        format!(
            "task group opened in {owner} was closed from {current}; close it in the task that \
             opened it, or give other tasks a TaskGroupHandle (group.handle()) to spawn with and \
             keep closing where it was opened"
        ),
    )
}

async fn group_polled_elsewhere() -> Outcome {
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
    Outcome::panic(
        payload,
        format!(
            "task group opened in {owner} was polled from {current}; await task_group(...) in the \
             task that first polled it; to feed it from elsewhere, pass a TaskGroupHandle \
             (tg.handle())"
        ),
    )
}

async fn scope_polled_elsewhere() -> Outcome {
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
    Outcome::panic(
        payload,
        format!(
            "cancel scope entered in {owner} was polled from {current}; await a scope's future in \
             the task that first polled it; to cancel it from elsewhere, clone the CancelScope \
             handle and call cancel()"
        ),
    )
}

async fn scope_entered_twice() -> Outcome {
    let scope = CancelScope::new();
    scope.run(async {}).await.unwrap();
    let payload = AssertUnwindSafe(scope.run(async {}))
        .catch_unwind()
        .await
        .unwrap_err();
    Outcome::panic(
        payload,
        "cancel scope entered twice; a CancelScope runs one body, so create a new CancelScope for \
         each run",
    )
}

async fn spawn_after_exit() -> Outcome {
    let mut handle = None;
    task_group(async |tg| handle = Some(tg.handle()))
        .await
        .unwrap();
    let handle = handle.unwrap();
    let host = TaskId::current();
    assert!(handle.is_closed());
    let err = handle.spawn(async { 42 }.map(|_| ())).unwrap_err();
    assert_eq!(err.host(), host);
    let out = Outcome::error(
        &err,
        "SpawnError",
        format!(
            "task group hosted by {host} has already exited; spawn while the group is open (its \
             body is running, or an owned group is not yet closed)"
        ),
    );
    // The future comes back, unpolled, and still works; the same from an owned group.
    err.into_inner().await;
    let mut group = OwnedTaskGroup::open();
    group.close().await.unwrap();
    let err = group.spawn(async { Ok::<_, String>(7) }).unwrap_err();
    assert_eq!(err.into_inner().await, Ok(7));
    out
}

async fn start_after_exit() -> Outcome {
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
    Outcome::error(
        err,
        "GroupClosed",
        format!("task group hosted by {host} has already exited; start children while it is open"),
    )
}

/// Runs one `start` whose child misbehaves, in a fresh group, and returns its error.
async fn start_error<F, Fut>(child: F) -> tether::StartError
where
    F: FnOnce(TaskStatus<u16>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), &'static str>> + Send + 'static,
{
    task_group(async |tg| Ok::<_, std::convert::Infallible>(tg.start(child).await.unwrap_err()))
        .await
        .unwrap()
}

async fn start_without_started() -> Outcome {
    let err = start_error(|status| async move {
        let _keep = status; // returns without calling started()
        Ok(())
    })
    .await;
    Outcome::error(
        err,
        "NotStarted",
        "child exited without calling started(); call status.started(value) once the child is \
         ready",
    )
}

async fn start_status_dropped() -> Outcome {
    let err = start_error(|status| async move {
        drop(status);
        tokio::time::sleep(Duration::from_secs(3600)).await; // cancelled here
        Ok(())
    })
    .await;
    Outcome::error(
        err,
        "StatusDropped",
        "child dropped its TaskStatus without calling started(); keep the status until the child \
         is ready, then call status.started(value)",
    )
}

async fn start_child_fails() -> Outcome {
    let err = start_error(|status| async move {
        let _keep = status;
        Err("no port")
    })
    .await;
    Outcome::error(
        err,
        "Failed",
        "child failed before calling started(): no port",
    )
}

// ----- streams -----------------------------------------------------------------------------------

const SEND_CLOSED: &str = "this send end of the memory stream was closed by its own close(); \
                           send through a clone that is still open, or send before closing";

async fn send_on_closed_handle() -> Outcome {
    let (tx, rx) = tether::memory_stream::<u32>(4);
    let open = tx.clone();
    tx.close();
    let err = tx.send(1).await.unwrap_err();
    assert!(err.is_closed());
    // The clone is still open.
    open.send(3).await.unwrap();
    assert_eq!(rx.try_recv(), Ok(3));
    let out = Outcome::error(&err, "Closed", SEND_CLOSED);
    assert_eq!(err.into_inner(), 1);
    out
}

async fn try_send_on_closed_handle() -> Outcome {
    let (tx, _rx) = tether::memory_stream::<u32>(4);
    tx.close();
    let err = tx.try_send(2).unwrap_err();
    assert!(matches!(&err, TrySendError::Send(SendError::Closed(2))));
    Outcome::error(err, "Send(Closed", SEND_CLOSED)
}

async fn recv_on_closed_handle() -> Outcome {
    let (tx, rx) = tether::memory_stream::<u32>(4);
    let open = rx.clone();
    rx.close();
    tx.send(3).await.unwrap();
    let err = rx.recv().await.unwrap_err();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Recv(RecvError::Closed)));
    assert_eq!(open.recv().await, Ok(3));
    Outcome::error(
        err,
        "Closed",
        "this receive end of the memory stream was closed by its own close(); receive through a \
         clone that is still open, or receive before closing",
    )
}

async fn send_without_receivers() -> Outcome {
    let (tx, rx) = tether::memory_stream::<String>(4);
    drop(rx);
    let err = tx.send("x".to_string()).await.unwrap_err();
    assert!(err.is_broken());
    let out = Outcome::error(
        &err,
        "BrokenResource",
        "sending into a memory stream whose receive ends are all closed; the item comes back in \
         this error",
    );
    assert_eq!(err.into_inner(), "x");
    out
}

async fn recv_without_senders() -> Outcome {
    let (tx, rx) = tether::memory_stream::<u8>(4);
    tx.send(1).await.unwrap();
    drop(tx);
    assert_eq!(rx.recv().await, Ok(1)); // drained first
    let err = rx.recv().await.unwrap_err();
    assert!(err.is_end_of_stream());
    Outcome::error(
        err,
        "EndOfStream",
        "receiving from an empty and closed memory stream",
    )
}

async fn try_recv_on_empty() -> Outcome {
    let (_tx, rx) = tether::memory_stream::<u8>(4);
    let err = rx.try_recv().unwrap_err();
    assert!(err.is_would_block());
    Outcome::error(
        err,
        "WouldBlock",
        "try_recv would wait: the memory stream is empty",
    )
}

async fn try_send_on_full() -> Outcome {
    let (tx, _rx) = tether::memory_stream::<u8>(1);
    tx.try_send(1).unwrap();
    let err = tx.try_send(2).unwrap_err();
    assert!(err.is_would_block());
    let out = Outcome::error(
        &err,
        "WouldBlock",
        "try_send would wait: the memory stream is full (or, on a rendezvous stream, no receiver \
         is waiting); the item comes back in this error",
    );
    assert_eq!(err.into_inner(), 2);
    out
}

async fn recv_from_wrong_task() -> Outcome {
    let (_tx, rx) = tether::memory_stream::<u8>(4);
    let rx = rx.bind_to_current_task();
    let owner = TaskId::current();
    let (err, current) = in_other_task(async move { rx.recv().await.unwrap_err() }).await;
    let RecvError::WrongTask(ctx) = &err else {
        panic!("expected WrongTask, got {err:?}");
    };
    assert_eq!((ctx.owner(), ctx.current()), (owner, current));
    Outcome::error(
        err,
        "WrongTask",
        format!(
            "memory stream receive end bound in {owner} was used from {current}; receive from the \
             task that bound it, or give the other task its own clone made before \
             bind_to_current_task()"
        ),
    )
}

/// A stream bound to a group that has ended, and the task that hosted the group.
async fn stream_of_ended_group() -> (
    (tether::MemorySender<u8>, tether::MemoryReceiver<u8>),
    TaskId,
) {
    let mut ends = None;
    task_group(async |tg| {
        ends = Some(tether::memory_stream_in::<u8>(&tg.handle(), 4));
    })
    .await
    .unwrap();
    (ends.unwrap(), TaskId::current())
}

async fn send_after_owner_ended() -> Outcome {
    let ((tx, _rx), host) = stream_of_ended_group().await;
    let err = tx.send(9).await.unwrap_err();
    assert_eq!(err.owner_ended(), Some(host));
    let out = Outcome::error(
        &err,
        "OwnerEnded",
        format!(
            "the task group that owned this memory stream ended (it was hosted by {host}), so the \
             stream is closed and the item was not sent; create or bind the stream in a group \
             that outlives its producers, or stop sending when the group ends"
        ),
    );
    assert_eq!(err.into_inner(), 9);
    out
}

async fn recv_after_owner_ended() -> Outcome {
    let ((_tx, rx), host) = stream_of_ended_group().await;
    let err = rx.recv().await.unwrap_err();
    assert!(matches!(err, RecvError::OwnerEnded { owner } if owner == host));
    Outcome::error(
        err,
        "OwnerEnded",
        format!(
            "the task group that owned this memory stream ended (it was hosted by {host}) without \
             closing its send ends, so nothing more will arrive; keep that group open while \
             others receive, or create the stream in a group that outlives its consumers"
        ),
    )
}

// ----- sync --------------------------------------------------------------------------------------

async fn lock_released_by_non_owner() -> Outcome {
    let lock = Arc::new(Lock::new());
    lock.lock().await.unwrap().forget();
    let owner = TaskId::current();
    let other = lock.clone();
    let (err, current) = in_other_task(async move { other.release().unwrap_err() }).await;
    lock.release().unwrap(); // nothing changed: the owner still releases it
    Outcome::error(
        err,
        "NotOwner",
        format!(
            "lock is held by {owner}, not by {current}; only the task that acquired a lock may \
             release it"
        ),
    )
}

async fn lock_released_unlocked() -> Outcome {
    let lock = Lock::new();
    let current = TaskId::current();
    Outcome::error(
        lock.release().unwrap_err(),
        "NotLocked",
        format!(
            "{current} released a lock that is not locked; call release() once per lock kept \
             with LockGuard::forget()"
        ),
    )
}

async fn lock_released_under_guard() -> Outcome {
    let lock = Lock::new();
    let guard = lock.lock().await.unwrap();
    let owner = TaskId::current();
    let err = lock.release().unwrap_err();
    assert!(lock.is_locked(), "nothing changed");
    drop(guard);
    Outcome::error(
        err,
        "HeldByGuard",
        format!(
            "lock is held through a LockGuard taken by {owner}, so release() cannot release it; \
             drop the guard instead"
        ),
    )
}

async fn lock_twice() -> Outcome {
    let lock = Lock::new();
    let _guard = lock.lock().await.unwrap();
    let task = TaskId::current();
    Outcome::error(
        lock.lock().await.unwrap_err(),
        "AlreadyOwned",
        format!(
            "{task} already holds this lock and tried to acquire it again; a lock is not \
             reentrant: release it first, or acquire it once and pass the guard down"
        ),
    )
}

async fn try_lock_held() -> Outcome {
    let lock = Arc::new(Lock::new());
    let _guard = lock.lock().await.unwrap();
    let other = lock.clone();
    let (err, _) = in_other_task(async move { other.try_lock().unwrap_err() }).await;
    assert!(err.is_would_block());
    Outcome::error(
        err,
        "WouldBlock",
        "try_lock would wait: the lock is held by another task",
    )
}

async fn semaphore_overflow() -> Outcome {
    let sem = Semaphore::with_max(1, 1);
    let err = sem.release().unwrap_err();
    assert_eq!(sem.value(), 1, "nothing changed");
    Outcome::error(
        err,
        "Overflow",
        "semaphore released past its max_value of 1; release only tokens that were acquired, or \
         raise max_value with Semaphore::with_max",
    )
}

async fn semaphore_empty() -> Outcome {
    let sem = Semaphore::new(0);
    let err = sem.try_acquire().unwrap_err();
    assert!(err.is_would_block());
    Outcome::error(
        err,
        "WouldBlock",
        "try_acquire would wait: the semaphore has no tokens left",
    )
}

async fn limiter_borrower_twice() -> Outcome {
    let limiter = CapacityLimiter::new(2);
    let _token = limiter.acquire().await.unwrap();
    let borrower = Borrower::current_task();
    let err = limiter.acquire().await.unwrap_err();
    assert_eq!(limiter.borrowed_tokens(), 1, "nothing changed");
    Outcome::error(
        err,
        "AlreadyBorrowing",
        format!(
            "{borrower} already holds a token of this capacity limiter; a borrower holds at most \
             one: release it first, or acquire on behalf of a distinct borrower"
        ),
    )
}

async fn limiter_release_by_stranger() -> Outcome {
    let limiter = CapacityLimiter::new(2);
    Outcome::error(
        limiter.release_on_behalf_of(Borrower::key(7)).unwrap_err(),
        "NotBorrowing",
        "borrower 7 does not hold a token of this capacity limiter; release only a token \
         acquired by the same borrower",
    )
}

async fn limiter_release_under_guard() -> Outcome {
    let limiter = CapacityLimiter::new(2);
    let _token = limiter
        .acquire_on_behalf_of(Borrower::key(3))
        .await
        .unwrap();
    let err = limiter.release_on_behalf_of(Borrower::key(3)).unwrap_err();
    assert_eq!(limiter.borrowed_tokens(), 1, "nothing changed");
    Outcome::error(
        err,
        "HeldByGuard",
        "borrower 3 holds its token of this capacity limiter through a CapacityToken, so \
         release() cannot give it back; drop the CapacityToken instead",
    )
}

async fn limiter_too_many_tokens() -> Outcome {
    let limiter = CapacityLimiter::new(2);
    let err = limiter.set_total_tokens(usize::MAX).unwrap_err();
    assert_eq!(limiter.total_tokens(), 2, "nothing changed");
    Outcome::error(
        err,
        "TooManyTokens",
        format!(
            "total_tokens of {} is more than the largest supported value {}; use a smaller total",
            usize::MAX,
            CapacityLimiter::MAX_TOTAL_TOKENS
        ),
    )
}

async fn limiter_empty() -> Outcome {
    let limiter = CapacityLimiter::new(0);
    let err = limiter.try_acquire().unwrap_err();
    assert!(err.is_would_block());
    Outcome::error(
        err,
        "WouldBlock",
        "try_acquire would wait: the capacity limiter has no tokens available",
    )
}

async fn condition_foreign_guard() -> Outcome {
    let condition = Condition::new();
    let other = Lock::new();
    let guard = other.lock().await.unwrap();
    Outcome::error(
        condition.wait(guard).await.unwrap_err(),
        "ForeignGuard",
        "the guard passed to wait() belongs to a different lock than this condition's; pass the \
         guard returned by this condition's lock()",
    )
}

async fn condition_wait_unlocked() -> Outcome {
    let condition = Condition::new();
    let current = TaskId::current();
    let err = condition.wait_acquired().await.unwrap_err();
    assert!(matches!(err, ConditionError::Lock(_)));
    assert_eq!(condition.statistics().tasks_waiting, 0, "nothing changed");
    Outcome::error(
        err,
        "Lock(NotLocked",
        format!(
            "{current} released a lock that is not locked; call release() once per lock kept \
             with LockGuard::forget()"
        ),
    )
}

/// Every error predicate answers `true` for its own kind and `false` for the others (found by
/// mutation testing: each `is_*` could return `true` always, since the tests only asked it about
/// its own kind).
#[test]
fn error_predicates_tell_their_kind_from_the_others() {
    // Streams.
    let (tx, rx) = tether::memory_stream::<u32>(1);
    tx.try_send(0).unwrap();
    let full = tx.try_send(1).unwrap_err();
    assert!(full.is_would_block());
    let empty = {
        let (_tx, rx) = tether::memory_stream::<u32>(1);
        rx.try_recv().unwrap_err()
    };
    assert!(empty.is_would_block());
    let tx2 = tx.clone();
    tx2.close();
    let closed = tx2.try_send(2).unwrap_err();
    assert!(!closed.is_would_block());
    let tether::TrySendError::Send(closed) = closed else {
        panic!("a closed handle's try_send fails with a send error")
    };
    assert!(closed.is_closed() && !closed.is_broken());
    drop(rx);
    let broken = tx.try_send(3).unwrap_err();
    assert!(!broken.is_would_block());
    let tether::TrySendError::Send(broken) = broken else {
        panic!("a send with every receiver gone fails with a send error")
    };
    assert!(broken.is_broken() && !broken.is_closed());

    let (tx, rx) = tether::memory_stream::<u32>(1);
    let rx2 = rx.clone();
    rx2.close();
    let closed = rx2.try_recv().unwrap_err();
    assert!(!closed.is_would_block());
    let tether::TryRecvError::Recv(closed) = closed else {
        panic!("a closed handle's try_recv fails with a receive error")
    };
    assert!(!closed.is_end_of_stream());
    drop(tx);
    let tether::TryRecvError::Recv(end) = rx.try_recv().unwrap_err() else {
        panic!("a drained stream with every sender gone ends")
    };
    assert!(end.is_end_of_stream());

    // Sync.
    let lock = tether::Lock::new();
    assert!(!lock.release().unwrap_err().is_would_block()); // not locked
    let _held = lock.try_lock().unwrap();
    assert!(!lock.try_lock().unwrap_err().is_would_block()); // same task: AlreadyOwned
    assert!(tether::LockError::WouldBlock.is_would_block());
    let sem = tether::Semaphore::with_max(0, 1);
    assert!(sem.try_acquire().unwrap_err().is_would_block());
    sem.release().unwrap();
    assert!(!sem.release().unwrap_err().is_would_block()); // overflow
    let limiter = tether::CapacityLimiter::new(0);
    assert!(limiter.try_acquire().unwrap_err().is_would_block());
    assert!(!limiter.release().unwrap_err().is_would_block()); // not borrowing
}
