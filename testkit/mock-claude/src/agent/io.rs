//! Output (stdout lines), the test log, and id generation.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::io::{AsyncWriteExt, BufWriter, Stdout};

/// Everything written to stdout goes through here, one whole line at a time.
#[derive(Debug)]
pub(crate) struct Out {
    w: tokio::sync::Mutex<BufWriter<Stdout>>,
}

impl Out {
    pub(crate) fn new() -> Out {
        Out {
            w: tokio::sync::Mutex::new(BufWriter::with_capacity(64 * 1024, tokio::io::stdout())),
        }
    }

    /// Write one JSON message as a line and flush.
    pub(crate) async fn send(&self, v: &Value) {
        let mut line = Vec::with_capacity(256);
        write_message(&mut line, v);
        self.raw(&line).await;
    }

    /// Write bytes (one or more whole lines) and flush.
    pub(crate) async fn raw(&self, bytes: &[u8]) {
        let mut w = self.w.lock().await;
        if w.write_all(bytes).await.is_err() || w.flush().await.is_err() {
            stdout_gone();
        }
    }

    /// Write many messages under one lock and one flush.
    pub(crate) async fn send_batch(&self, msgs: &[Value]) {
        let mut buf = Vec::with_capacity(msgs.len() * 256);
        for m in msgs {
            write_message(&mut buf, m);
        }
        self.raw(&buf).await;
    }

    pub(crate) async fn flush(&self) {
        let mut w = self.w.lock().await;
        let _ = w.flush().await;
    }
}

/// One message as a line, keys in the real CLI's order as far as it matters: `type` first,
/// as the CLI 2.1.330 writes every line but `result` (whose `type` comes later; the
/// alphabetical order of the rest puts `duration_api_ms` first, as the CLI did); the other keys
/// in alphabetical order.
pub(crate) fn write_message(buf: &mut Vec<u8>, v: &Value) {
    match v.as_object() {
        Some(map)
            if map
                .get("type")
                .is_some_and(|t| t.is_string() && t != "result") =>
        {
            buf.extend_from_slice(b"{\"type\":");
            serde_json::to_writer(&mut *buf, &map["type"]).expect("a JSON value always serializes");
            for (k, val) in map.iter().filter(|(k, _)| *k != "type") {
                buf.push(b',');
                serde_json::to_writer(&mut *buf, k).expect("a string serializes");
                buf.push(b':');
                serde_json::to_writer(&mut *buf, val).expect("a JSON value always serializes");
            }
            buf.push(b'}');
        }
        _ => serde_json::to_writer(&mut *buf, v).expect("a JSON value always serializes"),
    }
    buf.push(b'\n');
}

fn stdout_gone() -> ! {
    eprintln!("mock-claude: stdout closed by the reader; exiting");
    std::process::exit(1);
}

/// The JSON-lines log for tests (`MOCK_CLAUDE_LOG`). Every line carries `event`, `pid` and `t_ms`.
#[derive(Debug)]
pub(crate) struct Log {
    file: Option<std::sync::Mutex<File>>,
    pid: u32,
    start: Instant,
}

impl Log {
    pub(crate) fn open(path: Option<std::ffi::OsString>) -> Log {
        let file = path.map(|p| {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .unwrap_or_else(|e| {
                    eprintln!("mock-claude: cannot open MOCK_CLAUDE_LOG {p:?}: {e}");
                    std::process::exit(2);
                });
            std::sync::Mutex::new(f)
        });
        Log {
            file,
            pid: std::process::id(),
            start: Instant::now(),
        }
    }

    /// Append `{"event": event, "pid", "t_ms", ...fields}` as one line (one `write` call, so lines of
    /// several processes sharing a log do not interleave).
    pub(crate) fn event(&self, event: &str, fields: Value) {
        let Some(file) = &self.file else { return };
        let mut obj = Map::new();
        obj.insert("event".into(), Value::String(event.into()));
        obj.insert("pid".into(), self.pid.into());
        obj.insert(
            "t_ms".into(),
            u64::try_from(self.start.elapsed().as_millis())
                .unwrap_or(u64::MAX)
                .into(),
        );
        if let Value::Object(m) = fields {
            obj.extend(m);
        }
        let mut line = serde_json::to_vec(&Value::Object(obj)).expect("serializes");
        line.push(b'\n');
        let mut f = file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = f.write_all(&line);
    }
}

static SEED: AtomicU64 = AtomicU64::new(0);

/// A pseudo-random u64 (splitmix64 over a counter seeded from the clock and pid).
pub(crate) fn rand_u64() -> u64 {
    if SEED.load(Ordering::Relaxed) == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let _ = SEED.compare_exchange(
            0,
            nanos ^ (u64::from(std::process::id()) << 32) | 1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    let mut z = SEED
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A version-4 UUID string.
pub(crate) fn uuid() -> String {
    let a = rand_u64();
    let b = rand_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// `prefix` followed by 24 hex digits.
pub(crate) fn short_id(prefix: &str) -> String {
    format!(
        "{prefix}{:016x}{:08x}",
        rand_u64(),
        rand_u64() & 0xffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::write_message;

    #[test]
    fn messages_start_with_their_type_except_results() {
        let mut buf = Vec::new();
        write_message(
            &mut buf,
            &json!({"uuid": "u", "type": "assistant", "message": {"b": 1, "a": 2}}),
        );
        write_message(&mut buf, &json!({"type": "result", "duration_api_ms": 1}));
        write_message(&mut buf, &json!({}));
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "{\"type\":\"assistant\",\"message\":{\"a\":2,\"b\":1},\"uuid\":\"u\"}\n\
             {\"duration_api_ms\":1,\"type\":\"result\"}\n{}\n"
        );
    }
}
