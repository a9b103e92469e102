//! Turns and the concurrency model: the handle shared by many tasks, FIFO turns, cancelled
//! turns and waiters, the owned client bound to its task.

mod support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use support::*;
use tether_claude::{Client, Error, Message, connect};

#[tokio::test]
async fn a_turn_gets_its_messages_through_its_result() {
    let out = bounded(connect(scenario("echo"), async |client| {
        collect(client.query("hello mock").await.unwrap()).await
    }))
    .await
    .unwrap();
    assert!(
        matches!(out.first(), Some(Ok(Message::System(s))) if s.subtype == "init"),
        "{out:?}"
    );
    assert_eq!(text_of(&out), "hello mock");
    assert!(
        matches!(out.last(), Some(Ok(Message::Result(r))) if !r.is_error),
        "{out:?}"
    );
    assert_eq!(
        out.iter()
            .filter(|m| matches!(m, Ok(Message::Result(_))))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_sharing_a_handle_each_get_exactly_their_own_turn_in_order() {
    let log = temp_file("fifty");
    let options = scenario("echo").env("MOCK_CLAUDE_LOG", log.display().to_string());
    bounded(connect(options, async |client| {
        let handle = client.handle();
        // Each task queues its turn after the previous one did, so arrival order is known:
        // task i is released by task i-1 once its `query` call has been queued.
        let (first_tx, mut prev_rx) = tokio::sync::oneshot::channel::<()>();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let my_gate = std::mem::replace(&mut prev_rx, rx);
            let handle = handle.clone();
            tasks.push(tokio::spawn(async move {
                my_gate.await.unwrap();
                let query = handle.query(format!("prompt number {i}"));
                let mut query = std::pin::pin!(query);
                // Poll once so the turn is queued, then let the next task queue its own.
                let polled = futures::poll!(query.as_mut());
                let _ = tx.send(());
                let turn = match polled {
                    std::task::Poll::Ready(turn) => turn.unwrap(),
                    std::task::Poll::Pending => query.await.unwrap(),
                };
                let items = collect(turn).await;
                (i, items)
            }));
        }
        first_tx.send(()).unwrap();
        for task in tasks {
            let (i, items) = task.await.unwrap();
            assert_eq!(
                text_of(&items),
                format!("prompt number {i}"),
                "task {i}: {items:?}"
            );
            assert!(matches!(items.first(), Some(Ok(Message::System(_)))));
            assert!(matches!(items.last(), Some(Ok(Message::Result(_)))));
            assert!(items.iter().all(Result::is_ok));
        }
    }))
    .await
    .unwrap();
    // The prompts reached the CLI one turn at a time, in the order the tasks asked.
    let prompts = logged_prompts(&log);
    let expected: Vec<String> = (0..50).map(|i| format!("prompt number {i}")).collect();
    assert_eq!(prompts, expected);
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn a_dropped_turn_interrupts_the_cli_and_the_next_turn_is_clean() {
    let log = temp_file("dropped-turn");
    let options = script(json!({
        "turns": [
            {"steps": [{"type": "text", "text": "first"}, {"type": "sleep", "ms": 20000}, {"type": "text", "text": "late"}]},
            {"steps": [{"type": "text", "text": "second"}]}
        ]
    }))
    .env("MOCK_CLAUDE_LOG", log.display().to_string());
    bounded(connect(options, async |client| {
        let mut turn = client.query("one").await.unwrap();
        // Read until the first text, then drop the stream mid-turn.
        loop {
            let msg = turn.next().await.unwrap().unwrap();
            if msg.text().as_deref() == Some("first") {
                break;
            }
        }
        drop(turn);
        let items = collect(client.query("two").await.unwrap()).await;
        assert_eq!(text_of(&items), "second", "{items:?}");
        let Some(Ok(Message::Result(result))) = items.last() else {
            panic!("{items:?}")
        };
        assert!(!result.is_error);
    }))
    .await
    .unwrap();
    let interrupts = read_log(&log)
        .into_iter()
        .filter(|e| e["event"] == "stdin" && e["line"]["request"]["subtype"] == "interrupt")
        .count();
    assert_eq!(
        interrupts, 1,
        "dropping the turn sent exactly one interrupt"
    );
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn a_waiting_caller_can_be_cancelled_and_its_prompt_is_never_sent() {
    let log = temp_file("withdraw");
    let options = script(json!({
        "turns": [{"steps": [{"type": "text", "text": "a"}, {"type": "sleep", "ms": 300}, {"type": "text", "text": "b"}]}]
    }))
    .env("MOCK_CLAUDE_LOG", log.display().to_string());
    bounded(connect(options, async |client| {
        let handle = client.handle();
        let first = handle.query("first").await.unwrap();
        // A second caller waits behind the first turn; give up on it.
        let waited =
            tokio::time::timeout(Duration::from_millis(50), handle.query("withdrawn")).await;
        assert!(waited.is_err(), "the second turn must wait for the first");
        let items = collect(first).await;
        assert_eq!(text_of(&items), "ab");
        let third = collect(handle.query("third").await.unwrap()).await;
        assert_eq!(text_of(&third), "third");
    }))
    .await
    .unwrap();
    let prompts = logged_prompts(&log);
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert!(prompts.iter().all(|p| !p.contains("withdrawn")));
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn interrupt_from_another_task_ends_the_turn_with_an_aborted_result() {
    let options = script(json!({
        "turns": [{"steps": [{"type": "slow_text", "text": "a long answer that takes time", "chunks": 20, "chunk_ms": 200}]}]
    }))
    .include_partial_messages(true);
    bounded(connect(options, async |client| {
        let handle = client.handle();
        let mut turn = client.query("go").await.unwrap();
        // Interrupt once the agent is inside the turn (its first piece of text): an interrupt
        // read before the agent starts the turn has nothing to stop.
        let inside = tether::Event::new();
        let interrupter = tokio::spawn({
            let inside = inside.clone();
            async move {
                inside.wait().await;
                handle.interrupt().await
            }
        });
        let mut items = Vec::new();
        while let Some(item) = turn.next().await {
            if matches!(&item, Ok(Message::StreamEvent(e)) if e.event["type"] == "content_block_delta")
            {
                inside.set();
            }
            items.push(item);
        }
        interrupter.await.unwrap().unwrap();
        let Some(Ok(Message::Result(result))) = items.last() else {
            panic!("{items:?}")
        };
        assert_eq!(result.terminal_reason.as_deref(), Some("aborted_streaming"));
        // The connection goes on.
        let next = collect(client.query("again").await.unwrap()).await;
        assert!(matches!(next.last(), Some(Ok(Message::Result(r))) if !r.is_error));
    }))
    .await
    .unwrap();
}

#[tokio::test]
async fn set_model_and_permission_mode_reach_the_cli() {
    bounded(connect(scenario("echo"), async |client| {
        let reply = client.set_model(Some("claude-sonnet-4-5")).await.unwrap();
        assert_eq!(reply["model"], "claude-sonnet-4-5");
        let reply = client
            .set_permission_mode(tether_claude::PermissionMode::AcceptEdits)
            .await
            .unwrap();
        assert_eq!(reply["mode"], "acceptEdits");
        let err = client
            .set_permission_mode(tether_claude::PermissionMode::Other("nonsense".into()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ControlRefused { .. }), "{err}");
        assert!(client.server_info().unwrap().get("pid").is_some());
    }))
    .await
    .unwrap();
}

fn assert_wrong_task(err: Error, operation: &str, host: tether::TaskId, other: tether::TaskId) {
    let text = err.to_string();
    let Error::WrongTask {
        operation: op,
        source,
    } = err
    else {
        panic!("expected a WrongTask error, got {text}")
    };
    assert_eq!(op, operation);
    assert_eq!(source.owner(), host);
    assert_eq!(source.current(), other);
    // The message is tether's TaskBinding error, under the client's own name, with the fix.
    assert!(
        text.starts_with(&format!("owned claude client connected in {host} was ")),
        "{text}"
    );
    assert!(text.contains(&format!(" from {other}; ")), "{text}");
    assert!(text.contains("ClientHandle"), "{text}");
    assert!(
        text.contains(&host.to_string()) && text.contains(&other.to_string()),
        "{text}"
    );
    assert!(
        text.contains("ClientHandle"),
        "the message names the fix: {text}"
    );
}

#[tokio::test]
async fn the_owned_client_used_from_another_task_is_a_task_context_error_naming_both_tasks() {
    bounded(async {
        let client = Client::connect(scenario("echo")).await.unwrap();
        let host = tether::TaskId::current();
        assert_eq!(client.host(), host);
        let turn = client.query("mine").await.unwrap();
        let (mut client, turn) = tokio::spawn(async move {
            let other = tether::TaskId::current();
            let mut client = client;
            let mut turn = turn;
            // Each misuse fails at once (bounded well below any timeout of the client).
            let at_once = Duration::from_secs(5);
            let err = tokio::time::timeout(at_once, turn.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap_err();
            assert_wrong_task(err, "receive", host, other);
            // Told once; after that the stream ends for this task, so a loop here stops.
            let rest = tokio::time::timeout(at_once, async {
                let mut n = 0;
                while let Some(item) = turn.next().await {
                    assert!(item.is_err(), "the wrong task never gets a message");
                    n += 1;
                }
                n
            })
            .await
            .expect("a loop over the stream in the wrong task stops at once");
            assert_eq!(
                rest, 0,
                "the wrong task is told once, then the stream ends for it"
            );
            let err = tokio::time::timeout(at_once, client.query("x"))
                .await
                .unwrap()
                .unwrap_err();
            assert_wrong_task(err, "query", host, other);
            let err = tokio::time::timeout(at_once, client.disconnect())
                .await
                .unwrap()
                .unwrap_err();
            assert_wrong_task(err, "disconnect", host, other);
            (client, turn)
        })
        .await
        .unwrap();
        // Back in the task that connected: nothing was lost, and it still disconnects.
        let items = collect(turn).await;
        assert_eq!(text_of(&items), "mine");
        let pid = client.handle().pid();
        client.disconnect().await.unwrap();
        assert!(!pid_exists(pid), "disconnect reaps the cli");
    })
    .await;
}

#[tokio::test]
async fn a_handle_outliving_its_scope_gets_a_typed_closed_error_at_once() {
    let handle = bounded(connect(scenario("echo"), async |client| client.handle()))
        .await
        .unwrap();
    assert!(handle.is_closed());
    let err = handle.query("too late").await.unwrap_err();
    assert!(
        matches!(
            err.close_cause(),
            Some(tether_claude::CloseCause::Disconnected)
        ),
        "{err}"
    );
    let err = handle.interrupt().await.unwrap_err();
    assert!(err.is_closed(), "{err}");
}

/// The stdin lines the mock logged: `("prompt", text)` or `("control", subtype)`, in order.
fn stdin_sequence(log: &std::path::PathBuf) -> Vec<(String, String)> {
    read_log(log)
        .into_iter()
        .filter(|e| e["event"] == "stdin")
        .filter_map(|e| {
            let line = &e["line"];
            match line["type"].as_str()? {
                "user" => Some((
                    "prompt".to_string(),
                    line["message"]["content"].as_str()?.to_string(),
                )),
                "control_request" => Some((
                    "control".to_string(),
                    line["request"]["subtype"].as_str()?.to_string(),
                )),
                _ => None,
            }
        })
        .collect()
}

#[tokio::test]
async fn a_turns_own_interrupt_stops_it_and_is_a_no_op_once_it_ended() {
    let log = temp_file("turn-interrupt");
    let options = script(json!({
        "turns": [
            {"steps": [{"type": "slow_text", "text": "a long answer that takes time", "chunks": 20, "chunk_ms": 200}]},
            {"steps": [{"type": "text", "text": "two"}, {"type": "sleep", "ms": 300}, {"type": "text", "text": "done"}]}
        ]
    }))
    .env("MOCK_CLAUDE_LOG", log.display().to_string());
    bounded(connect(options, async |client| {
        let handle = client.handle();
        let mut one = handle.query("one").await.unwrap();
        let stop_one = one.interrupter();
        assert_eq!(stop_one.turn_number(), one.turn_number());
        one.next().await.unwrap().unwrap(); // running
        // From another task.
        let stopped = tokio::spawn({
            let stop = stop_one.clone();
            async move { stop.interrupt().await }
        });
        assert!(
            stopped.await.unwrap().unwrap(),
            "the running turn was interrupted"
        );
        let rest = collect(one).await;
        let Some(Ok(Message::Result(result))) = rest.last() else {
            panic!("{rest:?}")
        };
        assert_eq!(result.terminal_reason.as_deref(), Some("aborted_streaming"));
        assert!(
            rest.iter()
                .any(|m| matches!(m, Ok(Message::Assistant(a)) if a.aborted)),
            "the partial message is marked aborted: {rest:?}"
        );

        // Turn one is over: its interrupter does nothing, even while turn two runs.
        let mut two = handle.query("two").await.unwrap();
        assert_eq!(two.next().await.unwrap().unwrap().text(), None); // system/init
        assert!(!stop_one.interrupt().await.unwrap());
        let rest = collect(two).await;
        assert_eq!(
            text_of(&rest),
            "twodone",
            "turn two ran to its end: {rest:?}"
        );
        let Some(Ok(Message::Result(result))) = rest.last() else {
            panic!("{rest:?}")
        };
        assert!(!result.is_error, "{result:?}");
    }))
    .await
    .unwrap();
    let seq = stdin_sequence(&log);
    let interrupts = seq
        .iter()
        .filter(|(k, v)| k == "control" && v == "interrupt")
        .count();
    assert_eq!(interrupts, 1, "only turn one's interrupt was sent: {seq:?}");
    let at = |item: (&str, &str)| {
        seq.iter()
            .position(|(k, v)| k == item.0 && v == item.1)
            .unwrap_or_else(|| panic!("{item:?} not in {seq:?}"))
    };
    assert!(at(("prompt", "one")) < at(("control", "interrupt")));
    assert!(at(("control", "interrupt")) < at(("prompt", "two")));
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn enqueue_numbers_turns_in_queue_order_and_the_handle_counts_them() {
    let log = temp_file("enqueue");
    let options = script(json!({
        "turns": [
            {"steps": [{"type": "text", "text": "a"}, {"type": "sleep", "ms": 300}, {"type": "text", "text": "b"}]}
        ]
    }))
    .env("MOCK_CLAUDE_LOG", log.display().to_string());
    let handle = bounded(connect(options, async |client| {
        let handle = client.handle();
        assert_eq!(
            (
                handle.queue_len(),
                handle.turns_started(),
                handle.current_turn()
            ),
            (0, 0, None)
        );
        let first = handle.enqueue("first").unwrap();
        let second = handle.enqueue("second").unwrap();
        let third = handle.enqueue("third").unwrap();
        assert_eq!(
            [
                first.turn_number(),
                second.turn_number(),
                third.turn_number()
            ],
            [1, 2, 3]
        );
        assert_eq!(handle.queue_len(), 3);
        let mut first = first.await.unwrap();
        assert_eq!(first.turn_number(), 1);
        assert_eq!(handle.current_turn(), Some(1));
        assert_eq!(handle.turns_started(), 1);
        assert_eq!(handle.queue_len(), 2);
        // Withdrawn while waiting: uncounted at once, its prompt never written.
        drop(second);
        assert_eq!(handle.queue_len(), 1);
        while let Some(m) = first.next().await {
            m.unwrap();
        }
        let third = collect(third.await.unwrap()).await;
        assert_eq!(text_of(&third), "third");
        assert_eq!(handle.turns_started(), 2);
        assert_eq!((handle.queue_len(), handle.current_turn()), (0, None));
        // Numbers go on after a withdrawal.
        assert_eq!(handle.enqueue("fourth").unwrap().turn_number(), 4);
        assert!(handle.close_cause().is_none());
        handle
    }))
    .await
    .unwrap();
    // After the scope: closed, with its cause, and enqueue refuses.
    assert!(matches!(
        handle.close_cause().as_deref(),
        Some(tether_claude::CloseCause::Disconnected)
    ));
    assert!(matches!(handle.enqueue("late"), Err(Error::Closed(_))));
    let prompts = logged_prompts(&log);
    assert_eq!(prompts, ["first", "third"], "{prompts:?}");
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn turns_waiting_when_the_cli_dies_leave_the_queue_count() {
    let out = bounded(connect(scenario("crash:3"), async |client| {
        let handle = client.handle();
        let first = handle.enqueue("first").unwrap();
        let waiting = [
            handle.enqueue("second").unwrap(),
            handle.enqueue("third").unwrap(),
        ];
        assert_eq!(handle.queue_len(), 3);
        let items = collect(first.await.unwrap()).await;
        assert!(
            matches!(items.last(), Some(Err(Error::Closed(_)))),
            "{items:?}"
        );
        for pending in waiting {
            assert!(matches!(pending.await, Err(Error::Closed(_))));
        }
        (
            handle.queue_len(),
            handle.current_turn(),
            handle.turns_started(),
        )
    }))
    .await
    .unwrap();
    assert_eq!(out, (0, None, 1));
}
