//! Auto-trait assertions for every public type (the crate root's whole export list): what can
//! cross threads, what can be shared, and — as negative assertions — what must not.
//!
//! The negative assertions are compile-time: `assert_not!(T: Send)` fails to compile if `T` is
//! `Send`. They pin the rules that keep items and payloads on the thread they belong to: a
//! stream of `!Send` items, a future over a `!Send` body, or an error holding a `!Send` item is
//! itself `!Send`; a panic payload is `Send` but never `Sync`.

use std::cell::Cell;
use std::future::{Future, Ready};
use std::rc::Rc;

use tether::*;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}
fn send_future<F: Future + Send>(_: F) {}

/// Fails to compile if `$t` implements `$trait` (the ambiguity trick of `static_assertions`).
macro_rules! assert_not {
    ($t:ty: $trait:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            #[allow(dead_code)]
            struct Invalid;
            impl<T: ?Sized + $trait> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$t as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

type Body = Ready<()>;
type NotSendBody = Ready<Rc<u8>>;

#[test]
fn cancel_scopes_and_their_futures() {
    send_sync::<CancelScope>();
    send_sync::<CancelReason>();
    send_sync::<CancelSource>();
    send_sync::<Cancelled>();
    send_sync::<TimeoutError>();
    send_sync::<Checkpoint>();
    send_sync::<WaitCancelled>();
    send_sync::<Run<Body>>();
    send_sync::<MoveOn<Body>>();
    send_sync::<FailAfter<Body>>();
    send_sync::<Shielded<Body>>();
    send_sync::<WithCleanup<Body, Body>>();
    unpin::<Checkpoint>();
}

// A future is never more `Send` than the body it runs.
assert_not!(Run<NotSendBody>: Send);
assert_not!(MoveOn<NotSendBody>: Send);
assert_not!(FailAfter<NotSendBody>: Send);
assert_not!(Shielded<NotSendBody>: Send);
assert_not!(WithCleanup<NotSendBody, Body>: Send);
assert_not!(WithCleanup<Body, NotSendBody>: Send);

#[test]
fn task_groups_and_their_errors() {
    send_sync::<TaskGroup>();
    send_sync::<TaskGroupHandle>();
    send_sync::<OwnedTaskGroup>();
    send_sync::<TaskId>();
    send_sync::<TaskBinding>();
    unpin::<TaskBinding>();
    send_sync::<TaskContextError>();
    send_sync::<GroupError>();
    send_sync::<TaskFailure>();
    send_sync::<FailureOrigin>();
    send_sync::<StartError>();
    send_sync::<CloseError>();
    send_sync::<BoxError>();
    send_sync::<TaskStatus<String>>();
    send_sync::<Start<String>>();
    send::<SpawnError<Body>>();
    send::<GroupPanic>();
}

// A panic payload (`Box<dyn Any + Send>`) is never shared: `GroupPanic` is `Send` only.
assert_not!(GroupPanic: Sync);
// A value reported through `started` crosses to the starting task: it must be `Send`.
assert_not!(TaskStatus<Rc<u8>>: Send);
assert_not!(Start<Rc<u8>>: Send);
// A future handed back by a failed spawn keeps its own traits.
assert_not!(SpawnError<NotSendBody>: Send);

#[test]
fn memory_streams() {
    send_sync::<MemorySender<String>>();
    send_sync::<MemoryReceiver<String>>();
    send_sync::<MemorySink<String>>();
    send_sync::<SendFuture<'static, String>>();
    send_sync::<RecvFuture<'static, String>>();
    send_sync::<ReserveFuture<'static, String>>();
    send_sync::<Permit<'static, String>>();
    send_sync::<MemoryStreamStatistics>();
    send_sync::<SendError<String>>();
    send_sync::<TrySendError<String>>();
    send_sync::<RecvError>();
    send_sync::<TryRecvError>();
    unpin::<SendFuture<'static, String>>();
    unpin::<MemorySink<String>>();
    // `Send` items that are not `Sync` still make `Sync` handles: items are moved, never shared.
    send_sync::<MemorySender<Cell<u8>>>();
    send_sync::<MemoryReceiver<Cell<u8>>>();
}

// Items cross threads through a stream, so a stream of `!Send` items stays on its thread, and
// an error handing back a `!Send` item is `!Send`.
assert_not!(MemorySender<Rc<u8>>: Send);
assert_not!(MemoryReceiver<Rc<u8>>: Send);
assert_not!(MemorySender<Rc<u8>>: Sync);
assert_not!(MemoryReceiver<Rc<u8>>: Sync);
assert_not!(SendError<Rc<u8>>: Send);
assert_not!(TrySendError<Rc<u8>>: Send);

#[test]
fn synchronization_primitives() {
    send_sync::<Event>();
    send_sync::<Lock>();
    send_sync::<LockGuard<'static>>();
    send_sync::<LockStatistics>();
    send_sync::<LockError>();
    send_sync::<Semaphore>();
    send_sync::<SemaphorePermit<'static>>();
    send_sync::<SemaphoreStatistics>();
    send_sync::<SemaphoreError>();
    send_sync::<CapacityLimiter>();
    send_sync::<CapacityToken<'static>>();
    send_sync::<CapacityLimiterStatistics>();
    send_sync::<CapacityLimiterError>();
    send_sync::<Borrower>();
    send_sync::<Condition>();
    send_sync::<ConditionStatistics>();
    send_sync::<ConditionError>();
    sync::<Event>();
}

#[test]
fn futures_are_send_when_their_bodies_are() {
    send_future(CancelScope::new().run(async {}));
    send_future(move_on_after(std::time::Duration::ZERO, async {}));
    send_future(fail_after(std::time::Duration::ZERO, async {}));
    send_future(shield(async {}));
    send_future(with_cleanup(async {}, async {}));
    send_future(checkpoint());
    send_future(CancelScope::new().cancelled());
    send_future(task_group(async |tg| {
        tg.spawn(async {});
        let v: u8 = tg.start(|s| async move { s.started(1u8) }).await.unwrap();
        tokio::task::yield_now().await;
        let _ = v;
    }));
    send_future(async {
        let mut g = OwnedTaskGroup::open();
        g.close().await
    });
    send_future(async {
        let sem = Semaphore::new(1);
        let _permit = sem.acquire().await;
        let lock = Lock::new();
        let _guard = lock.lock().await;
        let limiter = CapacityLimiter::new(1);
        let _token = limiter.acquire().await;
        let condition = Condition::new();
        let guard = condition.lock().await.unwrap();
        let _ = condition.wait(guard).await;
        Event::new().wait().await;
    });
    send_future(async {
        let (tx, rx) = memory_stream::<String>(1);
        let _ = tx.send(String::new()).await;
        let _ = tx.reserve().await;
        let _ = rx.recv().await;
    });
}

#[test]
fn diagnostics() {
    send_sync::<TaskTree>();
    send_sync::<TreeNode>();
    send_sync::<EntryKind>();
    send_sync::<Site>();
    send_sync::<CancelInfo>();
    send_sync::<WaitInfo>();
    send_sync::<WaitTarget>();
    send_sync::<Watchdog>();
    send_sync::<WatchdogReport>();
    send_sync::<Finding>();
    send_sync::<LockLink>();
    send_future(Watchdog::new(std::time::Duration::from_secs(1)).run());
    send_future(task_group(async |tg| {
        tg.spawn_named("a", async {});
        let _ = tg.start_named("b", |s| async move { s.started(()) }).await;
    }));
}
