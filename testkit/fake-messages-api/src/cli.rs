//! Finding the pinned real CLI and the environment that keeps it on the fake.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::FakeMessagesApi;

/// Why the real CLI could not be found or installed.
///
/// # Examples
///
/// ```
/// let error = fake_messages_api::LocateError::Install("npm failed".to_owned());
/// assert!(error.to_string().contains("could not be installed"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocateError {
    /// The install script could not be run at all.
    #[error(
        "cannot run the install script {script}: {source}; run it by hand or set CLAUDE_CLI_PATH"
    )]
    Spawn {
        /// The script's path.
        script: PathBuf,
        /// The spawn error.
        source: std::io::Error,
    },
    /// The install script ran and failed (its messages went to stderr).
    #[error(
        "the real Claude Code CLI could not be installed ({0}); see the install script's messages, or set CLAUDE_CLI_PATH to an installed `claude`"
    )]
    Install(String),
    /// `CLAUDE_CLI_PATH` names a file that does not exist.
    #[error(
        "CLAUDE_CLI_PATH is {0} but no file is there; unset it or point it at an installed `claude`"
    )]
    Missing(PathBuf),
}

/// The real CLI to drive: `CLAUDE_CLI_PATH` if set, else whatever `scripts/install-claude-cli.sh`
/// (the repository's pinned install, cached under `.cache/claude-cli/`) reports. The script's
/// progress goes to this process's stderr.
///
/// Never skips: a test that needs the CLI and gets an error should fail with it.
///
/// # Errors
///
/// [`LocateError`] when the variable points nowhere or the script cannot install the CLI.
///
/// # Examples
///
/// ```no_run
/// let claude = fake_messages_api::real_cli_path().expect("the pinned real CLI");
/// assert!(claude.is_file());
/// ```
pub fn real_cli_path() -> Result<PathBuf, LocateError> {
    if let Some(path) = std::env::var_os("CLAUDE_CLI_PATH") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(LocateError::Missing(path))
        };
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-claude-cli.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| LocateError::Spawn {
            script: script.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(LocateError::Install(format!(
            "{} exited with {}",
            script.display(),
            output.status
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("CLAUDE_CLI_PATH="))
        .map(PathBuf::from)
        .ok_or_else(|| {
            LocateError::Install(format!(
                "{} printed no CLAUDE_CLI_PATH= line",
                script.display()
            ))
        })
}

/// Variables to remove from the CLI's environment: a parent Claude Code session's marker, and
/// credentials or endpoints that would send the CLI anywhere but the fake.
pub const CLI_ENV_REMOVE: &[&str] = &[
    "CLAUDECODE",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BEDROCK_BASE_URL",
    "ANTHROPIC_VERTEX_BASE_URL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
];

/// The environment that keeps the real CLI on this fake and off the network: the fake's base
/// URL, a dummy key, telemetry, auto-update, error reporting and nonessential traffic off, and a
/// scratch `HOME` (the CLI writes its config and session files there). Add
/// `CLAUDE_CODE_ENTRYPOINT` and remove [`CLI_ENV_REMOVE`] yourself.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let api = fake_messages_api::FakeMessagesApi::start().await?;
/// let env = fake_messages_api::cli_env(&api, std::path::Path::new("/tmp/scratch-home"));
/// assert!(env.contains(&("ANTHROPIC_BASE_URL", api.base_url())));
/// assert!(env.contains(&("HOME", "/tmp/scratch-home".to_owned())));
/// # Ok(())
/// # }
/// ```
pub fn cli_env(api: &FakeMessagesApi, home: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_BASE_URL", api.base_url()),
        ("ANTHROPIC_API_KEY", "dummy".to_owned()),
        ("DISABLE_TELEMETRY", "1".to_owned()),
        ("DISABLE_AUTOUPDATER", "1".to_owned()),
        ("DISABLE_ERROR_REPORTING", "1".to_owned()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
        ("HOME", home.display().to_string()),
    ]
}
