//! In-process tools: an SDK MCP server the CLI reaches through `mcp_message` control requests.
//!
//! The CLI sees the server in `--mcp-config` as `{"type": "sdk", "name": ...}` and sends it
//! JSON-RPC messages over the control protocol. This module answers MCP `initialize`,
//! `notifications/initialized`, `tools/list` and `tools/call`; any other method gets a JSON-RPC
//! "method not found" error.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Value, json};
use tether::BoxError;

use super::permission::BoxFuture;

/// The MCP protocol version this server speaks.
const PROTOCOL_VERSION: &str = "2024-11-05";

/// What a tool returns: MCP content blocks and an error flag.
///
/// # Examples
///
/// ```
/// let out = tether_claude::ToolOutput::text("3");
/// assert!(!out.is_error);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolOutput {
    /// MCP content blocks (`{"type":"text","text":...}`, images, ...).
    pub content: Vec<Value>,
    /// Whether the call failed (the model sees the content as an error).
    pub is_error: bool,
}

impl ToolOutput {
    /// One text block.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = tether_claude::ToolOutput::text("42");
    /// assert_eq!(out.content, [serde_json::json!({"type": "text", "text": "42"})]);
    /// assert!(!out.is_error);
    /// ```
    pub fn text(text: impl Into<String>) -> Self {
        ToolOutput {
            content: vec![json!({"type": "text", "text": text.into()})],
            is_error: false,
        }
    }

    /// One text block, marked as an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = tether_claude::ToolOutput::error("no such file");
    /// assert!(out.is_error);
    /// ```
    pub fn error(text: impl Into<String>) -> Self {
        ToolOutput {
            is_error: true,
            ..ToolOutput::text(text)
        }
    }

    /// Any MCP content blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    ///
    /// let out = tether_claude::ToolOutput::content(vec![json!({"type": "text", "text": "a"}), json!({"type": "text", "text": "b"})]);
    /// assert_eq!(out.content.len(), 2);
    /// ```
    pub fn content(content: Vec<Value>) -> Self {
        ToolOutput {
            content,
            is_error: false,
        }
    }
}

type ToolFn = Arc<dyn Fn(Value) -> BoxFuture<Result<ToolOutput, BoxError>> + Send + Sync>;

/// A tool defined in Rust: name, description, JSON schema of its input, async handler.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use tether_claude::{Tool, ToolOutput};
///
/// let add = Tool::new(
///     "add",
///     "Adds two numbers",
///     json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}),
///     |args| async move {
///         let sum = args["a"].as_f64().unwrap_or(0.0) + args["b"].as_f64().unwrap_or(0.0);
///         Ok::<_, std::convert::Infallible>(ToolOutput::text(sum.to_string()))
///     },
/// );
/// assert_eq!(add.name(), "add");
/// ```
#[derive(Clone)]
pub struct Tool {
    name: String,
    description: String,
    input_schema: Value,
    handler: ToolFn,
}

impl Tool {
    /// Defines a tool. A handler error becomes an MCP tool result with `isError: true`; a panic
    /// in the handler becomes an error reply (logged with `tracing::error!`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether_claude::{Tool, ToolOutput};
    ///
    /// let tool = Tool::new(
    ///     "echo",
    ///     "Echoes its input",
    ///     serde_json::json!({"type": "object", "properties": {"text": {"type": "string"}}}),
    ///     |args| async move { Ok::<_, tether::BoxError>(ToolOutput::text(args["text"].to_string())) },
    /// );
    /// assert_eq!(tool.name(), "echo");
    /// ```
    pub fn new<F, Fut, E>(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
        handler: F,
    ) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ToolOutput, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Tool {
            name: name.into(),
            description: description.into(),
            input_schema,
            handler: Arc::new(move |args| {
                let fut = handler(args);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }),
        }
    }

    /// The tool's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let tool = tether_claude::Tool::new("t", "d", serde_json::json!({}), |_| async {
    ///     Ok::<_, tether::BoxError>(tether_claude::ToolOutput::text(""))
    /// });
    /// assert_eq!(tool.name(), "t");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// An in-process MCP server: a name, a version and its tools.
///
/// Register it with [`ClaudeOptions::mcp_server`](crate::ClaudeOptions::mcp_server); the model
/// sees its tools as `mcp__<server>__<tool>`.
///
/// # Examples
///
/// ```
/// use tether_claude::{SdkMcpServer, Tool, ToolOutput};
///
/// let server = SdkMcpServer::new("calc").tool(Tool::new(
///     "one",
///     "Returns one",
///     serde_json::json!({"type": "object"}),
///     |_| async { Ok::<_, std::convert::Infallible>(ToolOutput::text("1")) },
/// ));
/// assert_eq!(server.name(), "calc");
/// ```
#[derive(Debug, Clone)]
pub struct SdkMcpServer {
    name: String,
    version: String,
    tools: Vec<Tool>,
}

