//! Interop: the client against the **real** Claude Code CLI (the version pinned in
//! `scripts/install-claude-cli.sh`), talking to a loopback fake Messages API
//! (`testkit/fake-messages-api`). Nothing leaves the machine: the CLI gets the fake's base URL, a
//! dummy key, telemetry / auto-update / error reporting / nonessential traffic off, and a scratch
//! `HOME` (= its working directory) per test, removed afterwards.
//!
//! The CLI comes from `fake_messages_api::real_cli_path()`: `CLAUDE_CLI_PATH` if set, else the
//! install script (cached under `.cache/claude-cli/`). If it cannot be had, every test here fails
//! saying so: they are never skipped.
//!
//! Every test runs on the real clock (the CLI is a real process) and is bounded by [`BOUND`];
//! the tests share nothing but the binary, so the harness runs them in parallel.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fake_messages_api::{Block, CLI_ENV_REMOVE, FakeMessagesApi, Reply, cli_env};
use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tether_claude::{
    ClaudeOptions, ContentBlock, Error, HookEvent, HookOutput, Message, PermissionDecision,
    ResponseStream, ResultMessage, SdkMcpServer, Tool, ToolOutput, UserContent, connect, query,
};

/// The bound on each test. The CLI starts in about a second; a turn against the fake takes well
/// under one. Generous, for a loaded CI machine.
const BOUND: Duration = Duration::from_secs(90);

/// The pinned real CLI, or a failing test that says why.
fn claude_cli() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        fake_messages_api::real_cli_path().unwrap_or_else(|e| {
            panic!("the interop tests need the real Claude Code CLI and it is not available: {e}")
        })
    })
    .clone()
}

/// Runs `fut`, failing the test if it takes longer than [`BOUND`].
async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    match tokio::time::timeout(BOUND, fut).await {
        Ok(out) => out,
        Err(_) => panic!("the test did not finish within {BOUND:?}: a hang"),
    }
}

/// A scratch directory (the CLI's `HOME` and working directory), removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "tether-claude-real-cli-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Options running the real CLI against `api`, isolated in `scratch`.
fn options(api: &FakeMessagesApi, scratch: &Scratch) -> ClaudeOptions {
    let mut options = ClaudeOptions::new()
        .cli_path(claude_cli())
        .cwd(scratch.path())
        .close_grace(Duration::from_secs(3))
        .term_grace(Duration::from_secs(3))
        .control_timeout(Duration::from_secs(30));
    for (key, value) in cli_env(api, scratch.path()) {
        options = options.env(key, value);
    }
    // Credentials and proxies that would send the CLI elsewhere are removed (the client removes
    // CLAUDECODE itself).
    for key in CLI_ENV_REMOVE {
        options = options.env_remove(*key);
    }
    options
}

/// Every item of a turn until its stream ends.
async fn collect(mut turn: ResponseStream) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(item) = turn.next().await {
        out.push(item.unwrap_or_else(|e| panic!("an error in a turn: {e}")));
    }
    out
}

fn text_of(messages: &[Message]) -> String {
    messages.iter().filter_map(Message::text).collect()
}

fn result_of(messages: &[Message]) -> &ResultMessage {
    match messages.last() {
        Some(Message::Result(r)) => r,
        other => panic!("a turn must end with its result, got {other:?}"),
    }
}

fn init_session(messages: &[Message]) -> String {
    messages
        .iter()
        .find_map(|m| match m {
            Message::System(s) => s.init().and_then(|i| i.session_id),
            _ => None,
        })
        .expect("a system/init message with a session id")
}

/// Every `tool_result` block of the turn's `user` messages: (tool_use_id, content, is_error).
fn tool_results(messages: &[Message]) -> Vec<(String, Value, bool)> {
    let mut out = Vec::new();
    for m in messages {
        let Message::User(u) = m else { continue };
        let UserContent::Blocks(blocks) = &u.message.content else {
            continue;
        };
        for b in blocks {
            if let ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } = b
            {
                out.push((
                    tool_use_id.clone(),
                    content.clone().unwrap_or(Value::Null),
                    is_error.unwrap_or(false),
                ));
            }
        }
    }
    out
}

/// The text of a tool_result's content (a string, or text blocks).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        other => other.to_string(),
    }
}

