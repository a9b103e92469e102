//! Synchronization primitives for tasks: `Event`, `Lock`, `Semaphore`, `CapacityLimiter`,
//! `Condition`.
//!
//! The user guide for this module is `guide.md` next to this file, rendered in the crate
//! documentation (the module is private: its public items are re-exported at the crate root).

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

#[cfg(all(test, tether_loom))]
mod loom_tests;
