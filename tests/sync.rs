//! Integration tests for `tether::sync`, against the public API only.
//!
//! Deterministic: a current-thread runtime runs spawned tasks in spawn order when the test body
//! yields, so `yield_now` queues waiters in a known order; futures polled by hand record whether
//! they were woken. Every test that could hang runs under `tokio::time::timeout`.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use parking_lot::Mutex;
use support::{Manual, bounded, settle};
use tether::TaskId;
use tether::{
    Borrower, CapacityLimiter, CapacityLimiterError, Condition, ConditionError, Event, Lock,
    LockError, LockGuard, Semaphore, SemaphoreError,
};
use tokio::task::yield_now;

/// AnyIO's explicit form for a future polled by hand: the guard it returns is forgotten, so the
/// token stays taken until an explicit `release`.
async fn keep<G: Keep>(acquire: impl Future<Output = G>) -> G::Kept {
    acquire.await.keep()
}

trait Keep {
    type Kept;
    fn keep(self) -> Self::Kept;
}

impl Keep for tether::SemaphorePermit<'_> {
    type Kept = ();
    fn keep(self) {
        self.forget()
    }
}

impl Keep for Result<tether::CapacityToken<'_>, CapacityLimiterError> {
    type Kept = Result<(), CapacityLimiterError>;
    fn keep(self) -> Self::Kept {
        self.map(tether::CapacityToken::forget)
    }
}

// ---------------------------------------------------------------- Event

#[tokio::test(start_paused = true)]
async fn event_wait_before_and_after_set() {
    let event = Event::new();
    assert_eq!(format!("{event:?}"), "Event { is_set: false }");

    // Before set: the waiters block, then all wake on set.
    let mut early = Vec::new();
    for _ in 0..3 {
        let event = event.clone();
        early.push(tokio::spawn(async move { event.wait().await }));
    }
    settle().await;
    assert!(early.iter().all(|task| !task.is_finished()));

    event.set();
    for task in early {
        bounded(task).await.unwrap();
    }
    assert!(event.is_set());
    assert_eq!(format!("{event:?}"), "Event { is_set: true }");

    // After set: completes on the first poll; setting again changes nothing.
    event.set();
    assert_eq!(event.wait().now_or_never(), Some(()));
    assert_eq!(event.clone().wait().now_or_never(), Some(()));
}

#[test]
fn event_wait_is_woken_by_set_and_cancel_loses_nothing() {
    let event = Event::new();
    let mut first = Manual::new(event.wait());
    let mut second = Manual::new(event.wait());
    assert!(first.poll().is_pending());
    assert!(second.poll().is_pending());
    drop(first); // a cancelled waiter does not disturb the others
    event.set();
    assert!(second.is_woken());
    assert!(second.poll().is_ready());
}

// ---------------------------------------------------------------- Lock

#[tokio::test(start_paused = true)]
async fn lock_waiters_acquire_in_fifo_order() {
    let lock = Arc::new(Lock::new());
    let order = Arc::new(Mutex::new(Vec::new()));
    let guard = lock.lock().await.unwrap();

    let mut tasks = Vec::new();
    for i in 0..5 {
        let (lock, order) = (lock.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let _guard = lock.lock().await.unwrap();
            order.lock().push(i);
            yield_now().await; // hold the lock across a yield
        }));
        settle().await; // queue them strictly one after the other
    }
    assert_eq!(lock.statistics().tasks_waiting, 5);

    drop(guard);
    for task in tasks {
        bounded(task).await.unwrap();
    }
    assert_eq!(*order.lock(), vec![0, 1, 2, 3, 4]);
    assert_eq!(lock.statistics().tasks_waiting, 0);
    assert!(!lock.is_locked());
}

#[tokio::test(start_paused = true)]
async fn lock_cancelled_waiter_never_acquires() {
    let lock = Arc::new(Lock::new());
    let a_acquired = Arc::new(AtomicBool::new(false));
    let b_acquired = Arc::new(AtomicBool::new(false));
    lock.lock().await.unwrap().forget();

    let spawn_waiter = |flag: Arc<AtomicBool>| {
        let lock = lock.clone();
        tokio::spawn(async move {
            lock.lock().await.unwrap().forget();
            flag.store(true, Ordering::SeqCst);
            lock.release().unwrap();
        })
    };
    let a = spawn_waiter(a_acquired.clone());
    settle().await;
    let b = spawn_waiter(b_acquired.clone());
    settle().await;
    assert_eq!(lock.statistics().tasks_waiting, 2);

    // Cancel A while it is queued (first in line), then release.
    a.abort();
    assert!(bounded(a).await.unwrap_err().is_cancelled());
    assert_eq!(lock.statistics().tasks_waiting, 1);
    lock.release().unwrap();

    bounded(b).await.unwrap();
    assert!(
        !a_acquired.load(Ordering::SeqCst),
        "a cancelled waiter acquired the lock"
    );
    assert!(b_acquired.load(Ordering::SeqCst));
    assert!(!lock.is_locked());
}

#[tokio::test(start_paused = true)]
async fn lock_handed_to_a_cancelled_waiter_passes_to_the_next() {
    let lock = Arc::new(Lock::new());
    let a_acquired = Arc::new(AtomicBool::new(false));
    let guard = lock.lock().await.unwrap();

    let a = tokio::spawn({
        let (lock, flag) = (lock.clone(), a_acquired.clone());
        async move {
            let _guard = lock.lock().await.unwrap();
            flag.store(true, Ordering::SeqCst);
        }
    });
    settle().await;
    let b = tokio::spawn({
        let lock = lock.clone();
        async move { lock.lock().await.unwrap().owner() }
    });
    settle().await;

    // Releasing hands the lock to A (it stays locked: no free permit), then A is cancelled
    // before it runs.
    drop(guard);
    assert!(
        lock.is_locked(),
        "release should hand the lock straight to the first waiter"
    );
    a.abort();
    assert!(bounded(a).await.unwrap_err().is_cancelled());

    let b_id = bounded(b).await.unwrap();
    assert!(!a_acquired.load(Ordering::SeqCst));
    assert!(b_id.is_tokio_task());
    assert!(!lock.is_locked());
}

#[tokio::test(start_paused = true)]
async fn lock_timed_out_waiter_leaves_the_queue() {
    let lock = Lock::new();
    lock.lock().await.unwrap().forget();
    // A waiter from another task, cut off by a timeout.
    let lock = Arc::new(lock);
    let waiter = tokio::spawn({
        let lock = lock.clone();
        async move {
            tokio::time::timeout(Duration::from_millis(5), lock.lock())
                .await
                .map(|guard| guard.map(LockGuard::forget))
        }
    });
    assert!(
        bounded(waiter).await.unwrap().is_err(),
        "the waiter should time out"
    );
    assert_eq!(lock.statistics().tasks_waiting, 0);
    assert_eq!(lock.statistics().owner, Some(TaskId::current()));
    lock.release().unwrap();
    assert!(!lock.is_locked());
}