/// The `tool_result` blocks the CLI sent back to the API in request `index`.
fn api_tool_results(api: &FakeMessagesApi, index: usize) -> Vec<Value> {
    let bodies = api.messages_bodies();
    let body = bodies
        .get(index)
        .unwrap_or_else(|| panic!("no API request #{index}: {} requests", bodies.len()));
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .cloned()
        .collect()
}

/// Every user text the CLI sent to the API in request `index`, in order.
fn api_user_texts(api: &FakeMessagesApi, index: usize) -> Vec<String> {
    let bodies = api.messages_bodies();
    let body = &bodies[index];
    let mut out = Vec::new();
    for m in body["messages"].as_array().unwrap() {
        if m["role"] != "user" {
            continue;
        }
        match &m["content"] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(blocks) => out.extend(
                blocks
                    .iter()
                    .filter(|b| b["type"] == "text")
                    .map(|b| b["text"].as_str().unwrap_or("").to_owned()),
            ),
            _ => {}
        }
    }
    // The CLI adds its own `<system-reminder>` text blocks (e.g. commit attribution) to the
    // first user message; only the user's own texts are compared.
    out.retain(|t| !t.starts_with("<system-reminder>"));
    out
}

/// The one-shot `query`: init, the scripted text, a successful result, a clean end (the CLI exits
/// 0 after stdin closes). The API saw our prompt and our entrypoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_query() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("one-shot");
    api.push(Reply::text("hello from the fake model"));
    let started = Instant::now();
    let messages: Vec<Message> = bounded(async {
        let mut stream = std::pin::pin!(query("say hello", options(&api, &scratch)));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.push(item.unwrap_or_else(|e| panic!("one-shot query failed: {e}")));
        }
        out
    })
    .await;
    eprintln!("one_shot_query: {:?}", started.elapsed());

    let init = match &messages[0] {
        Message::System(s) => s.init().expect("the first message is system/init"),
        other => panic!("the first message is system/init, got {other:?}"),
    };
    assert_eq!(init.claude_code_version.as_deref(), Some("2.1.330"));
    assert_eq!(text_of(&messages), "hello from the fake model");
    let result = result_of(&messages);
    assert_eq!(result.subtype, "success");
    assert!(!result.is_error);
    assert_eq!(result.result.as_deref(), Some("hello from the fake model"));
    assert_eq!(result.session_id, init.session_id.clone().unwrap());
    assert_eq!(result.terminal_reason.as_deref(), Some("completed"));

    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r.is_messages()),
        "only POST /v1/messages"
    );
    assert_eq!(requests.len(), 1);
    let agent = requests[0].header("user-agent").unwrap_or_default();
    assert!(
        agent.contains("sdk-rs"),
        "our entrypoint marker reaches the CLI: {agent}"
    );
    assert_eq!(api_user_texts(&api, 0), ["say hello"]);
    api.shutdown().await.unwrap();
}

/// Three turns on one connection, the second from another task through the shareable handle:
/// each turn sees exactly its own reply, the session id stays, and every API request carries the
/// conversation so far.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_turn_session_with_a_handle_from_another_task() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("multi-turn");
    api.push(Reply::text("first answer"));
    api.push(Reply::text("second answer"));
    api.push(Reply::text("third answer"));
    let started = Instant::now();
    let turns = bounded(connect(options(&api, &scratch), async |client| {
        let one = collect(client.query("first question").await.unwrap()).await;
        let handle = client.handle();
        let two =
            tokio::spawn(
                async move { collect(handle.query("second question").await.unwrap()).await },
            )
            .await
            .unwrap();
        let three = collect(client.query("third question").await.unwrap()).await;
        [one, two, three]
    }))
    .await
    .unwrap();
    eprintln!("multi_turn: {:?}", started.elapsed());

    let answers = ["first answer", "second answer", "third answer"];
    let session = init_session(&turns[0]);
    for (turn, answer) in turns.iter().zip(answers) {
        assert_eq!(text_of(turn), answer);
        let result = result_of(turn);
        assert_eq!(result.subtype, "success");
        assert_eq!(result.result.as_deref(), Some(answer));
        assert_eq!(result.session_id, session);
        // The CLI sends system/init at the start of every turn.
        assert_eq!(init_session(turn), session);
    }
    assert_eq!(
        api_user_texts(&api, 2),
        ["first question", "second question", "third question"],
        "the last request carries the whole conversation"
    );
    api.shutdown().await.unwrap();
}

