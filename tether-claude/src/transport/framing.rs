//! NDJSON framing with a per-line limit.
//!
//! A line may arrive in any number of read chunks (a chunk boundary can fall anywhere, even
//! inside a UTF-8 sequence: bytes are joined before decoding). A line longer than the limit is
//! not kept: its bytes are counted and dropped as they arrive, so memory stays bounded by the
//! limit, and the caller gets [`Frame::TooLong`] for it and then the next line as usual. There
//! is no cumulative limit.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Read buffer size: large reads keep syscalls per message low.
const CHUNK: usize = 64 * 1024;

/// One framed item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A line, without its newline.
    Line(Vec<u8>),
    /// A line over the limit, skipped; its length in bytes.
    TooLong(usize),
    /// End of input.
    Eof,
}

#[derive(Debug)]
pub(crate) struct LineReader<R> {
    inner: BufReader<R>,
    limit: usize,
    /// The partial line so far (never longer than `limit`).
    buf: Vec<u8>,
    /// Bytes seen of a line that went over the limit, while skipping the rest of it.
    skipping: Option<usize>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(reader: R, limit: usize) -> Self {
        LineReader {
            inner: BufReader::with_capacity(CHUNK, reader),
            limit,
            buf: Vec::new(),
            skipping: None,
        }
    }

    /// Whether a whole line is already buffered (so `next` would not wait on the pipe).
    pub(crate) fn has_complete_line(&self) -> bool {
        memchr::memchr(b'\n', self.inner.buffer()).is_some()
    }

    /// The per-line limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The next line.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the partial line stays in `self`, and consumed bytes are recorded before
    /// any await.
    pub(crate) async fn next(&mut self) -> io::Result<Frame> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                if let Some(len) = self.skipping.take() {
                    return Ok(Frame::TooLong(len));
                }
                if !self.buf.is_empty() {
                    return Ok(Frame::Line(std::mem::take(&mut self.buf)));
                }
                return Ok(Frame::Eof);
            }
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    let frame = if let Some(len) = self.skipping.take() {
                        Frame::TooLong(len + i)
                    } else if self.buf.len() + i > self.limit {
                        let len = self.buf.len() + i;
                        self.buf = Vec::new();
                        Frame::TooLong(len)
                    } else if self.buf.is_empty() {
                        Frame::Line(chunk[..i].to_vec())
                    } else {
                        self.buf.extend_from_slice(&chunk[..i]);
                        Frame::Line(std::mem::take(&mut self.buf))
                    };
                    self.inner.consume(i + 1);
                    return Ok(frame);
                }
                None => {
                    let n = chunk.len();
                    if let Some(len) = &mut self.skipping {
                        *len += n;
                    } else if self.buf.len() + n > self.limit {
                        self.skipping = Some(self.buf.len() + n);
                        self.buf = Vec::new(); // give the memory back
                    } else {
                        self.buf.extend_from_slice(chunk);
                    }
                    self.inner.consume(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(data: &[u8], chunk: usize, limit: usize) -> Vec<Frame> {
        let (r, mut w) = tokio::io::simplex(chunk.max(1));
        let data = data.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in data.chunks(chunk) {
                w.write_all(piece).await.unwrap();
            }
            w.shutdown().await.unwrap();
        });
        let mut reader = LineReader::new(r, limit);
        let mut out = Vec::new();
        loop {
            let f = reader.next().await.unwrap();
            if f == Frame::Eof {
                break;
            }
            out.push(f);
        }
        writer.await.unwrap();
        out
    }

    #[tokio::test]
    async fn lines_split_across_any_chunking_come_out_whole() {
        let data = "{\"a\":\"héllo\"}\n{\"b\":2}\n\n{\"c\":3}".as_bytes();
        for chunk in 1..=data.len() {
            let got = frames(data, chunk, 1024).await;
            assert_eq!(
                got,
                vec![
                    Frame::Line("{\"a\":\"héllo\"}".as_bytes().to_vec()),
                    Frame::Line(b"{\"b\":2}".to_vec()),
                    Frame::Line(Vec::new()),
                    Frame::Line(b"{\"c\":3}".to_vec()),
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn an_over_limit_line_is_reported_and_the_next_line_arrives() {
        let mut data = vec![b'x'; 100];
        data.extend_from_slice(b"\nok\n");
        data.extend(vec![b'y'; 11]);
        data.extend_from_slice(b"\nlast");
        for chunk in [1, 3, 7, 64, 1000] {
            let got = frames(&data, chunk, 10).await;
            assert_eq!(
                got,
                vec![
                    Frame::TooLong(100),
                    Frame::Line(b"ok".to_vec()),
                    Frame::TooLong(11),
                    Frame::Line(b"last".to_vec())
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn a_line_exactly_at_the_limit_is_kept_and_no_cumulative_limit_applies() {
        let mut data = Vec::new();
        for _ in 0..1000 {
            data.extend(vec![b'z'; 10]);
            data.push(b'\n');
        }
        let got = frames(&data, 4096, 10).await;
        assert_eq!(got.len(), 1000);
        assert!(got.iter().all(|f| *f == Frame::Line(vec![b'z'; 10])));
    }
}