#[tokio::test(start_paused = true)]
async fn lock_release_errors_name_the_tasks() {
    let lock = Arc::new(Lock::new());
    let me = TaskId::current();

    assert_eq!(lock.release(), Err(LockError::NotLocked { current: me }));

    lock.lock().await.unwrap().forget();
    let (child, err) = bounded(tokio::spawn({
        let lock = lock.clone();
        async move { (TaskId::current(), lock.release().unwrap_err()) }
    }))
    .await
    .unwrap();
    assert_eq!(
        err,
        LockError::NotOwner {
            owner: me,
            current: child
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "lock is held by {me}, not by {child}; only the task that acquired a lock may release it"
        )
    );
    // The failed release changed nothing.
    assert_eq!(lock.statistics().owner, Some(me));
    lock.release().unwrap();

    // A lock held through a guard is released by dropping the guard, not by release().
    let guard = lock.lock().await.unwrap();
    let err = lock.release().unwrap_err();
    assert_eq!(err, LockError::HeldByGuard { owner: me });
    assert!(err.to_string().contains("drop the guard instead"), "{err}");
    drop(guard);
    assert!(!lock.is_locked());
}

#[tokio::test(start_paused = true)]
async fn lock_reacquire_by_owner_is_an_error_not_a_deadlock() {
    let lock = Arc::new(Lock::new());
    let me = TaskId::current();

    lock.lock().await.unwrap().forget();
    let err = bounded(lock.lock()).await.unwrap_err();
    assert_eq!(err, LockError::AlreadyOwned { task: me });
    assert_eq!(
        err.to_string(),
        format!(
            "{me} already holds this lock and tried to acquire it again; a lock is not reentrant: \
             release it first, or acquire it once and pass the guard down"
        )
    );
    assert!(matches!(
        bounded(lock.lock()).await,
        Err(LockError::AlreadyOwned { .. })
    ));
    assert!(matches!(
        lock.try_lock(),
        Err(LockError::AlreadyOwned { .. })
    ));
    lock.release().unwrap();

    let guard = lock.lock().await.unwrap();
    assert!(matches!(
        bounded(lock.lock()).await,
        Err(LockError::AlreadyOwned { .. })
    ));
    // Another task gets WouldBlock from the try_ forms.
    let err = bounded(tokio::spawn({
        let lock = lock.clone();
        async move { lock.try_lock().map(drop).unwrap_err() }
    }))
    .await
    .unwrap();
    assert_eq!(err, LockError::WouldBlock);
    drop(guard);
}

#[tokio::test(start_paused = true)]
async fn lock_debug_shows_state() {
    let lock = Lock::new();
    assert_eq!(
        format!("{lock:?}"),
        "Lock { locked: false, owner: None, tasks_waiting: 0 }"
    );
    let guard = lock.lock().await.unwrap();
    let me = TaskId::current();
    assert_eq!(
        format!("{lock:?}"),
        format!("Lock {{ locked: true, owner: Some({me:?}), tasks_waiting: 0 }}")
    );
    assert_eq!(
        format!("{guard:?}"),
        format!("LockGuard {{ owner: {me:?} }}")
    );
}

/// A `lock()` future of a task of its own: created and first polled (so queued, the lock being
/// held) on a thread of its own, so its owner is that thread's id; the test then polls it by
/// hand from here. Returns the waiter's task id and the future.
fn queued_waiter<'a>(
    lock: &'a Lock,
    waker: &std::task::Waker,
) -> (
    TaskId,
    std::pin::Pin<Box<impl Future<Output = Result<LockGuard<'a>, LockError>> + Send + 'a>>,
) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut waiter = Box::pin(lock.lock());
            let poll = waiter.as_mut().poll(&mut Context::from_waker(waker));
            assert!(poll.is_pending(), "the lock is held: the waiter queues");
            (TaskId::current(), waiter)
        })
        .join()
        .unwrap()
    })
}

/// A waker that counts its wakes.
fn counting_waker() -> (Arc<AtomicUsize>, std::task::Waker) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let waker = support::waker_fn(move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    (count, waker)
}

/// A queued waiter re-polled with another waker is woken through the new one at the hand-off,
/// and the old one is not woken.
#[test]
fn lock_waiter_repolled_with_a_new_waker_is_woken_through_it() {
    let lock = Lock::new();
    let guard = lock.try_lock().unwrap();
    let (old_wakes, old) = counting_waker();
    let (new_wakes, new) = counting_waker();
    let (task, mut waiter) = queued_waiter(&lock, &old);
    assert!(
        waiter
            .as_mut()
            .poll(&mut Context::from_waker(&new))
            .is_pending()
    );
    assert_eq!(lock.statistics().tasks_waiting, 1);
    drop(guard);
    assert_eq!(
        new_wakes.load(Ordering::SeqCst),
        1,
        "the new waker is woken"
    );
    assert_eq!(old_wakes.load(Ordering::SeqCst), 0, "the old one is not");
    assert_eq!(lock.statistics().owner, Some(task));
    let Poll::Ready(Ok(guard)) = waiter.as_mut().poll(&mut Context::from_waker(&new)) else {
        panic!("the lock was handed to the waiter")
    };
    assert_eq!(guard.owner(), task);
    drop(guard);
    assert!(!lock.is_locked());
}

/// FIFO with cancellation and newcomers: of three queued waiters the middle one is dropped; the
/// release goes to the first; a newcomer after the hand-off can neither `try_lock` nor get
/// ahead of the third by queueing; the first's guard goes to the third, then the newcomer.
#[test]
fn lock_queue_order_survives_a_dropped_middle_waiter_and_a_newcomer() {
    let lock = Lock::new();
    let guard = lock.try_lock().unwrap();
    let (first_wakes, w1) = counting_waker();
    let (second_wakes, w2) = counting_waker();
    let (third_wakes, w3) = counting_waker();
    let (newcomer_wakes, w4) = counting_waker();
    let (first, mut first_fut) = queued_waiter(&lock, &w1);
    let (_, second_fut) = queued_waiter(&lock, &w2);
    let (third, mut third_fut) = queued_waiter(&lock, &w3);
    assert_eq!(lock.statistics().tasks_waiting, 3);
    drop(second_fut);
    assert_eq!(lock.statistics().tasks_waiting, 2);

    drop(guard);
    assert_eq!(lock.statistics().owner, Some(first));
    assert_eq!(first_wakes.load(Ordering::SeqCst), 1);
    // A newcomer (a thread of its own) cannot take the handed lock, and queues behind the third.
    let newcomer_try = std::thread::scope(|s| {
        s.spawn(|| lock.try_lock().map(drop).unwrap_err())
            .join()
            .unwrap()
    });
    assert_eq!(newcomer_try, LockError::WouldBlock);
    let (newcomer, mut newcomer_fut) = queued_waiter(&lock, &w4);
    assert_eq!(lock.statistics().tasks_waiting, 2);

    let Poll::Ready(Ok(first_guard)) = first_fut.as_mut().poll(&mut Context::from_waker(&w1))
    else {
        panic!("handed to the first waiter")
    };
    drop(first_guard);
    assert_eq!(lock.statistics().owner, Some(third), "then the third");
    assert_eq!(third_wakes.load(Ordering::SeqCst), 1);
    assert_eq!(newcomer_wakes.load(Ordering::SeqCst), 0);
    assert_eq!(
        second_wakes.load(Ordering::SeqCst),
        0,
        "a dropped waiter is never woken"
    );
    let Poll::Ready(Ok(third_guard)) = third_fut.as_mut().poll(&mut Context::from_waker(&w3))
    else {
        panic!("handed to the third waiter")
    };
    drop(third_guard);
    assert_eq!(lock.statistics().owner, Some(newcomer), "then the newcomer");
    assert_eq!(newcomer_wakes.load(Ordering::SeqCst), 1);
    assert!(matches!(
        newcomer_fut.as_mut().poll(&mut Context::from_waker(&w4)),
        Poll::Ready(Ok(_))
    ));
    assert!(!lock.is_locked());
    assert_eq!(lock.statistics().tasks_waiting, 0);
}