/// A model that calls Bash, and a permission callback that allows it with a rewritten input: the
/// CLI asked us (with the tool's name, input and id), ran **our** input, and sent the output back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_use_tool_allows_a_real_tool_call_with_rewritten_input() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("allow");
    api.push(Reply::tool_use(
        "toolu_01Allow",
        "Bash",
        json!({"command": "echo model > model.txt", "description": "write a file"}),
    ));
    api.push(Reply::text("wrote it"));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let options = options(&api, &scratch).can_use_tool(move |req| {
        seen.lock().push(req.clone());
        async move {
            Ok::<_, tether::BoxError>(PermissionDecision::allow_with_input(
                json!({"command": "echo hi > ours.txt", "description": "write our file"}),
            ))
        }
    });
    let messages = bounded(connect(options, async |client| {
        collect(client.query("write a file").await.unwrap()).await
    }))
    .await
    .unwrap();

    let asked = asked.lock().clone();
    assert_eq!(asked.len(), 1, "one permission request");
    assert_eq!(asked[0].tool_name, "Bash");
    assert_eq!(asked[0].input["command"], "echo model > model.txt");
    assert_eq!(asked[0].tool_use_id.as_deref(), Some("toolu_01Allow"));
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("ours.txt")).unwrap(),
        "hi\n",
        "the CLI ran the input our callback gave"
    );
    assert!(!scratch.path().join("model.txt").exists());
    let results = tool_results(&messages);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0, "toolu_01Allow");
    assert!(!results[0].2, "the tool succeeded: {results:?}");
    let result = result_of(&messages);
    assert_eq!(result.subtype, "success");
    assert_eq!(result.result.as_deref(), Some("wrote it"));
    assert_eq!(result.permission_denials.as_deref(), Some(&[][..]));
    let sent = api_tool_results(&api, 1);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["tool_use_id"], "toolu_01Allow");
    api.shutdown().await.unwrap();
}

/// The same call denied: the tool does not run, the model gets our message as an error
/// `tool_result`, the turn goes on, and the result lists the denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_use_tool_denies_a_real_tool_call() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("deny");
    api.push(Reply::tool_use(
        "toolu_01Deny",
        "Bash",
        json!({"command": "echo no > denied.txt", "description": "write a file"}),
    ));
    api.push(Reply::text("understood"));
    let options = options(&api, &scratch).can_use_tool(|req| async move {
        assert_eq!(req.tool_name, "Bash");
        Ok::<_, tether::BoxError>(PermissionDecision::deny("not in this test"))
    });
    let messages = bounded(connect(options, async |client| {
        collect(client.query("write a file").await.unwrap()).await
    }))
    .await
    .unwrap();

    assert!(!scratch.path().join("denied.txt").exists(), "the tool ran");
    let results = tool_results(&messages);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0, "toolu_01Deny");
    assert!(results[0].2, "a denied tool is an error result");
    assert!(content_text(&results[0].1).contains("not in this test"));
    let result = result_of(&messages);
    assert_eq!(
        result.subtype, "success",
        "the turn went on after the denial"
    );
    assert_eq!(result.result.as_deref(), Some("understood"));
    let denials = result.permission_denials.clone().unwrap();
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0]["tool_name"], "Bash");
    assert_eq!(denials[0]["tool_use_id"], "toolu_01Deny");
    let sent = api_tool_results(&api, 1);
    assert_eq!(sent[0]["is_error"], true);
    assert!(sent[0]["content"].to_string().contains("not in this test"));
    api.shutdown().await.unwrap();
}

