//! A multi-turn session: several turns on one connection, a handle used from another task,
//! and an interrupt that stops a long answer.
//!
//! `cargo run -p tether-claude --example interactive [path/to/claude]`

mod common;

use std::time::Duration;

use futures::StreamExt;
use tether_claude::{Message, connect};

const SCRIPT: &str = r#"{
  "turns": [
    {"steps": [{"type": "text", "text": "Rust's ownership rules prevent data races at compile time."}]},
    {"steps": [{"type": "slow_text", "text": "Once upon a time there was a very long story that went on and on and on", "chunks": 30, "chunk_ms": 100}]},
    {"steps": [{"type": "echo", "prefix": "You said: "}]}
  ]
}"#;

#[tokio::main]
async fn main() -> Result<(), tether_claude::Error> {
    connect(common::options(SCRIPT), async |client| {
        // Turn 1: read the whole answer.
        let mut turn = client.query("In one sentence: why Rust?").await?;
        while let Some(message) = turn.next().await {
            if let Some(text) = message?.text() {
                println!("claude: {text}");
            }
        }

        // Turn 2: a long answer, interrupted from another task after a moment.
        let handle = client.handle();
        let interrupter = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            println!("(interrupting)");
            handle.interrupt().await
        });
        let mut turn = client.query("Tell me a long story.").await?;
        while let Some(message) = turn.next().await {
            match message? {
                Message::Result(r) => println!(
                    "[turn ended: {}, {:?}]",
                    r.subtype,
                    r.terminal_reason.unwrap_or_default()
                ),
                other => {
                    if let Some(text) = other.text() {
                        println!("claude (partial): {text}");
                    }
                }
            }
        }
        interrupter.await.expect("the interrupter task")?;

        // Turn 3: the session goes on, clean.
        let mut turn = client.query("Are you still there?").await?;
        while let Some(message) = turn.next().await {
            if let Some(text) = message?.text() {
                println!("claude: {text}");
            }
        }
        Ok::<_, tether_claude::Error>(())
    })
    .await?
}
