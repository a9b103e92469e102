//! The one-shot form: `query(prompt, options)` → a stream of messages.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use tether::MemoryReceiver;

use super::connection::Item;
use super::owned::connect;
use super::turn::begin_turn;
use crate::error::Result;
use crate::options::ClaudeOptions;
use crate::wire::{Message, Prompt};

/// Runs one prompt and streams every message until the CLI exits, with the full control
/// protocol (permission callback, hooks, in-process tools all work).
///
/// Input is closed by the official rule: right after the prompt when no callback is
/// registered; otherwise after a `result` once no background task the CLI announced is still
/// running — never on a guess while the CLI may still call back.
///
/// The stream yields `Err` items for bad lines (and goes on), and a final
/// `Err(Error::Closed)` if the CLI exits with a failure status (with the status and stderr
/// tail). It is the scoped [`connect`] inside: nothing runs until it is first polled, and the
/// CLI has exited and been reaped when it ends.
///
/// # Cancel safety
///
/// Dropping the stream early kills the CLI at once (SIGKILL) and tokio reaps it. To end it
/// gracefully instead, cancel the task or scope that polls it: the teardown then runs
/// shielded (end of input, grace periods, SIGTERM, SIGKILL).
///
/// # Panics
///
/// The stream must be polled from one task: its connection's task group is bound to the
/// task that first polled it (moving it to another task mid-way panics with a
/// `TaskContextError` message).
///
/// # Examples
///
/// Against the bundled mock agent (`ClaudeOptions::new()` alone finds the real CLI):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let options = tether_claude::ClaudeOptions::new()
/// #     .cli_path(mock_claude::binary_path())
/// #     .env("MOCK_CLAUDE_SCENARIO", "hello");
/// use futures::StreamExt;
/// use tether_claude::{Message, query};
///
/// let mut messages = std::pin::pin!(query("Say hello", options));
/// let mut answer = None;
/// while let Some(message) = messages.next().await {
///     if let Ok(Message::Result(result)) = message {
///         answer = result.result;
///     }
/// }
/// assert_eq!(answer.as_deref(), Some("Hello from mock-claude"));
/// # }
/// ```
pub fn query(prompt: impl Into<Prompt>, options: ClaudeOptions) -> QueryStream {
    let line = prompt.into().to_line();
    let (tx, rx) = tether::memory_stream::<Item>(0);
    let driver = async move {
        let outcome = connect(options, async |client| {
            let mut turn = match begin_turn(&client.handle().shared, line, true, None).await {
                Ok(turn) => turn,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(item) = turn.next().await {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        })
        .await;
        if let Err(e) = outcome {
            let _ = tx.send(Err(e)).await;
        }
    };
    QueryStream {
        driver: Some(driver.boxed()),
        rx,
    }
}

/// The stream returned by [`query`].
#[must_use = "streams do nothing unless polled"]
pub struct QueryStream {
    driver: Option<BoxFuture<'static, ()>>,
    rx: MemoryReceiver<Item>,
}

impl Stream for QueryStream {
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(driver) = &mut this.driver
            && driver.as_mut().poll(cx).is_ready()
        {
            this.driver = None;
        }
        match this.rx.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Ready(None) if this.driver.is_none() => Poll::Ready(None),
            // The driver is still tearing down: it wakes us when it finishes.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("running", &self.driver.is_some())
            .finish()
    }
}