/// `PreToolUse` and `PostToolUse` hooks registered through `initialize` see the real tool call,
/// in order around the permission callback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_see_the_tool_call() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("hooks");
    api.push(Reply::tool_use(
        "toolu_01Hook",
        "Bash",
        json!({"command": "echo hooked > hooked.txt", "description": "write a file"}),
    ));
    api.push(Reply::text("done"));
    let events: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let (pre, post, perm) = (events.clone(), events.clone(), events.clone());
    let options = options(&api, &scratch)
        .hook(HookEvent::PreToolUse, Some("Bash"), move |input| {
            pre.lock().push(("pre".into(), input.input.clone()));
            async { Ok::<_, tether::BoxError>(HookOutput::default()) }
        })
        .hook(HookEvent::PostToolUse, None, move |input| {
            post.lock().push(("post".into(), input.input.clone()));
            async { Ok::<_, tether::BoxError>(HookOutput::default()) }
        })
        .can_use_tool(move |req| {
            perm.lock().push(("permission".into(), req.input.clone()));
            async { Ok::<_, tether::BoxError>(PermissionDecision::allow()) }
        });
    let messages = bounded(connect(options, async |client| {
        collect(client.query("print something").await.unwrap()).await
    }))
    .await
    .unwrap();

    let events = events.lock().clone();
    let order: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(order, ["pre", "permission", "post"]);
    let pre = &events[0].1;
    assert_eq!(pre["hook_event_name"], "PreToolUse");
    assert_eq!(pre["tool_name"], "Bash");
    assert_eq!(pre["tool_input"]["command"], "echo hooked > hooked.txt");
    assert_eq!(pre["tool_use_id"], "toolu_01Hook");
    let post = &events[2].1;
    assert_eq!(post["hook_event_name"], "PostToolUse");
    assert_eq!(post["tool_name"], "Bash");
    assert_eq!(post["tool_use_id"], "toolu_01Hook");
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("hooked.txt")).unwrap(),
        "hooked\n"
    );
    assert_eq!(result_of(&messages).subtype, "success");
    api.shutdown().await.unwrap();
}

/// An in-process tool (an SDK MCP server): the CLI lists it, the model calls it, our handler runs
/// with the model's arguments, and its output goes back to the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_tool_called_by_the_cli() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("mcp");
    api.push(Reply::tool_use(
        "toolu_01Add",
        "mcp__sdk-tools__add",
        json!({"a": 2, "b": 3}),
    ));
    api.push(Reply::text("the sum is 5"));
    let calls: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = calls.clone();
    let add = Tool::new(
        "add",
        "Adds two numbers",
        json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
               "required": ["a", "b"]}),
        move |args: Value| {
            seen.lock().push(args.clone());
            async move {
                let sum = args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0);
                Ok::<_, tether::BoxError>(ToolOutput::text(sum.to_string()))
            }
        },
    );
    let options = options(&api, &scratch)
        .mcp_server(SdkMcpServer::new("sdk-tools").tool(add))
        .can_use_tool(|req| async move {
            assert_eq!(req.tool_name, "mcp__sdk-tools__add");
            Ok::<_, tether::BoxError>(PermissionDecision::allow())
        });
    let messages = bounded(connect(options, async |client| {
        collect(client.query("add 2 and 3").await.unwrap()).await
    }))
    .await
    .unwrap();

    let init = messages
        .iter()
        .find_map(|m| match m {
            Message::System(s) => s.init(),
            _ => None,
        })
        .unwrap();
    assert!(
        init.tools.iter().any(|t| t == "mcp__sdk-tools__add"),
        "the CLI lists the in-process tool: {:?}",
        init.tools
    );
    assert_eq!(*calls.lock(), [json!({"a": 2, "b": 3})]);
    let results = tool_results(&messages);
    assert_eq!(results.len(), 1);
    assert_eq!(content_text(&results[0].1), "5");
    assert!(!results[0].2);
    assert_eq!(result_of(&messages).result.as_deref(), Some("the sum is 5"));
    let sent = api_tool_results(&api, 1);
    assert!(sent[0]["content"].to_string().contains('5'));
    // The CLI 2.1.330 defers MCP tools: the first request offers `ToolSearch` (and a placeholder),
    // not the tool itself, and names the deferred tool in the conversation.
    let first = api.messages_bodies()[0].clone();
    let offered: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(offered.contains(&"ToolSearch"), "{offered:?}");
    assert!(
        first["messages"]
            .to_string()
            .contains("deferred tools are now available via ToolSearch")
            && first["messages"]
                .to_string()
                .contains("mcp__sdk-tools__add"),
        "the in-process tool is announced as a deferred tool"
    );
    api.shutdown().await.unwrap();
}

