//! stderr: always drained, to the user's callback or to `tracing`, keeping a tail for errors.
//!
//! A pipe nobody reads fills up (64 KiB on Linux) and then blocks the CLI on its next write:
//! a silent hang. So stderr is read to the end on every connection, whether or not anyone
//! listens.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::options::StderrFn;

/// The longest stderr line passed on in one piece; longer lines are passed on in pieces.
const MAX_STDERR_LINE: usize = 64 * 1024;

/// The last `capacity` bytes of stderr.
#[derive(Debug)]
pub(crate) struct StderrTail {
    bytes: Mutex<VecDeque<u8>>,
    capacity: usize,
}

impl StderrTail {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(StderrTail {
            bytes: Mutex::new(VecDeque::with_capacity(capacity.min(64 * 1024))),
            capacity,
        })
    }

    fn push(&self, data: &[u8]) {
        if self.capacity == 0 {
            return;
        }
        let mut bytes = self.bytes.lock();
        let data = if data.len() > self.capacity {
            &data[data.len() - self.capacity..]
        } else {
            data
        };
        let overflow = (bytes.len() + data.len()).saturating_sub(self.capacity);
        bytes.drain(..overflow);
        bytes.extend(data);
    }

    /// The tail as (lossy) text.
    pub(crate) fn text(&self) -> String {
        let bytes = self.bytes.lock();
        let (a, b) = bytes.as_slices();
        let mut v = Vec::with_capacity(a.len() + b.len());
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        String::from_utf8_lossy(&v).into_owned()
    }
}

fn emit(callback: Option<&StderrFn>, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    match callback {
        Some(cb) => {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| cb(text))) {
                let msg = crate::control::panic_message(&*payload);
                tracing::error!(panic = %msg, "the stderr callback panicked; stderr is still drained");
            }
        }
        None => tracing::info!(target: "tether_claude::cli_stderr", "{text}"),
    }
}

/// Reads `stderr` to its end: each line to `callback` (or `tracing`), every byte into `tail`.
pub(crate) async fn drain<R: AsyncRead + Unpin>(
    mut stderr: R,
    callback: Option<StderrFn>,
    tail: Arc<StderrTail>,
) {
    let mut chunk = vec![0u8; 8 * 1024];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match stderr.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reading the cli's stderr failed");
                break;
            }
        };
        let data = &chunk[..n];
        tail.push(data);
        let mut rest = data;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            line.extend_from_slice(&rest[..i]);
            emit(callback.as_ref(), &line);
            line.clear();
            rest = &rest[i + 1..];
        }
        line.extend_from_slice(rest);
        if line.len() > MAX_STDERR_LINE {
            emit(callback.as_ref(), &line);
            line.clear();
        }
    }
    // The partial last line is passed on too.
    if !line.is_empty() {
        emit(callback.as_ref(), &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_bytes() {
        let t = StderrTail::new(5);
        t.push(b"abc");
        t.push(b"defg");
        assert_eq!(t.text(), "cdefg");
        t.push(b"0123456789");
        assert_eq!(t.text(), "56789");
    }

    #[tokio::test]
    async fn drain_passes_lines_survives_a_panicking_callback_and_flushes_the_tail() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s2 = seen.clone();
        let cb: StderrFn = Arc::new(move |l: &str| {
            if l == "boom" {
                panic!("callback bug");
            }
            s2.lock().push(l.to_string());
        });
        let tail = StderrTail::new(8);
        let input: &[u8] = b"one\nboom\ntwo\nlast-no-newline";
        drain(input, Some(cb), tail.clone()).await;
        assert_eq!(*seen.lock(), ["one", "two", "last-no-newline"]);
        assert_eq!(tail.text(), "-newline");
    }
}
