//! The two ways to hold a connection: the scoped [`connect`] and the owned [`Client`].

use futures::FutureExt;
use parking_lot::Mutex;
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use tether::{OwnedTaskGroup, TaskBinding, TaskId};

use super::connection::Shared;
use super::handle::ClientHandle;
use super::turn::{ResponseStream, begin_turn};
use crate::error::{CloseCause, Error, Result};
use crate::options::{ClaudeOptions, PermissionMode};
use crate::wire::Prompt;

/// Connects, runs `body` with the client, then disconnects — whatever happens in `body`.
///
/// The connection's tasks live in a tether task group inside this call. When it returns, the
/// CLI has exited and been reaped: `body` returned, failed, panicked (the panic resumes after
/// the teardown) or was cancelled by an enclosing tether scope (the teardown runs shielded).
/// The teardown is bounded: end of input, `close_grace`, SIGTERM, `term_grace`, SIGKILL, reap.
///
/// The body gets `&Client`; [`Client::handle`] gives a [`ClientHandle`] for other tasks,
/// which fail with [`Error::Closed`] once the scope is left.
///
/// # Errors
///
/// [`Error::CliNotFound`], [`Error::Spawn`], or the `initialize` failure
/// ([`Error::ControlTimeout`], [`Error::Closed`] if the CLI exited at once).
///
/// # Panics
///
/// A panic in `body` resumes after the teardown.
///
/// # Cancel safety
///
/// Cancelled by a tether scope: `body` is dropped at its await and the teardown runs to
/// completion (shielded). Dropped by other means (a `select!` branch losing): the CLI is
/// killed at once (SIGKILL) and reaped by tokio in the background.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_claude::Error> {
/// use futures::StreamExt;
/// use tether_claude::{ClaudeOptions, connect};
///
/// let answer = connect(ClaudeOptions::new(), async |client| {
///     let mut turn = client.query("What is 2 + 2?").await?;
///     let mut text = String::new();
///     while let Some(message) = turn.next().await {
///         text += &message?.text().unwrap_or_default();
///     }
///     Ok::<_, tether_claude::Error>(text)
/// })
/// .await??;
/// # Ok(()) }
/// ```
pub async fn connect<T>(options: ClaudeOptions, body: impl AsyncFnOnce(&Client) -> T) -> Result<T> {
    let client = Client::connect(options).await?;
    let outcome = tether::with_cleanup(AssertUnwindSafe(body(&client)).catch_unwind(), async {
        if let Err(e) = client.shutdown().await {
            tracing::warn!(error = %e, "the connection's teardown reported a failure");
        }
    })
    .await;
    match outcome {
        Ok(value) => Ok(value),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// An owned connection: `Client::connect(options).await?` … `client.disconnect().await`, in
/// the same task.
///
/// The connection's tasks live in a tether [`OwnedTaskGroup`] opened by `connect` in the
/// calling task. Receiving on this client's streams or disconnecting it from another task is
/// a typed [`Error::WrongTask`] naming both tasks, at once — never a hang. To use the
/// connection from other tasks, give them a [`ClientHandle`] ([`handle`](Self::handle)).
///
/// Dropping a `Client` without `disconnect()` kills the CLI at once (SIGKILL; tokio reaps it
/// in the background) and fails every handle with [`CloseCause::Dropped`]. `Drop` never
/// blocks.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_claude::Error> {
/// use futures::StreamExt;
/// use tether_claude::{ClaudeOptions, Client};
///
/// let mut client = Client::connect(ClaudeOptions::new()).await?;
/// let mut turn = client.query("hello").await?;
/// while let Some(message) = turn.next().await {
///     println!("{:?}", message?);
/// }
/// drop(turn);
/// client.disconnect().await?;
/// # Ok(()) }
/// ```
pub struct Client {
    handle: ClientHandle,
    /// The connection's group; `None` once closed.
    group: Mutex<Option<OwnedTaskGroup>>,
    /// The task that connected: `query`, receiving and `disconnect` check it.
    binding: TaskBinding,
}

/// The owned client's binding to the task that connected it.
pub(crate) fn client_binding() -> TaskBinding {
    TaskBinding::current(
        "owned claude client",
        "use it in the task that connected it, or give other tasks a ClientHandle \
         (client.handle())",
    )
    .created_as("connected")
}

impl Client {
    /// Finds and starts the CLI, starts the connection's tasks, and runs `initialize`.
    ///
    /// # Errors
    ///
    /// As [`connect`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future kills a CLI that was already started (SIGKILL, reaped by tokio).
    ///
    /// # Examples
    ///
    /// Against the bundled mock agent (`ClaudeOptions::new()` alone finds the real CLI):
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// use tether_claude::Client;
    ///
    /// let mut client = Client::connect(options).await?;
    /// assert_eq!(client.host(), tether::TaskId::current());
    /// assert!(client.server_info().is_some());
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(options: ClaudeOptions) -> Result<Client> {
        // Opened under a shield: only this connection decides when its tasks stop, so an
        // enclosing cancellation can never kill the owner task before the graceful teardown.
        let group = tether::shield(async { OwnedTaskGroup::open() }).await;
        let binding = client_binding();
        let shared = match Shared::spawn(&group, &options) {
            Ok(shared) => shared,
            Err(e) => {
                let mut group = group;
                let _ = group.close().await;
                return Err(e);
            }
        };
        let client = Client {
            handle: ClientHandle {
                shared: shared.clone(),
            },
            group: Mutex::new(Some(group)),
            binding,
        };
        if let Err(e) = shared.initialize(&options).await {
            let _ = client.shutdown().await;
            return Err(e);
        }
        Ok(client)
    }

    /// `Err(Error::WrongTask)` naming both tasks if the current task is not the one that
    /// connected; `action` completes the message ("owned claude client connected in task 3 was
    /// {action} from task 9").
    fn check_task(&self, operation: &'static str, action: &'static str) -> Result<()> {
        self.binding
            .check(action)
            .map_err(|source| Error::WrongTask { operation, source })
    }

    /// Queues a turn and returns its messages, bound to this task.
    ///
    /// # Errors
    ///
    /// [`Error::WrongTask`] from another task; [`Error::Closed`] if the connection ended.
    ///
    /// # Cancel safety
    ///
    /// As [`ClientHandle::query`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// use futures::StreamExt;
    /// use tether_claude::{Client, Error, Message};
    ///
    /// let mut client = Client::connect(options).await?;
    /// let mut turn = client.query("ping").await?;
    /// let mut last = None;
    /// while let Some(message) = turn.next().await {
    ///     last = Some(message?);
    /// }
    /// assert!(matches!(last, Some(Message::Result(_))));
    ///
    /// // From another task: a typed error at once, naming both tasks.
    /// let host = client.host();
    /// let (client_back, err) = tokio::spawn(async move {
    ///     let err = client.query("ping").await.unwrap_err();
    ///     (client, err)
    /// })
    /// .await
    /// .unwrap();
    /// let Error::WrongTask { source, .. } = err else { panic!("{err}") };
    /// assert_eq!(source.owner(), host);
    /// client = client_back;
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn query(&self, prompt: impl Into<Prompt>) -> Result<ResponseStream> {
        self.check_task("query", "queried")?;
        begin_turn(
            &self.handle.shared,
            prompt.into().to_line(),
            false,
            Some(self.binding),
        )
        .await
    }

    /// Interrupts the current turn (from any task: this is the point of an interrupt).
    ///
    /// # Errors
    ///
    /// As [`ClientHandle::interrupt`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// let mut client = tether_claude::Client::connect(options).await?;
    /// client.interrupt().await?; // harmless while idle
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn interrupt(&self) -> Result<()> {
        self.handle.interrupt().await
    }

    /// Switches the model. See [`ClientHandle::set_model`].
    ///
    /// # Errors
    ///
    /// As [`ClientHandle::set_model`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// let mut client = tether_claude::Client::connect(options).await?;
    /// let reply = client.set_model(Some("claude-haiku-4-5")).await?;
    /// assert_eq!(reply["model"], "claude-haiku-4-5");
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_model(&self, model: Option<&str>) -> Result<Value> {
        self.handle.set_model(model).await
    }

    /// Switches the permission mode. See [`ClientHandle::set_permission_mode`].
    ///
    /// # Errors
    ///
    /// As [`ClientHandle::set_permission_mode`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// let mut client = tether_claude::Client::connect(options).await?;
    /// use tether_claude::PermissionMode;
    ///
    /// let reply = client.set_permission_mode(PermissionMode::Plan).await?;
    /// assert_eq!(reply["mode"], "plan");
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_permission_mode(&self, mode: PermissionMode) -> Result<Value> {
        self.handle.set_permission_mode(mode).await
    }

    /// A shareable handle for other tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// let mut client = tether_claude::Client::connect(options).await?;
    /// let handle = client.handle();
    /// let pid = tokio::spawn(async move { handle.pid() }).await.unwrap();
    /// assert!(pid > 0);
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub fn handle(&self) -> ClientHandle {
        self.handle.clone()
    }

    /// The CLI's answer to `initialize`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// let mut client = tether_claude::Client::connect(options).await?;
    /// assert!(client.server_info().is_some());
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub fn server_info(&self) -> Option<Value> {
        self.handle.server_info()
    }

    /// The task that connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// let mut client = tether_claude::Client::connect(options).await?;
    /// assert_eq!(client.host(), tether::TaskId::current());
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub fn host(&self) -> TaskId {
        self.binding.task()
    }

    /// Disconnects: ends input, waits `close_grace`, SIGTERM, waits `term_grace`, SIGKILL,
    /// reaps the CLI, stops the connection's tasks. Every handle and open stream then fails
    /// with [`CloseCause::Disconnected`] (or the earlier cause, if the CLI had already exited).
    /// Idempotent.
    ///
    /// # Errors
    ///
    /// [`Error::WrongTask`] at once from a task other than the one that connected (the client
    /// stays connected and can still be disconnected from the right task);
    /// [`Error::Group`] if a connection task failed.
    ///
    /// # Cancel safety
    ///
    /// Runs shielded: a cancellation waits for the (bounded) teardown to finish.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// use tether_claude::{Client, CloseCause, Error};
    ///
    /// let mut client = Client::connect(options).await?;
    /// let handle = client.handle();
    /// client.disconnect().await?;
    /// client.disconnect().await?; // idempotent
    /// // Every handle now fails at once with the cause.
    /// let Err(Error::Closed(cause)) = handle.query("late").await else { panic!() };
    /// assert!(matches!(*cause, CloseCause::Disconnected));
    /// # Ok(()) }
    /// ```
    pub async fn disconnect(&mut self) -> Result<()> {
        self.check_task("disconnect", "disconnected")?;
        self.shutdown().await
    }

    /// The teardown shared by `disconnect` and the scoped form.
    async fn shutdown(&self) -> Result<()> {
        let group = self.group.lock().take();
        let Some(mut group) = group else {
            return Ok(());
        };
        let shared = self.handle.shared.clone();
        tether::shield(async move {
            shared.end(CloseCause::Disconnected);
            if !shared.terminate().await {
                tracing::error!(pid = shared.pid, "the cli was not reaped after SIGKILL");
            }
            group.cancel_scope().cancel();
            match group.close().await {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Group(e.to_string())),
            }
        })
        .await
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(group) = self.group.get_mut().take() {
            self.handle.shared.end(CloseCause::Dropped);
            // Abandons the group: its tasks are dropped at their next poll; the owner task's
            // `Child` is killed on drop and reaped by tokio.
            drop(group);
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.binding.task())
            .field("pid", &self.handle.pid())
            .field("connected", &self.group.lock().is_some())
            .finish()
    }
}
