//! `mock-claude`: a scriptable stand-in for the Claude Code CLI.
//!
//! The binary speaks the CLI's stream-json protocol (NDJSON on stdin/stdout, the control protocol in
//! both directions). This library half holds what a test needs to drive it:
//!
//! - [`binary_path`]: where the built `mock-claude` executable is (for a test in another package of
//!   the workspace, where `env!("CARGO_BIN_EXE_mock-claude")` does not exist);
//! - [`Script`], [`Turn`], [`Step`]: the script format, serializable, so a test can build a script in
//!   Rust and pass it as `MOCK_CLAUDE_SCRIPT_JSON`;
//! - [`scenario`]: the built-in named scripts (`MOCK_CLAUDE_SCENARIO`).
//!
//! See the crate README for the environment variables and the full script format.

#![forbid(unsafe_code)]

mod locate;
mod scenario;
mod script;

pub use locate::binary_path;
pub use scenario::{SCENARIOS, scenario};
pub use script::{Permission, Script, Step, Turn};

/// The version `mock-claude -v` reports, the real CLI version this mock was checked against.
pub const CLI_VERSION: &str = "2.1.330";

/// Environment variable names the mock reads.
pub mod env {
    /// Built-in scenario name, e.g. `tools:100` (see [`crate::SCENARIOS`]).
    pub const SCENARIO: &str = "MOCK_CLAUDE_SCENARIO";
    /// Path to a JSON [`crate::Script`] file (wins over the scenario).
    pub const SCRIPT: &str = "MOCK_CLAUDE_SCRIPT";
    /// A JSON [`crate::Script`] inline (wins over the file and the scenario).
    pub const SCRIPT_JSON: &str = "MOCK_CLAUDE_SCRIPT_JSON";
    /// Path of the JSON-lines log the mock appends to.
    pub const LOG: &str = "MOCK_CLAUDE_LOG";
    /// Comma-separated names of extra environment variables to record in the log's start event.
    pub const LOG_ENV: &str = "MOCK_CLAUDE_LOG_ENV";
    /// File the mock appends its pid to (one line per process) at startup.
    pub const PIDFILE: &str = "MOCK_CLAUDE_PIDFILE";
    /// Explicit path of the binary, honoured by [`crate::binary_path`].
    pub const BIN: &str = "MOCK_CLAUDE_BIN";
    /// When `1`, unknown flags are fatal like in the real CLI (`error: unknown option '--x'`, exit 1).
    pub const STRICT_FLAGS: &str = "MOCK_CLAUDE_STRICT_FLAGS";
}
