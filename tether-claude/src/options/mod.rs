//! [`ClaudeOptions`]: every setting of a connection, and how it becomes the CLI's argv and env.
//!
//! - `mod.rs` (this file): the builder.
//! - `argv.rs`: options → command-line flags and environment.
//! - `discovery.rs`: finding the `claude` executable.

mod argv;
mod discovery;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tether::BoxError;

use crate::control::hooks::{HookRegistration, boxed_hook};
use crate::control::permission::{CanUseToolFn, boxed_can_use_tool};
use crate::control::{HookInput, HookOutput, PermissionDecision, PermissionRequest, SdkMcpServer};
use crate::error::Result;

/// The default per-line limit: 32 MiB, enough for screenshots and large tool results.
pub const DEFAULT_MAX_LINE_BYTES: usize = 32 * 1024 * 1024;

/// The CLI's permission modes (`--permission-mode`).
///
/// # Examples
///
/// ```
/// assert_eq!(tether_claude::PermissionMode::AcceptEdits.as_str(), "acceptEdits");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionMode {
    /// Ask for every tool that needs permission.
    Default,
    /// Accept file edits without asking.
    AcceptEdits,
    /// Plan only; run no tools.
    Plan,
    /// Run every tool without asking.
    BypassPermissions,
    /// Deny whatever is not pre-approved, without asking.
    DontAsk,
    /// Let the CLI decide.
    Auto,
    /// Any other mode, by its wire name.
    Other(String),
}

impl PermissionMode {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            PermissionMode::Default => "default",
            PermissionMode::AcceptEdits => "acceptEdits",
            PermissionMode::Plan => "plan",
            PermissionMode::BypassPermissions => "bypassPermissions",
            PermissionMode::DontAsk => "dontAsk",
            PermissionMode::Auto => "auto",
            PermissionMode::Other(s) => s,
        }
    }
}

/// A stderr callback: called with each line of the CLI's stderr (without the newline).
pub(crate) type StderrFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything about a connection: CLI flags, environment, callbacks, limits and grace periods.
///
/// A builder: each setter takes and returns `self`. Every field has a default matching the
/// official SDKs, except the line limit (32 MiB per line instead of 1 MiB).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether_claude::{ClaudeOptions, PermissionMode};
///
/// let options = ClaudeOptions::new()
///     .model("claude-sonnet-4-5")
///     .system_prompt("You are terse.")
///     .allowed_tools(["Read", "Grep"])
///     .permission_mode(PermissionMode::AcceptEdits)
///     .max_turns(3)
///     .resume("0b7c-session")
///     .close_grace(Duration::from_secs(1));
/// let argv = options.to_args();
/// assert!(argv.contains(&"--resume=0b7c-session".to_string()));
/// ```
#[derive(Clone)]
pub struct ClaudeOptions {
    pub(crate) cli_path: Option<PathBuf>,
    pub(crate) model: Option<String>,
    pub(crate) fallback_model: Option<String>,
    pub(crate) system_prompt: Option<String>,
    pub(crate) system_prompt_file: Option<PathBuf>,
    pub(crate) append_system_prompt: Option<String>,
    pub(crate) tools: Option<Vec<String>>,
    pub(crate) allowed_tools: Vec<String>,
    pub(crate) disallowed_tools: Vec<String>,
    pub(crate) max_turns: Option<u32>,
    pub(crate) max_budget_usd: Option<f64>,
    pub(crate) permission_mode: Option<PermissionMode>,
    pub(crate) permission_prompt_tool: Option<String>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) add_dirs: Vec<PathBuf>,
    pub(crate) settings: Option<String>,
    pub(crate) mcp_servers: Map<String, Value>,
    pub(crate) sdk_mcp_servers: Vec<SdkMcpServer>,
    pub(crate) include_partial_messages: bool,
    pub(crate) resume: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) continue_conversation: bool,
    pub(crate) fork_session: bool,
    pub(crate) setting_sources: Option<Vec<String>>,
    pub(crate) extra_args: Vec<(String, Option<String>)>,
    pub(crate) agents: Option<Value>,
    pub(crate) can_use_tool: Option<CanUseToolFn>,
    pub(crate) hooks: Vec<HookRegistration>,
    pub(crate) stderr: Option<StderrFn>,
    pub(crate) max_line_bytes: usize,
    pub(crate) message_buffer: usize,
    pub(crate) stderr_tail_bytes: usize,
    pub(crate) control_timeout: Duration,
    pub(crate) close_grace: Duration,
    pub(crate) term_grace: Duration,
}

