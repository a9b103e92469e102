//! The crate's error type.
//!
//! One enum, [`Error`], for everything a call can fail with. The variants that end a connection
//! carry a shared [`CloseCause`], so every operation that fails because the connection ended —
//! the consumer, each waiting turn, each pending control request — reports the same cause: the
//! exit status and the tail of the CLI's stderr.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tether::TaskContextError;

/// Everything a `tether-claude` call can fail with.
///
/// `Display` texts are lowercase, name what went wrong and, where there is one, the fix.
///
/// # Examples
///
/// ```
/// use tether_claude::{ClaudeOptions, Error};
///
/// let options = ClaudeOptions::new().cli_path("/nonexistent/claude");
/// let err = options.find_cli().unwrap_err();
/// assert!(matches!(err, Error::CliNotFound { .. }));
/// assert!(err.to_string().contains("npm install -g @anthropic-ai/claude-code"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `claude` executable was not found.
    #[error(
        "claude code cli not found (looked in: {}); install it with `npm install -g @anthropic-ai/claude-code`, or set ClaudeOptions::cli_path",
        display_paths(searched)
    )]
    CliNotFound {
        /// Every place that was tried, in order.
        searched: Vec<PathBuf>,
    },
    /// Spawning the CLI failed.
    #[error("failed to start the claude cli at {path}: {message}")]
    Spawn {
        /// The executable that was started.
        path: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// A line from the CLI was longer than the configured limit; it was skipped and the stream
    /// goes on with the next line.
    #[error(
        "a message line from the cli was {len} bytes, over the {limit}-byte limit; it was skipped (raise ClaudeOptions::max_line_bytes to accept it)"
    )]
    LineTooLong {
        /// The length of the line (bytes, newline excluded).
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A line was JSON, but not a message this crate could read (a known type with a missing or
    /// mistyped field).
    #[error("could not decode a {kind} message from the cli: {message}")]
    Decode {
        /// The message's `type` field.
        kind: String,
        /// serde's explanation.
        message: String,
    },
    /// A control request to the CLI got no reply in time.
    #[error(
        "control request `{subtype}` got no reply within {timeout:?}; the cli may be too old for this request, or raise ClaudeOptions::control_timeout"
    )]
    ControlTimeout {
        /// The request's subtype (`initialize`, `interrupt`, ...).
        subtype: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The CLI answered a control request with an error.
    #[error("the cli refused control request `{subtype}`: {message}")]
    ControlRefused {
        /// The request's subtype.
        subtype: String,
        /// The CLI's error text.
        message: String,
    },
    /// The connection has ended; the cause says why (exit status and stderr tail for a CLI that
    /// exited, or a disconnect).
    #[error("the claude client is closed: {0}")]
    Closed(Arc<CloseCause>),
    /// An owned client was used from a task other than the one that connected it.
    ///
    /// The message is tether's [`TaskContextError`]: `owned claude client connected in task 3
    /// was disconnected from task 9; use it in the task that connected it, or give other tasks
    /// a ClientHandle (client.handle())`.
    #[error("{source}")]
    WrongTask {
        /// What was attempted (`"disconnect"`, `"query"`, `"receive"`).
        operation: &'static str,
        /// tether's error, naming both tasks.
        #[source]
        source: TaskContextError,
    },
    /// Writing to the CLI's stdin failed.
    #[error("writing to the cli's stdin failed: {0}")]
    Io(String),
    /// The scoped body or a connection task failed (tether's group error, flattened to text
    /// because `GroupError` is not `Clone`).
    #[error("the connection's task group failed: {0}")]
    Group(String),
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// The cause of a [`Error::Closed`], if this is one.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = tether_claude::Error::Io("broken pipe".into());
    /// assert!(err.close_cause().is_none());
    /// ```
    pub fn close_cause(&self) -> Option<&CloseCause> {
        match self {
            Error::Closed(cause) => Some(cause),
            _ => None,
        }
    }

    /// Whether this error means the connection has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!tether_claude::Error::Io("x".into()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed(_))
    }
}

/// Why a connection ended: the one cause every failed operation reports.
///
/// # Examples
///
/// ```
/// use tether_claude::CloseCause;
///
/// let cause = CloseCause::Disconnected;
/// assert_eq!(cause.to_string(), "the client was disconnected");
/// assert!(cause.exit_status().is_none());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CloseCause {
    /// `disconnect()` was called, or the scope that owned the connection was left.
    Disconnected,
    /// The CLI process exited (or closed its stdout) on its own.
    Exited {
        /// The exit status, if the process was reaped in time.
        status: Option<ExitStatus>,
        /// The last few KiB of the CLI's stderr (lossy UTF-8).
        stderr_tail: String,
    },
    /// Reading the CLI's stdout failed.
    ReadFailed(String),
    /// The connection was dropped without a disconnect (its tasks were stopped and the CLI was
    /// killed).
    Dropped,
}

impl CloseCause {
    /// The CLI's exit status, when it exited on its own.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether_claude::CloseCause::Dropped.exit_status().is_none());
    /// ```
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self {
            CloseCause::Exited { status, .. } => *status,
            _ => None,
        }
    }

    /// The tail of the CLI's stderr, when it exited on its own.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether_claude::CloseCause::Disconnected.stderr_tail(), None);
    /// ```
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            CloseCause::Exited { stderr_tail, .. } => Some(stderr_tail),
            _ => None,
        }
    }
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseCause::Disconnected => f.write_str("the client was disconnected"),
            CloseCause::Exited {
                status,
                stderr_tail,
            } => {
                match status {
                    Some(status) => write!(f, "the cli exited ({status})")?,
                    None => f.write_str("the cli closed its output")?,
                }
                let tail = stderr_tail.trim_end();
                if tail.is_empty() {
                    f.write_str(" with nothing on stderr")
                } else {
                    write!(f, "; stderr ends with: {tail}")
                }
            }
            CloseCause::ReadFailed(e) => write!(f, "reading the cli's output failed: {e}"),
            CloseCause::Dropped => {
                f.write_str("the connection was dropped without disconnect(); the cli was killed")
            }
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
