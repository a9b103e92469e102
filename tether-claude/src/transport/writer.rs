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
    /// `finish()` was called: no more lines are accepted.
    finishing: Arc<std::sync::atomic::AtomicBool>,
}

impl Writer {
    pub(crate) fn new() -> (Writer, WriterTask) {
        let (lines, rx) = tether::unbounded_memory_stream();
        let closed = Arc::new(Event::new());
        (
            Writer {
                lines,
                closed: closed.clone(),
                finishing: Arc::default(),
            },
            WriterTask { rx, closed },
        )
    }

    /// Queues a line; false if input is already closed.
    pub(crate) fn send(&self, line: Vec<u8>) -> bool {
        !self.closed.is_set()
            && !self.finishing.load(std::sync::atomic::Ordering::Acquire)
            && self.lines.try_send(line).is_ok()
    }

    /// Ends input after the lines already queued are written (the one-shot rule: the prompt
    /// must still reach the CLI). Later sends fail. Idempotent.
    pub(crate) fn finish(&self) {
        if !self
            .finishing
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            // An empty line is the end marker: no real line is empty (each ends with `\n`).
            let _ = self.lines.try_send(Vec::new());
        }
    }

    /// Ends input now: the writer stops wherever it is and drops stdin (EOF for the CLI), even
    /// in the middle of a write to a CLI that stopped reading. Idempotent.
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
                    Ok(line) if line.is_empty() => break, // finish(): end of input
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
