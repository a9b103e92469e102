//! The control protocol's callbacks and bookkeeping.
//!
//! - `permission.rs`: [`PermissionRequest`] → [`PermissionDecision`] (`can_use_tool`);
//! - `hooks.rs`: [`HookEvent`], [`HookInput`], [`HookOutput`] (`hook_callback`);
//! - `mcp.rs`: in-process tools, [`Tool`] and [`SdkMcpServer`] (`mcp_message`);
//! - `dispatch.rs`: which callback answers which request;
//! - `pending.rs`: our requests waiting for the CLI's replies.

pub(crate) mod dispatch;
pub(crate) mod hooks;
pub(crate) mod mcp;
pub(crate) mod pending;
pub(crate) mod permission;

pub use hooks::{HookEvent, HookInput, HookOutput};
pub use mcp::{SdkMcpServer, Tool, ToolOutput};
pub use permission::{PermissionDecision, PermissionRequest};

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}
