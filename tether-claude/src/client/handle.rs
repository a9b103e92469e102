//! [`ClientHandle`]: the shareable, `'static` way to use a connection from any task.

use std::sync::Arc;

use serde_json::{Value, json};

use super::connection::Shared;
use super::turn::{PendingTurn, ResponseStream, enqueue_turn};
use crate::error::{CloseCause, Result};
use crate::options::PermissionMode;
use crate::wire::Prompt;

/// A cheap, cloneable handle to a connection, usable from any task (`Clone + Send + Sync +
/// 'static`): put it in axum state, hand it to spawned tasks.
///
/// - [`query`](Self::query) queues a turn; turns are served **one at a time, in the order
///   they were asked**; each caller gets exactly its own turn's messages.
/// - [`interrupt`](Self::interrupt), [`set_model`](Self::set_model),
///   [`set_permission_mode`](Self::set_permission_mode) work from any task at any time; they
///   never wait behind a turn or a callback.
/// - When the connection ends (the CLI exited, a disconnect, the scope was left), every
///   waiting or later call and every open [`ResponseStream`] fails at once with
///   [`Error::Closed`](crate::Error::Closed) carrying the cause.
///
/// A handle does not keep the connection open: the scope or owned client that made it does.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), tether_claude::Error> {
/// use futures::StreamExt;
/// use tether_claude::{ClaudeOptions, connect};
///
/// connect(ClaudeOptions::new(), async |client| {
///     let handle = client.handle();
///     let task = tokio::spawn(async move {
///         let mut turn = handle.query("What is 2 + 2?").await?;
///         while let Some(message) = turn.next().await {
///             println!("{:?}", message?);
///         }
///         Ok::<_, tether_claude::Error>(())
///     });
///     task.await.unwrap()
/// })
/// .await??;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClientHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ClientHandle {
    /// Queues a turn and waits until it is this turn's go; returns its messages.
    ///
    /// The turn enters the connection's queue on the **first poll** of the returned future,
    /// before it first waits (this is guaranteed): a caller that polls it once under its own
    /// lock numbers turns in queue order. [`enqueue`](Self::enqueue) does the same without a
    /// poll. `query(p).await` is `enqueue(p)?.await`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) with the cause if the connection ended (before
    /// or while waiting).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the call while it waits withdraws the turn; its prompt is never
    /// written.
    ///
    /// # Examples
    ///
    /// Two tasks share one connection; each gets exactly its own turn (against the bundled
    /// mock agent, which echoes the prompt):
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// use futures::StreamExt;
    ///
    /// tether_claude::connect(options, async |client| {
    ///     let ask = |prompt: &'static str| {
    ///         let handle = client.handle();
    ///         tokio::spawn(async move {
    ///             let mut turn = handle.query(prompt).await?;
    ///             let mut text = String::new();
    ///             while let Some(message) = turn.next().await {
    ///                 text += &message?.text().unwrap_or_default();
    ///             }
    ///             Ok::<_, tether_claude::Error>(text)
    ///         })
    ///     };
    ///     let (a, b) = (ask("first"), ask("second"));
    ///     assert!(a.await.unwrap()?.contains("first"));
    ///     assert!(b.await.unwrap()?.contains("second"));
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub async fn query(&self, prompt: impl Into<Prompt>) -> Result<ResponseStream> {
        self.enqueue(prompt)?.await
    }

    /// Queues a turn now, synchronously, and returns the wait for its start: a
    /// [`PendingTurn`] (a future resolving to the turn's [`ResponseStream`]) that already
    /// knows its [`turn_number`](PendingTurn::turn_number) — the turn's place in the queue.
    ///
    /// Turns are served in the order they were queued. Dropping the `PendingTurn` before it
    /// resolves withdraws the turn (its prompt is never written).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) with the cause if the connection already
    /// ended; awaiting the `PendingTurn` gives the same error if it ends while the turn waits.
    ///
    /// # Examples
    ///
    /// Number requests in the order they will be served, without polling tricks:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// use futures::StreamExt;
    ///
    /// tether_claude::connect(options, async |client| {
    ///     let handle = client.handle();
    ///     let pending = handle.enqueue("hello")?;
    ///     assert_eq!(pending.turn_number(), 1);
    ///     assert_eq!(handle.queue_len(), 1);
    ///     let mut turn = pending.await?;
    ///     while let Some(message) = turn.next().await {
    ///         message?;
    ///     }
    ///     assert_eq!(handle.turns_started(), 1);
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub fn enqueue(&self, prompt: impl Into<Prompt>) -> Result<PendingTurn> {
        enqueue_turn(&self.shared, prompt.into().to_line(), false, None)
    }

    /// How many turns wait in the queue: queued, not withdrawn, not yet started (the running
    /// turn is not counted).
    ///
    /// # Examples
    ///
    /// See [`enqueue`](Self::enqueue).
    pub fn queue_len(&self) -> usize {
        self.shared.turn_book.queue_len()
    }

    /// How many turns have started on this connection (their prompt was written), including
    /// the running one and interrupted ones.
    ///
    /// # Examples
    ///
    /// See [`enqueue`](Self::enqueue).
    pub fn turns_started(&self) -> u64 {
        self.shared.turn_book.turns_started()
    }

    /// The [`turn_number`](ResponseStream::turn_number) of the running turn: `Some` from the
    /// moment its prompt is written until the connection has read its `result` (or the
    /// connection ended); `None` between turns.
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
    ///
    /// tether_claude::connect(options, async |client| {
    ///     let handle = client.handle();
    ///     assert_eq!(handle.current_turn(), None);
    ///     let mut turn = handle.query("hi").await?;
    ///     assert_eq!(handle.current_turn(), Some(turn.turn_number()));
    ///     while let Some(message) = turn.next().await {
    ///         message?;
    ///     }
    ///     assert_eq!(handle.current_turn(), None);
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub fn current_turn(&self) -> Option<u64> {
        self.shared.turn_book.current_turn()
    }

    /// Interrupts the current turn (its stream then ends with a `result` whose
    /// `terminal_reason` says it was aborted). Harmless when idle.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) at once if the connection ended;
    /// [`Error::ControlTimeout`](crate::Error::ControlTimeout) if the CLI does not answer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the request was sent or not; a late reply is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// tether_claude::connect(options, async |client| {
    ///     let handle = client.handle();
    ///     // From any task, at any time; harmless while idle.
    ///     tokio::spawn(async move { handle.interrupt().await }).await.unwrap()
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub async fn interrupt(&self) -> Result<()> {
        self.shared
            .request(json!({"subtype": "interrupt"}))
            .await
            .map(drop)
    }

    /// Switches the model for the following turns (`None`: the CLI's default). Returns the
    /// CLI's answer (`{"model": ...}` from the real CLI). Sent as a `set_model` control
    /// request; like every control request it never waits behind a turn or a callback.
    ///
    /// # Errors
    ///
    /// As [`interrupt`](Self::interrupt), plus
    /// [`Error::ControlRefused`](crate::Error::ControlRefused) with the CLI's message if the
    /// CLI refuses.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`interrupt`](Self::interrupt).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// tether_claude::connect(options, async |client| {
    ///     let handle = client.handle();
    ///     let reply = handle.set_model(Some("claude-opus-4-1")).await?;
    ///     assert_eq!(reply["model"], "claude-opus-4-1");
    ///     handle.set_model(None).await?; // back to the default
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub async fn set_model(&self, model: Option<&str>) -> Result<Value> {
        self.shared
            .request(json!({"subtype": "set_model", "model": model}))
            .await
    }

    /// Switches the permission mode for what follows. Returns the CLI's answer (`{"mode":
    /// ...}`). Sent as a `set_permission_mode` control request.
    ///
    /// # Errors
    ///
    /// As [`set_model`](Self::set_model); an invalid mode is
    /// [`Error::ControlRefused`](crate::Error::ControlRefused) carrying the CLI's reason.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`interrupt`](Self::interrupt).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// use tether_claude::{Error, PermissionMode};
    ///
    /// tether_claude::connect(options, async |client| {
    ///     let handle = client.handle();
    ///     let reply = handle.set_permission_mode(PermissionMode::AcceptEdits).await?;
    ///     assert_eq!(reply["mode"], "acceptEdits");
    ///     let refused = handle
    ///         .set_permission_mode(PermissionMode::Other("nonsense".into()))
    ///         .await;
    ///     assert!(matches!(refused, Err(Error::ControlRefused { .. })));
    ///     Ok::<_, tether_claude::Error>(())
    /// })
    /// .await??;
    /// # Ok(()) }
    /// ```
    pub async fn set_permission_mode(&self, mode: PermissionMode) -> Result<Value> {
        self.shared
            .request(json!({"subtype": "set_permission_mode", "mode": mode.as_str()}))
            .await
    }

    /// The CLI's answer to `initialize` (commands, models, account, version...); `None` only
    /// if the connection never got it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// tether_claude::connect(options, async |client| {
    ///     let info = client.handle().server_info().expect("initialized");
    ///     assert!(info.get("commands").is_some());
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn server_info(&self) -> Option<Value> {
        self.shared.server_info().cloned()
    }

    /// Whether the connection has ended (then [`close_cause`](Self::close_cause) says why).
    ///
    /// # Examples
    ///
    /// See [`close_cause`](Self::close_cause).
    pub fn is_closed(&self) -> bool {
        self.shared.is_ended()
    }

    /// Why the connection ended, without waiting: `None` while it is open. The cause the
    /// waiting calls and open streams got in their [`Error::Closed`](crate::Error::Closed).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// use tether_claude::CloseCause;
    ///
    /// let handle = tether_claude::connect(options, async |client| {
    ///     let handle = client.handle();
    ///     assert!(handle.close_cause().is_none() && !handle.is_closed());
    ///     handle
    /// })
    /// .await?;
    /// // The scope was left: the connection was disconnected.
    /// assert!(handle.is_closed());
    /// assert!(matches!(*handle.close_cause().unwrap(), CloseCause::Disconnected));
    /// # Ok(()) }
    /// ```
    pub fn close_cause(&self) -> Option<Arc<CloseCause>> {
        self.shared.cause()
    }

    /// Waits until the connection ends, and returns why (as the
    /// [`Error::Closed`](crate::Error::Closed) every call then gets).
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
    /// let handle = client.handle();
    /// let watcher = tokio::spawn(async move { handle.closed().await });
    /// client.disconnect().await?;
    /// let err = watcher.await.unwrap();
    /// assert!(matches!(err, tether_claude::Error::Closed(_)));
    /// # Ok(()) }
    /// ```
    pub async fn closed(&self) -> crate::Error {
        self.shared.ended().await;
        self.shared.closed_error()
    }

    /// The CLI's process id.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tether_claude::Error> {
    /// # let options = tether_claude::ClaudeOptions::new()
    /// #     .cli_path(mock_claude::binary_path())
    /// #     .env("MOCK_CLAUDE_SCENARIO", "echo");
    /// tether_claude::connect(options, async |client| {
    ///     assert!(client.handle().pid() > 0);
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }
}
