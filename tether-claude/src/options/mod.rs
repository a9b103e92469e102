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
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether_claude::PermissionMode::BypassPermissions.as_str(), "bypassPermissions");
    /// ```
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
    pub(crate) env_remove: Vec<String>,
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
            env_remove: Vec::new(),
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
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().to_args();
    /// assert_eq!(
    ///     args,
    ///     ["--output-format", "stream-json", "--verbose", "--system-prompt", "",
    ///      "--input-format", "stream-json"],
    /// );
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    setter!(
        /// The `claude` executable to run, skipping discovery (see
        /// [`find_cli`](Self::find_cli)). A bare name is looked up on `PATH`.
        ///
        /// Connecting with a path that does not exist fails with
        /// [`Error::CliNotFound`](crate::Error::CliNotFound).
        ///
        /// # Examples
        ///
        /// ```
        /// let options = tether_claude::ClaudeOptions::new().cli_path("/bin/sh");
        /// assert_eq!(options.find_cli().unwrap(), std::path::Path::new("/bin/sh"));
        /// ```
        cli_path: PathBuf => cli_path
    );
    setter!(
        /// The model (`--model`), by name or alias. Later turns can switch it with
        /// [`ClientHandle::set_model`](crate::ClientHandle::set_model).
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().model("claude-sonnet-4-5").to_args();
        /// assert!(args.windows(2).any(|w| w == ["--model", "claude-sonnet-4-5"]));
        /// ```
        model: String => model
    );
    setter!(
        /// The model to fall back to when the main one is overloaded (`--fallback-model`).
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().fallback_model("haiku").to_args();
        /// assert!(args.windows(2).any(|w| w == ["--fallback-model", "haiku"]));
        /// ```
        fallback_model: String => fallback_model
    );
    setter!(
        /// The system prompt (`--system-prompt`). Without it the CLI gets `--system-prompt ""`
        /// (an empty system prompt, as the official SDKs do), not its own default coding
        /// prompt. [`system_prompt_file`](Self::system_prompt_file) wins over it.
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().system_prompt("Be terse.").to_args();
        /// assert!(args.windows(2).any(|w| w == ["--system-prompt", "Be terse."]));
        /// ```
        system_prompt: String => system_prompt
    );
    setter!(
        /// The system prompt read from a file (`--system-prompt-file`), instead of
        /// [`system_prompt`](Self::system_prompt).
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().system_prompt_file("/p.txt").to_args();
        /// assert!(args.windows(2).any(|w| w == ["--system-prompt-file", "/p.txt"]));
        /// assert!(!args.iter().any(|a| a == "--system-prompt"));
        /// ```
        system_prompt_file: PathBuf => system_prompt_file
    );
    setter!(
        /// Text appended to the system prompt (`--append-system-prompt`).
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().append_system_prompt("Use metric units.").to_args();
        /// assert!(args.windows(2).any(|w| w == ["--append-system-prompt", "Use metric units."]));
        /// ```
        append_system_prompt: String => append_system_prompt
    );
    setter!(
        /// The MCP tool the CLI asks for permissions (`--permission-prompt-tool`). Set to
        /// `stdio` automatically by [`can_use_tool`](Self::can_use_tool), which wins over this.
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().permission_prompt_tool("mcp__auth__ask").to_args();
        /// assert!(args.windows(2).any(|w| w == ["--permission-prompt-tool", "mcp__auth__ask"]));
        /// ```
        permission_prompt_tool: String => permission_prompt_tool
    );
    setter!(
        /// The working directory of the CLI process (also passed as `PWD`). Default: this
        /// process's.
        ///
        /// # Examples
        ///
        /// ```
        /// let options = tether_claude::ClaudeOptions::new().cwd("/tmp");
        /// assert!(format!("{options:?}").contains("cwd: Some(\"/tmp\")"));
        /// ```
        cwd: PathBuf => cwd
    );
    setter!(
        /// Settings for the CLI (`--settings`): a path to a settings file or a JSON string.
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().settings(r#"{"model":"haiku"}"#).to_args();
        /// assert!(args.windows(2).any(|w| w == ["--settings", r#"{"model":"haiku"}"#]));
        /// ```
        settings: String => settings
    );
    setter!(
        /// Resumes a session by id (`--resume=<id>`: the equals form, so an id can never be
        /// read as a flag). An unknown id makes the CLI exit; the connection then fails with
        /// [`Error::Closed`](crate::Error::Closed) carrying the CLI's reason.
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().resume("--not-a-flag").to_args();
        /// assert!(args.contains(&"--resume=--not-a-flag".to_string()));
        /// ```
        resume: String => resume
    );
    setter!(
        /// The session id to use for a new session (`--session-id=<id>`, equals form).
        ///
        /// # Examples
        ///
        /// ```
        /// let args = tether_claude::ClaudeOptions::new().session_id("0b7c").to_args();
        /// assert!(args.contains(&"--session-id=0b7c".to_string()));
        /// ```
        session_id: String => session_id
    );
    setter!(
        /// The permission mode at start (`--permission-mode`). Later changes:
        /// [`ClientHandle::set_permission_mode`](crate::ClientHandle::set_permission_mode).
        ///
        /// # Examples
        ///
        /// ```
        /// use tether_claude::{ClaudeOptions, PermissionMode};
        ///
        /// let args = ClaudeOptions::new().permission_mode(PermissionMode::Plan).to_args();
        /// assert!(args.windows(2).any(|w| w == ["--permission-mode", "plan"]));
        /// ```
        permission_mode: PermissionMode => permission_mode
    );

    /// The base set of tools (`--tools a,b`); an empty list disables every built-in tool.
    /// Unset, the CLI offers its default set.
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().tools(["Read", "Grep"]).to_args();
    /// assert!(args.windows(2).any(|w| w == ["--tools", "Read,Grep"]));
    /// let none = tether_claude::ClaudeOptions::new().tools(Vec::<String>::new()).to_args();
    /// assert!(none.windows(2).any(|w| w == ["--tools", ""]));
    /// ```
    pub fn tools<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tools: I) -> Self {
        self.tools = Some(tools.into_iter().map(Into::into).collect());
        self
    }

    /// Tools allowed without asking (`--allowedTools a,b`; rules like `Bash(git:*)` too).
    /// Replaces an earlier list.
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().allowed_tools(["Read", "Bash(git:*)"]).to_args();
    /// assert!(args.windows(2).any(|w| w == ["--allowedTools", "Read,Bash(git:*)"]));
    /// ```
    pub fn allowed_tools<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tools: I) -> Self {
        self.allowed_tools = tools.into_iter().map(Into::into).collect();
        self
    }

    /// Tools never allowed (`--disallowedTools a,b`). Replaces an earlier list.
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().disallowed_tools(["Bash"]).to_args();
    /// assert!(args.windows(2).any(|w| w == ["--disallowedTools", "Bash"]));
    /// ```
    pub fn disallowed_tools<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        tools: I,
    ) -> Self {
        self.disallowed_tools = tools.into_iter().map(Into::into).collect();
        self
    }

    /// The most agent turns (model calls) per prompt (`--max-turns`). A turn that would go
    /// beyond it ends with a `result` of subtype `error_max_turns`.
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().max_turns(3).to_args();
    /// assert!(args.windows(2).any(|w| w == ["--max-turns", "3"]));
    /// ```
    pub fn max_turns(mut self, turns: u32) -> Self {
        self.max_turns = Some(turns);
        self
    }

    /// A spending limit for the session, in USD (`--max-budget-usd`); beyond it a turn ends
    /// with a `result` of subtype `error_max_budget_usd`.
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().max_budget_usd(0.5).to_args();
    /// assert!(args.windows(2).any(|w| w == ["--max-budget-usd", "0.5"]));
    /// ```
    pub fn max_budget_usd(mut self, usd: f64) -> Self {
        self.max_budget_usd = Some(usd);
        self
    }

    /// Sets an environment variable for the CLI. The CLI inherits this process's
    /// environment minus `CLAUDECODE` and the [`env_remove`](Self::env_remove) names; then
    /// the SDK sets `CLAUDE_CODE_ENTRYPOINT=sdk-rs` and `CLAUDE_AGENT_SDK_VERSION`; then these
    /// variables, in order (so the user wins, and a later `env` of the same key wins).
    ///
    /// # Examples
    ///
    /// ```
    /// let options = tether_claude::ClaudeOptions::new().env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9");
    /// assert!(format!("{options:?}").contains("ANTHROPIC_BASE_URL"));
    /// ```
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Removes an inherited environment variable from the CLI's environment (proxies,
    /// credentials the CLI should not see, ...). A variable set with [`env`](Self::env) is
    /// still set, whatever the order of the two calls.
    ///
    /// # Examples
    ///
    /// Against the bundled mock agent, which logs the variables it was asked to report:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// assert!(std::env::var_os("PATH").is_some(), "this process has PATH");
    /// let log = std::env::temp_dir().join(format!("env-remove-doc-{}.log", std::process::id()));
    /// let options = tether_claude::ClaudeOptions::new()
    ///     .cli_path(mock_claude::binary_path())
    ///     .env("MOCK_CLAUDE_LOG", log.display().to_string())
    ///     .env("MOCK_CLAUDE_LOG_ENV", "PATH,KEPT")
    ///     .env_remove("PATH")
    ///     .env_remove("KEPT")
    ///     .env("KEPT", "yes");
    /// tether_claude::connect(options, async |_client| {}).await?;
    /// let text = std::fs::read_to_string(&log).unwrap();
    /// let _ = std::fs::remove_file(&log);
    /// let start: serde_json::Value = text
    ///     .lines()
    ///     .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
    ///     .find(|e| e["event"] == "start")
    ///     .unwrap();
    /// let seen = &start["env"]["extra"];
    /// assert!(seen["PATH"].is_null(), "{start}");
    /// assert_eq!(seen["KEPT"], "yes");
    /// # Ok(()) }
    /// ```
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Another directory the CLI's tools may use (`--add-dir <dir>`, repeatable).
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().add_dir("/a").add_dir("/b").to_args();
    /// assert!(args.windows(4).any(|w| w == ["--add-dir", "/a", "--add-dir", "/b"]));
    /// ```
    pub fn add_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.add_dirs.push(dir.into());
        self
    }

    /// An external MCP server, by name, with its config (`{"command": ..., "args": [...]}`,
    /// `{"type": "http", "url": ...}`); all servers go in one `--mcp-config
    /// {"mcpServers": {...}}`, with the in-process ones.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    ///
    /// let args = tether_claude::ClaudeOptions::new()
    ///     .external_mcp_server("files", json!({"command": "files-server", "args": ["--ro"]}))
    ///     .to_args();
    /// let i = args.iter().position(|a| a == "--mcp-config").unwrap();
    /// let config: serde_json::Value = serde_json::from_str(&args[i + 1]).unwrap();
    /// assert_eq!(config["mcpServers"]["files"]["command"], "files-server");
    /// ```
    pub fn external_mcp_server(mut self, name: impl Into<String>, config: Value) -> Self {
        self.mcp_servers.insert(name.into(), config);
        self
    }

    /// An in-process MCP server whose tools run in this process: the CLI sees it as
    /// `{"type": "sdk"}` in `--mcp-config`, and calls its tools over the control protocol
    /// (`mcp_message`), each call as its own task in the connection's group. See
    /// [`SdkMcpServer`].
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use tether_claude::{ClaudeOptions, SdkMcpServer, Tool, ToolOutput};
    ///
    /// let server = SdkMcpServer::new("calc").tool(Tool::new(
    ///     "add",
    ///     "Adds two numbers",
    ///     json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}),
    ///     |args| async move {
    ///         let sum = args["a"].as_f64().unwrap_or(0.0) + args["b"].as_f64().unwrap_or(0.0);
    ///         Ok::<_, tether::BoxError>(ToolOutput::text(sum.to_string()))
    ///     },
    /// ));
    /// let args = ClaudeOptions::new().mcp_server(server).to_args();
    /// assert!(args.iter().any(|a| a.contains(r#""calc":{"name":"calc","type":"sdk"}"#)));
    /// ```
    pub fn mcp_server(mut self, server: SdkMcpServer) -> Self {
        self.sdk_mcp_servers.push(server);
        self
    }

    /// Partial messages as they stream (`--include-partial-messages`): the turn's stream then
    /// carries [`Message::StreamEvent`](crate::Message::StreamEvent)s (text deltas, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().include_partial_messages(true).to_args();
    /// assert!(args.contains(&"--include-partial-messages".to_string()));
    /// ```
    pub fn include_partial_messages(mut self, yes: bool) -> Self {
        self.include_partial_messages = yes;
        self
    }

    /// Continues the most recent session in the working directory (`--continue`).
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().continue_conversation(true).to_args();
    /// assert!(args.contains(&"--continue".to_string()));
    /// ```
    pub fn continue_conversation(mut self, yes: bool) -> Self {
        self.continue_conversation = yes;
        self
    }

    /// With [`resume`](Self::resume) or [`continue_conversation`](Self::continue_conversation):
    /// start a new session id from the old conversation instead of appending to it
    /// (`--fork-session`).
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().resume("s").fork_session(true).to_args();
    /// assert!(args.contains(&"--fork-session".to_string()));
    /// ```
    pub fn fork_session(mut self, yes: bool) -> Self {
        self.fork_session = yes;
        self
    }

    /// Which settings files the CLI loads (`--setting-sources=user,project,local`); an empty
    /// list loads none. Unset, the CLI's default.
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new().setting_sources(["project"]).to_args();
    /// assert!(args.contains(&"--setting-sources=project".to_string()));
    /// ```
    pub fn setting_sources<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        sources: I,
    ) -> Self {
        self.setting_sources = Some(sources.into_iter().map(Into::into).collect());
        self
    }

    /// Any other CLI flag: `--flag` (value `None`) or `--flag=value` (equals form). Give the
    /// name without the dashes or with them.
    ///
    /// # Examples
    ///
    /// ```
    /// let args = tether_claude::ClaudeOptions::new()
    ///     .extra_arg("debug-to-stderr", None)
    ///     .extra_arg("effort", Some("high".into()))
    ///     .to_args();
    /// assert!(args.contains(&"--debug-to-stderr".to_string()));
    /// assert!(args.contains(&"--effort=high".to_string()));
    /// ```
    pub fn extra_arg(mut self, flag: impl Into<String>, value: Option<String>) -> Self {
        self.extra_args.push((flag.into(), value));
        self
    }

    /// Subagent definitions (`{"name": {"description", "prompt", "tools", "model"}}`), sent
    /// in `initialize` — never in argv, so there is no argv length limit (py#238).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    ///
    /// let options = tether_claude::ClaudeOptions::new().agents(json!({
    ///     "reviewer": {"description": "Reviews code", "prompt": "You review code."}
    /// }));
    /// assert!(!options.to_args().iter().any(|a| a.contains("reviewer")));
    /// ```
    pub fn agents(mut self, agents: Value) -> Self {
        self.agents = Some(agents);
        self
    }

    /// The permission callback: the CLI asks it before each tool that needs permission
    /// (`--permission-prompt-tool stdio` is added, and input stays open for as long as the
    /// CLI may ask). Each request runs as its own task in the connection's task group, so a
    /// slow answer blocks nothing else — not another request, not an `interrupt`.
    ///
    /// An `Err`, or a panic (logged with `tracing::error!`), is answered as an error reply
    /// (the CLI refuses the tool); the connection survives. A request the CLI withdraws
    /// (`control_cancel_request`, e.g. on interrupt) drops the callback's future at its
    /// pending await, and no reply is sent.
    ///
    /// # Examples
    ///
    /// Against the bundled mock agent, whose `tool` scenario asks to run Bash:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// use futures::StreamExt;
    /// use tether_claude::{ClaudeOptions, Message, PermissionDecision};
    ///
    /// let options = ClaudeOptions::new()
    ///     .cli_path(mock_claude::binary_path())
    ///     .env("MOCK_CLAUDE_SCENARIO", "tool")
    ///     .can_use_tool(|req| async move {
    ///         assert_eq!(req.tool_name, "Bash");
    ///         Ok::<_, tether::BoxError>(PermissionDecision::deny("no shell here"))
    ///     });
    /// let denied = tether_claude::connect(options, async |client| {
    ///     let mut turn = client.query("run it").await?;
    ///     let mut denied = 0;
    ///     while let Some(message) = turn.next().await {
    ///         if let Message::Result(r) = message? {
    ///             denied = r.permission_denials.map_or(0, |d| d.len());
    ///         }
    ///     }
    ///     Ok::<_, tether_claude::Error>(denied)
    /// })
    /// .await??;
    /// assert_eq!(denied, 1);
    /// # Ok(()) }
    /// ```
    pub fn can_use_tool<F, Fut, E>(mut self, callback: F) -> Self
    where
        F: Fn(PermissionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<PermissionDecision, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.can_use_tool = Some(boxed_can_use_tool(callback));
        self
    }

    /// A hook for `event`, for tools matching `matcher` (all when `None`), registered with
    /// the CLI in `initialize`; the CLI applies its own default timeout (see
    /// [`hook_with_timeout`](Self::hook_with_timeout)). The CLI calls it with a
    /// `hook_callback` request, which runs as its own task like a permission request: an
    /// `Err` or a panic becomes an error reply (the CLI warns and goes on), and a withdrawn
    /// request drops the callback at its await.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// use std::sync::{Arc, Mutex};
    /// use futures::StreamExt;
    /// use tether_claude::{ClaudeOptions, HookEvent, HookOutput, PermissionDecision};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let options = ClaudeOptions::new()
    ///     .cli_path(mock_claude::binary_path())
    ///     .env("MOCK_CLAUDE_SCENARIO", "tool")
    ///     .can_use_tool(|_| async { Ok::<_, tether::BoxError>(PermissionDecision::allow()) })
    ///     .hook(HookEvent::PreToolUse, Some("Bash"), move |input| {
    ///         let log = log.clone();
    ///         async move {
    ///             log.lock().unwrap().push(input.input["tool_name"].to_string());
    ///             Ok::<_, tether::BoxError>(HookOutput::default())
    ///         }
    ///     });
    /// tether_claude::connect(options, async |client| {
    ///     let mut turn = client.query("run it").await?;
    ///     while let Some(message) = turn.next().await {
    ///         message?;
    ///     }
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// assert_eq!(*seen.lock().unwrap(), ["\"Bash\""]);
    /// # Ok(()) }
    /// ```
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

    /// As [`hook`](Self::hook), with a timeout for this hook: sent to the CLI with the
    /// registration (`timeout`, in whole seconds, rounded up; at least 1), after which the
    /// CLI stops waiting for the callback and goes on without its answer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether_claude::{ClaudeOptions, HookEvent, HookOutput};
    ///
    /// let options = ClaudeOptions::new().hook_with_timeout(
    ///     HookEvent::PostToolUse,
    ///     None,
    ///     Duration::from_millis(2500),
    ///     |_| async { Ok::<_, tether::BoxError>(HookOutput::default()) },
    /// );
    /// assert!(format!("{options:?}").contains("timeout_secs: Some(3)"));
    /// ```
    pub fn hook_with_timeout<F, Fut, E>(
        mut self,
        event: crate::HookEvent,
        matcher: Option<&str>,
        timeout: Duration,
        callback: F,
    ) -> Self
    where
        F: Fn(HookInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<HookOutput, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        self.hooks.push(HookRegistration {
            event,
            matcher: matcher.map(str::to_string),
            timeout_secs: Some(secs.max(1)),
            callback: boxed_hook(callback),
        });
        self
    }

    /// Receives each line of the CLI's stderr (without the newline) instead of `tracing`
    /// (`debug` level). stderr is always drained, so the CLI never blocks on a full pipe;
    /// a panic in the callback is caught and logged, and draining goes on. The last
    /// [`stderr_tail_bytes`](Self::stderr_tail_bytes) are kept either way for
    /// [`CloseCause`](crate::CloseCause).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// use std::sync::{Arc, Mutex};
    /// use futures::StreamExt;
    ///
    /// let lines = Arc::new(Mutex::new(Vec::new()));
    /// let sink = lines.clone();
    /// let options = tether_claude::ClaudeOptions::new()
    ///     .cli_path(mock_claude::binary_path())
    ///     .env("MOCK_CLAUDE_SCENARIO", "crash:3")
    ///     .stderr(move |line| sink.lock().unwrap().push(line.to_string()));
    /// let outcome = tether_claude::connect(options, async |client| {
    ///     let mut turn = client.query("go").await?;
    ///     while let Some(message) = turn.next().await {
    ///         message?;
    ///     }
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await?;
    /// assert!(outcome.is_err()); // the crash
    /// assert!(lines.lock().unwrap().iter().any(|l| l.contains("simulated crash")));
    /// # Ok(()) }
    /// ```
    pub fn stderr<F>(mut self, callback: F) -> Self
    where
        F: Fn(&str) + Send + Sync + 'static,
    {
        self.stderr = Some(Arc::new(callback));
        self
    }

    /// The longest line accepted from the CLI (default 32 MiB; at least 1). A longer line is
    /// skipped and reported in the turn's stream as
    /// [`Error::LineTooLong`](crate::Error::LineTooLong); the next line is read as usual.
    /// There is no cumulative limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// use futures::StreamExt;
    /// use tether_claude::Error;
    ///
    /// let options = tether_claude::ClaudeOptions::new()
    ///     .cli_path(mock_claude::binary_path())
    ///     .env("MOCK_CLAUDE_SCENARIO", "huge:64KiB")
    ///     .max_line_bytes(16 * 1024);
    /// tether_claude::connect(options, async |client| {
    ///     let mut turn = client.query("go").await?;
    ///     let (mut too_long, mut result) = (0, false);
    ///     while let Some(message) = turn.next().await {
    ///         match message {
    ///             Err(Error::LineTooLong { .. }) => too_long += 1,
    ///             Ok(m) => result |= m.is_result(),
    ///             Err(e) => return Err(e),
    ///         }
    ///     }
    ///     assert!(too_long == 1 && result); // the turn went on to its result
    ///     Ok(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes.max(1);
        self
    }

    /// The look-ahead for a slow consumer (default 100; at least 1): messages are handed
    /// over in bursts of up to this many, and the reader stops reading the CLI's output only
    /// once `2 ×` this many messages wait in its look-ahead (with one more burst in each stage
    /// between it and the consumer). Control traffic never waits behind them. Memory stays
    /// bounded by a small multiple of it, whatever the number of messages.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = tether_claude::ClaudeOptions::new().message_buffer(1000);
    /// # let _ = options;
    /// ```
    pub fn message_buffer(mut self, messages: usize) -> Self {
        self.message_buffer = messages.max(1);
        self
    }

    /// How much of the CLI's stderr is kept for error reports (default 8 KiB): the
    /// `stderr_tail` of [`CloseCause::Exited`](crate::CloseCause::Exited).
    ///
    /// # Examples
    ///
    /// ```
    /// let options = tether_claude::ClaudeOptions::new().stderr_tail_bytes(64 * 1024);
    /// # let _ = options;
    /// ```
    pub fn stderr_tail_bytes(mut self, bytes: usize) -> Self {
        self.stderr_tail_bytes = bytes;
        self
    }

    /// How long a control request (`initialize`, `interrupt`, `set_model`,
    /// `set_permission_mode`) waits for its reply (default 60 s) before
    /// [`Error::ControlTimeout`](crate::Error::ControlTimeout). A CLI that exits fails it at
    /// once, whatever this says.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tether_claude::Error;
    ///
    /// // A CLI that takes 2 s to answer `initialize`, a 100 ms budget.
    /// let options = tether_claude::ClaudeOptions::new()
    ///     .cli_path(mock_claude::binary_path())
    ///     .env("MOCK_CLAUDE_SCENARIO", "slow-start:2000")
    ///     .control_timeout(Duration::from_millis(100))
    ///     .close_grace(Duration::from_millis(100))
    ///     .term_grace(Duration::from_millis(100));
    /// let err = tether_claude::Client::connect(options).await.unwrap_err();
    /// assert!(matches!(err, Error::ControlTimeout { .. }), "{err}");
    /// # }
    /// ```
    pub fn control_timeout(mut self, timeout: Duration) -> Self {
        self.control_timeout = timeout;
        self
    }

    /// Teardown: how long to wait after ending the CLI's input before SIGTERM (default 5 s),
    /// so the CLI can flush its session. Every teardown is bounded by `close_grace +
    /// term_grace` plus a few seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let options = tether_claude::ClaudeOptions::new()
    ///     .close_grace(Duration::from_secs(2))
    ///     .term_grace(Duration::from_secs(1));
    /// assert!(format!("{options:?}").contains("close_grace: 2s"));
    /// ```
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// Teardown: how long to wait after SIGTERM before SIGKILL (default 5 s). See
    /// [`close_grace`](Self::close_grace).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let options = tether_claude::ClaudeOptions::new().term_grace(Duration::from_millis(500));
    /// assert!(format!("{options:?}").contains("term_grace: 500ms"));
    /// ```
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
            .field("env_remove", &self.env_remove)
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
