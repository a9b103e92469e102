//! Load and faults, on loopback, against the mock agent, through ONE shared connection.
//!
//! - `two_hundred_clients_share_one_connection`: 200 concurrent HTTP clients; a tenth leave
//!   while queued, a tenth leave mid-stream. Every client that stays gets its own complete turn;
//!   nothing hangs (each request is bounded); turns start in arrival order; afterwards no agent
//!   process is alive or unreaped and the process's memory is back near where it started.
//! - `killing_the_agent_mid_load_fails_every_open_request_promptly`: the agent is SIGKILLed with
//!   100 requests open; each gets a typed `closed` error within a bound; the server stays up and
//!   reports the connection closed (no reconnection: that is a decision for the operator).
//!
//! With `WEB_CHAT_REPORT=<markdown file>` set, each test writes its figures into that file
//! between its markers (`<!-- web-chat-load:begin -->` … and `<!-- web-chat-kill:begin -->` …),
//! e.g. `WEB_CHAT_REPORT=$PWD/docs/sdk.md cargo test -p web-chat --release --test load`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use mock_claude::{Script, Step};
use support::{Server, Turn, assert_reaped, bounded, deltas, process_state, rss_bytes, texts};

/// The tests measure this process's memory and write one report file: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The bound on any single request: generous (a debug build on a loaded 2-core machine), but
/// finite — a hang fails the test instead of stalling it.
const PER_REQUEST: Duration = Duration::from_secs(120);

const CLIENTS: usize = 200;
const WARM_UP: usize = 20;
const SLOW: &str = "0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Reads the whole turn.
    Stay,
    /// Drops the connection right after its `queued` event.
    LeaveQueued,
    /// Drops the connection after the first piece of the slow text arrived.
    LeaveMidStream,
}

fn behaviour(i: usize) -> Behaviour {
    match i % 10 {
        3 => Behaviour::LeaveQueued,
        7 => Behaviour::LeaveMidStream,
        _ => Behaviour::Stay,
    }
}

#[derive(Debug)]
struct Outcome {
    index: usize,
    behaviour: Behaviour,
    /// The arrival number the server gave the request.
    ticket: u64,
    /// `Ok(())`: a complete turn, checked; `Err(kind)`: a typed error event.
    end: Option<Result<(), String>>,
}

fn prompt(round: usize, i: usize) -> String {
    format!("load-{round}-{i:03}")
}

/// One client. Panics (failing the test) on anything but a complete, correct turn or a typed
/// error.
async fn client(
    addr: std::net::SocketAddr,
    round: usize,
    i: usize,
    start: Arc<tokio::sync::Barrier>,
) -> Outcome {
    let behaviour = behaviour(i);
    let prompt = prompt(round, i);
    start.wait().await;
    let mut turn = Turn::post(addr, &prompt).await;
    assert_eq!(turn.status, StatusCode::OK, "request {i}");
    let ticket = turn.expect("queued").await["turn"].as_u64().unwrap();
    let mut outcome = Outcome {
        index: i,
        behaviour,
        ticket,
        end: None,
    };
    if behaviour == Behaviour::LeaveQueued {
        return outcome; // `turn` is dropped: the TCP connection closes
    }
    let mut events = Vec::new();
    while let Some(event) = turn.next().await {
        let name = event.name.clone();
        events.push(event);
        if behaviour == Behaviour::LeaveMidStream && name == "delta" && events.len() > 3 {
            return outcome; // mid-stream: after the echo, during the slow text
        }
    }
    let last = events
        .last()
        .unwrap_or_else(|| panic!("request {i}: no events"));
    match last.name.as_str() {
        "result" => {
            assert_eq!(events[0].name, "start", "request {i}: {events:?}");
            assert_eq!(events[0].data["turn"], ticket, "request {i}");
            assert_eq!(
                texts(&events),
                [prompt.clone(), SLOW.to_string()],
                "request {i}: its own turn, whole"
            );
            assert_eq!(deltas(&events), format!("{prompt}{SLOW}"), "request {i}");
            assert_eq!(last.data["subtype"], "success", "request {i}");
            assert_eq!(last.data["is_error"], false, "request {i}");
            assert_eq!(last.data["turn"], ticket, "request {i}");
            outcome.end = Some(Ok(()));
        }
        "error" => {
            assert_eq!(last.data["fatal"], true, "request {i}: {last:?}");
            let kind = last.data["kind"].as_str().unwrap().to_string();
            outcome.end = Some(Err(kind));
        }
        other => panic!("request {i}: the stream ended after `{other}`: {events:?}"),
    }
    outcome
}

