//! Options → argv and environment, the way the official Python SDK builds them.
//!
//! Always `--output-format stream-json --verbose … --input-format stream-json`: the prompt goes
//! over stdin, even for a one-shot query, so the control protocol works everywhere. Values that
//! are ids use the `--flag=value` form so an id starting with `-` can never become a flag.

use std::path::Path;
use std::process::Stdio;

use serde_json::{Map, Value, json};

use super::ClaudeOptions;

/// The entrypoint marker this SDK sets (`CLAUDE_CODE_ENTRYPOINT`).
pub(crate) const ENTRYPOINT: &str = "sdk-rs";

pub(crate) fn build_args(o: &ClaudeOptions) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--output-format".into(),
        "stream-json".into(),
        "--verbose".into(),
    ];
    let mut flag = |name: &str, value: String| {
        a.push(name.to_string());
        a.push(value);
    };
    // None ⇒ an empty system prompt, not the CLI's own default.
    match (&o.system_prompt, &o.system_prompt_file) {
        (_, Some(file)) => flag("--system-prompt-file", file.display().to_string()),
        (Some(p), None) => flag("--system-prompt", p.clone()),
        (None, None) => flag("--system-prompt", String::new()),
    }
    if let Some(p) = &o.append_system_prompt {
        flag("--append-system-prompt", p.clone());
    }
    if let Some(tools) = &o.tools {
        flag("--tools", tools.join(","));
    }
    if !o.allowed_tools.is_empty() {
        flag("--allowedTools", o.allowed_tools.join(","));
    }
    if let Some(n) = o.max_turns {
        flag("--max-turns", n.to_string());
    }
    if let Some(usd) = o.max_budget_usd {
        flag("--max-budget-usd", usd.to_string());
    }
    if !o.disallowed_tools.is_empty() {
        flag("--disallowedTools", o.disallowed_tools.join(","));
    }
    if let Some(m) = &o.model {
        flag("--model", m.clone());
    }
    if let Some(m) = &o.fallback_model {
        flag("--fallback-model", m.clone());
    }
    let prompt_tool = if o.can_use_tool.is_some() {
        Some("stdio".to_string())
    } else {
        o.permission_prompt_tool.clone()
    };
    if let Some(t) = prompt_tool {
        flag("--permission-prompt-tool", t);
    }
    if let Some(m) = &o.permission_mode {
        flag("--permission-mode", m.as_str().to_string());
    }
    if let Some(s) = &o.settings {
        flag("--settings", s.clone());
    }
    for dir in &o.add_dirs {
        flag("--add-dir", dir.display().to_string());
    }
    if let Some(config) = mcp_config(o) {
        flag("--mcp-config", config);
    }
    if o.continue_conversation {
        a.push("--continue".into());
    }
    if let Some(id) = &o.resume {
        a.push(format!("--resume={id}"));
    }
    if let Some(id) = &o.session_id {
        a.push(format!("--session-id={id}"));
    }
    if o.fork_session {
        a.push("--fork-session".into());
    }
    if o.include_partial_messages {
        a.push("--include-partial-messages".into());
    }
    if let Some(sources) = &o.setting_sources {
        a.push(format!("--setting-sources={}", sources.join(",")));
    }
    for (name, value) in &o.extra_args {
        let name = if name.starts_with('-') {
            name.clone()
        } else {
            format!("--{name}")
        };
        match value {
            Some(v) => a.push(format!("{name}={v}")),
            None => a.push(name),
        }
    }
    a.push("--input-format".into());
    a.push("stream-json".into());
    a
}

/// `{"mcpServers": {...}}` with the external servers as given and each in-process server as
/// `{"type": "sdk", "name": ...}`; `None` when there are none.
fn mcp_config(o: &ClaudeOptions) -> Option<String> {
    if o.mcp_servers.is_empty() && o.sdk_mcp_servers.is_empty() {
        return None;
    }
    let mut servers: Map<String, Value> = o.mcp_servers.clone();
    for s in &o.sdk_mcp_servers {
        servers.insert(
            s.name().to_string(),
            json!({"type": "sdk", "name": s.name()}),
        );
    }
    Some(json!({ "mcpServers": servers }).to_string())
}

