//! loom models of the primitives' own accounting (`RUSTFLAGS="--cfg tether_loom" cargo test
//! --release --lib loom`).
//!
//! The counters and locks tether adds around tokio's semaphore (a `Semaphore`'s `bound` and
//! `kept`, a `CapacityLimiter`'s `state` with its debt) are loom's under `cfg(tether_loom)`, so
//! every interleaving of these operations is explored. tokio's semaphore itself is not
//! instrumented: its calls are atomic steps here, which is what they are to tether.
//!
//! A `Lock` is all tether's own (its state mutex is loom's): the models below race its
//! hand-off against the cancellation of the waiter it is handed to, and a waiter's re-poll.
//! Every loom thread has the same `TaskId::current()`, so the lock models name the task each
//! call acts for (`Lock::lock_for`, `Lock::release_for`, a seam that exists only in this build)
//! with ids of real threads made before the model runs.

use std::future::Future;
use std::task::{Context, Poll};

use loom::thread;

use super::{Borrower, CapacityLimiter, Lock, LockGuard, Semaphore, SemaphoreError};
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::Ordering;
use crate::loom_support::{flag, model};
use crate::task::TaskId;

/// Issue 8, bug 12: a `release` of a token that was taken must never fail with `Overflow`, even
/// while another thread takes and gives back a token at the same moment.
#[test]
fn releasing_a_taken_token_never_overflows() {
    model("semaphore: take + forget + release on two threads", || {
        let sem = Arc::new(Semaphore::with_max(2, 2));
        let other = {
            let sem = sem.clone();
            thread::spawn(move || {
                if let Ok(permit) = sem.try_acquire() {
                    permit.forget();
                    sem.release().expect("a taken token goes back");
                }
            })
        };
        if let Ok(permit) = sem.try_acquire() {
            permit.forget();
            sem.release().expect("a taken token goes back");
        }
        other.join().unwrap();
        assert_eq!(sem.value(), 2);
        assert_eq!(
            sem.release(),
            Err(SemaphoreError::Overflow { max_value: 2 })
        );
    });
}

/// Bug 12 with every way a token moves at once, on a semaphore whose max is its two tokens: one
/// thread takes a token through a guard and drops it (given back unchecked), another takes one
/// explicitly (`forget`) and releases it, while the main thread releases a kept token. No
/// release of a taken token may fail, the value never exceeds the max, and in the end both
/// tokens are back and one more release is refused.
#[test]
fn guard_drops_and_explicit_releases_never_overflow() {
    model(
        "semaphore: guard drop vs explicit take + release vs kept release",
        || {
            let sem = Arc::new(Semaphore::with_max(2, 2));
            sem.try_acquire().unwrap().forget(); // kept by the main thread: value 1
            let guard_thread = {
                let sem = sem.clone();
                thread::spawn(move || {
                    if let Ok(guard) = sem.try_acquire() {
                        assert!(sem.value() <= 2);
                        drop(guard);
                    }
                })
            };
            let explicit_thread = {
                let sem = sem.clone();
                thread::spawn(move || {
                    if let Ok(permit) = sem.try_acquire() {
                        permit.forget();
                        sem.release().expect("a taken token goes back");
                    }
                })
            };
            sem.release().expect("the kept token goes back");
            assert!(sem.value() <= 2);
            guard_thread.join().unwrap();
            explicit_thread.join().unwrap();
            assert_eq!(sem.value(), 2);
            assert_eq!(
                sem.release(),
                Err(SemaphoreError::Overflow { max_value: 2 })
            );
        },
    );
}

/// A release of a kept token on one thread and a free release on another never push the value
/// past `max_value`, and an extra release is refused whatever the order.
#[test]
fn kept_and_free_releases_never_exceed_max_value() {
    model(
        "semaphore: release of a kept token vs a free release",
        || {
            let sem = Arc::new(Semaphore::with_max(1, 2));
            sem.try_acquire().unwrap().forget(); // kept: value 0
            let kept_release = {
                let sem = sem.clone();
                thread::spawn(move || {
                    sem.release().unwrap(); // gives the kept token back
                })
            };
            let extra = sem.release(); // a free release: allowed once (1 token of room)
            kept_release.join().unwrap();
            assert_eq!(extra, Ok(()));
            assert_eq!(sem.value(), 2);
            assert!(sem.release().is_err());
        },
    );
}

