//! tether-claude: a client for the Claude Code CLI, built on tether's structured concurrency.
//!
//! The CLI speaks newline-delimited JSON on stdin/stdout, with a control protocol in both
//! directions. This crate runs it as a child process whose every task — reader, writer,
//! stderr drain, process owner, turn driver, one task per callback request — lives in one
//! tether task group, so nothing is detached, nothing hangs across tasks, and teardown is
//! bounded.
//!
//! # Three ways in
//!
//! - [`query`]: one prompt, a stream of messages, the CLI gone when the stream ends.
//! - [`connect`]: `connect(options, async |client| { ... })` — a connection for the length of
//!   a call; when it returns, the CLI has exited and been reaped.
//! - [`Client::connect`] … [`Client::disconnect`]: an owned connection in one task, with
//!   [`ClientHandle`]s for every other task (`Clone + Send + Sync + 'static`). Turns from
//!   many tasks are served one at a time, in order; `interrupt` works from anywhere; when the
//!   connection ends every waiter gets [`Error::Closed`] with the cause at once.
//!
//! # Layout
//!
//! - `options/`: [`ClaudeOptions`] → argv, env, CLI discovery;
//! - `wire/`: typed [`Message`]s and content blocks (serde), control envelopes;
//! - `transport/`: the process, NDJSON framing with a per-line limit, stderr, stdin, teardown;
//! - `control/`: permission callback, hooks, in-process MCP tools, pending requests;
//! - `client/`: the connection, turns, the handle, the scoped/owned/one-shot forms.
//!
//! `docs/sdk.md` in the repository has the design and the table of the official and
//! existing clients' reported failures with the mechanism that rules each out here.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether_claude::Error> {
//! use futures::StreamExt;
//! use tether_claude::{ClaudeOptions, PermissionDecision, connect};
//!
//! let options = ClaudeOptions::new()
//!     .can_use_tool(|req| async move {
//!         if req.tool_name == "Bash" {
//!             Ok::<_, tether::BoxError>(PermissionDecision::deny("no shell here"))
//!         } else {
//!             Ok(PermissionDecision::allow())
//!         }
//!     });
//! connect(options, async |client| {
//!     let mut turn = client.query("List the files here").await?;
//!     while let Some(message) = turn.next().await {
//!         println!("{:?}", message?);
//!     }
//!     Ok::<_, tether_claude::Error>(())
//! })
//! .await??;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod client;
mod control;
mod error;
mod options;
mod transport;
mod wire;

pub use client::{
    Client, ClientHandle, PendingTurn, QueryStream, ResponseStream, TurnInterrupt, connect, query,
};
pub use control::{
    HookEvent, HookInput, HookOutput, PermissionDecision, PermissionRequest, SdkMcpServer, Tool,
    ToolOutput,
};
pub use error::{CloseCause, Error, Result};
pub use options::{ClaudeOptions, DEFAULT_MAX_LINE_BYTES, PermissionMode};
pub use wire::{
    AssistantBody, AssistantMessage, ContentBlock, Message, Prompt, RateLimitEvent, ResultMessage,
    StreamEvent, SystemInit, SystemMessage, UserBody, UserContent, UserMessage,
};

/// The README's example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
