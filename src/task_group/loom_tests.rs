//! loom models of the group's child accounting and of the `start()` handshake
//! (`RUSTFLAGS="--cfg tether_loom" cargo test --release --lib loom`).
//!
//! The group's `state` word, its outcome lock, the start handshake's lock, once-cells and waker
//! are loom's under `cfg(tether_loom)`. A child is spawned for real onto a tokio runtime that is never
//! run: dropping the runtime drops the child unpolled, which reports its exit exactly as a
//! finished child does (`Child`'s drop path), so "a child exits" is a step loom can interleave.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::Ordering;
use loom::thread;

use super::child::ChildOutcome;
use super::error::{FailureOrigin, StartError, TaskFailure};
use super::shared::GroupShared;
use super::start::{Start, StartLink, StartShared, TaskStatus};
use crate::cancel::Node;
use crate::loom::sync::Arc;
use crate::loom_support::{flag, model};
use crate::task::TaskId;

/// A runtime that is never run: it only gives spawned children a home (and drops them).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Counts drops of a value handed through `started`.
struct Value(std::sync::Arc<AtomicUsize>);

impl Drop for Value {
    fn drop(&mut self) {
        self.0.fetch_add(1, StdOrdering::SeqCst);
    }
}

#[test]
fn spawn_racing_close_never_starts_a_child_in_a_closed_group() {
    model("spawn vs try_close", || {
        let rt = runtime();
        let group = {
            let _enter = rt.enter();
            GroupShared::open(None, std::panic::Location::caller())
        };
        let spawner = {
            let group = group.clone();
            thread::spawn(move || group.spawn_child(None, async {}).is_ok())
        };
        let closed = group.try_close();
        let spawned = spawner.join().unwrap();
        // Exactly one of them wins: a spawn is refused only by a close, and a close only
        // succeeds when no child is counted.
        assert!(closed != spawned, "closed {closed}, spawned {spawned}");
        assert_eq!(group.is_closed(), closed);
        if spawned {
            // The child is counted: the group cannot close until it has exited.
            assert!(!group.try_close());
            drop(rt); // the child exits (dropped unpolled, reported as cancelled)
            assert!(group.try_close());
        }
    });
}

#[test]
fn a_child_exiting_while_the_host_closes_always_wakes_or_closes() {
    model("child exit vs try_close", || {
        let rt = runtime();
        let group = {
            let _enter = rt.enter();
            GroupShared::open(None, std::panic::Location::caller())
        };
        assert!(group.spawn_child(None, async {}).is_ok());
        let (woken, waker) = flag();
        let exiter = thread::spawn(move || drop(rt));
        // The host's wait (GroupDriver / OwnedTaskGroup::close): register, then try to close.
        group.node().register_waker(&waker);
        let closed = group.try_close();
        exiter.join().unwrap();
        // Never closed while the child was counted; if it could not close, it was woken.
        assert!(closed || woken.0.load(Ordering::SeqCst), "wake-up lost");
        assert!(group.try_close());
    });
}

#[test]
fn two_spawners_and_a_close_count_exactly() {
    model("spawn, spawn vs try_close", || {
        let rt = runtime();
        let group = {
            let _enter = rt.enter();
            GroupShared::open(None, std::panic::Location::caller())
        };
        let spawners: Vec<_> = (0..2)
            .map(|_| {
                let group = group.clone();
                thread::spawn(move || group.spawn_child(None, async {}).is_ok())
            })
            .collect();
        let closed = group.try_close();
        let spawned = spawners
            .into_iter()
            .map(|s| s.join().unwrap())
            .filter(|ok| *ok)
            .count();
        if closed {
            assert_eq!(spawned, 0, "a child started in a closed group");
        } else {
            assert!(spawned > 0, "close refused with no child counted");
            assert!(!group.try_close());
            drop(rt);
            assert!(group.try_close());
        }
    });
}

fn start_fixture<V: Send + 'static>(
    rt: &tokio::runtime::Runtime,
) -> (Arc<GroupShared>, Arc<StartShared<V>>, Arc<Node>) {
    let group = {
        let _enter = rt.enter();
        GroupShared::open(None, std::panic::Location::caller())
    };
    let root = Node::new_task_root(group.node().clone());
    let link = StartShared::<V>::new(group.clone(), root.clone());
    link.mark_spawned();
    (group, link, root)
}

