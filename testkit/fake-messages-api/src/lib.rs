//! A loopback fake of the Anthropic Messages API, scriptable per test, for driving the real
//! Claude Code CLI (and anything else that speaks the Messages API) without leaving the machine.
//!
//! # What it answers
//!
//! - `POST /v1/messages` (the CLI sends `?beta=true` and `"stream": true`): the next scripted
//!   [`Reply`], as server-sent events in the real API's order (`message_start`, `ping`,
//!   `content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`,
//!   `thinking_delta`, `signature_delta`) / `content_block_stop`, `message_delta` with the stop
//!   reason and usage, `message_stop`), or as one JSON message when not streamed. With the script
//!   empty it echoes: `echo: <last user text>`, or `tool_result: <content>` after a tool ran.
//! - `POST /v1/messages/count_tokens`, `GET /v1/models`: plausible JSON. Anything else: a 404 in
//!   the API's error shape. With `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` the CLI (2.1.330)
//!   sends nothing but `POST /v1/messages`.
//! - Everything received is recorded ([`FakeMessagesApi::requests`],
//!   [`FakeMessagesApi::messages_bodies`]); [`FakeMessagesApi::wait_until`] waits on the
//!   [`Statistics`] (requests seen, streams completed or aborted by the client).
//!
//! # Scripting a test
//!
//! ```
//! use fake_messages_api::{FakeMessagesApi, Reply};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let api = FakeMessagesApi::start().await?;
//! // Turn 1: the model calls Bash (the CLI asks permission, runs it, sends the result back) …
//! api.push(Reply::tool_use("toolu_01", "Bash", json!({"command": "echo hi > out.txt"})));
//! // … then answers with text.
//! api.push(Reply::text("wrote it"));
//! // Turn 2: a reply that never finishes, to interrupt deterministically.
//! api.push(Reply::text("a long story").stalling());
//! // Run `claude` with ANTHROPIC_BASE_URL=api.base_url(), ANTHROPIC_API_KEY=dummy, then assert
//! // on api.messages_bodies() (e.g. the second body's last message holds the tool_result) and
//! // api.statistics().streams_aborted (the interrupt really cancelled the HTTP request).
//! api.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Driving the real CLI
//!
//! [`real_cli_path`] finds the pinned CLI (`CLAUDE_CLI_PATH`, else `scripts/install-claude-cli.sh`),
//! and [`cli_env`] / [`CLI_ENV_REMOVE`] give the environment that keeps it on the fake. The CLI
//! then runs as an SDK runs it: `claude --output-format stream-json --verbose --input-format
//! stream-json --system-prompt ""` (see `docs/real-cli-protocol.md`).
//!
//! # Limits
//!
//! - Replies are FIFO over every `POST /v1/messages`: a tool round trip is two requests (push the
//!   `tool_use` reply and the follow-up), and concurrent requests (a background subagent beside the
//!   main loop) race for the next reply.
//! - Drive the real CLI on the real clock, not under `start_paused`: the CLI is a real process, and
//!   a stalled stream pings every 100 ms of tokio time.
//!
//! The binary `fake-messages-api` serves the same on a free port and prints
//! `FAKE_MESSAGES_API_URL=http://127.0.0.1:<port>`; non-Rust drivers script it over HTTP:
//! `POST /_fake/replies` (a reply or an array, as JSON), `GET /_fake/requests`,
//! `GET /_fake/statistics`.
#![forbid(unsafe_code)]

mod cli;
mod script;
mod server;
mod sse;

pub use cli::{CLI_ENV_REMOVE, LocateError, cli_env, real_cli_path};
pub use script::{ApiError, Block, Reply};
pub use server::{FakeMessagesApi, RecordedRequest, Statistics};
