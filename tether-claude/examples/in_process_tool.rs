//! An in-process tool: defined in Rust, served to the CLI as an SDK MCP server, called by the
//! model as `mcp__calc__add`.
//!
//! `cargo run -p tether-claude --example in_process_tool [path/to/claude]`

mod common;

use futures::StreamExt;
use serde_json::{Value, json};
use tether_claude::{Message, SdkMcpServer, Tool, ToolOutput, connect};

const SCRIPT: &str = r#"{
  "default_turn": {"steps": [
    {"type": "mcp_tool", "server": "calc", "tool": "add", "arguments": {"a": 20, "b": 22}},
    {"type": "text", "text": "The sum is in the tool result."}
  ]}
}"#;

#[tokio::main]
async fn main() -> Result<(), tether_claude::Error> {
    let add = Tool::new(
        "add",
        "Adds two numbers",
        json!({
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"]
        }),
        |args: Value| async move {
            let (Some(a), Some(b)) = (args["a"].as_f64(), args["b"].as_f64()) else {
                return Ok(ToolOutput::error("a and b must be numbers"));
            };
            println!("(add called with {a} and {b})");
            Ok::<_, tether::BoxError>(ToolOutput::text((a + b).to_string()))
        },
    );
    let options = common::options(SCRIPT)
        .mcp_server(SdkMcpServer::new("calc").tool(add))
        .allowed_tools(["mcp__calc__add"]);
    connect(options, async |client| {
        let mut turn = client.query("What is 20 + 22? Use the add tool.").await?;
        while let Some(message) = turn.next().await {
            match message? {
                Message::User(user) => println!("tool result: {:?}", user.message.content),
                Message::Result(r) => println!("[done: {}]", r.result.unwrap_or_default()),
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
