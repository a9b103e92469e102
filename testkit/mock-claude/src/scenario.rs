//! Built-in scenarios: named scripts for the common test situations.

use serde_json::{Map, Value, json};

use crate::script::{Permission, Script, Step, Turn};

/// Every scenario name [`scenario`] accepts, with its argument, for error messages and the README.
pub const SCENARIOS: &[&str] = &[
    "echo",
    "hello",
    "thinking",
    "tool",
    "tools:N",
    "mcp:SERVER[:TOOL]",
    "messages:N",
    "huge:BYTES (suffix KiB/MiB allowed)",
    "slow:MS",
    "sleep:MS",
    "crash:CODE",
    "crash-on-start:CODE",
    "stubborn",
    "ignore-eof",
    "ignore-sigterm",
    "slow-start:MS",
    "after-result",
    "cancel-permission[:MS]",
    "unknown-messages",
    "error-result",
    "missing-session",
];

fn text(t: &str) -> Step {
    Step::Text { text: t.to_owned() }
}

fn turn(steps: Vec<Step>) -> Script {
    Script::every_turn(steps)
}

fn num(name: &str, arg: Option<&str>, default: u64) -> Result<u64, String> {
    match arg {
        None => Ok(default),
        Some(a) => {
            let (digits, mult) = if let Some(d) = a.strip_suffix("MiB") {
                (d, 1024 * 1024)
            } else if let Some(d) = a.strip_suffix("KiB") {
                (d, 1024)
            } else {
                (a, 1)
            };
            digits
                .trim()
                .parse::<u64>()
                .map(|n| n * mult)
                .map_err(|_| format!("scenario `{name}` wants a number after `:`, got `{a}`"))
        }
    }
}

