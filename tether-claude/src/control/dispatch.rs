//! Answering the CLI's requests: `can_use_tool`, `hook_callback`, `mcp_message`.
//!
//! [`answer`] computes the reply of one request. The connection runs it as a child task of
//! its group, inside a cancel scope that `control_cancel_request` cancels, with panics caught
//! (see `client/connection.rs`). Here only the routing lives.

use serde_json::{Value, json};

use super::hooks::{HookInput, HookRegistration};
use super::mcp::SdkMcpServer;
use super::permission::{CanUseToolFn, PermissionRequest};

/// The callbacks a connection serves.
#[derive(Default, Clone)]
pub(crate) struct Callbacks {
    pub(crate) can_use_tool: Option<CanUseToolFn>,
    pub(crate) hooks: Vec<HookRegistration>,
    pub(crate) servers: Vec<SdkMcpServer>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("can_use_tool", &self.can_use_tool.is_some())
            .field("hooks", &self.hooks)
            .field("servers", &self.servers)
            .finish()
    }
}

/// The reply to one CLI request: `Ok(response)` for a success reply, `Err(text)` for an error
/// reply.
pub(crate) async fn answer(callbacks: &Callbacks, request: Value) -> Result<Value, String> {
    let subtype = request
        .get("subtype")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match subtype.as_str() {
        "can_use_tool" => {
            let Some(cb) = &callbacks.can_use_tool else {
                return Err(
                    "can_use_tool request but no can_use_tool callback is registered".into(),
                );
            };
            let req: PermissionRequest = serde_json::from_value(request)
                .map_err(|e| format!("malformed can_use_tool request: {e}"))?;
            let original = req.input.clone();
            let decision = cb(req).await.map_err(|e| e.to_string())?;
            Ok(decision.to_wire(&original))
        }
        "hook_callback" => {
            let id = request
                .get("callback_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            let hook = id
                .strip_prefix("hook_")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| callbacks.hooks.get(n))
                .ok_or_else(|| format!("no hook callback with id '{id}'"))?;
            let input = HookInput {
                input: request.get("input").cloned().unwrap_or(Value::Null),
                tool_use_id: request
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            };
            let out = (hook.callback)(input).await.map_err(|e| e.to_string())?;
            serde_json::to_value(out).map_err(|e| e.to_string())
        }
        "mcp_message" => {
            let name = request
                .get("server_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let message = request.get("message").cloned().unwrap_or(Value::Null);
            let Some(server) = callbacks.servers.iter().find(|s| s.name() == name) else {
                return Ok(json!({"mcp_response": {
                    "jsonrpc": "2.0",
                    "id": message.get("id").cloned().unwrap_or(Value::Null),
                    "error": {"code": -32601, "message": format!("sdk mcp server '{name}' not found")}
                }}));
            };
            Ok(json!({"mcp_response": server.handle(&message).await}))
        }
        other => Err(format!("unsupported control request subtype: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::hooks::boxed_hook;
    use crate::control::permission::boxed_can_use_tool;
    use crate::{HookEvent, HookOutput, PermissionDecision};

    #[tokio::test]
    async fn routes_each_subtype_and_refuses_unknown_ones() {
        let callbacks = Callbacks {
            can_use_tool: Some(boxed_can_use_tool(|r: PermissionRequest| async move {
                if r.tool_name == "Bash" {
                    Ok::<_, tether::BoxError>(PermissionDecision::deny("no shell"))
                } else {
                    Ok(PermissionDecision::allow())
                }
            })),
            hooks: vec![HookRegistration {
                event: HookEvent::PreToolUse,
                matcher: None,
                timeout_secs: None,
                callback: boxed_hook(|i: HookInput| async move {
                    Ok::<_, tether::BoxError>(HookOutput {
                        reason: i.tool_use_id,
                        ..Default::default()
                    })
                }),
            }],
            servers: vec![SdkMcpServer::new("s")],
        };
        let r = answer(
            &callbacks,
            json!({"subtype":"can_use_tool","tool_name":"Bash","input":{}}),
        )
        .await;
        assert_eq!(r.unwrap(), json!({"behavior":"deny","message":"no shell"}));
        let r = answer(
            &callbacks,
            json!({"subtype":"can_use_tool","tool_name":"Read","input":{"p":1}}),
        )
        .await;
        assert_eq!(
            r.unwrap(),
            json!({"behavior":"allow","updatedInput":{"p":1}})
        );
        let r = answer(
            &callbacks,
            json!({"subtype":"hook_callback","callback_id":"hook_0","input":{},"tool_use_id":"t1"}),
        )
        .await;
        assert_eq!(r.unwrap(), json!({"reason":"t1"}));
        let r = answer(
            &callbacks,
            json!({"subtype":"hook_callback","callback_id":"hook_9"}),
        )
        .await;
        assert!(r.unwrap_err().contains("hook_9"));
        let r = answer(&callbacks, json!({"subtype":"mcp_message","server_name":"s","message":{"jsonrpc":"2.0","id":1,"method":"tools/list"}})).await;
        assert_eq!(r.unwrap()["mcp_response"]["result"]["tools"], json!([]));
        let r = answer(
            &callbacks,
            json!({"subtype":"mcp_message","server_name":"x","message":{"id":1}}),
        )
        .await;
        assert_eq!(r.unwrap()["mcp_response"]["error"]["code"], -32601);
        let r = answer(&callbacks, json!({"subtype":"teleport"})).await;
        assert_eq!(
            r.unwrap_err(),
            "unsupported control request subtype: teleport"
        );
        let r = answer(
            &Callbacks::default(),
            json!({"subtype":"can_use_tool","tool_name":"x"}),
        )
        .await;
        assert!(r.unwrap_err().contains("no can_use_tool callback"));
    }
}
