//! One prompt, one stream of messages: the one-shot `query`.
//!
//! `cargo run -p tether-claude --example quickstart [path/to/claude]`

mod common;

use futures::StreamExt;
use tether_claude::{Message, query};

#[tokio::main]
async fn main() -> Result<(), tether_claude::Error> {
    let options = common::options("hello").max_turns(1);
    let mut messages = std::pin::pin!(query("Say hello in five words.", options));
    while let Some(message) = messages.next().await {
        match message? {
            Message::System(s) if s.subtype == "init" => {
                let init = s.init().unwrap_or_else(|| unreachable!());
                println!("[session {}]", init.session_id.unwrap_or_default());
            }
            Message::Assistant(_) => {
                // `text()` joins the text blocks of an assistant message.
            }
            Message::Result(r) => {
                println!(
                    "[done: {} in {} ms, ${:.4}]",
                    r.subtype,
                    r.duration_ms,
                    r.total_cost_usd.unwrap_or(0.0)
                );
                println!("{}", r.result.unwrap_or_default());
            }
            _ => {}
        }
    }
    // The stream has ended: the CLI has exited and been reaped.
    Ok(())
}