/// The environment changes: inherited minus `CLAUDECODE` and the user's
/// [`env_remove`](ClaudeOptions::env_remove) names, then the entrypoint marker and the SDK
/// version, then the user's variables (which win, also over a removal of the same name).
pub(crate) fn env_changes(o: &ClaudeOptions) -> (Vec<&str>, Vec<(String, String)>) {
    let mut set = vec![
        ("CLAUDE_CODE_ENTRYPOINT".to_string(), ENTRYPOINT.to_string()),
        (
            "CLAUDE_AGENT_SDK_VERSION".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ];
    if let Some(cwd) = &o.cwd {
        set.push(("PWD".to_string(), cwd.display().to_string()));
    }
    set.extend(o.env.iter().cloned());
    let mut remove = vec!["CLAUDECODE"];
    remove.extend(o.env_remove.iter().map(String::as_str));
    (remove, set)
}

pub(crate) fn build_command(o: &ClaudeOptions, program: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(build_args(o));
    let (remove, set) = env_changes(o);
    for k in remove {
        cmd.env_remove(k);
    }
    for (k, v) in set {
        cmd.env(k, v);
    }
    if let Some(cwd) = &o.cwd {
        cmd.current_dir(cwd);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The last line of defence: a `Child` dropped without teardown is killed (and tokio
        // reaps it in the background); the normal paths reap it themselves.
        .kill_on_drop(true);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PermissionDecision, PermissionMode, SdkMcpServer};

    fn pos(args: &[String], s: &str) -> usize {
        args.iter()
            .position(|a| a == s)
            .unwrap_or_else(|| panic!("{s} not in {args:?}"))
    }

    #[test]
    fn defaults_are_streaming_both_ways_with_an_empty_system_prompt() {
        let args = ClaudeOptions::new().to_args();
        assert_eq!(
            args,
            [
                "--output-format",
                "stream-json",
                "--verbose",
                "--system-prompt",
                "",
                "--input-format",
                "stream-json"
            ]
        );
    }

    #[test]
    fn every_option_becomes_its_flag() {
        let o = ClaudeOptions::new()
            .model("m1")
            .fallback_model("m2")
            .system_prompt("sys")
            .append_system_prompt("more")
            .tools(["Read", "Bash"])
            .allowed_tools(["Read", "Grep"])
            .disallowed_tools(["Write"])
            .max_turns(7)
            .max_budget_usd(1.5)
            .permission_mode(PermissionMode::AcceptEdits)
            .add_dir("/a")
            .add_dir("/b")
            .settings("{\"x\":1}")
            .external_mcp_server("ext", json!({"command": "srv"}))
            .mcp_server(SdkMcpServer::new("inproc"))
            .include_partial_messages(true)
            .resume("-rf")
            .session_id("sid")
            .continue_conversation(true)
            .fork_session(true)
            .setting_sources(["user", "project"])
            .extra_arg("debug-to-stderr", None)
            .extra_arg("--foo", Some("bar".into()));
        let a = o.to_args();
        let after = |f: &str| a[pos(&a, f) + 1].clone();
        assert_eq!(after("--model"), "m1");
        assert_eq!(after("--fallback-model"), "m2");
        assert_eq!(after("--system-prompt"), "sys");
        assert_eq!(after("--append-system-prompt"), "more");
        assert_eq!(after("--tools"), "Read,Bash");
        assert_eq!(after("--allowedTools"), "Read,Grep");
        assert_eq!(after("--disallowedTools"), "Write");
        assert_eq!(after("--max-turns"), "7");
        assert_eq!(after("--max-budget-usd"), "1.5");
        assert_eq!(after("--permission-mode"), "acceptEdits");
        assert_eq!(after("--settings"), "{\"x\":1}");
        assert_eq!(a.iter().filter(|x| *x == "--add-dir").count(), 2);
        let mcp: Value = serde_json::from_str(&after("--mcp-config")).unwrap();
        assert_eq!(
            mcp,
            json!({"mcpServers": {"ext": {"command": "srv"}, "inproc": {"type": "sdk", "name": "inproc"}}})
        );
        // Ids use the equals form: "-rf" can never be parsed as a flag.
        assert!(a.contains(&"--resume=-rf".to_string()));
        assert!(!a.contains(&"--resume".to_string()));
        assert!(a.contains(&"--session-id=sid".to_string()));
        assert!(a.contains(&"--continue".to_string()));
        assert!(a.contains(&"--fork-session".to_string()));
        assert!(a.contains(&"--include-partial-messages".to_string()));
        assert!(a.contains(&"--setting-sources=user,project".to_string()));
        assert!(a.contains(&"--debug-to-stderr".to_string()));
        assert!(a.contains(&"--foo=bar".to_string()));
        assert_eq!(&a[a.len() - 2..], ["--input-format", "stream-json"]);
        assert!(!a.contains(&"--permission-prompt-tool".to_string()));
    }

    #[test]
    fn can_use_tool_sets_the_stdio_prompt_tool() {
        let o = ClaudeOptions::new()
            .permission_prompt_tool("mcp__x__y")
            .can_use_tool(|_| async { Ok::<_, tether::BoxError>(PermissionDecision::allow()) });
        let a = o.to_args();
        assert_eq!(a[pos(&a, "--permission-prompt-tool") + 1], "stdio");
        assert!(o.has_callbacks());
    }

    #[test]
    fn system_prompt_file_replaces_the_empty_default() {
        let a = ClaudeOptions::new().system_prompt_file("/p.txt").to_args();
        assert_eq!(a[pos(&a, "--system-prompt-file") + 1], "/p.txt");
        assert!(!a.contains(&"--system-prompt".to_string()));
    }

    #[test]
    fn env_drops_claudecode_marks_the_entrypoint_and_lets_the_user_win() {
        let o = ClaudeOptions::new()
            .env("CLAUDE_CODE_ENTRYPOINT", "mine")
            .env("FOO", "1")
            .cwd("/tmp");
        let (remove, set) = env_changes(&o);
        assert_eq!(remove, ["CLAUDECODE"]);
        let last = |k: &str| {
            set.iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(last("CLAUDE_CODE_ENTRYPOINT").as_deref(), Some("mine"));
        assert_eq!(set[0], ("CLAUDE_CODE_ENTRYPOINT".into(), "sdk-rs".into()));
        assert_eq!(last("FOO").as_deref(), Some("1"));
        assert_eq!(last("PWD").as_deref(), Some("/tmp"));
    }

    #[test]
    fn env_remove_drops_inherited_variables_and_a_set_variable_wins() {
        let o = ClaudeOptions::new()
            .env_remove("HTTPS_PROXY")
            .env_remove("FOO")
            .env("FOO", "kept");
        let (remove, set) = env_changes(&o);
        assert_eq!(remove, ["CLAUDECODE", "HTTPS_PROXY", "FOO"]);
        assert!(set.contains(&("FOO".into(), "kept".into())));
    }
}