/// Writes `body` between `<!-- {tag}:begin -->` and `<!-- {tag}:end -->` in the file named by
/// `WEB_CHAT_REPORT`, if set.
fn report(tag: &str, body: &str) {
    let Some(path) = std::env::var_os("WEB_CHAT_REPORT") else {
        return;
    };
    let begin = format!("<!-- {tag}:begin -->");
    let end = format!("<!-- {tag}:end -->");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let block = format!("{begin}\n{body}{end}");
    let new = match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if b < e => format!("{}{block}{}", &text[..b], &text[e + end.len()..]),
        _ => format!("{text}\n{block}\n"),
    };
    std::fs::write(&path, new).expect("write the report");
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// What one round of the load measured.
struct Round {
    stayed: usize,
    left_queued: usize,
    left_mid_stream: usize,
    /// Turns whose prompt the agent read.
    started: usize,
    elapsed: Duration,
    withdrawn: u64,
    abandoned: u64,
    /// This process's RSS once the round was over and the server idle.
    rss_idle: u64,
}

fn counter(status: &serde_json::Value, name: &str) -> u64 {
    status[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

/// One round: `CLIENTS` concurrent requests through the one connection, every check but memory.
/// `before` is the status before the round (the counters are cumulative).
async fn round(server: &Server, r: usize, before: &serde_json::Value) -> Round {
    let base_ticket = counter(before, "requests");
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let barrier = barrier.clone();
            let addr = server.addr;
            tokio::spawn(async move {
                match tokio::time::timeout(PER_REQUEST, client(addr, r, i, barrier)).await {
                    Ok(outcome) => outcome,
                    Err(_) => panic!("round {r}: request {i} hung for {PER_REQUEST:?}"),
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for c in clients {
        outcomes.push(c.await.expect("a client failed"));
    }
    let elapsed = started.elapsed();

    let status = server
        .wait_status("the server to go idle", |s| {
            s["open_streams"] == 0 && s["queue_length"] == 0 && s["running"].is_null()
        })
        .await;
    // Memory, read before this test parses the agent's log (which grows every round, and whose
    // parsing would raise the allocator's high-water mark).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_idle = rss_bytes();

    // Every client that stayed got its whole turn (no faults are injected here, so no errors).
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        match (&o.behaviour, &o.end) {
            (Behaviour::Stay, Some(Ok(()))) => {}
            (Behaviour::Stay, Some(Err(kind))) => *errors.entry(kind.clone()).or_default() += 1,
            (Behaviour::Stay, None) => panic!("request {} stayed but has no end", o.index),
            _ => {}
        }
    }
    assert!(
        errors.is_empty(),
        "typed errors without any fault: {errors:?}"
    );
    let count = |b: Behaviour| outcomes.iter().filter(|o| o.behaviour == b).count();
    let stayed = count(Behaviour::Stay);

    // Arrival numbers: each request got a distinct one, right after the earlier requests'.
    let mut tickets: Vec<u64> = outcomes.iter().map(|o| o.ticket).collect();
    tickets.sort_unstable();
    let expected: Vec<u64> = (base_ticket + 1..=base_ticket + CLIENTS as u64).collect();
    assert_eq!(tickets, expected, "arrival numbers, each once");

    // The order proof. The arrival number is taken in the same critical section in which the
    // request enters the connection's FIFO, so arrival numbers are the queue order; the agent's
    // own stdin log (a separate process, written as it reads) is the order in which turns
    // started. Served in arrival order <=> the arrival numbers of the prompts the agent read, in
    // the order it read them, strictly increase. A request withdrawn while queued may be
    // missing, but nothing may overtake, and every turn that started ran exactly once.
    let ticket_of: HashMap<String, &Outcome> =
        outcomes.iter().map(|o| (prompt(r, o.index), o)).collect();
    let mine = format!("load-{r}-");
    let received: Vec<String> = server
        .prompts_received()
        .into_iter()
        .filter(|p| p.starts_with(&mine))
        .collect();
    let order: Vec<u64> = received
        .iter()
        .map(|p| {
            ticket_of
                .get(p)
                .unwrap_or_else(|| panic!("unknown prompt {p}"))
                .ticket
        })
        .collect();
    for pair in order.windows(2) {
        assert!(
            pair[0] < pair[1],
            "turn {} started after turn {}: {order:?}",
            pair[1],
            pair[0]
        );
    }
    for o in &outcomes {
        let p = prompt(r, o.index);
        let times = received.iter().filter(|x| **x == p).count();
        if o.behaviour == Behaviour::LeaveQueued {
            assert!(times <= 1, "{p} ran {times} times");
        } else {
            assert_eq!(times, 1, "{p} ran exactly once");
        }
    }

    // The server's counters agree with what the clients saw.
    let delta = |name: &str| counter(&status, name) - counter(before, name);
    assert_eq!(delta("turns_served"), stayed as u64, "{status}");
    let (withdrawn, abandoned) = (delta("withdrawn"), delta("abandoned"));
    // A request dropped in the same instant the connection took its turn: the prompt was
    // written (and the turn interrupted) but the handler never saw its start. So the agent may
    // have read a few more prompts than the server counted starts, never more than withdrew.
    let started = delta("turns_started");
    assert!(
        started <= received.len() as u64 && received.len() as u64 <= started + withdrawn,
        "agent read {} prompts, server started {started}, withdrawn {withdrawn}: {status}",
        received.len()
    );
    assert_eq!(withdrawn + abandoned, (CLIENTS - stayed) as u64, "{status}");
    assert_eq!(status["alive"], true);
    Round {
        stayed,
        left_queued: count(Behaviour::LeaveQueued),
        left_mid_stream: count(Behaviour::LeaveMidStream),
        started: received.len(),
        elapsed,
        withdrawn,
        abandoned,
        rss_idle,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_share_one_connection() {
    let _serial = SERIAL.lock().await;
    let script = Script::every_turn(vec![
        Step::Echo {
            prefix: String::new(),
        },
        Step::SlowText {
            text: SLOW.into(),
            chunks: 5,
            chunk_ms: 2,
        },
    ]);
    let server = Server::start(&script).await;
    let pid = server.status().await["pid"].as_u64().unwrap() as u32;

    // Warm up (allocator pools, lazy statics, the mock's first turns) before measuring memory.
    for i in 0..WARM_UP {
        let mut turn = Turn::post(server.addr, &format!("warm-{i}")).await;
        let rest = turn.rest().await;
        assert_eq!(rest.last().unwrap().name, "result");
    }
    let rss_before = rss_bytes();

    // Two rounds: memory must come back near the start after the first, and a second round must
    // not grow it further (a leak per request would).
    let status = server.status().await;
    let first = round(&server, 1, &status).await;
    let rss_after_1 = first.rss_idle;
    let status = server.status().await;
    let second = round(&server, 2, &status).await;
    let rss_after_2 = second.rss_idle;
    println!(
        "rounds 1, 2: rss {:.1}, {:.1} MiB",
        mib(rss_after_1),
        mib(rss_after_2)
    );
    // More rounds on request (`WEB_CHAT_EXTRA_ROUNDS=N`), to watch RSS level off.
    let extra: usize = std::env::var("WEB_CHAT_EXTRA_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut later = Vec::new();
    for r in 0..extra {
        let status = server.status().await;
        later.push(round(&server, 3 + r, &status).await.rss_idle);
    }
    let status = server.status().await;

    let slack = 48 * 1024 * 1024;
    assert!(
        rss_after_1 <= rss_before + slack,
        "RSS grew from {:.1} MiB to {:.1} MiB in the first round",
        mib(rss_before),
        mib(rss_after_1)
    );
    let per_round_slack = 16 * 1024 * 1024;
    assert!(
        rss_after_2 <= rss_after_1 + per_round_slack,
        "RSS grew again in the second round: {:.1} MiB then {:.1} MiB",
        mib(rss_after_1),
        mib(rss_after_2)
    );

    let report_status = server.shutdown().await;
    assert_eq!(report_status.pid, pid);
    assert_reaped(pid).await;
    let rss_end = rss_bytes();

    let errors: Vec<String> = status["errors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let row = |name: &str, f: &dyn Fn(&Round) -> String| {
        format!("| {name} | {} | {} |\n", f(&first), f(&second))
    };
    let mut text = format!(
        "| figure | round 1 | round 2 |\n|---|---|---|\n\
         | build | {profile} | {profile} |\n\
         | concurrent HTTP requests (one connection) | {CLIENTS} | {CLIENTS} |\n",
        profile = build_profile(),
    );
    text += &row("stayed to the end / got their complete turn", &|r| {
        format!("{} / {}", r.stayed, r.stayed)
    });
    text += &row("left while queued / left mid-stream", &|r| {
        format!("{} / {}", r.left_queued, r.left_mid_stream)
    });
    text += &row("turns the agent started", &|r| r.started.to_string());
    text += &row(
        "withdrawn while queued / abandoned while running (server counters)",
        &|r| format!("{} / {}", r.withdrawn, r.abandoned),
    );
    text += &row("wall time for all requests", &|r| {
        format!("{:.2} s", r.elapsed.as_secs_f64())
    });
    text += &row("turns per second through the one connection", &|r| {
        format!("{:.1}", r.started as f64 / r.elapsed.as_secs_f64())
    });
    text += &row(
        "arrival-order violations (vs the agent's stdin log)",
        &|_| "0".into(),
    );
    text += &format!(
        "| RSS of the test process (server + 200 clients) | {:.1} → {:.1} MiB | → {:.1} MiB |\n",
        mib(rss_before),
        mib(rss_after_1),
        mib(rss_after_2)
    );
    if !later.is_empty() {
        let rss: Vec<String> = later.iter().map(|b| format!("{:.1}", mib(*b))).collect();
        text += &format!(
            "\nRSS after {} further rounds (`WEB_CHAT_EXTRA_ROUNDS`): {} MiB.\n",
            later.len(),
            rss.join(" → ")
        );
    }
    text += &format!(
        "\nEach turn: the mock echoes the prompt, then streams `{SLOW}` in 5 pieces 2 ms apart; \
         {WARM_UP} warm-up turns before the first RSS reading. Typed errors (server counters, both \
         rounds): {errs}. RSS after shutdown: {end:.1} MiB. Agent processes alive or unreaped \
         afterwards: 0 (pid {pid}, checked in `/proc`).\n",
        errs = if errors.is_empty() {
            "none".to_string()
        } else {
            errors.join(", ")
        },
        end = mib(rss_end),
    );
    // glibc keeps freed memory in per-thread arenas; with one arena the same rounds show
    // whether anything is retained per request. Each setting gets its own table.
    let arenas = std::env::var("MALLOC_ARENA_MAX").ok();
    text += &format!(
        "\nAllocator: glibc malloc, `MALLOC_ARENA_MAX` {}.\n",
        arenas
            .as_deref()
            .map_or("unset (default)".to_string(), |v| format!("= {v}"))
    );
    println!("{text}");
    match arenas {
        None => report("web-chat-load", &text),
        Some(v) => report(&format!("web-chat-load-arena-max-{v}"), &text),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_agent_mid_load_fails_every_open_request_promptly() {
    const OPEN: usize = 100;
    const PROMPTLY: Duration = Duration::from_secs(5);
    let _serial = SERIAL.lock().await;
    let script = Script::every_turn(vec![
        Step::Echo {
            prefix: String::new(),
        },
        Step::SlowText {
            text: "y".repeat(100),
            chunks: 100,
            chunk_ms: 50,
        },
    ]);
    let server = Server::start(&script).await;
    let pid = server.status().await["pid"].as_u64().unwrap() as u32;

    // 100 requests open: one streaming, 99 queued.
    let killed_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let (queued_tx, mut queued_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let clients: Vec<_> = (0..OPEN)
        .map(|i| {
            let addr = server.addr;
            let queued_tx = queued_tx.clone();
            let killed_at = killed_at.clone();
            tokio::spawn(async move {
                let run = async {
                    let mut turn = Turn::post(addr, &format!("kill-{i}")).await;
                    turn.expect("queued").await;
                    queued_tx.send(()).unwrap();
                    let rest = turn.rest().await;
                    let ended = Instant::now();
                    let last = rest
                        .last()
                        .unwrap_or_else(|| panic!("request {i}: no end event"));
                    assert_eq!(last.name, "error", "request {i}: {rest:?}");
                    assert_eq!(last.data["kind"], "closed", "request {i}: {last:?}");
                    ended.saturating_duration_since(
                        *killed_at.get().expect("ended only after the kill"),
                    )
                };
                match tokio::time::timeout(PER_REQUEST, run).await {
                    Ok(latency) => latency,
                    Err(_) => panic!("request {i} hung"),
                }
            })
        })
        .collect();
    drop(queued_tx);
    bounded(Duration::from_secs(60), "every request queued", async {
        for _ in 0..OPEN {
            queued_rx.recv().await.unwrap();
        }
    })
    .await;
    server
        .wait_status("the first turn to stream", |s| {
            s["running"].is_u64() && s["queue_length"] == (OPEN - 1) as u64
        })
        .await;

    killed_at.set(Instant::now()).unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    let mut latencies = Vec::new();
    for c in clients {
        latencies.push(c.await.expect("a client failed"));
    }
    let worst = latencies.iter().max().copied().unwrap();
    assert!(
        worst <= PROMPTLY,
        "the slowest request got its error {worst:?} after the kill"
    );

    // The server is still up and says the connection is closed, and why.
    let status = server.status().await;
    assert_eq!(status["alive"], false);
    let cause = status["cause"].as_str().unwrap().to_string();
    assert!(cause.contains("signal: 9"), "{cause}");
    assert_eq!(status["open_streams"], 0);
    assert_eq!(status["queue_length"], 0);
    assert_eq!(status["errors"]["closed"], OPEN as u64, "{status}");
    let after = Turn::post(server.addr, "after the kill").await;
    assert_eq!(after.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(after.text().await.contains("\"kind\":\"closed\""));
    assert_eq!(support::get(server.addr, "/").await.0, StatusCode::OK);
    assert!(process_state(pid).is_none(), "the killed agent was reaped");

    server.shutdown().await;
    let mut sorted = latencies.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let text = format!(
        "| figure | value |\n|---|---|\n\
         | build | {profile} |\n\
         | open requests when the agent was SIGKILLed | {OPEN} (1 streaming, {q} queued) |\n\
         | requests that got a typed `closed` error | {OPEN} |\n\
         | error latency after the kill: median / worst | {m:.1} / {w:.1} ms (bound {PROMPTLY:?}) |\n\
         | server afterwards | up; `/api/status` `alive: false`, cause `{cause}`; new turns get 503 `closed` (no reconnection) |\n",
        profile = build_profile(),
        q = OPEN - 1,
        m = median.as_secs_f64() * 1000.0,
        w = worst.as_secs_f64() * 1000.0,
    );
    println!("{text}");
    report("web-chat-kill", &text);
}
