//! Hooks: async callbacks the CLI calls at its hook events (`hook_callback` requests).

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tether::BoxError;

use super::permission::BoxFuture;

/// The CLI's hook events.
///
/// # Examples
///
/// ```
/// assert_eq!(tether_claude::HookEvent::PreToolUse.as_str(), "PreToolUse");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HookEvent {
    /// Before a tool runs.
    PreToolUse,
    /// After a tool ran.
    PostToolUse,
    /// After a tool failed.
    PostToolUseFailure,
    /// A user prompt was submitted.
    UserPromptSubmit,
    /// The agent is about to stop.
    Stop,
    /// A subagent is about to stop.
    SubagentStop,
    /// A subagent started.
    SubagentStart,
    /// Before the context is compacted.
    PreCompact,
    /// A notification.
    Notification,
    /// A permission request is about to be shown.
    PermissionRequest,
    /// Any other event, by its wire name.
    Other(String),
}

impl HookEvent {
    /// The event's wire name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tether_claude::HookEvent::Other("Custom".into()).as_str(), "Custom");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            HookEvent::PreToolUse => "PreToolUse",
            HookEvent::PostToolUse => "PostToolUse",
            HookEvent::PostToolUseFailure => "PostToolUseFailure",
            HookEvent::UserPromptSubmit => "UserPromptSubmit",
            HookEvent::Stop => "Stop",
            HookEvent::SubagentStop => "SubagentStop",
            HookEvent::SubagentStart => "SubagentStart",
            HookEvent::PreCompact => "PreCompact",
            HookEvent::Notification => "Notification",
            HookEvent::PermissionRequest => "PermissionRequest",
            HookEvent::Other(name) => name,
        }
    }
}

/// What a hook callback receives: the CLI's hook input (`hook_event_name`, `tool_name`,
/// `tool_input`, `session_id`, ...), and the tool use it is about.
///
/// # Examples
///
/// ```
/// fn tool_name(input: &tether_claude::HookInput) -> Option<&str> {
///     input.input["tool_name"].as_str()
/// }
/// # let _ = tool_name;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HookInput {
    /// The hook input, as the CLI sent it.
    pub input: Value,
    /// The tool use this is about, for tool events.
    pub tool_use_id: Option<String>,
}

/// A hook's answer. Every field is optional; the default changes nothing.
///
/// The wire names follow the CLI (`continue`, `suppressOutput`, `stopReason`, `decision`,
/// `systemMessage`, `reason`, `hookSpecificOutput`).
///
/// # Examples
///
/// ```
/// let out = tether_claude::HookOutput { system_message: Some("logged".into()), ..Default::default() };
/// assert_eq!(serde_json::to_value(&out).unwrap(), serde_json::json!({"systemMessage": "logged"}));
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HookOutput {
    /// Whether the agent continues after this hook (`continue`).
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_: Option<bool>,
    /// Hide the hook's output from the transcript.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppress_output: Option<bool>,
    /// The reason shown when `continue` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// `"block"` to block (old style decision).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// A message for the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_message: Option<String>,
    /// The reason for the decision, for the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Event-specific output (`hookEventName`, `permissionDecision`, `additionalContext`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_specific_output: Option<Value>,
    /// Any other field to send.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub(crate) type HookFn =
    Arc<dyn Fn(HookInput) -> BoxFuture<Result<HookOutput, BoxError>> + Send + Sync>;

/// One registered hook: an event, an optional tool-name matcher, a timeout, a callback.
#[derive(Clone)]
pub(crate) struct HookRegistration {
    pub(crate) event: HookEvent,
    pub(crate) matcher: Option<String>,
    pub(crate) timeout_secs: Option<u64>,
    pub(crate) callback: HookFn,
}

impl std::fmt::Debug for HookRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRegistration")
            .field("event", &self.event)
            .field("matcher", &self.matcher)
            .field("timeout_secs", &self.timeout_secs)
            .finish_non_exhaustive()
    }
}

pub(crate) fn boxed_hook<F, Fut, E>(f: F) -> HookFn
where
    F: Fn(HookInput) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<HookOutput, E>> + Send + 'static,
    E: Into<BoxError>,
{
    Arc::new(move |input| {
        let fut = f(input);
        Box::pin(async move { fut.await.map_err(Into::into) })
    })
}

/// The `hooks` field of `initialize`: `{Event: [{matcher, hookCallbackIds: ["hook_<i>"], timeout}]}`,
/// with callback ids numbered in registration order (the index into `hooks`).
pub(crate) fn initialize_hooks(hooks: &[HookRegistration]) -> Option<Value> {
    if hooks.is_empty() {
        return None;
    }
    let mut by_event: Map<String, Value> = Map::new();
    for (i, hook) in hooks.iter().enumerate() {
        let mut matcher = serde_json::json!({
            "matcher": hook.matcher,
            "hookCallbackIds": [format!("hook_{i}")],
        });
        if let Some(t) = hook.timeout_secs {
            matcher["timeout"] = t.into();
        }
        by_event
            .entry(hook.event.as_str().to_string())
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .expect("built as an array")
            .push(matcher);
    }
    Some(Value::Object(by_event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_hooks_groups_by_event_with_numbered_ids() {
        let cb = boxed_hook(|_| async { Ok::<_, BoxError>(HookOutput::default()) });
        let hooks = vec![
            HookRegistration {
                event: HookEvent::PreToolUse,
                matcher: Some("Bash".into()),
                timeout_secs: Some(30),
                callback: cb.clone(),
            },
            HookRegistration {
                event: HookEvent::PostToolUse,
                matcher: None,
                timeout_secs: None,
                callback: cb.clone(),
            },
            HookRegistration {
                event: HookEvent::PreToolUse,
                matcher: None,
                timeout_secs: None,
                callback: cb,
            },
        ];
        let v = initialize_hooks(&hooks).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "PreToolUse": [
                    {"matcher": "Bash", "hookCallbackIds": ["hook_0"], "timeout": 30},
                    {"matcher": null, "hookCallbackIds": ["hook_2"]}
                ],
                "PostToolUse": [{"matcher": null, "hookCallbackIds": ["hook_1"]}]
            })
        );
        assert!(initialize_hooks(&[]).is_none());
    }

    #[test]
    fn hook_output_wire_names() {
        let out = HookOutput {
            continue_: Some(false),
            stop_reason: Some("x".into()),
            hook_specific_output: Some(serde_json::json!({"hookEventName": "PreToolUse"})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            serde_json::json!({"continue": false, "stopReason": "x", "hookSpecificOutput": {"hookEventName": "PreToolUse"}})
        );
    }
}
