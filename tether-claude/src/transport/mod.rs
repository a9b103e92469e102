//! The transport: the CLI process, its three pipes, and the bounded teardown.
//!
//! - `process.rs`: spawn, the owner task that reaps, SIGTERM/SIGKILL, [`terminate`];
//! - `framing.rs`: NDJSON lines from stdout with a per-line limit;
//! - `stderr.rs`: stderr always drained, with a tail kept for errors;
//! - `writer.rs`: one writer task for stdin, closable at once.

pub(crate) mod framing;
pub(crate) mod process;
pub(crate) mod stderr;
pub(crate) mod writer;
