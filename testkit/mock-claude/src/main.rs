//! `mock-claude`: a scriptable stand-in for the Claude Code CLI (stream-json protocol).
//!
//! See the crate README for the scenarios, the script format and the environment variables.

#![forbid(unsafe_code)]

mod agent;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mock_claude::{Script, env};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use agent::Agent;
use agent::args::Args;
use agent::io::Log;

const HELP: &str = "Usage: mock-claude [options]

A scriptable stand-in for the Claude Code CLI, for tests. It accepts the CLI's flags
(--output-format stream-json --input-format stream-json --verbose, --model, --permission-mode,
--permission-prompt-tool, --mcp-config, --resume=..., --include-partial-messages, ...) and speaks
the stream-json protocol on stdin/stdout.

Environment:
  MOCK_CLAUDE_SCENARIO     built-in scenario (echo, hello, tools:N, messages:N, huge:BYTES, ...)
  MOCK_CLAUDE_SCRIPT       path to a JSON script
  MOCK_CLAUDE_SCRIPT_JSON  a JSON script inline
  MOCK_CLAUDE_LOG          append a JSON line per event (argv, env, stdin lines, replies)
  MOCK_CLAUDE_LOG_ENV      comma-separated extra env var names to record
  MOCK_CLAUDE_PIDFILE      write the pid here
  MOCK_CLAUDE_STRICT_FLAGS 1: unknown flags are fatal, as in the real CLI

  -v, --version            print the version
  -h, --help               print this help
";

fn load_script() -> Result<Script, String> {
    if let Ok(inline) = std::env::var(env::SCRIPT_JSON) {
        return serde_json::from_str(&inline).map_err(|e| format!("{}: {e}", env::SCRIPT_JSON));
    }
    if let Some(path) = std::env::var_os(env::SCRIPT) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}={path:?}: cannot read: {e}", env::SCRIPT))?;
        return serde_json::from_str(&text).map_err(|e| format!("{}={path:?}: {e}", env::SCRIPT));
    }
    match std::env::var(env::SCENARIO) {
        Ok(name) => mock_claude::scenario(&name),
        Err(_) => Ok(Script::default()),
    }
}

fn env_snapshot() -> Value {
    let mut extra = serde_json::Map::new();
    if let Ok(keys) = std::env::var(env::LOG_ENV) {
        for k in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            extra.insert(k.to_owned(), std::env::var(k).ok().into());
        }
    }
    json!({
        "CLAUDE_CODE_ENTRYPOINT": std::env::var("CLAUDE_CODE_ENTRYPOINT").ok(),
        "CLAUDECODE_present": std::env::var_os("CLAUDECODE").is_some(),
        "CLAUDE_AGENT_SDK_VERSION": std::env::var("CLAUDE_AGENT_SDK_VERSION").ok(),
        "CLAUDE_CODE_SDK_READS_SESSION_STATE": std::env::var("CLAUDE_CODE_SDK_READS_SESSION_STATE").ok(),
        "PWD": std::env::var("PWD").ok(),
        "extra": extra,
    })
}

#[tokio::main]
async fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = Args::parse(raw);
    let log = Log::open(std::env::var_os(env::LOG));
    log.event(
        "start",
        json!({
            "argv": args.raw,
            "args": args.to_json(),
            "env": env_snapshot(),
            "cwd": std::env::current_dir().ok().map(|p| p.display().to_string()),
        }),
    );
    // Appended, one line per process, so the mocks of a test that starts many all show up.
    if let Some(p) = std::env::var_os(env::PIDFILE)
        && let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, format!("{}\n", std::process::id()).as_bytes())
            })
    {
        eprintln!("mock-claude: cannot write MOCK_CLAUDE_PIDFILE {p:?}: {e}");
    }
    if args.has(&["-v", "--version"]) {
        println!("{} (Claude Code)", mock_claude::CLI_VERSION);
        log.event("exit", json!({"code": 0, "why": "version"}));
        return;
    }
    if args.has(&["-h", "--help"]) {
        print!("{HELP}");
        return;
    }
    if std::env::var(env::STRICT_FLAGS).is_ok_and(|v| v == "1")
        && let Some((flag, _)) = args.unknown.first()
    {
        eprintln!("error: unknown option '{flag}'");
        log.event("exit", json!({"code": 1, "why": "unknown option"}));
        std::process::exit(1);
    }
    let script = match load_script() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mock-claude: bad script: {e}");
            log.event("exit", json!({"code": 2, "why": "bad script", "error": e}));
            std::process::exit(2);
        }
    };
    if script.ignore_sigterm {
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        let log_term = Log::open(std::env::var_os(env::LOG));
        tokio::spawn(async move {
            while term.recv().await.is_some() {
                log_term.event("sigterm_ignored", json!({}));
            }
        });
    }
    let agent = Arc::new(Agent::new(args, script, log));
    // SIGINT: like the real CLI, interrupt the running turn, then exit 0.
    {
        let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
        let a = agent.clone();
        tokio::spawn(async move {
            while int.recv().await.is_some() {
                a.log
                    .event("sigint", json!({"ignored": a.script.ignore_sigint}));
                if !a.script.ignore_sigint {
                    a.exit_after_turn.store(true, Ordering::SeqCst);
                    a.sigint().await;
                }
            }
        });
    }
    if agent.script.startup_delay_ms > 0 {
        agent::sleep(agent.script.startup_delay_ms).await;
    }
    {
        let steps = agent.script.on_start.clone();
        agent.run_on_start(&steps).await;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let stream_input = agent.args.value(&["--input-format"]) == Some("stream-json");
    if !stream_input && !agent.args.positional.is_empty() {
        // `--print "prompt"` (text input): one turn for the prompt from argv, then exit.
        let prompt = agent.args.positional.join(" ");
        let _ = tx.send(json!({"type": "user", "message": {"role": "user", "content": prompt}}));
        drop(tx);
    } else {
        tokio::spawn(agent.clone().read_stdin(tx));
    }
    let mut index = 0usize;
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            () = agent.sigint_idle() => None,
        };
        let Some(msg) = msg else { break };
        agent.run_turn(index, &msg).await;
        index += 1;
        if agent.exit_after_turn.load(Ordering::SeqCst) {
            agent.exit(0, "SIGINT").await;
        }
    }
    if agent.exit_after_turn.load(Ordering::SeqCst) {
        agent.exit(0, "SIGINT").await;
    }
    let code = agent
        .script
        .exit_code
        .unwrap_or(i32::from(agent.last_result_error.load(Ordering::SeqCst)));
    agent.exit(code, "stdin EOF").await;
}
