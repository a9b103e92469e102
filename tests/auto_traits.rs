//! Auto-trait assertions for every public type: what can cross threads, what can be shared.

use std::future::Future;

use tether::{
    CancelReason, CancelScope, Cancelled, CloseError, GroupError, OwnedTaskGroup, SpawnError,
    StartError, TaskContextError, TaskGroup, TaskGroupHandle, TaskId, TaskStatus, TimeoutError,
};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn send_sync<T: Send + Sync>() {}
fn send_future<F: Future + Send>(_: F) {}

#[test]
fn handles_and_errors_are_send_and_sync() {
    send_sync::<CancelScope>();
    send_sync::<CancelReason>();
    send_sync::<Cancelled>();
    send_sync::<TimeoutError>();
    send_sync::<TaskId>();
    send_sync::<TaskContextError>();
    send_sync::<TaskGroup>();
    send_sync::<TaskGroupHandle>();
    send_sync::<OwnedTaskGroup>();
    send_sync::<GroupError>();
    send_sync::<StartError>();
    send_sync::<CloseError>();
    send::<TaskStatus<String>>();
    sync::<TaskStatus<String>>();
    send::<SpawnError<std::future::Ready<()>>>();
    send_sync::<tether::MemorySender<String>>();
    send_sync::<tether::MemoryReceiver<String>>();
    send_sync::<tether::SendError<String>>();
    send_sync::<tether::RecvError>();
    send_sync::<tether::Lock>();
    send_sync::<tether::Event>();
    send_sync::<tether::Semaphore>();
    send_sync::<tether::CapacityLimiter>();
    send_sync::<tether::Condition>();
}

#[test]
fn futures_are_send_when_their_bodies_are() {
    send_future(CancelScope::new().run(async {}));
    send_future(tether::move_on_after(std::time::Duration::ZERO, async {}));
    send_future(tether::fail_after(std::time::Duration::ZERO, async {}));
    send_future(tether::shield(async {}));
    send_future(tether::with_cleanup(async {}, async {}));
    send_future(tether::checkpoint());
    send_future(CancelScope::new().cancelled());
    send_future(tether::task_group(async |tg| {
        tg.spawn(async {});
        let v: u8 = tg.start(|s| async move { s.started(1u8) }).await.unwrap();
        tokio::task::yield_now().await;
        let _ = v;
    }));
    send_future(async {
        let mut g = OwnedTaskGroup::open();
        g.close().await
    });
}
