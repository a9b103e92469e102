//! `can_use_tool`: the permission callback the CLI asks before running a tool.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tether::BoxError;

/// What the CLI asks in a `can_use_tool` control request.
///
/// Unknown fields of the request are kept in [`extra`](Self::extra).
///
/// # Examples
///
/// ```
/// let req: tether_claude::PermissionRequest = serde_json::from_value(serde_json::json!({
///     "tool_name": "Bash", "input": {"command": "ls"}, "tool_use_id": "toolu_1"
/// })).unwrap();
/// assert_eq!(req.tool_name, "Bash");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PermissionRequest {
    /// The tool the model wants to run.
    pub tool_name: String,
    /// Its input.
    #[serde(default)]
    pub input: Value,
    /// The CLI's suggested permission updates, as it sent them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_suggestions: Option<Value>,
    /// The tool use this is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// A path outside the allowed directories that triggered the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_path: Option<String>,
    /// Every other field of the request.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to a [`PermissionRequest`].
///
/// # Examples
///
/// ```
/// use tether_claude::PermissionDecision;
///
/// let allow = PermissionDecision::allow();
/// let deny = PermissionDecision::deny("not in this repository").interrupt(true);
/// # let _ = (allow, deny);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PermissionDecision {
    /// Run the tool, with `updated_input` instead of the model's input when given.
    Allow {
        /// The rewritten input, if any.
        updated_input: Option<Value>,
        /// Permission updates to apply (the CLI's `updatedPermissions`), if any.
        updated_permissions: Option<Value>,
    },
    /// Do not run the tool; `message` goes back to the model.
    Deny {
        /// Why, for the model.
        message: String,
        /// Whether to stop the whole turn as well.
        interrupt: bool,
    },
}

impl PermissionDecision {
    /// Allow the tool with its input unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether_claude::PermissionDecision;
    ///
    /// assert!(matches!(PermissionDecision::allow(), PermissionDecision::Allow { updated_input: None, .. }));
    /// ```
    pub fn allow() -> Self {
        PermissionDecision::Allow {
            updated_input: None,
            updated_permissions: None,
        }
    }

    /// Allow the tool with a rewritten input.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use tether_claude::PermissionDecision;
    ///
    /// let d = PermissionDecision::allow_with_input(json!({"command": "ls -la"}));
    /// assert!(matches!(d, PermissionDecision::Allow { updated_input: Some(_), .. }));
    /// ```
    pub fn allow_with_input(input: Value) -> Self {
        PermissionDecision::Allow {
            updated_input: Some(input),
            updated_permissions: None,
        }
    }

    /// Deny the tool, telling the model why.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether_claude::PermissionDecision;
    ///
    /// let d = PermissionDecision::deny("not in this directory");
    /// assert!(matches!(d, PermissionDecision::Deny { interrupt: false, .. }));
    /// ```
    pub fn deny(message: impl Into<String>) -> Self {
        PermissionDecision::Deny {
            message: message.into(),
            interrupt: false,
        }
    }

    /// For a deny: also interrupt the turn. No effect on an allow.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether_claude::PermissionDecision;
    ///
    /// let d = PermissionDecision::deny("stop").interrupt(true);
    /// assert!(matches!(d, PermissionDecision::Deny { interrupt: true, .. }));
    /// // No effect on an allow.
    /// assert_eq!(PermissionDecision::allow().interrupt(true), PermissionDecision::allow());
    /// ```
    pub fn interrupt(self, yes: bool) -> Self {
        match self {
            PermissionDecision::Deny { message, .. } => PermissionDecision::Deny {
                message,
                interrupt: yes,
            },
            other => other,
        }
    }

    /// The wire form: `{"behavior":"allow","updatedInput":...}` (the original input when not
    /// rewritten, as the official SDKs send it) or `{"behavior":"deny","message":...}`.
    pub(crate) fn to_wire(&self, original_input: &Value) -> Value {
        match self {
            PermissionDecision::Allow {
                updated_input,
                updated_permissions,
            } => {
                let mut out = serde_json::json!({
                    "behavior": "allow",
                    "updatedInput": updated_input.clone().unwrap_or_else(|| original_input.clone()),
                });
                if let Some(p) = updated_permissions {
                    out["updatedPermissions"] = p.clone();
                }
                out
            }
            PermissionDecision::Deny { message, interrupt } => {
                let mut out = serde_json::json!({"behavior": "deny", "message": message});
                if *interrupt {
                    out["interrupt"] = Value::Bool(true);
                }
                out
            }
        }
    }
}

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The stored permission callback.
pub(crate) type CanUseToolFn =
    Arc<dyn Fn(PermissionRequest) -> BoxFuture<Result<PermissionDecision, BoxError>> + Send + Sync>;

pub(crate) fn boxed_can_use_tool<F, Fut, E>(f: F) -> CanUseToolFn
where
    F: Fn(PermissionRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<PermissionDecision, E>> + Send + 'static,
    E: Into<BoxError>,
{
    Arc::new(move |req| {
        let fut = f(req);
        Box::pin(async move { fut.await.map_err(Into::into) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allow_without_rewrite_echoes_the_original_input() {
        let wire = PermissionDecision::allow().to_wire(&json!({"a": 1}));
        assert_eq!(wire, json!({"behavior": "allow", "updatedInput": {"a": 1}}));
    }

    #[test]
    fn allow_with_rewrite_and_deny_with_interrupt() {
        let wire = PermissionDecision::allow_with_input(json!({"a": 2})).to_wire(&json!({"a": 1}));
        assert_eq!(wire["updatedInput"], json!({"a": 2}));
        let wire = PermissionDecision::deny("no")
            .interrupt(true)
            .to_wire(&json!({}));
        assert_eq!(
            wire,
            json!({"behavior": "deny", "message": "no", "interrupt": true})
        );
        let wire = PermissionDecision::deny("no").to_wire(&json!({}));
        assert_eq!(wire, json!({"behavior": "deny", "message": "no"}));
    }
}