impl SdkMcpServer {
    /// A server with no tools, version `1.0.0`.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = tether_claude::SdkMcpServer::new("files");
    /// assert_eq!(server.name(), "files");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        SdkMcpServer {
            name: name.into(),
            version: "1.0.0".into(),
            tools: Vec::new(),
        }
    }

    /// Sets the version reported to MCP `initialize`.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = tether_claude::SdkMcpServer::new("calc").version("2.0.0");
    /// # let _ = server;
    /// ```
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Adds a tool.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether_claude::{SdkMcpServer, Tool, ToolOutput};
    ///
    /// let server = SdkMcpServer::new("calc").tool(Tool::new(
    ///     "two",
    ///     "Returns two",
    ///     serde_json::json!({"type": "object"}),
    ///     |_| async { Ok::<_, std::convert::Infallible>(ToolOutput::text("2")) },
    /// ));
    /// assert_eq!(server.name(), "calc");
    /// ```
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// The server's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether_claude::SdkMcpServer::new("files").name(), "files");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Answers one JSON-RPC message. Returns the JSON-RPC response (for a notification, an
    /// empty result, as the official SDK does, so the control request still gets its reply).
    ///
    /// # Errors
    ///
    /// A tool handler's error comes back inside the response (`isError: true`), not as `Err`;
    /// `Err` is never returned today and is kept for transport-level failures.
    pub(crate) async fn handle(&self, message: &Value) -> Value {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        match method {
            "initialize" => json!({
                "jsonrpc": "2.0",
                "id": id,
                "result": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": self.name, "version": self.version},
                }
            }),
            // Notifications (`initialized`, `cancelled`, ...) carry no id and expect no
            // JSON-RPC answer; the control request still gets its reply. The connection acts
            // on `notifications/cancelled` itself (it cancels the named tools/call).
            m if m.starts_with("notifications/") => json!({"jsonrpc": "2.0", "result": {}}),
            "tools/list" => {
                let tools: Vec<Value> = self
                    .tools
                    .iter()
                    .map(|t| {
                        json!({
                            "name": t.name,
                            "description": t.description,
                            "inputSchema": t.input_schema,
                        })
                    })
                    .collect();
                json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools}})
            }
            "tools/call" => {
                let name = params.get("name").and_then(Value::as_str).unwrap_or("");
                let args = params
                    .get("arguments")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let Some(tool) = self.tools.iter().find(|t| t.name == name) else {
                    return json!({
                        "jsonrpc": "2.0",
                        "id": id,
                        "error": {"code": -32602, "message": format!("tool '{name}' not found on server '{}'", self.name)}
                    });
                };
                let output = match (tool.handler)(args).await {
                    Ok(out) => out,
                    Err(e) => ToolOutput::error(e.to_string()),
                };
                let mut result = json!({"content": output.content});
                if output.is_error {
                    result["isError"] = Value::Bool(true);
                }
                json!({"jsonrpc": "2.0", "id": id, "result": result})
            }
            other => json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": {"code": -32601, "message": format!("method '{other}' not found")}
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> SdkMcpServer {
        SdkMcpServer::new("calc")
            .tool(Tool::new(
                "add",
                "adds",
                json!({"type": "object"}),
                |a: Value| async move {
                    let s = a["a"].as_i64().unwrap_or(0) + a["b"].as_i64().unwrap_or(0);
                    Ok::<_, BoxError>(ToolOutput::text(s.to_string()))
                },
            ))
            .tool(Tool::new("fail", "fails", json!({}), |_| async {
                Err::<ToolOutput, _>("boom")
            }))
    }

    #[tokio::test]
    async fn initialize_list_call_and_unknown() {
        let s = server();
        let r = s
            .handle(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}))
            .await;
        assert_eq!(r["result"]["serverInfo"]["name"], "calc");
        assert_eq!(r["id"], 0);
        let r = s
            .handle(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
            .await;
        assert_eq!(r["result"]["tools"][0]["name"], "add");
        assert_eq!(
            r["result"]["tools"][0]["inputSchema"],
            json!({"type":"object"})
        );
        let r = s
            .handle(&json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}))
            .await;
        assert_eq!(r["result"]["content"][0]["text"], "5");
        let r = s
            .handle(&json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fail"}}))
            .await;
        assert_eq!(r["result"]["isError"], true);
        assert_eq!(r["result"]["content"][0]["text"], "boom");
        let r = s
            .handle(&json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope"}}))
            .await;
        assert_eq!(r["error"]["code"], -32602);
        let r = s
            .handle(&json!({"jsonrpc":"2.0","id":5,"method":"resources/list"}))
            .await;
        assert_eq!(r["error"]["code"], -32601);
        // Notifications get an empty result, whatever they are (the CLI sends
        // `notifications/cancelled` to withdraw a tools/call).
        let r = s
            .handle(&json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}))
            .await;
        assert_eq!(r, json!({"jsonrpc": "2.0", "result": {}}));
    }
}
