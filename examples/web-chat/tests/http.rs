//! HTTP-level tests of every endpoint, on loopback, against the mock agent.

mod support;

use std::time::Duration;

use hyper::StatusCode;
use mock_claude::{Script, Step, Turn as MockTurn};
use serde_json::{Value, json};
use support::{Server, Turn, assert_reaped, bounded, deltas, get, request, texts};

fn echo() -> Script {
    Script::default()
}

/// The first turn runs until interrupted; every later turn echoes.
fn first_turn_sleeps() -> Script {
    Script {
        turns: vec![MockTurn {
            steps: vec![
                Step::Text {
                    text: "working".into(),
                },
                Step::Sleep { ms: 600_000 },
            ],
            ..MockTurn::default()
        }],
        ..Script::default()
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn the_page_is_served_with_its_controls() {
    let server = Server::start(&echo()).await;
    let (code, body) = get(server.addr, "/").await;
    assert_eq!(code, StatusCode::OK);
    for needle in [
        "<form id=\"form\"",
        "id=\"prompt\"",
        "id=\"stop\"",
        "\"/api/turn\"",
        "\"/api/interrupt\"",
        "\"/api/status\"",
    ] {
        assert!(body.contains(needle), "the page lacks {needle}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn status_reports_a_live_idle_connection() {
    let server = Server::start(&echo()).await;
    let status = server.status().await;
    assert_eq!(status["alive"], true);
    assert_eq!(status["turns_served"], 0);
    assert_eq!(status["queue_length"], 0);
    assert_eq!(status["running"], Value::Null);
    assert_eq!(status["cause"], Value::Null);
    let pid = status["pid"].as_u64().unwrap() as u32;
    assert_eq!(
        server.agent_pids(),
        vec![pid],
        "one agent process, and it is this one"
    );
    let report = server.shutdown().await;
    assert_eq!(report.pid, pid);
    assert_reaped(pid).await;
}

#[tokio::test]
async fn a_turn_streams_queued_start_text_and_result() {
    let script = Script::every_turn(vec![
        Step::Echo {
            prefix: "echo: ".into(),
        },
        Step::SlowText {
            text: "abcdefghij".into(),
            chunks: 5,
            chunk_ms: 1,
        },
    ]);
    let server = Server::start(&script).await;
    let mut turn = Turn::post(server.addr, "hello there").await;
    assert_eq!(turn.status, StatusCode::OK);
    assert!(turn.content_type.starts_with("text/event-stream"));
    assert_eq!(turn.expect("queued").await, json!({"turn": 1, "ahead": 0}));
    assert_eq!(turn.expect("start").await, json!({"turn": 1}));
    let rest = turn.rest().await;
    let names: Vec<&str> = rest.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.last(), Some(&"result"), "{names:?}");
    assert_eq!(texts(&rest), ["echo: hello there", "abcdefghij"]);
    assert!(deltas(&rest).ends_with("abcdefghij"), "{rest:?}");
    let result = &rest.last().unwrap().data;
    assert_eq!(result["turn"], 1);
    assert_eq!(result["subtype"], "success");
    assert_eq!(result["is_error"], false);

    let status = server.status().await;
    assert_eq!(status["turns_served"], 1);
    assert_eq!(status["turns_started"], 1);
    assert_eq!(status["running"], Value::Null);
    assert_eq!(status["open_streams"], 0);
    assert_eq!(server.prompts_received(), ["hello there"]);
    server.shutdown().await;
}

#[tokio::test]
async fn get_with_a_query_works_and_bad_requests_are_typed() {
    let server = Server::start(&echo()).await;
    let mut turn = Turn::open(server.addr, "GET", "/api/turn?prompt=via%20get", None).await;
    assert_eq!(turn.status, StatusCode::OK);
    turn.expect("queued").await;
    turn.expect("start").await;
    assert_eq!(turn.until("text").await["text"], "via get");
    turn.expect("result").await;
    assert!(
        turn.next().await.is_none(),
        "the stream ends after the result"
    );

    for (method, path, body, why) in [
        ("GET", "/api/turn", None, "no prompt"),
        ("POST", "/api/turn", Some("not json"), "not JSON"),
        (
            "POST",
            "/api/turn",
            Some("{\"prompt\": \"  \"}"),
            "empty prompt",
        ),
        (
            "POST",
            "/api/interrupt",
            Some("{\"turn\": \"x\"}"),
            "bad turn",
        ),
    ] {
        let (code, body) = request(server.addr, method, path, body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(json(&body)["error"]["kind"], "bad_request", "{why}");
    }
    // Nothing but the one good prompt reached the agent.
    assert_eq!(server.prompts_received(), ["via get"]);
    server.shutdown().await;
}

#[tokio::test]
async fn interrupt_stops_the_running_turn_and_the_next_is_clean() {
    let server = Server::start(&first_turn_sleeps()).await;
    // Idle: harmless, nothing interrupted.
    let (code, body) = request(server.addr, "POST", "/api/interrupt", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(json(&body), json!({"interrupted": false, "turn": null}));

    let mut a = Turn::post(server.addr, "long job").await;
    a.expect("queued").await;
    a.expect("start").await;
    assert_eq!(a.until("text").await["text"], "working");
    assert_eq!(server.status().await["running"], 1);

    // Naming another turn interrupts nothing.
    let (code, body) = request(server.addr, "POST", "/api/interrupt", Some("{\"turn\": 7}")).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(json(&body)["error"]["kind"], "not_running");

    let (code, body) = request(server.addr, "POST", "/api/interrupt", Some("{\"turn\": 1}")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(json(&body), json!({"interrupted": true, "turn": 1}));
    let rest = a.rest().await;
    let result = &rest.last().expect("a result").data;
    assert_eq!(rest.last().unwrap().name, "result", "{rest:?}");
    assert_eq!(result["terminal_reason"], "aborted_streaming");
    assert_eq!(result["is_error"], true);

    let mut b = Turn::post(server.addr, "next one").await;
    b.expect("queued").await;
    b.expect("start").await;
    let rest = b.rest().await;
    assert_eq!(
        texts(&rest),
        ["next one"],
        "no leftovers of the interrupted turn"
    );
    assert_eq!(rest.last().unwrap().data["subtype"], "success");

    let status = server.status().await;
    assert_eq!(status["turns_served"], 2);
    assert_eq!(status["turns_interrupted"], 1);
    assert!(
        server
            .control_requests_received()
            .contains(&"interrupt".to_string())
    );
    server.shutdown().await;
}

#[tokio::test]
async fn queue_length_counts_the_waiting_turns() {
    let server = Server::start(&first_turn_sleeps()).await;
    let mut a = Turn::post(server.addr, "a").await;
    a.expect("queued").await;
    a.expect("start").await;
    a.until("text").await;
    let mut b = Turn::post(server.addr, "b").await;
    assert_eq!(b.expect("queued").await, json!({"turn": 2, "ahead": 0}));
    let mut c = Turn::post(server.addr, "c").await;
    assert_eq!(c.expect("queued").await, json!({"turn": 3, "ahead": 1}));
    let status = server.status().await;
    assert_eq!(status["queue_length"], 2);
    assert_eq!(status["running"], 1);
    assert_eq!(status["open_streams"], 3);

    let (code, _) = request(server.addr, "POST", "/api/interrupt", None).await;
    assert_eq!(code, StatusCode::OK);
    a.rest().await;
    for (turn, prompt) in [(&mut b, "b"), (&mut c, "c")] {
        turn.expect("start").await;
        assert_eq!(texts(&turn.rest().await), [prompt]);
    }
    let status = server.status().await;
    assert_eq!(status["queue_length"], 0);
    assert_eq!(status["turns_served"], 3);
    assert_eq!(server.prompts_received(), ["a", "b", "c"]);
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_the_connection_mid_turn_interrupts_it_and_the_next_turn_is_clean() {
    let script = Script {
        turns: vec![MockTurn {
            steps: vec![Step::SlowText {
                text: "x".repeat(200),
                chunks: 100,
                chunk_ms: 50,
            }],
            ..MockTurn::default()
        }],
        ..Script::default()
    };
    let server = Server::start(&script).await;
    let mut a = Turn::post(server.addr, "going away").await;
    a.expect("queued").await;
    a.expect("start").await;
    a.expect("delta").await;
    drop(a); // the tab closes: hyper drops the response stream in the connection's task

    let status = server
        .wait_status("the dropped turn to be noticed", |s| s["open_streams"] == 0)
        .await;
    assert_eq!(status["abandoned"], 1);
    // `running` is the connection's view: the abandoned turn runs until the cli answered the
    // interrupt with the turn's result, which the connection reads and discards.
    server
        .wait_status("the abandoned turn to end", |s| s["running"].is_null())
        .await;

    let mut b = Turn::post(server.addr, "fresh").await;
    b.expect("queued").await;
    b.expect("start").await;
    let rest = b.rest().await;
    assert_eq!(texts(&rest), ["fresh"], "no leftovers: {rest:?}");
    assert_eq!(
        deltas(&rest),
        "fresh",
        "no stray deltas of the dropped turn"
    );
    assert_eq!(rest.last().unwrap().data["subtype"], "success");
    // The dropped turn was interrupted (not left to run for 5 s).
    let controls = server.control_requests_received();
    assert!(controls.contains(&"interrupt".to_string()), "{controls:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_a_queued_request_withdraws_its_turn() {
    let server = Server::start(&first_turn_sleeps()).await;
    let mut a = Turn::post(server.addr, "a").await;
    a.expect("queued").await;
    a.expect("start").await;
    // The agent is inside turn `a` (an interrupt that reaches it before it has read the prompt
    // finds it idle and is a no-op, and `a` would then sleep for ten minutes).
    a.until("text").await;
    let mut b = Turn::post(server.addr, "never sent").await;
    b.expect("queued").await;
    drop(b);
    server
        .wait_status("the withdrawn turn to be noticed", |s| s["withdrawn"] == 1)
        .await;
    assert_eq!(server.status().await["queue_length"], 0);

    let (code, _) = request(server.addr, "POST", "/api/interrupt", None).await;
    assert_eq!(code, StatusCode::OK);
    a.rest().await;
    let mut c = Turn::post(server.addr, "c").await;
    c.expect("queued").await;
    c.expect("start").await;
    assert_eq!(texts(&c.rest().await), ["c"]);
    assert_eq!(
        server.prompts_received(),
        ["a", "c"],
        "the withdrawn prompt was never written"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_turns_interrupts_and_reaps_the_agent() {
    let server = Server::start(&first_turn_sleeps()).await;
    let pid = server.status().await["pid"].as_u64().unwrap() as u32;
    let mut a = Turn::post(server.addr, "running").await;
    a.expect("queued").await;
    a.expect("start").await;
    let mut b = Turn::post(server.addr, "queued").await;
    b.expect("queued").await;
    let dir = server.dir.clone();

    let report = server.shutdown().await;
    for turn in [&mut a, &mut b] {
        let rest = turn.rest().await;
        let last = rest.last().expect("an event");
        assert_eq!(last.name, "error", "{rest:?}");
        assert_eq!(last.data["kind"], "shutdown");
        assert_eq!(last.data["fatal"], true);
    }
    assert_eq!(report.pid, pid);
    assert_reaped(pid).await;
    let log = support::mock_log(&dir);
    let stdin = support::stdin_lines(&dir);
    assert!(
        stdin
            .iter()
            .any(|l| l["type"] == "control_request" && l["request"]["subtype"] == "interrupt"),
        "the open turn was interrupted"
    );
    // (The queued turn is withdrawn when its stream ends; if the connection took it in the same
    // instant, its prompt is written and it is interrupted like any dropped turn. Either way it
    // ended with `shutdown` above.)
    assert!(
        log.iter().any(|e| e["event"] == "stdin_eof"),
        "the agent got end of input (a graceful teardown, not a kill)"
    );
}

#[tokio::test]
async fn after_the_agent_dies_the_server_stays_up_and_says_why() {
    let script = Script {
        turns: vec![MockTurn {
            steps: vec![
                Step::Text {
                    text: "about to crash".into(),
                },
                Step::Crash {
                    stderr: "mock-claude: simulated crash".into(),
                    code: 3,
                },
            ],
            ..MockTurn::default()
        }],
        ..Script::default()
    };
    let server = Server::start(&script).await;
    let pid = server.status().await["pid"].as_u64().unwrap() as u32;
    let mut a = Turn::post(server.addr, "crash please").await;
    a.expect("queued").await;
    a.expect("start").await;
    let rest = a.rest().await;
    let last = rest.last().unwrap();
    assert_eq!(last.name, "error", "{rest:?}");
    assert_eq!(last.data["kind"], "closed");
    assert!(
        last.data["message"]
            .as_str()
            .unwrap()
            .contains("simulated crash"),
        "{last:?}"
    );

    let status = server.status().await;
    assert_eq!(status["alive"], false);
    let cause = status["cause"].as_str().unwrap();
    assert!(cause.contains("exit status: 3"), "{cause}");

    let b = Turn::post(server.addr, "anyone there?").await;
    assert_eq!(b.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = b.text().await;
    assert_eq!(json(&text)["error"]["kind"], "closed");
    let (code, body) = request(server.addr, "POST", "/api/interrupt", None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(json(&body)["error"]["kind"], "closed");
    assert_eq!(
        get(server.addr, "/").await.0,
        StatusCode::OK,
        "still serving"
    );
    assert_reaped(pid).await;
    server.shutdown().await;
}

/// The binary: one command starts it (URL printed), SIGINT shuts it down cleanly.
#[tokio::test]
async fn the_binary_prints_its_url_and_exits_cleanly_on_ctrl_c() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = support::scratch("bin");
    let pidfile = dir.join("mock.pid");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_web-chat"))
        .args(["--addr", "127.0.0.1:0"])
        .env("MOCK_CLAUDE_BIN", mock_claude::binary_path())
        .env("MOCK_CLAUDE_PIDFILE", &pidfile)
        .env_remove("CLAUDE_CLI_PATH")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = bounded(Duration::from_secs(60), "the url line", lines.next_line())
        .await
        .unwrap()
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"));
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback());
    let mut turn = Turn::post(addr, "hi from the test").await;
    turn.expect("queued").await;
    turn.expect("start").await;
    assert_eq!(
        turn.until("text").await["text"],
        "You said: hi from the test"
    );
    turn.expect("delta").await; // the demo script's slow answer is streaming

    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest = turn.rest().await;
    assert_eq!(rest.last().unwrap().data["kind"], "shutdown", "{rest:?}");
    let exit = bounded(Duration::from_secs(30), "the binary to exit", child.wait())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let last = bounded(Duration::from_secs(5), "the last line", lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(last.contains("exited and was reaped"), "{last}");
    let pids: Vec<u32> = std::fs::read_to_string(&pidfile)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 1);
    assert_reaped(pids[0]).await;
}