/// Interrupt while the model's reply is streaming (the fake stalls mid-stream): the turn ends at
/// once with an aborted result, the CLI really cancels the HTTP request, and the next turn on the
/// same connection is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_mid_turn_then_a_clean_turn() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("interrupt");
    api.push(Reply::text("a very long story that never ends").stalling());
    api.push(Reply::text("short answer"));
    let (aborted, clean) = bounded(connect(options(&api, &scratch), async |client| {
        let mut turn = client.query("tell me a story").await.unwrap();
        // The reply is streaming (and stalled) once the fake has started the stream.
        api.wait_until(|s| s.streams_started >= 1).await;
        let interrupted = Instant::now();
        client.interrupt().await.unwrap();
        let mut aborted = Vec::new();
        while let Some(item) = turn.next().await {
            aborted.push(item.unwrap());
        }
        eprintln!(
            "interrupt: the turn ended {:?} after the interrupt",
            interrupted.elapsed()
        );
        let clean = collect(client.query("and now briefly").await.unwrap()).await;
        (aborted, clean)
    }))
    .await
    .unwrap();

    let result = result_of(&aborted);
    assert!(result.is_error);
    assert_eq!(result.subtype, "error_during_execution");
    assert_eq!(result.terminal_reason.as_deref(), Some("aborted_streaming"));
    assert!(
        api.statistics().streams_aborted >= 1,
        "the interrupt cancelled the HTTP request"
    );
    assert_eq!(text_of(&clean), "short answer");
    let result = result_of(&clean);
    assert_eq!(result.subtype, "success");
    assert!(!result.is_error);
    assert!(
        !clean
            .iter()
            .any(|m| m.to_value().to_string().contains("never ends")),
        "nothing of the interrupted turn leaks into the next one"
    );
    api.shutdown().await.unwrap();
}

/// A session resumed by id (`ClaudeOptions::resume`, sent as `--resume=<id>`) in a new process:
/// the same session id, and the model sees the earlier conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_a_session_by_id() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("resume");
    api.push(Reply::text("I will remember the word: walrus"));
    api.push(Reply::text("the word was walrus"));
    let first = bounded(connect(options(&api, &scratch), async |client| {
        collect(client.query("remember the word walrus").await.unwrap()).await
    }))
    .await
    .unwrap();
    let session = result_of(&first).session_id.clone();
    assert!(!session.is_empty());

    let second = bounded(connect(
        options(&api, &scratch).resume(session.clone()),
        async |client| collect(client.query("what was the word?").await.unwrap()).await,
    ))
    .await
    .unwrap();
    assert_eq!(init_session(&second), session, "the same session");
    assert_eq!(result_of(&second).session_id, session);
    assert_eq!(text_of(&second), "the word was walrus");
    assert_eq!(
        api_user_texts(&api, 1),
        ["remember the word walrus", "what was the word?"],
        "the resumed process sent the earlier turn to the model"
    );
    api.shutdown().await.unwrap();
}

/// A resume id the CLI does not know: the turn ends with the CLI's error result, and the
/// connection then reports the CLI's exit (status 1) and its stderr line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_an_unknown_session_fails_with_the_clis_reason() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("resume-unknown");
    let unknown = "00000000-0000-4000-8000-000000000000";
    let stderr: Arc<Mutex<Vec<String>>> = Arc::default();
    let lines = stderr.clone();
    let options = options(&api, &scratch)
        .resume(unknown)
        .stderr(move |line| lines.lock().push(line.to_owned()));
    let outcome = bounded(connect(options, async |client| {
        let items: Vec<Result<Message, Error>> =
            client.query("hello").await?.collect::<Vec<_>>().await;
        Ok::<_, Error>(items)
    }))
    .await;
    // The CLI never answers `initialize` here (it exits first): connecting fails with the
    // exit status and the stderr line, or the turn gets the error result.
    let text = match outcome {
        Err(e) => e.to_string(),
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(items)) => format!("{items:?}"),
    };
    assert!(
        text.contains("No conversation found with session ID"),
        "the error names the CLI's reason: {text}"
    );
    assert!(
        stderr
            .lock()
            .iter()
            .any(|l| l.contains("No conversation found")),
        "stderr was drained to the callback"
    );
    assert_eq!(api.statistics().messages_requests, 0);
    api.shutdown().await.unwrap();
}

