//! loom models of the primitives' own accounting (`RUSTFLAGS="--cfg tether_loom" cargo test
//! --release --lib loom`).
//!
//! The counters and locks tether adds around tokio's semaphore (a `Semaphore`'s `bound` and
//! `kept`, a `CapacityLimiter`'s `state` with its debt) are loom's under `cfg(tether_loom)`, so
//! every interleaving of these operations is explored. tokio's semaphore itself is not
//! instrumented: its calls are atomic steps here, which is what they are to tether.

use loom::thread;

use super::{Borrower, CapacityLimiter, Semaphore, SemaphoreError};
use crate::loom::sync::Arc;
use crate::loom_support::model;

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
