//! The fake against the real Claude Code CLI (the pinned version from
//! `scripts/install-claude-cli.sh`): proof that the fake speaks the Messages API well enough for
//! the CLI to stream a reply, run a tool after asking permission, and send the result back.
//!
//! The CLI comes from `real_cli_path()`: `CLAUDE_CLI_PATH` if set, else the install script (cached
//! after the first run). If it cannot be had, the test fails and says so: it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_messages_api::{FakeMessagesApi, Reply};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};

const BOUND: Duration = Duration::from_secs(90);

fn claude_cli() -> PathBuf {
    fake_messages_api::real_cli_path().unwrap_or_else(|e| panic!("{e}"))
}

fn scratch_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "fake-messages-api-real-cli-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawn_cli(cli: &Path, api: &FakeMessagesApi, home: &Path) -> Child {
    let mut command = Command::new(cli);
    command
        .args([
            "--output-format",
            "stream-json",
            "--verbose",
            "--input-format",
            "stream-json",
            "--system-prompt",
            "",
            "--permission-prompt-tool",
            "stdio",
        ])
        .current_dir(home)
        .envs(fake_messages_api::cli_env(api, home))
        .env("CLAUDE_CODE_ENTRYPOINT", "sdk-rs")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for name in fake_messages_api::CLI_ENV_REMOVE {
        command.env_remove(name);
    }
    command.spawn().expect("spawn the claude CLI")
}

async fn send(stdin: &mut ChildStdin, message: &Value) {
    let mut line = message.to_string();
    line.push('\n');
    stdin
        .write_all(line.as_bytes())
        .await
        .expect("write to the CLI");
    stdin.flush().await.expect("flush to the CLI");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_cli_runs_a_scripted_tool_turn_through_the_fake() {
    let cli = claude_cli();
    let api = FakeMessagesApi::start().await.unwrap();
    api.push(Reply::blocks([
        fake_messages_api::Block::text("I'll write the file."),
        fake_messages_api::Block::tool_use(
            "toolu_01RealCli",
            "Bash",
            json!({"command": "echo hello > out.txt", "description": "Write hello"}),
        ),
    ]));
    api.push(Reply::text("Done writing."));
    let home = scratch_dir();
    let mut child = spawn_cli(&cli, &api, &home);
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let outcome = tokio::time::timeout(BOUND, async {
        send(
            &mut stdin,
            &json!({"type": "control_request", "request_id": "req_1_abcd1234",
                    "request": {"subtype": "initialize", "hooks": null}}),
        )
        .await;
        send(
            &mut stdin,
            &json!({"type": "user", "message": {"role": "user", "content": "write hello"},
                    "parent_tool_use_id": null, "session_id": "default"}),
        )
        .await;
        let mut seen = Vec::new();
        let mut permission_asked = false;
        while let Some(line) = lines.next_line().await.expect("read the CLI") {
            let message: Value = serde_json::from_str(&line).expect("the CLI writes JSON lines");
            if message["type"] == "control_request"
                && message["request"]["subtype"] == "can_use_tool"
            {
                assert_eq!(message["request"]["tool_name"], "Bash");
                permission_asked = true;
                send(
                    &mut stdin,
                    &json!({"type": "control_response", "response": {
                        "subtype": "success",
                        "request_id": message["request_id"],
                        "response": {"behavior": "allow", "updatedInput": message["request"]["input"]},
                    }}),
                )
                .await;
            }
            let is_result = message["type"] == "result";
            seen.push(message);
            if is_result {
                break;
            }
        }
        drop(stdin);
        let status = child.wait().await.expect("wait for the CLI");
        (seen, permission_asked, status)
    })
    .await;
    let (seen, permission_asked, status) =
        outcome.unwrap_or_else(|_| panic!("the CLI did not finish its turn within {BOUND:?}"));

    assert!(permission_asked, "the CLI asked permission for the tool");
    let result = seen.last().expect("some output");
    assert_eq!(result["type"], "result", "the turn ended with a result");
    assert_eq!(result["subtype"], "success");
    assert_eq!(result["result"], "Done writing.");
    assert!(status.success(), "the CLI exited with {status}");
    // The streamed text and tool call arrived as assistant messages.
    let texts: Vec<&Value> = seen
        .iter()
        .filter(|m| m["type"] == "assistant")
        .flat_map(|m| m["message"]["content"].as_array().unwrap())
        .collect();
    assert!(texts.contains(&&json!({"type": "text", "text": "I'll write the file."})));
    assert!(
        texts
            .iter()
            .any(|b| b["type"] == "tool_use" && b["id"] == "toolu_01RealCli")
    );
    // The tool really ran, and its result went back to the API.
    assert_eq!(
        std::fs::read_to_string(home.join("out.txt")).unwrap(),
        "hello\n"
    );
    let bodies = api.messages_bodies();
    assert_eq!(bodies.len(), 2, "one request per model call");
    let last_user = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .unwrap();
    assert!(
        last_user["content"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "tool_result" && b["tool_use_id"] == "toolu_01RealCli"),
        "the second request carries the tool result: {last_user}"
    );
    let stats = api.statistics();
    assert_eq!(stats.streams_completed, 2);
    assert_eq!(stats.streams_aborted, 0);
    api.shutdown().await.unwrap();
    std::fs::remove_dir_all(&home).unwrap();
}
