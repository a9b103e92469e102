//! Threads: see the crate docs ("Threads" section) for the guide; this module holds
//! the machinery.

mod error;
pub mod from_thread;
mod portal;
mod to_thread;
mod worker;

pub use error::{FromThreadError, PortalError};
pub use portal::{BlockingPortal, CloseMode, PortalResource, PortalTask};
pub use to_thread::{ToThread, default_thread_limiter, to_thread};
