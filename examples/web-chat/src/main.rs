//! `web-chat`: serves the chat page over one shared agent connection.
//!
//! ```text
//! cargo run -p web-chat                       # the mock agent, on http://127.0.0.1:8080
//! cargo run -p web-chat -- --cli /path/claude # a real Claude Code CLI (or CLAUDE_CLI_PATH=...)
//! cargo run -p web-chat -- --addr 127.0.0.1:0 # any free port (the URL is printed)
//! ```
//!
//! Ctrl-C (or SIGTERM) shuts down: open turns end and are interrupted, the agent is torn down
//! and reaped, then the process exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: web-chat [--addr IP:PORT] [--cli PATH]

  --addr IP:PORT  where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --cli PATH      run this Claude Code CLI instead of the mock agent (env CLAUDE_CLI_PATH)";

fn parse_args() -> Result<(SocketAddr, Option<PathBuf>), String> {
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().expect("a valid address");
    let mut cli = std::env::var_os("CLAUDE_CLI_PATH").map(PathBuf::from);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                let value = args
                    .next()
                    .ok_or("--addr needs a value like 127.0.0.1:8080")?;
                addr = value
                    .parse()
                    .map_err(|e| format!("--addr {value}: {e}; give IP:PORT"))?;
            }
            "--cli" => cli = Some(args.next().ok_or("--cli needs a path")?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((addr, cli))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, cli) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("web-chat: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let agent = match &cli {
        Some(path) => format!("the claude cli at {}", path.display()),
        None => "the mock agent (mock-claude)".to_string(),
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("web-chat: cannot listen on {addr}: {e}; pick another with --addr");
            return ExitCode::FAILURE;
        }
    };
    let url = match listener.local_addr() {
        Ok(local) => format!("http://{local}/"),
        Err(e) => {
            eprintln!("web-chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = web_chat::agent_options(cli);
    let shutdown = async {
        wait_for_signal().await;
        eprintln!("web-chat: shutting down");
    };
    println!("web-chat: serving {url} with {agent}; Ctrl-C stops");
    match web_chat::serve(listener, options, shutdown).await {
        Ok(report) => {
            println!(
                "web-chat: stopped; {} turns served, agent pid {} exited and was reaped",
                report.status.turns_served, report.pid
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("web-chat: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            eprintln!("web-chat: cannot watch SIGTERM ({e}); Ctrl-C still works");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
