//! `fake-messages-api [--script FILE]`: serves the fake Messages API on `127.0.0.1:<free port>`,
//! prints `FAKE_MESSAGES_API_URL=http://127.0.0.1:<port>` on stdout, and runs until Ctrl-C,
//! SIGTERM or end of stdin. `--script FILE` preloads replies (a JSON array of replies, see
//! `fake_messages_api::Reply`); more can be pushed with `POST /_fake/replies`.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use fake_messages_api::{FakeMessagesApi, Reply};
use tokio::io::AsyncReadExt as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fake-messages-api: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut script: Vec<Reply> = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--script" => {
                let path = args
                    .next()
                    .ok_or("--script needs a file: pass --script replies.json")?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read the script {path}: {e}"))?;
                script = serde_json::from_str(&text).map_err(|e| {
                    format!("the script {path} is not a JSON array of replies: {e}")
                })?;
            }
            "-h" | "--help" => {
                println!("usage: fake-messages-api [--script replies.json]");
                return Ok(());
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: fake-messages-api [--script replies.json]"
                ));
            }
        }
    }
    let api = FakeMessagesApi::start()
        .await
        .map_err(|e| format!("cannot bind 127.0.0.1: {e}"))?;
    for reply in script {
        api.push(reply);
    }
    println!("FAKE_MESSAGES_API_URL={}", api.base_url());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
        () = stdin_closed => {}
    }
    api.shutdown().await.map_err(|e| e.to_string())
}