/// A waiter handed the lock and dropped before it ran passes it on at the instant it is dropped:
/// the next waiter is the owner and is woken; dropping that one too (also before it ran) frees
/// the lock. An explicit `release()` hands over the same way a guard drop does.
#[test]
fn lock_handed_waiter_dropped_before_it_ran_passes_the_lock_on_at_once() {
    let lock = Lock::new();
    lock.try_lock().unwrap().forget();
    let (first_wakes, w1) = counting_waker();
    let (second_wakes, w2) = counting_waker();
    let (first, first_fut) = queued_waiter(&lock, &w1);
    let (second, second_fut) = queued_waiter(&lock, &w2);

    lock.release().unwrap();
    assert_eq!(lock.statistics().owner, Some(first));
    assert_eq!(lock.statistics().tasks_waiting, 1);
    assert_eq!(first_wakes.load(Ordering::SeqCst), 1);

    drop(first_fut);
    assert_eq!(
        lock.statistics().owner,
        Some(second),
        "passed on at the drop"
    );
    assert_eq!(lock.statistics().tasks_waiting, 0);
    assert_eq!(second_wakes.load(Ordering::SeqCst), 1);

    drop(second_fut);
    assert_eq!(lock.statistics().owner, None, "nobody left: freed");
    assert!(lock.try_lock().is_ok(), "a later acquire succeeds");
}

/// A waker whose `drop` reads the lock (as `wake` may): the lock must drop and wake wakers
/// after releasing its own state, or such a waker deadlocks (the rule of bug 13). Checked for
/// the waker replaced by a re-poll, the waker of a queued waiter that is cancelled, the
/// hand-off's wake, and the wake of a cancelled handed waiter passing the lock on. The whole
/// run is bounded: a deadlock fails the test instead of hanging it.
#[test]
fn lock_drops_and_wakes_wakers_outside_its_state() {
    struct ReadsTheLock {
        lock: Arc<Lock>,
        seen: Arc<Mutex<Vec<&'static str>>>,
        what: &'static str,
    }
    impl futures::task::ArcWake for ReadsTheLock {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            let _ = arc_self.lock.statistics();
            arc_self.seen.lock().push("woken");
        }
    }
    impl Drop for ReadsTheLock {
        fn drop(&mut self) {
            let _ = self.lock.statistics();
            self.seen.lock().push(self.what);
        }
    }
    let seen = support::finishes("the lock's waker handling", || {
        let lock = Arc::new(Lock::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let probe = |what| {
            futures::task::waker(Arc::new(ReadsTheLock {
                lock: lock.clone(),
                seen: seen.clone(),
                what,
            }))
        };
        let guard = lock.try_lock().unwrap();

        // The waker replaced by a re-poll: the queue holds its only clone, dropped then.
        let replaced = probe("replaced");
        let (_, mut waiter) = queued_waiter(&lock, &replaced);
        drop(replaced);
        let (_, plain) = counting_waker();
        assert!(
            waiter
                .as_mut()
                .poll(&mut Context::from_waker(&plain))
                .is_pending()
        );
        // The waker of a cancelled queued waiter (the queue holds its only clone).
        let cancelled = probe("cancelled while queued");
        let (_, queued) = queued_waiter(&lock, &cancelled);
        drop(cancelled);
        drop(queued);
        assert_eq!(*seen.lock(), ["replaced", "cancelled while queued"]);
        drop(waiter);

        // The hand-off's wake, then the wake of a cancelled handed waiter passing the lock on.
        let (w1, w2) = (probe("first"), probe("second"));
        let (_, first) = queued_waiter(&lock, &w1);
        let (second_task, second) = queued_waiter(&lock, &w2);
        drop(guard);
        drop(first);
        assert_eq!(lock.statistics().owner, Some(second_task));
        drop(second);
        assert!(!lock.is_locked());
        drop((w1, w2));
        seen.lock().clone()
    });
    assert_eq!(
        seen,
        [
            "replaced",
            "cancelled while queued",
            "woken",
            "woken",
            "first",
            "second"
        ]
    );
}

// ---------------------------------------------------------------- Semaphore

#[test]
fn semaphore_wakeup_handed_to_a_cancelled_waiter_passes_on() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut first = Manual::new(sem.acquire());
    let mut second = Manual::new(sem.acquire());
    assert!(first.poll().is_pending());
    assert!(second.poll().is_pending());
    assert_eq!(sem.statistics().tasks_waiting, 2);

    drop(held);
    assert!(first.is_woken(), "the token goes to the first waiter");
    assert!(!second.is_woken());
    assert_eq!(
        sem.value(),
        0,
        "the token is assigned to the first waiter, not free"
    );

    drop(first); // cancelled after it was handed the token, before it ran
    assert!(second.is_woken(), "the token passes on to the next waiter");
    let Poll::Ready(permit) = second.poll() else {
        panic!("the second waiter should have the token");
    };
    assert_eq!(sem.statistics().tasks_waiting, 0);
    drop(permit);
    assert_eq!(sem.value(), 1, "no token lost or duplicated");
}

#[test]
fn semaphore_waiters_are_served_in_fifo_order() {
    let sem = Semaphore::new(0);
    let mut waiters: Vec<_> = (0..4).map(|_| Manual::new(keep(sem.acquire()))).collect();
    for waiter in &mut waiters {
        assert!(waiter.poll().is_pending());
    }
    for i in 0..4 {
        sem.release().unwrap();
        for (j, waiter) in waiters.iter().enumerate() {
            assert_eq!(waiter.is_woken(), j == i, "release {i} woke waiter {j}");
        }
        assert!(waiters[i].poll().is_ready());
    }
    assert_eq!(sem.value(), 0);
}