/// Issue 8, bugs 11 and 13: lowering the total to 0 while a token comes back, on another
/// thread, never lets a newcomer in, whatever the order (the returned token is added after the
/// lock is released, so the lowering may see it missing and record debt for it; the debt is
/// then paid by the first acquirer that gets the permit).
#[test]
fn nobody_is_admitted_while_the_total_is_zero() {
    model(
        "limiter: release vs set_total_tokens(0) vs try_acquire",
        || {
            let limiter = Arc::new(CapacityLimiter::new(1));
            limiter
                .try_acquire_on_behalf_of(Borrower::key(1))
                .unwrap()
                .forget();
            let releaser = {
                let limiter = limiter.clone();
                thread::spawn(move || limiter.release_on_behalf_of(Borrower::key(1)).unwrap())
            };
            limiter.set_total_tokens(0).unwrap();
            let admitted = limiter.try_acquire_on_behalf_of(Borrower::key(2)).is_ok();
            releaser.join().unwrap();
            assert!(!admitted, "admitted while the total was 0");
            assert!(limiter.try_acquire_on_behalf_of(Borrower::key(3)).is_err());
            assert_eq!(limiter.borrowed_tokens(), 0);
            // Raising the total admits exactly one.
            limiter.set_total_tokens(1).unwrap();
            limiter
                .try_acquire_on_behalf_of(Borrower::key(3))
                .unwrap()
                .forget();
            assert!(limiter.try_acquire_on_behalf_of(Borrower::key(4)).is_err());
        },
    );
}

/// `N` distinct task ids (those of short-lived real threads: a thread outside a runtime is its
/// own task, and thread ids are never reused).
fn tasks<const N: usize>() -> [TaskId; N] {
    std::array::from_fn(|_| std::thread::spawn(TaskId::current).join().unwrap())
}

/// Polls `future` once with `waker`.
fn poll_once<F: Future + ?Sized>(
    future: std::pin::Pin<&mut F>,
    waker: &std::task::Waker,
) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// Takes the free `lock` for `task` (polled once: a free lock is taken on the first poll).
fn take(lock: &Lock, task: TaskId) -> LockGuard<'_> {
    let (_, waker) = flag();
    match poll_once(std::pin::pin!(lock.lock_for(task)), &waker) {
        Poll::Ready(Ok(guard)) => guard,
        other => panic!("the lock should be free: {other:?}"),
    }
}

/// What every lock model checks at the end, when every party is done: the lock is free and
/// nobody waits, and a later acquire by a fresh task succeeds at once.
fn assert_free_and_usable(lock: &Lock, fresh: TaskId) {
    let stats = lock.statistics();
    assert!(!stats.locked, "{stats:?}");
    assert_eq!(stats.owner, None);
    assert_eq!(stats.tasks_waiting, 0);
    let guard = take(lock, fresh);
    assert_eq!(lock.statistics().owner, Some(fresh));
    drop(guard);
    assert!(!lock.is_locked());
}

/// The `Lock` hand-off racing the cancellation of the waiter it goes to: the owner releases
/// (explicitly) on one thread while the only waiter's future is dropped on another. Whichever
/// comes first (the waiter leaves the queue and the release frees the lock, or the release hands
/// the lock to the waiter and the drop passes it on), the lock ends free, nobody waits, and a
/// later acquire succeeds.
#[test]
fn lock_release_racing_a_handed_waiters_cancellation_frees_the_lock() {
    let [owner, waiter_task, fresh] = tasks();
    model("lock: release vs the waiter's cancellation", move || {
        let lock = Arc::new(Lock::new());
        take(&lock, owner).forget();
        let (_, waker) = flag();
        let mut waiter = Box::pin(lock.lock_for(waiter_task));
        assert!(poll_once(waiter.as_mut(), &waker).is_pending());
        let releaser = {
            let lock = lock.clone();
            thread::spawn(move || lock.release_for(owner).unwrap())
        };
        drop(waiter); // cancelled: before or after it was handed the lock
        releaser.join().unwrap();
        assert_free_and_usable(&lock, fresh);
    });
}

