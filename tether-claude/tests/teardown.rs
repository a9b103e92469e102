//! Teardown: no zombies, nothing lost — disconnect, scope exit, cancellation, drop, panic, a
//! CLI that ignores end of input and SIGTERM, and many cycles cancelled at random points.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use support::*;
use tether_claude::{Client, Message, connect, query};

#[tokio::test]
async fn disconnect_ends_input_and_the_cli_exits_by_itself() {
    let log = temp_file("graceful");
    let mut client =
        Client::connect(scenario("echo").env("MOCK_CLAUDE_LOG", log.display().to_string()))
            .await
            .unwrap();
    let pid = client.handle().pid();
    let items = collect(client.query("hi").await.unwrap()).await;
    assert_eq!(text_of(&items), "hi");
    bounded(client.disconnect()).await.unwrap();
    assert!(!pid_exists(pid), "reaped by disconnect");
    let events: Vec<String> = read_log(&log)
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(events.contains(&"stdin_eof".to_string()));
    let exit = read_log(&log)
        .into_iter()
        .find(|e| e["event"] == "exit")
        .unwrap();
    assert_eq!(
        exit["code"], 0,
        "exited on its own after end of input: {exit}"
    );
    // Idempotent.
    client.disconnect().await.unwrap();
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn a_cli_ignoring_end_of_input_and_sigterm_is_killed_within_the_grace_periods_and_reaped() {
    let log = temp_file("stubborn");
    let grace = Duration::from_millis(300);
    let options = scenario("stubborn")
        .env("MOCK_CLAUDE_LOG", log.display().to_string())
        .close_grace(grace)
        .term_grace(grace);
    let mut client = Client::connect(options).await.unwrap();
    let pid = client.handle().pid();
    let _ = collect(client.query("hi").await.unwrap()).await;
    let started = Instant::now();
    bounded(client.disconnect()).await.unwrap();
    let took = started.elapsed();
    assert!(!pid_exists(pid), "reaped");
    // Both grace periods were waited (the escalation happened), and not much more: the
    // bound is generous because the machine is shared, but a hang would blow it.
    assert!(took >= grace * 2, "{took:?}");
    assert!(took < grace * 2 + Duration::from_secs(20), "{took:?}");
    let events: Vec<String> = read_log(&log)
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        events.contains(&"sigterm_ignored".to_string()),
        "SIGTERM was sent: {events:?}"
    );
    assert!(
        !events.contains(&"exit".to_string()),
        "it only died by SIGKILL"
    );
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn leaving_the_scope_reaps_the_cli_even_when_the_body_panics() {
    let pidfile = temp_file("panic-pid");
    let options = scenario("echo").env("MOCK_CLAUDE_PIDFILE", pidfile.display().to_string());
    let outcome = tokio::spawn(async move {
        connect(options, async |client| {
            let _ = collect(client.query("x").await.unwrap()).await;
            panic!("the body failed");
        })
        .await
    })
    .await;
    let panic = outcome.unwrap_err().into_panic();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the body failed"));
    let pids = pids_in(&pidfile);
    assert_eq!(pids.len(), 1);
    assert!(
        !pid_exists(pids[0]),
        "the teardown ran before the panic resumed"
    );
    let _ = std::fs::remove_file(&pidfile);
}

#[tokio::test]
async fn a_cancelled_scope_still_runs_the_graceful_teardown() {
    let log = temp_file("cancelled");
    let options = script(json!({"default_turn": {"steps": [{"type": "sleep", "ms": 60000}]}}))
        .env("MOCK_CLAUDE_LOG", log.display().to_string());
    let out = bounded(tether::move_on_after(
        Duration::from_millis(300),
        connect(options, async |client| {
            let _turn = client.query("never finishes").await.unwrap();
            std::future::pending::<()>().await;
        }),
    ))
    .await;
    assert!(out.is_none(), "the deadline cut the body off");
    let log_lines = read_log(&log);
    let pid = log_lines[0]["pid"].as_u64().unwrap() as u32;
    assert!(!pid_exists(pid), "reaped before move_on_after returned");
    let events: Vec<&str> = log_lines
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(
        events.contains(&"stdin_eof"),
        "input was ended first: {events:?}"
    );
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn dropping_an_owned_client_kills_the_cli_and_tokio_reaps_it() {
    let client = Client::connect(scenario("stubborn")).await.unwrap();
    let handle = client.handle();
    let pid = handle.pid();
    let turn = handle.query("x").await.unwrap();
    drop(client); // never blocks
    let err = bounded(collect(turn)).await;
    assert!(
        matches!(err.last(), Some(Err(e)) if e.is_closed()),
        "an open stream ends with Closed: {err:?}"
    );
    assert!(handle.query("y").await.unwrap_err().is_closed());
    wait_reaped(pid).await;
}

#[tokio::test]
async fn dropping_a_one_shot_stream_early_tears_the_cli_down() {
    let pidfile = temp_file("oneshot-drop");
    let options =
        scenario("messages:100000").env("MOCK_CLAUDE_PIDFILE", pidfile.display().to_string());
    {
        let mut stream = std::pin::pin!(query("many", options));
        let mut seen = 0;
        while let Some(item) = stream.next().await {
            item.unwrap();
            seen += 1;
            if seen == 10 {
                break;
            }
        }
    }
    let pids = pids_in(&pidfile);
    assert_eq!(pids.len(), 1);
    wait_reaped(pids[0]).await;
    let _ = std::fs::remove_file(&pidfile);
}

fn pids_in(path: &std::path::PathBuf) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A tiny deterministic generator (xorshift), so a failing cycle can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_cycles_cancelled_at_random_points_leave_no_cli_alive_or_unreaped() {
    let pidfile = temp_file("cycles");
    let cycles: u64 = std::env::var("TETHER_CLAUDE_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    bounded(async {
        for cycle in 0..cycles {
            let options = scenario("slow:20")
                .env("MOCK_CLAUDE_PIDFILE", pidfile.display().to_string())
                .close_grace(Duration::from_millis(100))
                .term_grace(Duration::from_millis(100));
            let cut_after = Duration::from_millis(rng.below(400));
            match rng.below(4) {
                // A tether scope cancels a scoped connection: graceful, shielded teardown.
                0 => {
                    tether::move_on_after(
                        cut_after,
                        connect(options, async |client| {
                            let turn = client.query(format!("cycle {cycle}")).await?;
                            let _ = collect(turn).await;
                            Ok::<_, tether_claude::Error>(())
                        }),
                    )
                    .await;
                }
                // A `select!` drops a scoped connection: the kill-on-drop path.
                1 => {
                    tokio::select! {
                        _ = connect(options, async |client| {
                            let turn = client.query("x").await?;
                            let _ = collect(turn).await;
                            Ok::<_, tether_claude::Error>(())
                        }) => {}
                        () = tokio::time::sleep(cut_after) => {}
                    }
                }
                // An owned client dropped at a random point (possibly mid-connect).
                2 => {
                    let _ = tokio::time::timeout(cut_after, async {
                        let client = Client::connect(options).await?;
                        let turn = client.query("y").await?;
                        let _ = collect(turn).await;
                        Ok::<_, tether_claude::Error>(())
                    })
                    .await;
                }
                // A one-shot stream dropped at a random point.
                _ => {
                    let _ = tokio::time::timeout(cut_after, async {
                        let mut s = std::pin::pin!(query("z", options));
                        while s.next().await.is_some() {}
                    })
                    .await;
                }
            }
        }
    })
    .await;
    let pids = pids_in(&pidfile);
    assert!(
        pids.len() as u64 >= cycles / 2,
        "most cycles started a cli: {pids:?}"
    );
    for pid in pids {
        // Alive or a zombie both fail: `wait_reaped` waits (bounded) for the pid to vanish.
        wait_reaped(pid).await;
    }
    let _ = std::fs::remove_file(&pidfile);
}

#[tokio::test]
async fn the_one_shot_stream_ends_after_the_cli_exited() {
    let pidfile = temp_file("oneshot");
    let options = scenario("echo").env("MOCK_CLAUDE_PIDFILE", pidfile.display().to_string());
    let items: Vec<_> = bounded(query("hello", options).collect()).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(text_of(&items), "hello");
    assert!(matches!(items.last(), Some(Ok(Message::Result(_)))));
    let pids = pids_in(&pidfile);
    assert!(!pid_exists(pids[0]), "reaped when the stream ended");
    let _ = std::fs::remove_file(&pidfile);
}
