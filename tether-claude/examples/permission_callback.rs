//! A permission callback: the CLI asks before each tool; we allow reads, rewrite a command,
//! and deny writes.
//!
//! `cargo run -p tether-claude --example permission_callback [path/to/claude]`

mod common;

use futures::StreamExt;
use serde_json::json;
use tether_claude::{ContentBlock, Message, PermissionDecision, UserContent, connect};

const SCRIPT: &str = r#"{
  "default_turn": {"steps": [
    {"type": "tool_use", "name": "Read", "input": {"file_path": "README.md"}, "permission": "ask"},
    {"type": "tool_use", "name": "Bash", "input": {"command": "rm -rf build"}, "permission": "ask"},
    {"type": "tool_use", "name": "Write", "input": {"file_path": "/etc/hosts", "content": "x"}, "permission": "ask"},
    {"type": "text", "text": "Done with the tools."}
  ]}
}"#;

#[tokio::main]
async fn main() -> Result<(), tether_claude::Error> {
    let options = common::options(SCRIPT).can_use_tool(|request| async move {
        println!("permission? {} {}", request.tool_name, request.input);
        let decision = match request.tool_name.as_str() {
            "Read" | "Grep" | "Glob" => PermissionDecision::allow(),
            // Rewrite the input: a dry run instead.
            "Bash" => PermissionDecision::allow_with_input(
                json!({"command": "echo would run: rm -rf build"}),
            ),
            _ => PermissionDecision::deny("this example does not allow writes"),
        };
        Ok::<_, tether::BoxError>(decision)
    });
    connect(options, async |client| {
        let mut turn = client.query("Clean up the build directory.").await?;
        while let Some(message) = turn.next().await {
            match message? {
                Message::User(user) => {
                    if let UserContent::Blocks(blocks) = &user.message.content {
                        for block in blocks {
                            if let ContentBlock::ToolResult {
                                content, is_error, ..
                            } = block
                            {
                                println!(
                                    "tool result (error: {}): {}",
                                    is_error.unwrap_or(false),
                                    content.clone().unwrap_or_default()
                                );
                            }
                        }
                    }
                }
                Message::Result(r) => println!(
                    "[done: {} permission denial(s)]",
                    r.permission_denials.map_or(0, |d| d.len())
                ),
                other => {
                    if let Some(text) = other.text().filter(|t| !t.is_empty()) {
                        println!("claude: {text}");
                    }
                }
            }
        }
        Ok::<_, tether_claude::Error>(())
    })
    .await?
}
