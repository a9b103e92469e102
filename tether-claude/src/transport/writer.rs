//! stdin: one writer task, fed lines in order, stopped at once by `close()`.
//!
//! Every line for the CLI (user turns, our control requests, replies to the CLI's requests)
//! goes through one unbounded tether memory stream to one task that owns `ChildStdin`. So lines
//! are never interleaved, a caller never waits on a CLI that stopped reading its stdin, and
//! closing input (teardown) does not wait for a write that may never finish: the close event
//! cuts the writer off wherever it is, and dropping `ChildStdin` is the end of input.

use std::sync::Arc;

use tether::sync::Event;
use tether::{MemoryReceiver, MemorySender};
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;

/// The sending side, shared by the connection.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    lines: MemorySender<Vec<u8>>,
    closed: Arc<Event>,
}

impl Writer {
    pub(crate) fn new() -> (Writer, WriterTask) {
        let (lines, rx) = tether::unbounded_memory_stream();
        let closed = Arc::new(Event::new());
        (
            Writer {
                lines,
                closed: closed.clone(),
            },
            WriterTask { rx, closed },
        )
    }

    /// Queues a line; false if input is already closed.
    pub(crate) fn send(&self, line: Vec<u8>) -> bool {
        !self.closed.is_set() && self.lines.try_send(line).is_ok()
    }

    /// Ends input: the writer stops and drops stdin (EOF for the CLI). Idempotent.
    pub(crate) fn close(&self) {
        self.closed.set();
    }
}

#[derive(Debug)]
pub(crate) struct WriterTask {
    rx: MemoryReceiver<Vec<u8>>,
    closed: Arc<Event>,
}

impl WriterTask {
    /// Writes lines until `close()` (then drops stdin) or a write fails.
    pub(crate) async fn run(self, mut stdin: ChildStdin) {
        let WriterTask { rx, closed } = self;
        loop {
            let line = tokio::select! {
                biased;
                () = closed.wait() => break,
                line = rx.recv() => match line {
                    Ok(line) => line,
                    Err(_) => break,
                },
            };
            let write = async {
                stdin.write_all(&line).await?;
                stdin.flush().await
            };
            tokio::select! {
                biased;
                () = closed.wait() => break,
                result = write => if let Err(e) = result {
                    tracing::debug!(error = %e, "writing to the cli's stdin failed; input closed");
                    closed.set();
                    break;
                },
            }
        }
        drop(stdin);
    }
}
