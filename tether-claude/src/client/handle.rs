//! [`ClientHandle`]: the shareable, `'static` way to use a connection from any task.

use std::sync::Arc;

use serde_json::{Value, json};

use super::connection::Shared;
use super::turn::{ResponseStream, begin_turn};
use crate::error::Result;
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
        begin_turn(&self.shared, prompt.into().to_line(), false, None).await
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

    /// Switches the model (`None`: the CLI's default).
    ///
    /// # Errors
    ///
    /// As [`interrupt`](Self::interrupt), plus
    /// [`Error::ControlRefused`](crate::Error::ControlRefused) if the CLI refuses.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`interrupt`](Self::interrupt).
    pub async fn set_model(&self, model: Option<&str>) -> Result<Value> {
        self.shared
            .request(json!({"subtype": "set_model", "model": model}))
            .await
    }

    /// Switches the permission mode.
    ///
    /// # Errors
    ///
    /// As [`set_model`](Self::set_model).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`interrupt`](Self::interrupt).
    pub async fn set_permission_mode(&self, mode: PermissionMode) -> Result<Value> {
        self.shared
            .request(json!({"subtype": "set_permission_mode", "mode": mode.as_str()}))
            .await
    }

    /// The CLI's answer to `initialize` (commands, models, account, version...).
    pub fn server_info(&self) -> Option<Value> {
        self.shared.server_info().cloned()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.is_ended()
    }

    /// Waits until the connection ends, and returns why.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&self) -> crate::Error {
        self.shared.ended().await;
        self.shared.closed_error()
    }

    /// The CLI's process id.
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }
}