impl Default for ClaudeOptions {
    fn default() -> Self {
        ClaudeOptions {
            cli_path: None,
            model: None,
            fallback_model: None,
            system_prompt: None,
            system_prompt_file: None,
            append_system_prompt: None,
            tools: None,
            allowed_tools: Vec::new(),
            disallowed_tools: Vec::new(),
            max_turns: None,
            max_budget_usd: None,
            permission_mode: None,
            permission_prompt_tool: None,
            cwd: None,
            env: Vec::new(),
            add_dirs: Vec::new(),
            settings: None,
            mcp_servers: Map::new(),
            sdk_mcp_servers: Vec::new(),
            include_partial_messages: false,
            resume: None,
            session_id: None,
            continue_conversation: false,
            fork_session: false,
            setting_sources: None,
            extra_args: Vec::new(),
            agents: None,
            can_use_tool: None,
            hooks: Vec::new(),
            stderr: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            message_buffer: 100,
            stderr_tail_bytes: 8 * 1024,
            control_timeout: Duration::from_secs(60),
            close_grace: Duration::from_secs(5),
            term_grace: Duration::from_secs(5),
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty => $field:ident) => {
        $(#[$doc])*
        pub fn $name(mut self, value: impl Into<$ty>) -> Self {
            self.$field = Some(value.into());
            self
        }
    };
}

impl ClaudeOptions {
    /// The defaults: no flags beyond the required ones, 32 MiB lines, 100 buffered messages,
    /// 60 s control timeout, 5 s + 5 s teardown grace periods.
    pub fn new() -> Self {
        Self::default()
    }

    setter!(
        /// The `claude` executable to run (skips discovery). A bare name is looked up on `PATH`.
        cli_path: PathBuf => cli_path
    );
    setter!(
        /// `--model`.
        model: String => model
    );
    setter!(
        /// `--fallback-model`.
        fallback_model: String => fallback_model
    );
    setter!(
        /// `--system-prompt`. Without it the CLI gets `--system-prompt ""` (an empty system
        /// prompt, as the official SDKs do), not its own default coding prompt.
        system_prompt: String => system_prompt
    );
    setter!(
        /// `--system-prompt-file`.
        system_prompt_file: PathBuf => system_prompt_file
    );
    setter!(
        /// `--append-system-prompt`.
        append_system_prompt: String => append_system_prompt
    );
    setter!(
        /// `--permission-prompt-tool` (set to `stdio` automatically by
        /// [`can_use_tool`](Self::can_use_tool)).
        permission_prompt_tool: String => permission_prompt_tool
    );
    setter!(
        /// The working directory of the CLI process.
        cwd: PathBuf => cwd
    );
    setter!(
        /// `--settings` (a path or a JSON string).
        settings: String => settings
    );
    setter!(
        /// `--resume=<id>` (equals form, so an id can never be read as a flag).
        resume: String => resume
    );
    setter!(
        /// `--session-id=<id>`.
        session_id: String => session_id
    );
    setter!(
        /// `--permission-mode`.
        permission_mode: PermissionMode => permission_mode
    );

    /// `--tools a,b` (the base set of tools); an empty list disables every tool.
    pub fn tools<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tools: I) -> Self {
        self.tools = Some(tools.into_iter().map(Into::into).collect());
        self
    }

    /// `--allowedTools a,b`.
    pub fn allowed_tools<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tools: I) -> Self {
        self.allowed_tools = tools.into_iter().map(Into::into).collect();
        self
    }