#[test]
fn semaphore_over_release_is_an_error() {
    let sem = Semaphore::with_max(1, 2);
    sem.release().unwrap();
    let err = sem.release().unwrap_err();
    assert_eq!(err, SemaphoreError::Overflow { max_value: 2 });
    assert_eq!(
        err.to_string(),
        "semaphore released past its max_value of 2; release only tokens that were acquired, \
         or raise max_value with Semaphore::with_max"
    );
    assert_eq!(sem.value(), 2, "a failed release changes nothing");

    // A token held by a guard will come back, so releasing "for" it is an over-release too.
    let permit = sem.try_acquire().unwrap();
    assert_eq!(
        sem.release(),
        Err(SemaphoreError::Overflow { max_value: 2 })
    );
    drop(permit);
    assert_eq!(sem.value(), 2);

    // A forgotten permit is given back by release().
    sem.try_acquire().unwrap().forget();
    sem.release().unwrap();
    assert_eq!(sem.value(), 2);

    sem.try_acquire().unwrap().forget();
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.try_acquire().err(), Some(SemaphoreError::WouldBlock));
    assert_eq!(sem.statistics().value, 0);
    assert_eq!(sem.max_value(), Some(2));
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { value: 0, max_value: Some(2), tasks_waiting: 0 }"
    );
}

#[test]
fn semaphore_without_max_counts_up() {
    let sem = Semaphore::new(0);
    for _ in 0..3 {
        sem.release().unwrap();
    }
    assert_eq!(sem.value(), 3);
    assert_eq!(sem.max_value(), None);
}

#[test]
#[should_panic(expected = "is more than its max_value")]
fn semaphore_initial_above_max_panics() {
    let _ = Semaphore::with_max(3, 2);
}

// ---------------------------------------------------------------- CapacityLimiter

#[tokio::test(start_paused = true)]
async fn limiter_same_borrower_twice_is_an_error() {
    let limiter = CapacityLimiter::new(3);
    let me = Borrower::current_task();

    limiter.acquire().await.unwrap().forget();
    let err = bounded(limiter.acquire()).await.unwrap_err();
    assert_eq!(err, CapacityLimiterError::AlreadyBorrowing { borrower: me });
    assert_eq!(
        err.to_string(),
        format!(
            "{} already holds a token of this capacity limiter; a borrower holds at most one: \
             release it first, or acquire on behalf of a distinct borrower",
            TaskId::current()
        )
    );
    assert!(matches!(
        bounded(limiter.acquire()).await,
        Err(CapacityLimiterError::AlreadyBorrowing { .. })
    ));
    assert_eq!(
        limiter.borrowed_tokens(),
        1,
        "the failed acquires took nothing"
    );

    let key = Borrower::key(42);
    limiter.acquire_on_behalf_of(key).await.unwrap().forget();
    assert_eq!(
        limiter.try_acquire_on_behalf_of(key).err(),
        Some(CapacityLimiterError::AlreadyBorrowing { borrower: key })
    );
    assert_eq!(limiter.borrowed_tokens(), 2);
    assert_eq!(limiter.available_tokens(), 1);

    limiter.release_on_behalf_of(key).unwrap();
    let err = limiter.release_on_behalf_of(key).unwrap_err();
    assert_eq!(err, CapacityLimiterError::NotBorrowing { borrower: key });
    assert_eq!(
        err.to_string(),
        "borrower 42 does not hold a token of this capacity limiter; release only a token \
         acquired by the same borrower"
    );
    limiter.release().unwrap();

    // A guard's token is given back by dropping the guard.
    let token = limiter.acquire_on_behalf_of(key).await.unwrap();
    assert_eq!(
        limiter.release_on_behalf_of(key),
        Err(CapacityLimiterError::HeldByGuard { borrower: key })
    );
    drop(token);
    assert_eq!(limiter.borrowed_tokens(), 0);
    assert_eq!(limiter.available_tokens(), 3);
}

#[tokio::test(start_paused = true)]
async fn limiter_raising_total_wakes_waiters_at_once() {
    let limiter = Arc::new(CapacityLimiter::new(1));
    limiter
        .acquire_on_behalf_of(Borrower::key(0))
        .await
        .unwrap()
        .forget();

    let got = Arc::new(AtomicUsize::new(0));
    let release = Event::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (limiter, got, release) = (limiter.clone(), got.clone(), release.clone());
        tasks.push(tokio::spawn(async move {
            let _token = limiter.acquire().await.unwrap();
            got.fetch_add(1, Ordering::SeqCst);
            release.wait().await;
        }));
    }
    settle().await;
    assert_eq!(limiter.statistics().tasks_waiting, 2);
    assert_eq!(got.load(Ordering::SeqCst), 0);

    limiter.set_total_tokens(3).unwrap();
    settle().await;
    assert_eq!(
        got.load(Ordering::SeqCst),
        2,
        "raising the total should wake both waiters"
    );
    assert_eq!(limiter.borrowed_tokens(), 3);
    assert_eq!(limiter.available_tokens(), 0);

    release.set();
    for task in tasks {
        bounded(task).await.unwrap();
    }
    assert_eq!(limiter.borrowed_tokens(), 1);
}

#[tokio::test(start_paused = true)]
async fn limiter_lowering_total_takes_effect_as_tokens_return() {
    let limiter = CapacityLimiter::new(3);
    limiter
        .try_acquire_on_behalf_of(Borrower::key(1))
        .unwrap()
        .forget();
    limiter
        .try_acquire_on_behalf_of(Borrower::key(2))
        .unwrap()
        .forget();

    limiter.set_total_tokens(1).unwrap();
    assert_eq!(limiter.borrowed_tokens(), 2, "no borrower loses its token");
    assert_eq!(limiter.available_tokens(), 0);
    assert_eq!(
        limiter.try_acquire_on_behalf_of(Borrower::key(3)).err(),
        Some(CapacityLimiterError::WouldBlock)
    );

    limiter.release_on_behalf_of(Borrower::key(1)).unwrap();
    assert_eq!(
        limiter.try_acquire_on_behalf_of(Borrower::key(3)).err(),
        Some(CapacityLimiterError::WouldBlock),
        "the returned token paid the debt instead of becoming free"
    );
    limiter.release_on_behalf_of(Borrower::key(2)).unwrap();
    assert_eq!(limiter.available_tokens(), 1);
    limiter
        .try_acquire_on_behalf_of(Borrower::key(3))
        .unwrap()
        .forget();
    assert_eq!(
        limiter.try_acquire_on_behalf_of(Borrower::key(4)).err(),
        Some(CapacityLimiterError::WouldBlock)
    );

    // Raising again first cancels the remaining debt, then frees tokens.
    limiter.set_total_tokens(0).unwrap();
    limiter.set_total_tokens(2).unwrap();
    assert_eq!(limiter.available_tokens(), 1);
    limiter
        .try_acquire_on_behalf_of(Borrower::key(4))
        .unwrap()
        .forget();
    assert_eq!(
        limiter.try_acquire_on_behalf_of(Borrower::key(5)).err(),
        Some(CapacityLimiterError::WouldBlock)
    );

    assert!(matches!(
        limiter.set_total_tokens(usize::MAX),
        Err(CapacityLimiterError::TooManyTokens { .. })
    ));
    assert_eq!(limiter.total_tokens(), 2, "a refused total changes nothing");
}

