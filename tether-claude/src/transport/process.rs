//! The CLI process: spawning it, owning the `Child`, signalling it, and the bounded teardown.
//!
//! # Who owns what
//!
//! One task of the connection's group (the *owner*, [`own_child`]) holds the `tokio::process::
//! Child` and is the only one that waits on it, so the exit status is recorded exactly once
//! ([`Exit`]) and the pid is never signalled after the owner reaped it (except in the instant
//! between a check and a signal, which no pid-based API avoids). Others ask the owner to SIGKILL
//! through a `Notify`, and SIGTERM by pid (with `kill(1)`, so the crate stays free of `unsafe`
//! and of a libc binding).
//!
//! # Teardown
//!
//! [`terminate`] is the escalation every ending goes through: end input, wait `close_grace`,
//! SIGTERM, wait `term_grace`, SIGKILL, wait for the reap. Each wait is bounded, so the whole is
//! bounded by `close_grace + term_grace + KILL_REAP_LIMIT`. Callers run it shielded.
//!
//! If the owner task is dropped instead (the connection's group abandoned: a dropped future,
//! an owned client dropped without `disconnect()`), the `Child` is dropped with
//! `kill_on_drop(true)`: SIGKILL at once, and tokio reaps the process in the background (its
//! orphan queue is drained whenever the runtime's signal driver sees a `SIGCHLD`, so a killed
//! child never stays a zombie while the runtime runs — `tests/teardown.rs` checks it).

use std::io;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tether::Event;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::options::ClaudeOptions;

/// How long to wait for the reap after SIGKILL (it is immediate on any sane system).
const KILL_REAP_LIMIT: Duration = Duration::from_secs(5);

/// A spawned CLI and its pipes.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: ChildStdout,
    pub(crate) stderr: ChildStderr,
}

pub(crate) fn spawn(options: &ClaudeOptions, program: &Path) -> Result<Spawned> {
    let mut child = options.command(program).spawn().map_err(|e| Error::Spawn {
        path: program.to_path_buf(),
        message: e.to_string(),
    })?;
    let pid = child.id().expect("a child that was just spawned has a pid");
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    Ok(Spawned {
        child,
        pid,
        stdin,
        stdout,
        stderr,
    })
}

/// The process's exit, shared by everyone who needs it.
#[derive(Debug, Default)]
pub(crate) struct Exit {
    /// The status, once reaped (or the error `wait` gave).
    status: OnceLock<Result<ExitStatus, String>>,
    /// Set once `status` is.
    event: Event,
    /// Asks the owner to SIGKILL.
    kill: Notify,
    /// The pid, for SIGTERM.
    pid: OnceLock<u32>,
}

impl Exit {
    pub(crate) fn new(pid: u32) -> Arc<Self> {
        let exit = Exit::default();
        let _ = exit.pid.set(pid);
        Arc::new(exit)
    }

    /// The exit status, if the process was reaped.
    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.status.get().and_then(|s| s.as_ref().ok().copied())
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.event.is_set()
    }

    /// Waits until the process was reaped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; a cancellation point.
    pub(crate) async fn wait(&self) {
        self.event.wait().await;
    }

    /// Waits at most `limit`; whether it exited.
    pub(crate) async fn wait_for(&self, limit: Duration) -> bool {
        tether::move_on_after(limit, self.wait()).await.is_some()
    }

    /// SIGTERM by pid, unless already reaped.
    async fn terminate(&self) {
        if self.has_exited() {
            return;
        }
        let Some(pid) = self.pid.get() else { return };
        let sent = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, pid, "could not run kill(1) to SIGTERM the cli; going on to SIGKILL");
        }
    }

    /// Asks the owner task for SIGKILL.
    fn kill(&self) {
        self.kill.notify_one();
    }
}

/// The owner task: holds the `Child`, kills it when asked, reaps it, records the status.
///
/// # Cancel safety
///
/// If dropped before the child exited, the `Child` is dropped with `kill_on_drop`: SIGKILL now,
/// reaped by tokio in the background.
pub(crate) async fn own_child(mut child: Child, exit: Arc<Exit>) {
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            () = exit.kill.notified() => {
                if let Err(e) = child.start_kill() {
                    tracing::debug!(error = %e, "SIGKILL of the cli failed (already exited?)");
                }
            }
        }
    };
    let _ = exit
        .status
        .set(status.map_err(|e: io::Error| e.to_string()));
    exit.event.set();
}

/// The bounded escalation: `close_input` (ends stdin), wait `close_grace`, SIGTERM, wait
/// `term_grace`, SIGKILL, wait for the reap. Returns whether the process was reaped.
///
/// # Cancel safety
///
/// Not cancel safe: run it shielded (`tether::shield`), as every caller in this crate does, so
/// a cancellation cannot skip the escalation.
pub(crate) async fn terminate(
    exit: &Exit,
    close_input: impl FnOnce(),
    close_grace: Duration,
    term_grace: Duration,
) -> bool {
    close_input();
    if exit.wait_for(close_grace).await {
        return true;
    }
    tracing::debug!("the cli did not exit after end of input; sending SIGTERM");
    exit.terminate().await;
    if exit.wait_for(term_grace).await {
        return true;
    }
    tracing::warn!("the cli ignored SIGTERM; sending SIGKILL");
    exit.kill();
    exit.wait_for(KILL_REAP_LIMIT).await
}
