//! The client: a connection, and the three ways to hold it.
//!
//! - `connection.rs`: the CLI process and its tasks in one tether task group; routing;
//!   control requests both ways; ending.
//! - `turn.rs`: the FIFO of turns, the driver, [`ResponseStream`].
//! - `handle.rs`: [`ClientHandle`], usable from any task.
//! - `owned.rs`: the scoped [`connect`] and the owned [`Client`].
//! - `query.rs`: the one-shot [`query`].

mod connection;
mod handle;
mod owned;
mod query;
mod turn;

pub use handle::ClientHandle;
pub use owned::{Client, connect};
pub use query::{QueryStream, query};
pub use turn::{PendingTurn, ResponseStream, TurnInterrupt};