/// The CLI killed (SIGKILL) mid-turn: the open turn, a turn waiting behind it in another task,
/// and every later call all get the typed closed error with the exit status at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_killed_mid_turn() {
    use std::os::unix::process::ExitStatusExt as _;

    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("killed");
    api.push(Reply::text("this reply never finishes").stalling());
    let (first, waiter, later, since_kill) =
        bounded(connect(options(&api, &scratch), async |client| {
            let mut turn = client.query("start something").await.unwrap();
            let handle = client.handle();
            let waiting = tokio::spawn(async move {
                match handle.query("queued behind").await {
                    Ok(turn) => turn
                        .collect::<Vec<_>>()
                        .await
                        .into_iter()
                        .find_map(Result::err)
                        .expect("the queued turn ends with an error"),
                    Err(e) => e,
                }
            });
            api.wait_until(|s| s.streams_started >= 1).await;
            let status = std::process::Command::new("kill")
                .args(["-KILL", &client.handle().pid().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let killed = Instant::now();
            let mut first = None;
            while let Some(item) = turn.next().await {
                if let Err(e) = item {
                    first = Some(e);
                }
            }
            let since_kill = killed.elapsed();
            let waiter = waiting.await.unwrap();
            let later = client.interrupt().await.unwrap_err();
            (
                first.expect("the open turn ends with an error"),
                waiter,
                later,
                since_kill,
            )
        }))
        .await
        .unwrap();
    eprintln!("killed: the open turn failed {since_kill:?} after SIGKILL");

    for (what, error) in [
        ("open turn", &first),
        ("waiting turn", &waiter),
        ("later call", &later),
    ] {
        let cause = error
            .close_cause()
            .unwrap_or_else(|| panic!("the {what} gets Error::Closed, got {error:?}"));
        let status = cause
            .exit_status()
            .unwrap_or_else(|| panic!("the {what}'s cause carries the exit status: {cause}"));
        assert_eq!(status.signal(), Some(9), "{what}: {cause}");
        assert!(cause.stderr_tail().is_some(), "{what}: {cause}");
    }
    // "At once": well inside the control timeout (30 s here, 60 s by default).
    assert!(since_kill < Duration::from_secs(10), "{since_kill:?}");
    api.shutdown().await.unwrap();
}

/// One content block per `assistant` message (a captured fact of the real CLI): a reply of a
/// thinking block, two text blocks and nothing else arrives as three assistant messages with the
/// same API message id, and the client keeps the thinking block typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_assistant_message_per_block() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("blocks");
    api.push(Reply::blocks([
        Block::Thinking {
            thinking: "let me think".into(),
            signature: "sig".into(),
        },
        Block::text("part one. "),
        Block::text("part two."),
    ]));
    let messages = bounded(connect(options(&api, &scratch), async |client| {
        collect(client.query("think, then answer").await.unwrap()).await
    }))
    .await
    .unwrap();
    let assistants: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Assistant(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(assistants.len(), 3);
    assert!(assistants.iter().all(|a| a.message.content.len() == 1));
    assert!(
        assistants
            .iter()
            .all(|a| a.message.id == assistants[0].message.id)
    );
    assert!(matches!(
        &assistants[0].message.content[0],
        ContentBlock::Thinking { thinking, .. } if thinking == "let me think"
    ));
    assert_eq!(text_of(&messages), "part one. part two.");
    api.shutdown().await.unwrap();
}

/// Interrupt while an in-process tool is running: the real CLI withdraws the `tools/call` with a
/// JSON-RPC `notifications/cancelled` (not `control_cancel_request`); the client cancels the
/// handler (dropped at its await while the connection lives), the turn ends aborted, and the next
/// turn is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_cancels_a_running_in_process_tool() {
    struct DropCount(Arc<AtomicU64>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("mcp-interrupt");
    api.push(Reply::tool_use(
        "toolu_01Slow",
        "mcp__sdk-tools__slow",
        json!({}),
    ));
    api.push(Reply::text("after the interrupt"));
    let started = Arc::new(tokio::sync::Notify::new());
    let dropped = Arc::new(AtomicU64::new(0));
    let (s, d) = (started.clone(), dropped.clone());
    let slow = Tool::new(
        "slow",
        "Never finishes",
        json!({"type": "object"}),
        move |_| {
            let guard = DropCount(d.clone());
            let s = s.clone();
            async move {
                let _guard = guard;
                s.notify_one();
                std::future::pending::<()>().await;
                Ok::<_, tether::BoxError>(ToolOutput::text("unreachable"))
            }
        },
    );
    let options = options(&api, &scratch)
        .mcp_server(SdkMcpServer::new("sdk-tools").tool(slow))
        .can_use_tool(|_| async { Ok::<_, tether::BoxError>(PermissionDecision::allow()) });
    let (aborted, clean) = bounded(connect(options, async |client| {
        let turn = client.handle().query("run the slow tool").await.unwrap();
        let reader = tokio::spawn(collect(turn));
        started.notified().await;
        client.interrupt().await.unwrap();
        let aborted = reader.await.unwrap();
        while dropped.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!client.handle().is_closed());
        let clean = collect(client.query("and now?").await.unwrap()).await;
        (aborted, clean)
    }))
    .await
    .unwrap();

    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the handler was dropped once"
    );
    let result = result_of(&aborted);
    assert!(result.is_error);
    assert_eq!(result.terminal_reason.as_deref(), Some("aborted_tools"));
    let results = tool_results(&aborted);
    assert_eq!(results.len(), 1);
    assert!(results[0].2, "the withdrawn call is an error tool_result");
    assert!(
        content_text(&results[0].1).contains("stopped while running"),
        "{results:?}"
    );
    assert_eq!(text_of(&clean), "after the interrupt");
    assert_eq!(result_of(&clean).subtype, "success");
    api.shutdown().await.unwrap();
}