/// The script for a scenario name such as `tools:1000` (`name` or `name:argument`).
///
/// # Errors
///
/// An unknown name or a malformed argument gives a message listing the valid names.
///
/// # Examples
///
/// ```
/// let script = mock_claude::scenario("messages:3").unwrap();
/// assert_eq!(script.turn(0).steps.len(), 1);
/// assert!(mock_claude::scenario("nope").is_err());
/// ```
pub fn scenario(spec: &str) -> Result<Script, String> {
    let (name, arg) = match spec.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (spec, None),
    };
    let script = match name {
        "echo" | "" => Script::default(),
        "hello" => turn(vec![text("Hello from mock-claude")]),
        "thinking" => turn(vec![
            Step::Thinking {
                thinking: "Let me think about that.".into(),
                signature: "mock-signature".into(),
            },
            text("Done thinking."),
        ]),
        "tool" => turn(vec![
            text("I will run a command."),
            Step::ToolUse {
                name: "Bash".into(),
                input: json!({"command": "echo hi", "description": "Say hi"}),
                id: None,
                permission: Permission::Auto,
                output: None,
                is_error: false,
            },
            text("The command finished."),
        ]),
        "tools" => {
            let n = num(name, arg, 10)?;
            let mut steps: Vec<Step> = (0..n)
                .map(|i| Step::ToolUse {
                    name: "Bash".into(),
                    input: json!({"command": format!("echo {i}")}),
                    id: None,
                    permission: Permission::Auto,
                    output: None,
                    is_error: false,
                })
                .collect();
            steps.push(text("All tools ran."));
            turn(steps)
        }
        "mcp" => {
            let arg = arg.ok_or("scenario `mcp` needs a server name: `mcp:SERVER[:TOOL]`")?;
            let (server, tool) = match arg.split_once(':') {
                Some((s, t)) => (s, Some(t.to_owned())),
                None => (arg, None),
            };
            turn(vec![
                Step::McpTool {
                    server: server.to_owned(),
                    tool,
                    arguments: Value::Object(Map::new()),
                    permission: Permission::Auto,
                },
                text("The MCP tool finished."),
            ])
        }
        "messages" => turn(vec![Step::Messages {
            count: num(name, arg, 1000)?,
            text: "m".into(),
        }]),
        "huge" => turn(vec![Step::Huge {
            bytes: num(name, arg, 20 * 1024 * 1024)?,
        }]),
        "slow" => turn(vec![Step::SlowText {
            text: "This reply streams slowly, one piece at a time, so an interrupt can land in the middle of it.".into(),
            chunks: 20,
            chunk_ms: num(name, arg, 100)?,
        }]),
        "sleep" => turn(vec![
            text("Sleeping."),
            Step::Sleep {
                ms: num(name, arg, 60_000)?,
            },
            text("Awake."),
        ]),
        "crash" => turn(vec![
            text("About to crash."),
            Step::Crash {
                stderr: "mock-claude: simulated crash mid-turn\nError: something went wrong".into(),
                code: i32::try_from(num(name, arg, 1)?).map_err(|e| e.to_string())?,
            },
        ]),
        "crash-on-start" => Script {
            on_start: vec![Step::Crash {
                stderr: "mock-claude: simulated crash at startup".into(),
                code: i32::try_from(num(name, arg, 1)?).map_err(|e| e.to_string())?,
            }],
            ..Script::default()
        },
        "stubborn" => Script {
            ignore_eof: true,
            ignore_sigterm: true,
            ..Script::default()
        },
        "ignore-eof" => Script {
            ignore_eof: true,
            ..Script::default()
        },
        "ignore-sigterm" => Script {
            ignore_sigterm: true,
            ..Script::default()
        },
        "slow-start" => Script {
            startup_delay_ms: num(name, arg, 2000)?,
            ..Script::default()
        },
        "after-result" => Script {
            default_turn: Some(Turn {
                steps: vec![text("Done; more requests follow the result.")],
                after_result: vec![
                    Step::ControlRequest {
                        request: json!({
                            "subtype": "can_use_tool",
                            "tool_name": "Bash",
                            "input": {"command": "echo late"},
                            "permission_suggestions": [],
                            "tool_use_id": "toolu_after_result",
                        }),
                        wait: true,
                    },
                    Step::Hook {
                        event: "Notification".into(),
                        input: Map::new(),
                        tool_name: None,
                        callback_id: None,
                    },
                ],
                ..Turn::default()
            }),
            ..Script::default()
        },
        "cancel-permission" => turn(vec![
            Step::CancelledPermission {
                name: "Bash".into(),
                input: json!({"command": "rm -rf /tmp/nothing"}),
                cancel_after_ms: num(name, arg, 200)?,
            },
            text("The permission request was cancelled."),
        ]),
        "unknown-messages" => turn(vec![
            Step::Raw {
                line: json!({"type": "mock_future_type", "payload": {"x": 1}}),
            },
            Step::Raw {
                line: Value::String("this line is not JSON".into()),
            },
            Step::Raw {
                line: json!({"type": "assistant", "message": {"id": "msg_mock_unknown", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [{"type": "mock_future_block", "data": 1}, {"type": "text", "text": "known"}], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}, "parent_tool_use_id": null, "session_id": "mock", "uuid": "00000000-0000-4000-8000-000000000000"}),
            },
            text("After the unknown messages."),
        ]),
        "missing-session" => Script {
            missing_session: true,
            ..Script::default()
        },
        "error-result" => Script {
            default_turn: Some(Turn {
                steps: vec![text("Giving up.")],
                result: serde_json::from_value(json!({
                    "subtype": "error_max_turns",
                    "is_error": true,
                    "terminal_reason": "max_turns",
                }))
                .map_err(|e| e.to_string())?,
                ..Turn::default()
            }),
            ..Script::default()
        },
        other => {
            return Err(format!(
                "unknown mock-claude scenario `{other}`; known: {}",
                SCENARIOS.join(", ")
            ));
        }
    };
    Ok(script)
}
