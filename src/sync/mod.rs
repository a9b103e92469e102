//! Synchronization primitives for tasks: [`Event`], [`Lock`], [`Semaphore`], [`CapacityLimiter`],
//! [`Condition`] — AnyIO's set, with AnyIO's names and rules.
//!
//! # Choosing one
//!
//! | you need | use | tokio's nearest |
//! |---|---|---|
//! | tell waiting tasks, once, that something happened | [`Event`] | `Notify` + a flag, `watch` |
//! | one task at a time in a critical section | [`Lock`] | `Mutex<()>` |
//! | at most *n* at a time, anonymous tokens | [`Semaphore`] | `Semaphore` |
//! | at most *n* borrowers at a time, each known, total adjustable | [`CapacityLimiter`] | — |
//! | sleep until another task changes shared state | [`Condition`] | `Notify` |
//!
//! # What tether adds to tokio::sync
//!
//! These primitives are built on `tokio::sync` (tokio's semaphore gives the FIFO queue and the
//! cancel safety) and add what AnyIO users rely on:
//!
//! - **Owners and typed misuse errors.** A [`Lock`] knows the task that holds it: only that task
//!   may [`release`](Lock::release) it, and asking for it again is a [`LockError::AlreadyOwned`],
//!   not a silent deadlock. A [`CapacityLimiter`] knows each [`Borrower`]. A [`Semaphore`] with a
//!   `max_value` refuses a release past it. Every error message names the misuse and the fix.
//! - **Both forms.** Each primitive has a guard form (the Rust way: the guard gives back what it
//!   holds when dropped, on every path) and AnyIO's explicit `acquire()`/`release()` form, for code
//!   ported from Python or where acquire and release happen in different places.
//! - **Statistics.** `statistics()` reports the state and the number of waiting tasks, as AnyIO's
//!   do.
//!
//! Task identity is [`TaskId::current`](crate::TaskId::current): the tokio task, or the thread when
//! outside any task (the body of `#[tokio::main]`). Two futures run by one task (under `join!` or
//! `select!`) are the *same* owner or borrower.
//!
//! # Fairness and cancellation
//!
//! Every `acquire`-like future is served in FIFO order and is cancel safe: dropping it (a timeout,
//! a `select!`, a cancelled scope) means it never acquires, and if the token or lock was being
//! handed to it at that very moment, it passes to the next waiter. No wakeup is lost and nothing
//! is acquired twice. Each async fn's docs say when it is a cancellation point: an `acquire` that
//! can proceed at once completes on its first poll.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use tether::sync::{CapacityLimiter, Event};
//!
//! let limiter = Arc::new(CapacityLimiter::new(2));
//! let go = Event::new();
//! let mut tasks = Vec::new();
//! for _ in 0..3 {
//!     let (limiter, go) = (limiter.clone(), go.clone());
//!     tasks.push(tokio::spawn(async move {
//!         go.wait().await;
//!         let _token = limiter.token().await.unwrap();
//!         tokio::task::yield_now().await;
//!     }));
//! }
//! go.set();
//! for task in tasks {
//!     task.await.unwrap();
//! }
//! # }
//! ```

mod capacity_limiter;
mod condition;
mod error;
mod event;
mod lock;
mod semaphore;
mod waiters;

pub use capacity_limiter::{Borrower, CapacityLimiter, CapacityLimiterStatistics, CapacityToken};
pub use condition::{Condition, ConditionStatistics};
pub use error::{CapacityLimiterError, ConditionError, LockError, SemaphoreError};
pub use event::Event;
pub use lock::{Lock, LockGuard, LockStatistics};
pub use semaphore::{Semaphore, SemaphorePermit, SemaphoreStatistics};