/// Our SDK → CLI control requests against the real CLI: `set_model` changes the model the next API
/// request uses, `set_permission_mode` is accepted, an invalid mode comes back as
/// `Error::ControlRefused` with the CLI's own message, and `server_info` holds the `initialize`
/// reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_model_and_permission_mode_reach_the_cli() {
    use tether_claude::PermissionMode;

    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("control");
    api.push(Reply::text("on the default model"));
    // `set_model` makes the CLI probe the new model with a one-token request of its own.
    api.push(Reply::text("probe"));
    api.push(Reply::text("on sonnet"));
    let (info, model, mode, refused) = bounded(connect(options(&api, &scratch), async |client| {
        let info = client.server_info().expect("the initialize reply");
        collect(client.query("first").await.unwrap()).await;
        let model = client.set_model(Some("claude-sonnet-4-5")).await.unwrap();
        // The probe takes the next scripted reply: let it go first.
        api.wait_until(|s| s.messages_requests >= 2).await;
        let mode = client
            .set_permission_mode(PermissionMode::AcceptEdits)
            .await
            .unwrap();
        let refused = client
            .set_permission_mode(PermissionMode::Other("bogusMode".into()))
            .await
            .unwrap_err();
        let second = collect(client.query("second").await.unwrap()).await;
        assert_eq!(text_of(&second), "on sonnet");
        (info, model, mode, refused)
    }))
    .await
    .unwrap();

    assert_eq!(info["claude_code_version"], "2.1.330");
    assert_eq!(model, json!({"model": "claude-sonnet-4-5"}));
    assert_eq!(mode, json!({"mode": "acceptEdits"}));
    match &refused {
        Error::ControlRefused { subtype, message } => {
            assert_eq!(subtype, "set_permission_mode");
            assert!(message.contains("Cannot set permission mode"), "{message}");
        }
        other => panic!("an invalid mode is refused by the CLI, got {other:?}"),
    }
    let bodies = api.messages_bodies();
    assert_eq!(bodies.len(), 3);
    assert_ne!(bodies[0]["model"], "claude-sonnet-4-5");
    assert_eq!(bodies[1]["model"], "claude-sonnet-4-5");
    assert_eq!(bodies[1]["max_tokens"], 1, "the probe of the new model");
    assert_eq!(
        bodies[2]["model"], "claude-sonnet-4-5",
        "the next turn runs on the model we set"
    );
    api.shutdown().await.unwrap();
}

