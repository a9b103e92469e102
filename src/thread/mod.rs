//! Threads: blocking code on worker threads, calls back into the async world, and a portal for
//! synchronous code (AnyIO's `anyio.to_thread`, `anyio.from_thread` and `BlockingPortal`).
//!
//! Work moves between three kinds of execution context, and each bridge says what travels
//! with it — cancellation, panics, results:
//!
//! | from → to | use | cancellation | panic |
//! |---|---|---|---|
//! | async → worker thread | [`to_thread`] | the caller waits for the thread (or abandons it with [`ToThread::abandon_on_cancel`]); the thread sees it through [`from_thread::check_cancelled`] | resumes in the caller |
//! | worker thread → async | [`from_thread::run`], [`from_thread::run_sync`] | the work runs in a scope cancelled with the `to_thread` caller's | resumes in the thread |
//! | any sync code → async | [`BlockingPortal`] | per task ([`PortalTask::cancel`]), or all at once ([`BlockingPortal::close`]) | resumes in the caller |
//!
//! # Limiting threads
//!
//! `to_thread` takes a token from a [`CapacityLimiter`](crate::sync::CapacityLimiter) before
//! starting its thread ([`default_thread_limiter`], 40 tokens, unless given another), and the
//! thread gives it back when the closure returns.
//!
//! # Comparison to `spawn_blocking`
//!
//! `tokio::task::spawn_blocking` starts a thread and hands back a `JoinHandle` that abandons the
//! thread when dropped, and reports a panic as a `JoinError`. `to_thread` is structured: the
//! caller waits for the thread even when cancelled (unless told otherwise), the thread can ask
//! whether its caller was cancelled, a panic resumes with its payload, and the number of
//! threads is bounded by a limiter you can adjust. The price is a limiter token round trip, a
//! shielded scope and a few small allocations per call, small next to the thread hand-off itself
//! (`cargo bench --bench thread` measures a round trip against a bare `spawn_blocking`; on the
//! 2-core reference machine both are tens of microseconds, and run-to-run noise is larger than
//! the difference).
//!
//! # Comparison to `Handle::block_on`
//!
//! `Handle::block_on` runs a future on the *calling* thread. A [`BlockingPortal`] runs it on
//! the portal's loop, inside a task group, so closing the portal cancels or waits for every task
//! it started, a task's panic reaches the caller that asked for it, and a call from the loop
//! itself is refused instead of deadlocking.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tether::thread::{from_thread, to_thread};
//!
//! let total = to_thread(|| {
//!     let mut total = 0;
//!     for chunk in 0..3 {
//!         from_thread::check_cancelled()?; // stop early if the caller was cancelled
//!         total += from_thread::run(async move { chunk * 10 })?; // an async step
//!     }
//!     Ok::<_, tether::thread::FromThreadError>(total)
//! })
//! .await;
//! assert_eq!(total, Ok(30));
//! # }
//! ```

mod error;
pub mod from_thread;
mod portal;
mod to_thread;
mod worker;

pub use error::{FromThreadError, PortalError};
pub use portal::{BlockingPortal, CloseMode, PortalResource, PortalTask};
pub use to_thread::{ToThread, default_thread_limiter, to_thread};
