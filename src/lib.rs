//! tether: structured concurrency for tokio, in the style of Trio and AnyIO.
//!
//! Async programs fail in a recurring way: a resource that belongs to one task — a task group, a
//! cancel scope, a channel fed by a background reader — is used from another, and the program
//! hangs forever with no message, or crashes far from the cause. tether brings Trio's structured
//! concurrency to tokio and makes those failures impossible or loud.
//!
//! # The pieces
//!
//! - [`task_group()`] / [`TaskGroup`]: spawn children (real tokio tasks); leaving the group waits
//!   for all of them; the first failure cancels the rest; every failure comes back in one
//!   [`GroupError`]; a child's panic resumes in the parent. [`OwnedTaskGroup`] keeps a group open
//!   across calls. [`TaskGroup::start`] spawns a child and waits for it to report ready.
//! - [`CancelScope`]: level-triggered cancellation, deadlines, shields, reasons;
//!   [`move_on_after`], [`fail_after`], [`shield`], [`with_cleanup`], [`checkpoint`],
//!   [`current_effective_deadline`].
//! - [Memory object streams](#memory-object-streams) (AnyIO's `create_memory_object_stream`):
//!   [`memory_stream`], [`unbounded_memory_stream`] — bounded, rendezvous or unbounded MPMC
//!   channels with close, statistics and lossless cancellation, that can be bound to the task
//!   group owning them ([`memory_stream_in`]) so a consumer gets a typed error, not a hang, when
//!   that group ends.
//! - [Synchronization primitives](#synchronization-primitives), AnyIO's set with Rust's guards:
//!   [`Event`], [`Lock`], [`Semaphore`], [`CapacityLimiter`], [`Condition`].
//! - [Threads](#threads): blocking code on worker threads under a capacity limiter
//!   ([`to_thread`]), calls back into async code from them ([`from_thread`]), and a
//!   [`BlockingPortal`] through which synchronous code calls async functions.
//! - [Context](#context): values a task sets that the children it spawns inherit
//!   ([`ContextVar`]), with tokio task-locals and `tracing` spans carried along.
//! - [Observability](#observability): names for children ([`TaskGroup::spawn_named`]), a live
//!   [`task_tree`] of groups, scopes and children with what each waits on, and a [`Watchdog`]
//!   that reports long waits, stuck groups and lock cycles.
//! - [`TaskId`] and [`TaskContextError`]: every group and scope knows the task that entered it,
//!   and use from another task is a typed error naming both tasks and the fix; [`TaskBinding`]
//!   gives a library built on tether the same check for its own resources.
//!
//! # How cancellation works
//!
//! Cancelling a scope drops its body at the `.await` it is pending on, so cleanup runs through
//! `Drop`, and cancellation reaches any future, tether's or not. The scope where a cancellation
//! originated resolves with `Err(Cancelled)`; scopes nested inside it are dropped with the body,
//! so code after an inner scope never runs once an outer one was cancelled. A shielded scope
//! holds the drop back until it finishes. Children in other tasks are reached through the tree
//! of scopes. `docs/design.md` in the repository gives the rules and the reasons.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tether::{task_group, move_on_after};
//!
//! let result = task_group(async |tg| {
//!     tg.spawn(async {
//!         tokio::time::sleep(Duration::from_millis(10)).await;
//!         Err::<(), _>("lost the connection")
//!     });
//!     tg.spawn(async {
//!         // cancelled when its sibling fails: dropped at this await
//!         tokio::time::sleep(Duration::from_secs(3600)).await;
//!     });
//! })
//! .await;
//! let err = result.unwrap_err();
//! assert_eq!(err.len(), 1);
//! assert!(err.to_string().contains("lost the connection"));
//!
//! assert_eq!(move_on_after(Duration::from_millis(5), std::future::pending::<()>()).await, None);
//! # }
//! ```
//!
//! # One public surface
//!
//! Every public item has one path: the crate root. The modules are private; this list of
//! `pub use` is the whole API.
#![doc = include_str!("task_group/guide.md")]
#![doc = include_str!("cancel/guide.md")]
#![doc = include_str!("stream/guide.md")]
#![doc = include_str!("sync/guide.md")]
#![doc = include_str!("thread/guide.md")]
#![doc = include_str!("context/guide.md")]
#![doc = include_str!("diagnostics/guide.md")]
#![forbid(unsafe_code)]

mod cancel;
mod context;
mod diagnostics;
mod error;
mod loom;
#[cfg(all(test, tether_loom))]
mod loom_support;
mod stream;
mod sync;
mod task;
mod task_group;
mod thread;

pub use cancel::{
    CancelReason, CancelScope, CancelSource, Cancelled, Checkpoint, FailAfter, MoveOn, Run,
    Shielded, TimeoutError, WaitCancelled, WithCleanup, checkpoint, checkpoint_if_cancelled,
    current_effective_deadline, fail_after, fail_at, move_on_after, move_on_at, shield,
    with_cleanup,
};
pub use context::{
    ContextVar, NoContextError, Scoped, Snapshot, capture as capture_context, propagate_task_local,
};
pub use diagnostics::{
    CancelInfo, EntryKind, Finding, LockLink, Site, TaskTree, TreeNode, WaitInfo, WaitLink,
    WaitResource, WaitTarget, Watchdog, WatchdogReport, disable_task_tree, enable_task_tree,
    task_tree, task_tree_enabled,
};
pub use error::{BoxError, TaskContextError};
pub use stream::{
    MemoryReceiver, MemorySender, MemorySink, MemoryStreamStatistics, Permit, RecvError,
    RecvFuture, ReserveFuture, SendError, SendFuture, TryRecvError, TrySendError, memory_stream,
    memory_stream_in, unbounded_memory_stream, unbounded_memory_stream_in,
};
pub use sync::{
    Borrower, CapacityLimiter, CapacityLimiterError, CapacityLimiterStatistics, CapacityToken,
    Condition, ConditionError, ConditionStatistics, Event, Lock, LockError, LockGuard,
    LockStatistics, Semaphore, SemaphoreError, SemaphorePermit, SemaphoreStatistics,
};
pub use task::{TaskBinding, TaskId};
pub use task_group::{
    CloseError, FailureOrigin, GroupError, GroupPanic, OwnedTaskGroup, SpawnError, Start,
    StartError, TaskFailure, TaskGroup, TaskGroupHandle, TaskResult, TaskStatus, task_group,
};
pub use thread::{
    BlockingPortal, CloseMode, FromThreadError, PortalError, PortalResource, PortalTask, ToThread,
    default_thread_limiter, from_thread, to_thread,
};

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