/// A `PreToolUse` hook's answer is honoured: `permissionDecision: "deny"` refuses the real tool
/// call before any permission prompt (our permission callback is never asked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_denies_the_tool_call() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("hook-deny");
    api.push(Reply::tool_use(
        "toolu_01HookDeny",
        "Bash",
        json!({"command": "echo no > hooked.txt", "description": "write a file"}),
    ));
    api.push(Reply::text("ok, I will not"));
    let asked = Arc::new(AtomicU64::new(0));
    let counter = asked.clone();
    let options = options(&api, &scratch)
        .hook(HookEvent::PreToolUse, None, |_| async {
            Ok::<_, tether::BoxError>(HookOutput {
                hook_specific_output: Some(json!({
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": "hook says no",
                })),
                ..HookOutput::default()
            })
        })
        .can_use_tool(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, tether::BoxError>(PermissionDecision::allow()) }
        });
    let messages = bounded(connect(options, async |client| {
        collect(client.query("write a file").await.unwrap()).await
    }))
    .await
    .unwrap();

    assert_eq!(asked.load(Ordering::SeqCst), 0, "no permission prompt");
    assert!(!scratch.path().join("hooked.txt").exists(), "the tool ran");
    let results = tool_results(&messages);
    assert_eq!(results.len(), 1);
    assert!(results[0].2);
    assert!(
        content_text(&results[0].1).contains("hook says no"),
        "{results:?}"
    );
    assert_eq!(
        result_of(&messages).result.as_deref(),
        Some("ok, I will not")
    );
    api.shutdown().await.unwrap();
}

/// A denial with `interrupt` stops the whole turn: the CLI makes no further API call and the
/// result says the turn was aborted in its tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_use_tool_deny_with_interrupt_ends_the_turn() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("deny-interrupt");
    api.push(Reply::tool_use(
        "toolu_01Stop",
        "Bash",
        json!({"command": "echo no > stop.txt", "description": "write a file"}),
    ));
    let options = options(&api, &scratch).can_use_tool(|_| async {
        Ok::<_, tether::BoxError>(PermissionDecision::deny("stop everything").interrupt(true))
    });
    let messages = bounded(connect(options, async |client| {
        collect(client.query("write a file").await.unwrap()).await
    }))
    .await
    .unwrap();

    assert!(!scratch.path().join("stop.txt").exists());
    let result = result_of(&messages);
    assert!(result.is_error);
    assert_eq!(result.subtype, "error_during_execution");
    assert_eq!(result.terminal_reason.as_deref(), Some("aborted_tools"));
    assert_eq!(
        api.statistics().messages_requests,
        1,
        "no API call after the denial"
    );
    api.shutdown().await.unwrap();
}

/// The one-shot `query()` with a permission callback keeps stdin open until the turn's result:
/// the real CLI fails a pending permission the moment its input closes ("Tool permission stream
/// closed before response received", py#1105), so a tool that runs here proves input was not
/// closed on a guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_query_with_a_permission_callback_runs_the_tool() {
    let api = FakeMessagesApi::start().await.unwrap();
    let scratch = Scratch::new("one-shot-tool");
    api.push(Reply::tool_use(
        "toolu_01OneShot",
        "Bash",
        json!({"command": "echo hi > one-shot.txt", "description": "write a file"}),
    ));
    api.push(Reply::text("written"));
    let options = options(&api, &scratch).can_use_tool(|_| async {
        // Answer late, so a client that closed input after the prompt would lose the tool.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok::<_, tether::BoxError>(PermissionDecision::allow())
    });
    let messages: Vec<Message> = bounded(async {
        let mut stream = std::pin::pin!(query("write a file", options));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.push(item.unwrap_or_else(|e| panic!("one-shot query failed: {e}")));
        }
        out
    })
    .await;

    assert_eq!(
        std::fs::read_to_string(scratch.path().join("one-shot.txt")).unwrap(),
        "hi\n"
    );
    let results = tool_results(&messages);
    assert_eq!(results.len(), 1);
    assert!(!results[0].2, "{results:?}");
    let result = result_of(&messages);
    assert_eq!(result.subtype, "success");
    assert_eq!(result.result.as_deref(), Some("written"));
    api.shutdown().await.unwrap();
}