#[test]
fn limiter_token_handed_to_a_cancelled_waiter_passes_on() {
    let limiter = CapacityLimiter::new(1);
    limiter
        .try_acquire_on_behalf_of(Borrower::key(0))
        .unwrap()
        .forget();
    let mut first = Manual::new(keep(limiter.acquire_on_behalf_of(Borrower::key(1))));
    let mut second = Manual::new(keep(limiter.acquire_on_behalf_of(Borrower::key(2))));
    assert!(first.poll().is_pending());
    assert!(second.poll().is_pending());

    limiter.release_on_behalf_of(Borrower::key(0)).unwrap();
    assert!(first.is_woken());
    drop(first);
    assert!(second.is_woken());
    assert_eq!(second.poll(), Poll::Ready(Ok(())));
    assert_eq!(limiter.statistics().borrowers, vec![Borrower::key(2)]);
}

// ---------------------------------------------------------------- Condition

#[tokio::test(start_paused = true)]
async fn condition_notify_one_wakes_exactly_one_in_fifo_order() {
    let condition = Arc::new(Condition::new());
    let woken = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (condition, woken) = (condition.clone(), woken.clone());
        tasks.push(tokio::spawn(async move {
            let guard = condition.lock().await.unwrap();
            let _guard = condition.wait(guard).await.unwrap();
            woken.lock().push(i);
        }));
        settle().await;
    }
    assert_eq!(condition.statistics().tasks_waiting, 3);
    assert!(
        !condition.lock_handle().is_locked(),
        "waiters release the lock"
    );

    assert_eq!(condition.notify(1), 1);
    settle().await;
    assert_eq!(
        *woken.lock(),
        vec![0],
        "notify(1) wakes exactly the oldest waiter"
    );
    assert_eq!(condition.statistics().tasks_waiting, 2);

    assert_eq!(condition.notify_all(), 2);
    for task in tasks {
        bounded(task).await.unwrap();
    }
    assert_eq!(*woken.lock(), vec![0, 1, 2]);
    assert_eq!(
        condition.notify(1),
        0,
        "a notification with nobody waiting is not stored"
    );
}

#[tokio::test(start_paused = true)]
async fn condition_wait_requeues_the_lock_before_returning() {
    let condition = Arc::new(Condition::new());
    let waiter = tokio::spawn({
        let condition = condition.clone();
        async move {
            let guard = condition.lock().await.unwrap();
            let guard = condition.wait(guard).await.unwrap();
            guard.owner()
        }
    });
    settle().await;
    // Notify while holding the lock: the waiter must wait for the lock before returning.
    let guard = condition.lock().await.unwrap();
    condition.notify(1);
    settle().await;
    assert!(!waiter.is_finished(), "wait returned without the lock");
    assert_eq!(condition.lock_handle().statistics().tasks_waiting, 1);
    drop(guard);
    let owner = bounded(waiter).await.unwrap();
    assert!(owner.is_tokio_task());
}