    /// `--disallowedTools a,b`.
    pub fn disallowed_tools<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        tools: I,
    ) -> Self {
        self.disallowed_tools = tools.into_iter().map(Into::into).collect();
        self
    }

    /// `--max-turns`.
    pub fn max_turns(mut self, turns: u32) -> Self {
        self.max_turns = Some(turns);
        self
    }

    /// `--max-budget-usd`.
    pub fn max_budget_usd(mut self, usd: f64) -> Self {
        self.max_budget_usd = Some(usd);
        self
    }

    /// Adds an environment variable for the CLI (after the inherited environment).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// `--add-dir <dir>` (repeatable).
    pub fn add_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.add_dirs.push(dir.into());
        self
    }

    /// An external MCP server, by name, with its config (`{"command": ..., "args": [...]}`,
    /// `{"type": "http", "url": ...}`); sent in `--mcp-config`.
    pub fn external_mcp_server(mut self, name: impl Into<String>, config: Value) -> Self {
        self.mcp_servers.insert(name.into(), config);
        self
    }

    /// An in-process MCP server whose tools run in this process.
    pub fn mcp_server(mut self, server: SdkMcpServer) -> Self {
        self.sdk_mcp_servers.push(server);
        self
    }

    /// `--include-partial-messages` (stream events).
    pub fn include_partial_messages(mut self, yes: bool) -> Self {
        self.include_partial_messages = yes;
        self
    }

    /// `--continue`.
    pub fn continue_conversation(mut self, yes: bool) -> Self {
        self.continue_conversation = yes;
        self
    }

    /// `--fork-session`.
    pub fn fork_session(mut self, yes: bool) -> Self {
        self.fork_session = yes;
        self
    }

    /// `--setting-sources=a,b` (an empty list loads no settings files).
    pub fn setting_sources<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        sources: I,
    ) -> Self {
        self.setting_sources = Some(sources.into_iter().map(Into::into).collect());
        self
    }

    /// An extra flag: `--flag` (no value) or `--flag=value`.
    pub fn extra_arg(mut self, flag: impl Into<String>, value: Option<String>) -> Self {
        self.extra_args.push((flag.into(), value));
        self
    }

    /// Agent definitions, sent in `initialize` (never in argv: no argv length limit).
    pub fn agents(mut self, agents: Value) -> Self {
        self.agents = Some(agents);
        self
    }

    /// The permission callback: the CLI asks it before each tool that needs permission
    /// (`--permission-prompt-tool stdio` is added). Each request runs as its own task in the
    /// connection's task group, so a slow answer blocks nothing else.
    ///
    /// An `Err`, or a panic (logged with `tracing::error!`), is answered as an error reply;
    /// the connection survives.
    pub fn can_use_tool<F, Fut, E>(mut self, callback: F) -> Self
    where
        F: Fn(PermissionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<PermissionDecision, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.can_use_tool = Some(boxed_can_use_tool(callback));
        self
    }

    /// A hook for `event`, for tools matching `matcher` (all when `None`). Registered with the
    /// CLI in `initialize`.
    pub fn hook<F, Fut, E>(
        mut self,
        event: crate::HookEvent,
        matcher: Option<&str>,
        callback: F,
    ) -> Self
    where
        F: Fn(HookInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<HookOutput, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.hooks.push(HookRegistration {
            event,
            matcher: matcher.map(str::to_string),
            timeout_secs: None,
            callback: boxed_hook(callback),
        });
        self
    }

    /// Receives each stderr line of the CLI instead of `tracing`. stderr is always drained;
    /// a panic in the callback is caught and logged, and draining goes on.
    pub fn stderr<F>(mut self, callback: F) -> Self
    where
        F: Fn(&str) + Send + Sync + 'static,
    {
        self.stderr = Some(Arc::new(callback));
        self
    }

    /// The longest line accepted from the CLI (default 32 MiB). A longer line is skipped and
    /// reported as [`Error::LineTooLong`](crate::Error::LineTooLong); the next line is read
    /// as usual. There is no cumulative limit.
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes.max(1);
        self
    }

    /// The look-ahead for a slow consumer (default 100): messages are handed over in bursts of
    /// up to this many, and the reader stops reading the CLI's output only once `2 ×` this many
    /// messages wait in its look-ahead (with one more burst in each stage between it and the
    /// consumer). Control traffic never waits behind them. Memory stays bounded by a small
    /// multiple of it, whatever the number of messages.
    pub fn message_buffer(mut self, messages: usize) -> Self {
        self.message_buffer = messages.max(1);
        self
    }

    /// How much of the CLI's stderr is kept for error reports (default 8 KiB).
    pub fn stderr_tail_bytes(mut self, bytes: usize) -> Self {
        self.stderr_tail_bytes = bytes;
        self
    }

    /// How long a control request (`initialize`, `interrupt`, ...) waits for its reply
    /// (default 60 s). A CLI that exits fails it at once, whatever this says.
    pub fn control_timeout(mut self, timeout: Duration) -> Self {
        self.control_timeout = timeout;
        self
    }

    /// Teardown: how long to wait after closing stdin before SIGTERM (default 5 s).
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// Teardown: how long to wait after SIGTERM before SIGKILL (default 5 s).
    pub fn term_grace(mut self, grace: Duration) -> Self {
        self.term_grace = grace;
        self
    }

    /// Finds the CLI: [`cli_path`](Self::cli_path) if set, else `PATH`, else the usual
    /// install locations (`~/.claude/local/claude`, `~/.local/bin/claude`,
    /// `~/.npm-global/bin/claude`, `/usr/local/bin/claude`, `node_modules/.bin/claude`, ...).
    ///
    /// # Errors
    ///
    /// [`Error::CliNotFound`](crate::Error::CliNotFound) listing every place tried and how
    /// to install the CLI.
    ///
    /// # Examples
    ///
    /// ```
    /// let found = tether_claude::ClaudeOptions::new().cli_path("/bin/sh").find_cli().unwrap();
    /// assert_eq!(found, std::path::Path::new("/bin/sh"));
    /// ```
    pub fn find_cli(&self) -> Result<PathBuf> {
        discovery::find_cli(self.cli_path.as_deref())
    }

    /// The CLI arguments these options produce (without the program name).
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().to_args();
    /// assert_eq!(&args[..4], ["--output-format", "stream-json", "--verbose", "--system-prompt"]);
    /// ```
    pub fn to_args(&self) -> Vec<String> {
        argv::build_args(self)
    }

    /// Whether any callback that the CLI can call back into is registered (permission
    /// callback, hooks, in-process MCP servers).
    #[cfg(test)]
    pub(crate) fn has_callbacks(&self) -> bool {
        self.can_use_tool.is_some() || !self.hooks.is_empty() || !self.sdk_mcp_servers.is_empty()
    }

    pub(crate) fn command(&self, program: &Path) -> tokio::process::Command {
        argv::build_command(self, program)
    }
}

impl fmt::Debug for ClaudeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaudeOptions")
            .field("cli_path", &self.cli_path)
            .field("args", &self.to_args())
            .field("env", &self.env)
            .field("cwd", &self.cwd)
            .field("can_use_tool", &self.can_use_tool.is_some())
            .field("hooks", &self.hooks)
            .field("sdk_mcp_servers", &self.sdk_mcp_servers)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("control_timeout", &self.control_timeout)
            .field("close_grace", &self.close_grace)
            .field("term_grace", &self.term_grace)
            .finish_non_exhaustive()
    }
}