/// A guard drop racing the cancellation of the first of two waiters: the lock must end with
/// the second waiter, woken, whatever the order (the release hands it to the first, whose drop
/// passes it on; or the first leaves the queue and the release hands it to the second). The
/// second then collects it, and after it the lock is free and usable.
#[test]
fn lock_guard_drop_racing_the_first_waiters_cancellation_goes_to_the_second() {
    let [owner, first_task, second_task, fresh] = tasks();
    model(
        "lock: guard drop vs the first of two waiters cancelled",
        move || {
            let lock = Arc::new(Lock::new());
            let guard = take(&lock, owner);
            let (_, first_waker) = flag();
            let (second_woken, second_waker) = flag();
            let mut first = Box::pin({
                let lock = lock.clone();
                async move { lock.lock_for(first_task).await.map(LockGuard::forget) }
            });
            assert!(poll_once(first.as_mut(), &first_waker).is_pending());
            let mut second = Box::pin(lock.lock_for(second_task));
            assert!(poll_once(second.as_mut(), &second_waker).is_pending());
            let canceller = thread::spawn(move || drop(first));
            drop(guard);
            canceller.join().unwrap();

            let stats = lock.statistics();
            assert_eq!(stats.owner, Some(second_task), "{stats:?}");
            assert_eq!(stats.tasks_waiting, 0);
            assert!(
                second_woken.0.load(Ordering::SeqCst),
                "the second waiter was woken"
            );
            let Poll::Ready(Ok(guard)) = poll_once(second.as_mut(), &second_waker) else {
                panic!("the lock was handed to the second waiter")
            };
            assert_eq!(guard.owner(), second_task);
            drop(guard);
            assert_free_and_usable(&lock, fresh);
        },
    );
}

/// Two waiters, a release, and the first waiter re-polled with a new waker at the same time:
/// the first gets the lock and, if its re-poll came before the hand-off, is woken through the
/// new waker (the old one is never woken after the re-poll); the second gets it next.
#[test]
fn lock_release_racing_a_repoll_with_a_new_waker_wakes_the_new_waker() {
    let [owner, first_task, second_task, fresh] = tasks();
    model("lock: release vs a re-poll with a new waker", move || {
        let lock = Arc::new(Lock::new());
        take(&lock, owner).forget();
        let (old_woken, old_waker) = flag();
        let (new_woken, new_waker) = flag();
        let (second_woken, second_waker) = flag();
        let mut first = Box::pin(lock.lock_for(first_task));
        assert!(poll_once(first.as_mut(), &old_waker).is_pending());
        let mut second = Box::pin(lock.lock_for(second_task));
        assert!(poll_once(second.as_mut(), &second_waker).is_pending());
        let releaser = {
            let lock = lock.clone();
            thread::spawn(move || lock.release_for(owner).unwrap())
        };
        let guard = match poll_once(first.as_mut(), &new_waker) {
            // Handed over before the re-poll: the old waker was the one woken.
            Poll::Ready(Ok(guard)) => {
                releaser.join().unwrap();
                assert!(old_woken.0.load(Ordering::SeqCst));
                guard
            }
            Poll::Ready(Err(err)) => panic!("{err}"),
            Poll::Pending => {
                releaser.join().unwrap();
                assert!(
                    new_woken.0.load(Ordering::SeqCst),
                    "the hand-off woke the waiter's new waker"
                );
                assert!(!old_woken.0.load(Ordering::SeqCst), "not the stale one");
                let Poll::Ready(Ok(guard)) = poll_once(first.as_mut(), &new_waker) else {
                    panic!("the lock was handed to the first waiter")
                };
                guard
            }
        };
        assert_eq!(guard.owner(), first_task);
        assert_eq!(lock.statistics().owner, Some(first_task));
        assert_eq!(lock.statistics().tasks_waiting, 1);
        assert!(!second_woken.0.load(Ordering::SeqCst));
        drop(guard);
        assert_eq!(lock.statistics().owner, Some(second_task));
        assert!(second_woken.0.load(Ordering::SeqCst));
        let Poll::Ready(Ok(guard)) = poll_once(second.as_mut(), &second_waker) else {
            panic!("the lock was handed to the second waiter")
        };
        drop(guard);
        assert_free_and_usable(&lock, fresh);
    });
}

/// A release and both waiters cancelled, on three threads: however the hand-offs and the drops
/// interleave, no cancelled waiter keeps the lock and none is left in the queue.
#[test]
fn lock_release_racing_two_cancellations_frees_the_lock() {
    let [owner, first_task, second_task, fresh] = tasks();
    model("lock: release vs two waiters cancelled", move || {
        let lock = Arc::new(Lock::new());
        take(&lock, owner).forget();
        let (_, waker) = flag();
        let mut first = Box::pin({
            let lock = lock.clone();
            async move { lock.lock_for(first_task).await.map(LockGuard::forget) }
        });
        assert!(poll_once(first.as_mut(), &waker).is_pending());
        let mut second = Box::pin(lock.lock_for(second_task));
        assert!(poll_once(second.as_mut(), &waker).is_pending());
        let releaser = {
            let lock = lock.clone();
            thread::spawn(move || lock.release_for(owner).unwrap())
        };
        let canceller = thread::spawn(move || drop(first));
        drop(second);
        releaser.join().unwrap();
        canceller.join().unwrap();
        assert_free_and_usable(&lock, fresh);
    });
}