fn poll_start<V: Send + 'static>(
    start: &mut Start<V>,
    waker: &Waker,
) -> Poll<Result<V, StartError>> {
    Pin::new(start).poll(&mut Context::from_waker(waker))
}

#[test]
fn started_racing_the_start_poll_is_never_lost() {
    model("started vs poll(start)", || {
        let rt = runtime();
        let (_group, link, _root) = start_fixture::<u32>(&rt);
        let status = TaskStatus::new(link.clone());
        let mut start = Start::waiting(link, None, TaskId::current());
        let (woken, waker) = flag();
        let child = thread::spawn(move || status.started(7));
        let first = poll_start(&mut start, &waker);
        child.join().unwrap();
        match first {
            Poll::Ready(r) => assert_eq!(r.unwrap(), 7),
            Poll::Pending => {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "started() did not wake start()"
                );
                match poll_start(&mut start, &waker) {
                    Poll::Ready(r) => assert_eq!(r.unwrap(), 7),
                    Poll::Pending => panic!("start() still pending after started()"),
                }
            }
        }
    });
}

#[test]
fn started_racing_the_start_drop_drops_the_value_once() {
    model("started vs drop(start)", || {
        let rt = runtime();
        let (_group, link, root) = start_fixture::<Value>(&rt);
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let status = TaskStatus::new(link.clone());
        let start = Start::waiting(link, None, TaskId::current());
        let child = {
            let drops = drops.clone();
            thread::spawn(move || status.started(Value(drops)))
        };
        drop(start);
        child.join().unwrap();
        assert_eq!(
            drops.load(StdOrdering::SeqCst),
            1,
            "value lost or dropped twice"
        );
        // If the drop came first, the child was cancelled (start() abandoned); if started came
        // first, the child belongs to the group and is not cancelled. Either is a valid order;
        // a cancelled child carries the start-abandoned reason.
        if let Some(reason) = root.own_reason() {
            assert_eq!(reason.source(), crate::CancelSource::StartAbandoned);
        }
    });
}

#[test]
fn a_failure_racing_the_start_drop_is_reported_exactly_once() {
    model("child failure vs drop(start)", || {
        let rt = runtime();
        let (group, link, root) = start_fixture::<u32>(&rt);
        let status = TaskStatus::new(link.clone());
        let start = Start::waiting(link.clone(), None, TaskId::current());
        let child = {
            let group = group.clone();
            thread::spawn(move || {
                // The child fails before started(): its status is dropped as it returns, then
                // the exit goes through the start link (what `Child` does).
                drop(status);
                let back = link.child_exited(ChildOutcome::Failed("boom".into()), &root);
                if let Some(ChildOutcome::Failed(error)) = back {
                    let task = TaskId::current();
                    group.record_failure(TaskFailure::new(FailureOrigin::Child(task), error));
                }
            })
        };
        drop(start);
        child.join().unwrap();
        // Nobody reads start() any more: the failure must reach the group, once.
        let failures = group.take_failures();
        assert_eq!(failures.len(), 1, "failure lost or reported twice");
        assert_eq!(failures[0].error().to_string(), "boom");
    });
}

#[test]
fn a_failure_racing_the_start_poll_comes_out_of_start_or_the_group_once() {
    model("child failure vs poll(start)", || {
        let rt = runtime();
        let (group, link, root) = start_fixture::<u32>(&rt);
        let status = TaskStatus::new(link.clone());
        let mut start = Start::waiting(link.clone(), None, TaskId::current());
        let (woken, waker) = flag();
        let child = {
            let group = group.clone();
            thread::spawn(move || {
                drop(status);
                let back = link.child_exited(ChildOutcome::Failed("boom".into()), &root);
                if let Some(ChildOutcome::Failed(error)) = back {
                    let task = TaskId::current();
                    group.record_failure(TaskFailure::new(FailureOrigin::Child(task), error));
                }
            })
        };
        let first = poll_start(&mut start, &waker);
        child.join().unwrap();
        let result = match first {
            Poll::Ready(r) => r,
            Poll::Pending => {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "child exit did not wake start()"
                );
                match poll_start(&mut start, &waker) {
                    Poll::Ready(r) => r,
                    Poll::Pending => panic!("start() still pending after the child exited"),
                }
            }
        };
        match result {
            Err(StartError::Failed(e)) => assert_eq!(e.to_string(), "boom"),
            other => panic!("expected StartError::Failed, got {other:?}"),
        }
        assert!(group.take_failures().is_empty(), "failure reported twice");
    });
}
