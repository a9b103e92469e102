//! A fixed amount of the throughput bench's work, for instruction counts (`valgrind
//! --tool=callgrind`, repeatable on a loaded machine where wall-clock figures are not): one
//! turn of `N` messages from mock-claude through the client, or the same lines through the
//! bare `BufReader` + `serde_json` floor, on a current-thread runtime.
//!
//! ```sh
//! cargo bench -p tether-claude --bench throughput_probe --no-run
//! valgrind --tool=callgrind target/release/deps/throughput_probe-<hash> client 20000
//! valgrind --tool=callgrind target/release/deps/throughput_probe-<hash> floor 20000
//! ```
//!
//! The mock runs as a child process and is not traced: the counts are this process's work.
//! Run without arguments (as `cargo bench` does) it does one small turn of each.

mod floor;

use futures::StreamExt;

async fn client(n: u64) -> u64 {
    let options = tether_claude::ClaudeOptions::new()
        .cli_path(mock_claude::binary_path())
        .env("MOCK_CLAUDE_SCENARIO", format!("messages:{n}"));
    tether_claude::connect(options, async |client| {
        let mut turn = client.query("go").await.unwrap();
        let mut count = 0;
        while let Some(m) = turn.next().await {
            m.unwrap();
            count += 1;
        }
        count
    })
    .await
    .unwrap()
}

fn main() {
    // `cargo bench` passes `--bench`: flags are ignored.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let which = args.first().map(String::as_str).unwrap_or("both");
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    if matches!(which, "client" | "both") {
        let got = rt.block_on(client(n));
        assert!(got >= n);
        println!("client: {got} messages");
    }
    if matches!(which, "floor" | "both") {
        let got = rt.block_on(floor::bare_bufreader(n));
        assert!(got >= n);
        println!("floor: {got} messages");
    }
}