#[tokio::test(start_paused = true)]
async fn condition_notification_to_a_cancelled_waiter_passes_on() {
    let condition = Arc::new(Condition::new());
    let a_woke = Arc::new(AtomicBool::new(false));
    let a = tokio::spawn({
        let (condition, flag) = (condition.clone(), a_woke.clone());
        async move {
            let guard = condition.lock().await.unwrap();
            let _guard = condition.wait(guard).await.unwrap();
            flag.store(true, Ordering::SeqCst);
        }
    });
    settle().await;
    let b = tokio::spawn({
        let condition = condition.clone();
        async move {
            let guard = condition.lock().await.unwrap();
            drop(condition.wait(guard).await.unwrap());
        }
    });
    settle().await;
    assert_eq!(condition.statistics().tasks_waiting, 2);

    assert_eq!(condition.notify(1), 1); // handed to A ...
    a.abort(); // ... which is cancelled before it runs
    assert!(bounded(a).await.unwrap_err().is_cancelled());
    bounded(b).await.unwrap(); // B got the notification instead
    assert!(!a_woke.load(Ordering::SeqCst));
    assert_eq!(condition.statistics().tasks_waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn condition_cancelled_waiter_leaves_the_queue() {
    let condition = Condition::new();
    let guard = condition.lock().await.unwrap();
    let mut waiter = Manual::new(condition.wait(guard));
    assert!(waiter.poll().is_pending());
    assert_eq!(condition.statistics().tasks_waiting, 1);
    assert!(!condition.lock_handle().is_locked());
    drop(waiter);
    assert_eq!(condition.statistics().tasks_waiting, 0);
    assert_eq!(condition.notify(1), 0);
    assert!(
        !condition.lock_handle().is_locked(),
        "cancelled wait does not hold the lock"
    );
}

#[tokio::test(start_paused = true)]
async fn condition_errors() {
    let condition = Condition::new();
    let other = Lock::new();
    let guard = other.lock().await.unwrap();
    assert_eq!(
        condition.wait(guard).await.unwrap_err(),
        ConditionError::ForeignGuard
    );
    assert!(!other.is_locked(), "the foreign guard was dropped");

    // Explicit form without holding the lock: the release error, and nobody left queued.
    let err = condition.wait_acquired().await.unwrap_err();
    assert_eq!(
        err,
        ConditionError::Lock(LockError::NotLocked {
            current: TaskId::current()
        })
    );
    assert_eq!(condition.statistics().tasks_waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn condition_explicit_form() {
    let condition = Arc::new(Condition::new());
    let waiter = tokio::spawn({
        let condition = condition.clone();
        async move {
            condition.lock().await.unwrap().forget();
            condition.wait_acquired().await.unwrap();
            let owner = condition.lock_handle().statistics().owner;
            condition.release().unwrap();
            owner == Some(TaskId::current())
        }
    });
    settle().await;
    assert_eq!(condition.statistics().tasks_waiting, 1);
    assert_eq!(condition.notify(1), 1);
    assert!(
        bounded(waiter).await.unwrap(),
        "wait_acquired returns holding the lock"
    );
    // The waiter's `release()` really gave the lock back (found by mutation testing: a
    // `release` that did nothing and said `Ok` went unnoticed), and a release of the free lock
    // is refused.
    assert!(!condition.lock_handle().is_locked());
    assert_eq!(
        condition.release(),
        Err(LockError::NotLocked {
            current: TaskId::current()
        })
    );
    condition.lock().await.unwrap().forget();
    assert_eq!(condition.release(), Ok(()));
    assert!(!condition.lock_handle().is_locked());
}

// ---------------------------------------------------------------- no lost wakeups, under load

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lost_wakeups_under_contention() {
    const TASKS: usize = 16;
    const ROUNDS: usize = 200;
    let lock = Arc::new(Lock::new());
    let sem = Arc::new(Semaphore::with_max(2, 2));
    let limiter = Arc::new(CapacityLimiter::new(3));
    let inside_lock = Arc::new(AtomicUsize::new(0));
    let inside_sem = Arc::new(AtomicUsize::new(0));
    let count = Arc::new(AtomicUsize::new(0));

    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (lock, sem, limiter) = (lock.clone(), sem.clone(), limiter.clone());
        let (inside_lock, inside_sem, count) =
            (inside_lock.clone(), inside_sem.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let _token = limiter.acquire().await.unwrap();
                let _permit = sem.acquire().await;
                assert!(inside_sem.fetch_add(1, Ordering::SeqCst) < 2);
                if round % 2 == 0 {
                    let _guard = lock.lock().await.unwrap();
                    assert_eq!(inside_lock.fetch_add(1, Ordering::SeqCst), 0);
                    yield_now().await;
                    inside_lock.fetch_sub(1, Ordering::SeqCst);
                } else {
                    lock.lock().await.unwrap().forget();
                    assert_eq!(inside_lock.fetch_add(1, Ordering::SeqCst), 0);
                    yield_now().await;
                    inside_lock.fetch_sub(1, Ordering::SeqCst);
                    lock.release().unwrap();
                }
                inside_sem.fetch_sub(1, Ordering::SeqCst);
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("a waiter was never woken")
            .unwrap();
    }
    assert_eq!(count.load(Ordering::SeqCst), TASKS * ROUNDS);
    assert_eq!(sem.value(), 2);
    assert_eq!(limiter.available_tokens(), 3);
    assert!(!lock.is_locked());
}

// ---------------------------------------------------------------- auto traits

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Event>();
    send_sync::<Lock>();
    send_sync::<tether::LockGuard<'static>>();
    send_sync::<Semaphore>();
    send_sync::<tether::SemaphorePermit<'static>>();
    send_sync::<CapacityLimiter>();
    send_sync::<tether::CapacityToken<'static>>();
    send_sync::<Condition>();
    send_sync::<Borrower>();
    send_sync::<LockError>();
    send_sync::<SemaphoreError>();
    send_sync::<CapacityLimiterError>();
    send_sync::<ConditionError>();

    // The futures can be spawned.
    let (event, lock, sem, limiter, condition) = (
        Event::new(),
        Lock::new(),
        Semaphore::new(1),
        CapacityLimiter::new(1),
        Condition::new(),
    );
    send(&event.wait());
    send(&lock.lock());
    send(&lock.lock());
    send(&sem.acquire());
    send(&sem.acquire());
    send(&limiter.acquire());
    send(&limiter.acquire());
    send(&condition.lock());
    send(&condition.wait_acquired());
    let guard = condition.lock().now_or_never().unwrap().unwrap();
    send(&condition.wait(guard));
}

// ---------------------------------------------------------------- issue 8: bugs 11-13

/// Bug 11: a permit assigned to a waiter is out of reach when the total is lowered; when that
/// waiter is then cancelled, tokio gives the permit back to the free pool, past the limiter's
/// debt, and a newcomer was admitted while the total was 0.
#[test]
fn limiter_admits_nobody_while_the_total_is_exceeded_even_after_a_cancelled_waiter() {
    let limiter = CapacityLimiter::new(1);
    limiter
        .try_acquire_on_behalf_of(Borrower::key(1))
        .unwrap()
        .forget();
    let mut cancelled = Manual::new(keep(limiter.acquire_on_behalf_of(Borrower::key(2))));
    let mut patient = Manual::new(keep(limiter.acquire_on_behalf_of(Borrower::key(3))));
    assert!(cancelled.poll().is_pending());
    assert!(patient.poll().is_pending());
    limiter.release_on_behalf_of(Borrower::key(1)).unwrap(); // assigned to `cancelled`
    limiter.set_total_tokens(0).unwrap();
    drop(cancelled);
    // The permit passed to `patient`, which finds debt owed: it pays it and waits on.
    assert!(patient.poll().is_pending());
    assert_eq!(
        limiter.try_acquire_on_behalf_of(Borrower::key(4)).err(),
        Some(CapacityLimiterError::WouldBlock)
    );
    assert_eq!(limiter.borrowed_tokens(), 0);
    assert_eq!(limiter.available_tokens(), 0);

    // Raising the total admits exactly as many as it allows, in FIFO order.
    limiter.set_total_tokens(1).unwrap();
    assert!(patient.is_woken());
    assert_eq!(patient.poll(), Poll::Ready(Ok(())));
    assert_eq!(
        limiter.try_acquire_on_behalf_of(Borrower::key(4)).err(),
        Some(CapacityLimiterError::WouldBlock)
    );
    assert_eq!(limiter.statistics().borrowers, vec![Borrower::key(3)]);

    // The same with try_acquire: a permit that reaches it while debt is owed pays the debt.
    let limiter = CapacityLimiter::new(1);
    let mut cancelled = Manual::new(keep(limiter.acquire_on_behalf_of(Borrower::key(2))));
    limiter
        .try_acquire_on_behalf_of(Borrower::key(1))
        .unwrap()
        .forget();
    assert!(cancelled.poll().is_pending());
    limiter.release_on_behalf_of(Borrower::key(1)).unwrap();
    limiter.set_total_tokens(0).unwrap();
    drop(cancelled); // its permit is free again, but one unit of debt is owed
    assert_eq!(
        limiter.try_acquire_on_behalf_of(Borrower::key(5)).err(),
        Some(CapacityLimiterError::WouldBlock)
    );
    limiter.set_total_tokens(1).unwrap();
    limiter
        .try_acquire_on_behalf_of(Borrower::key(5))
        .unwrap()
        .forget();
    assert_eq!(limiter.available_tokens(), 0);
}

/// Bug 13: a limiter woke waiters with its lock held; a waker that reads the limiter deadlocked.
#[test]
fn limiter_wakes_waiters_after_unlocking() {
    let limiter = Arc::new(CapacityLimiter::new(1));
    limiter
        .try_acquire_on_behalf_of(Borrower::key(1))
        .unwrap()
        .forget();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let waker = {
        let (limiter, seen) = (limiter.clone(), seen.clone());
        support::waker_fn(move || seen.lock().push(limiter.statistics().tasks_waiting))
    };
    let mut waiter = Box::pin(keep(limiter.acquire_on_behalf_of(Borrower::key(2))));
    let mut cx = Context::from_waker(&waker);
    assert!(waiter.as_mut().poll(&mut cx).is_pending());

    let l = limiter.clone();
    support::finishes("release waking a waiter", move || {
        l.release_on_behalf_of(Borrower::key(1)).unwrap()
    });
    assert_eq!(waiter.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    limiter.release_on_behalf_of(Borrower::key(2)).unwrap();

    // Raising the total wakes too.
    limiter.set_total_tokens(0).unwrap();
    let mut waiter = Box::pin(keep(limiter.acquire_on_behalf_of(Borrower::key(3))));
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    let l = limiter.clone();
    support::finishes("set_total_tokens waking a waiter", move || {
        l.set_total_tokens(1).unwrap()
    });
    assert_eq!(waiter.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(*seen.lock(), [1, 1], "each waker read the limiter");
}

/// Bug 13: a condition notified waiters with its lock held; a waker that reads the condition
/// deadlocked. Also for the notification a cancelled waiter passes on.
#[test]
fn condition_notifies_after_unlocking() {
    let condition = Arc::new(Condition::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let waker = {
        let (condition, seen) = (condition.clone(), seen.clone());
        support::waker_fn(move || seen.lock().push(condition.statistics().tasks_waiting))
    };
    let mut cx = Context::from_waker(&waker);
    let wait = |condition: Arc<Condition>| async move {
        let guard = condition.lock().await.unwrap();
        drop(condition.wait(guard).await.unwrap());
    };
    let mut first = support::LeakOnPanic::new(Box::pin(wait(condition.clone())));
    assert!(first.as_mut().poll(&mut cx).is_pending());
    let mut second = support::LeakOnPanic::new(Box::pin(wait(condition.clone())));
    assert!(second.as_mut().poll(&mut cx).is_pending());
    assert_eq!(condition.statistics().tasks_waiting, 2);

    let c = condition.clone();
    assert_eq!(support::finishes("notify", move || c.notify(1)), 1);
    // The notified waiter is cancelled: dropping it passes the notification on, also unlocked.
    support::finishes(
        "a cancelled waiter passing its notification on",
        move || drop(first),
    );
    assert!(second.as_mut().poll(&mut cx).is_ready());
    assert_eq!(*seen.lock(), [1, 0]);
    let c = condition.clone();
    assert_eq!(support::finishes("notify_all", move || c.notify_all()), 0);
}

/// Bug 12: `release()` of a token that was acquired failed with `Overflow` about once in 25,000
/// tries when another task acquired at the same moment. Stress: two threads each take a token
/// explicitly and give it back, on a semaphore whose max is exactly the two tokens. Every
/// release gives back a token that was taken, so none may fail.
#[test]
fn semaphore_release_of_an_acquired_token_never_overflows_under_a_racing_acquire() {
    let rounds: usize = std::env::var("SEMAPHORE_STRESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sem = Arc::new(Semaphore::with_max(2, 2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let sem = sem.clone();
            std::thread::spawn(move || {
                for round in 0..rounds {
                    match sem.try_acquire() {
                        Ok(permit) => permit.forget(),
                        Err(SemaphoreError::WouldBlock) => continue,
                        Err(e) => panic!("{e}"),
                    }
                    if let Err(e) = sem.release() {
                        panic!("round {round}: release of an acquired token failed: {e}");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(sem.value(), 2);
    assert_eq!(
        sem.release(),
        Err(SemaphoreError::Overflow { max_value: 2 })
    );
}

/// Bug 12, as reported: explicit `acquire()` (awaited, so it may wait in the queue and be handed
/// a token by another task's `release()`) racing `release()` in other tasks, on a multi-thread
/// runtime. Four tasks on four worker threads share a semaphore whose max is its two tokens;
/// each round a task takes a token explicitly (`acquire().await.forget()`), or through a guard
/// it drops, and gives explicit tokens back with `release()`. Every release gives back a token
/// that was taken, so none may fail; at the end both tokens are back and one more release is
/// refused. Bounded in rounds (`SEMAPHORE_STRESS_ROUNDS`, default 20,000 per task) and in time.
#[test]
fn semaphore_explicit_acquire_and_release_across_tasks_on_a_multi_thread_runtime() {
    let rounds: usize = std::env::var("SEMAPHORE_STRESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let sem = Arc::new(Semaphore::with_max(2, 2));
    let explicit = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let (sem, explicit) = (sem.clone(), explicit.clone());
                tokio::spawn(async move {
                    for round in 0..rounds {
                        if (round + t) % 3 == 0 {
                            // Guard form, mixed in: its drop gives the token back unchecked.
                            let _guard = sem.acquire().await;
                            yield_now().await;
                        } else {
                            sem.acquire().await.forget();
                            explicit.fetch_add(1, Ordering::Relaxed);
                            if round % 2 == 0 {
                                yield_now().await; // hold it across a scheduling point
                            }
                            if let Err(e) = sem.release() {
                                panic!("task {t}, round {round}: release of an acquired token failed: {e}");
                            }
                        }
                    }
                })
            })
            .collect();
        let all = async {
            for task in tasks {
                task.await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(120), all)
            .await
            .expect("the stress run hung");
    });
    assert!(
        explicit.load(Ordering::Relaxed) > rounds,
        "the explicit path ran"
    );
    assert_eq!(sem.value(), 2);
    assert_eq!(sem.statistics().tasks_waiting, 0);
    assert_eq!(
        sem.release(),
        Err(SemaphoreError::Overflow { max_value: 2 })
    );
}

/// The `Lock` hand-off (formerly a known gap, docs/reliability.md): when the holder releases
/// with a waiter queued, the lock becomes the waiter's at that instant, before the waiter's task
/// runs again. Right after the release the waiter is the recorded owner and no longer counted as
/// waiting, its waker was woken, a `release()` from a third task is `NotOwner` naming the waiter
/// (it used to be `NotLocked`: the waiter recorded itself only when its task next ran), a
/// `try_lock` from a third task would block, and the waiter's own `try_lock` is `AlreadyOwned`.
/// None of that changes anything: the waiter's future then completes with the lock.
#[tokio::test(start_paused = true)]
async fn a_release_from_a_third_task_during_the_lock_hand_off_is_not_owner_and_changes_nothing() {
    bounded(async {
        let lock = Arc::new(Lock::new());
        let me = TaskId::current();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = tokio::spawn({
            let lock = lock.clone();
            async move {
                lock.lock().await.unwrap().forget();
                go_rx.await.unwrap();
                lock.release()
            }
        });
        while !lock.is_locked() {
            yield_now().await;
        }
        // The waiter is this task, polled by hand so it cannot run behind our back.
        let mut waiter = Manual::new(lock.lock());
        assert!(waiter.poll().is_pending());
        assert_eq!(lock.statistics().tasks_waiting, 1);
        go_tx.send(()).unwrap();
        assert_eq!(holder.await.unwrap(), Ok(()));
        // Right after the release, before the waiter runs: it owns the lock.
        assert!(waiter.is_woken(), "the hand-off wakes the waiter");
        let stats = lock.statistics();
        assert!(stats.locked);
        assert_eq!(
            stats.owner,
            Some(me),
            "the waiter owns the lock at hand-off"
        );
        assert_eq!(stats.tasks_waiting, 0);
        let (third_id, release_err, try_err) = tokio::spawn({
            let lock = lock.clone();
            async move {
                (
                    TaskId::current(),
                    lock.release().unwrap_err(),
                    lock.try_lock().map(drop).unwrap_err(),
                )
            }
        })
        .await
        .unwrap();
        assert_eq!(
            release_err,
            LockError::NotOwner {
                owner: me,
                current: third_id
            }
        );
        assert_eq!(try_err, LockError::WouldBlock);
        assert_eq!(
            lock.try_lock().map(drop).unwrap_err(),
            LockError::AlreadyOwned { task: me }
        );
        assert_eq!(
            lock.statistics().owner,
            Some(me),
            "the failures changed nothing"
        );
        // The waiter collects the lock it was handed.
        let Poll::Ready(Ok(guard)) = waiter.poll() else {
            panic!("the lock was handed to the waiter")
        };
        assert_eq!(guard.owner(), me);
        assert_eq!(lock.statistics().owner, Some(me));
        drop(guard);
        assert!(!lock.is_locked());
        assert_eq!(lock.statistics().owner, None);
    })
    .await;
}

/// Issue 8, §3: `let _p = x.acquire().await` is the Rust idiom for "hold until the end of the
/// scope". Before, `Semaphore::acquire` and `CapacityLimiter::acquire` returned `()` and that
/// line held a token forever; now every waiting method returns a guard.
#[tokio::test(start_paused = true)]
async fn let_underscore_p_acquire_gives_the_token_back_at_the_end_of_the_scope() {
    let sem = Semaphore::with_max(1, 1);
    let limiter = CapacityLimiter::new(1);
    let lock = Lock::new();
    {
        let _p = sem.acquire().await;
        let _t = limiter.acquire().await.unwrap();
        let _g = lock.lock().await.unwrap();
        assert_eq!(sem.value(), 0);
        assert_eq!(limiter.available_tokens(), 0);
        assert!(lock.is_locked());
    }
    assert_eq!(sem.value(), 1);
    assert_eq!(limiter.available_tokens(), 1);
    assert!(!lock.is_locked());
    // AnyIO's explicit form is spelled out: forget the guard, release later.
    sem.acquire().await.forget();
    limiter.acquire().await.unwrap().forget();
    lock.lock().await.unwrap().forget();
    assert_eq!((sem.value(), limiter.available_tokens()), (0, 0));
    sem.release().unwrap();
    limiter.release().unwrap();
    lock.release().unwrap();
    assert_eq!(sem.value(), 1);
    assert_eq!(limiter.available_tokens(), 1);
    assert!(!lock.is_locked());
}

/// A `Borrower` says what it is (found by mutation testing: `as_task`/`as_key` could answer
/// anything; only their doctests used them).
#[tokio::test(start_paused = true)]
async fn a_borrower_names_its_task_or_its_key() {
    let me = TaskId::current();
    let task = tether::Borrower::task(me);
    assert_eq!((task.as_task(), task.as_key()), (Some(me), None));
    assert_eq!(tether::Borrower::current_task().as_task(), Some(me));
    for key in [0, 1, 42] {
        let b = tether::Borrower::key(key);
        assert_eq!((b.as_task(), b.as_key()), (None, Some(key)));
    }
}

/// `set_total_tokens` accepts exactly up to `MAX_TOTAL_TOKENS`, and raising the total while
/// lowering left debt (a token lent out when the total fell below it) admits exactly up to the
/// new total, never more (found by mutation testing: `>` → `>=` on the bound and `raise - paid`
/// → `raise + paid` went unnoticed).
#[test]
fn raising_a_limiters_total_from_one_to_three_admits_exactly_three() {
    // A raise adds the difference, not the new total on top of the old one.
    let limiter = CapacityLimiter::new(1);
    limiter.set_total_tokens(3).unwrap();
    let mut admitted = 0;
    for key in 0..10 {
        if let Ok(token) = limiter.try_acquire_on_behalf_of(tether::Borrower::key(key)) {
            token.forget();
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3);
    assert_eq!(limiter.borrowed_tokens(), 3);
    assert_eq!(limiter.available_tokens(), 0);
}

#[test]
fn limiter_total_bound_and_raise_after_debt_admit_exactly_the_total() {
    let limiter = CapacityLimiter::new(0);
    assert!(
        limiter
            .set_total_tokens(CapacityLimiter::MAX_TOTAL_TOKENS)
            .is_ok()
    );
    assert!(matches!(
        limiter.set_total_tokens(CapacityLimiter::MAX_TOTAL_TOKENS + 1),
        Err(tether::CapacityLimiterError::TooManyTokens { .. })
    ));
    assert_eq!(limiter.total_tokens(), CapacityLimiter::MAX_TOTAL_TOKENS);

    let limiter = CapacityLimiter::new(1);
    limiter
        .try_acquire_on_behalf_of(tether::Borrower::key(0))
        .unwrap()
        .forget();
    limiter.set_total_tokens(0).unwrap(); // the lent token is owed: debt 1
    limiter.set_total_tokens(2).unwrap(); // pays the debt, adds one more
    let mut admitted = 0;
    for key in 1..10 {
        if let Ok(token) = limiter.try_acquire_on_behalf_of(tether::Borrower::key(key)) {
            token.forget();
            admitted += 1;
        }
    }
    assert_eq!(admitted, 1, "two tokens in all, one already lent");
    assert_eq!(limiter.borrowed_tokens(), 2);
}

/// A borrower that already holds a token is told so at once, even when no token is free: the
/// try form says `AlreadyBorrowing` (not `WouldBlock`), and the waiting form fails at once
/// instead of waiting for a token it could never take (found by mutation testing: the early
/// check could be deleted, since taking the token also detects the duplicate, but only after a
/// token is free).
#[tokio::test(start_paused = true)]
async fn a_borrower_holding_the_only_token_is_refused_at_once() {
    let limiter = CapacityLimiter::new(1);
    let key = tether::Borrower::key(1);
    let _token = limiter.try_acquire_on_behalf_of(key).unwrap();
    assert_eq!(
        limiter.try_acquire_on_behalf_of(key).unwrap_err(),
        CapacityLimiterError::AlreadyBorrowing { borrower: key }
    );
    let again = limiter.acquire_on_behalf_of(key).now_or_never();
    assert!(
        matches!(
            again,
            Some(Err(CapacityLimiterError::AlreadyBorrowing { .. }))
        ),
        "{again:?}"
    );
    assert_eq!(limiter.statistics().tasks_waiting, 0);
}
