//! Shared by the examples: run against mock-claude by default, or the real CLI when a path is
//! given (first argument, or `CLAUDE_CLI_PATH`).

use tether_claude::ClaudeOptions;

/// Options for the CLI to use. With no path given, mock-claude plays `mock_scenario` (a
/// scenario name or an inline JSON script).
pub(crate) fn options(mock_scenario: &str) -> ClaudeOptions {
    let real = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("CLAUDE_CLI_PATH").ok());
    match real {
        Some(path) => {
            eprintln!("using the claude cli at {path}");
            ClaudeOptions::new().cli_path(path)
        }
        None => {
            let mock = mock_claude::binary_path();
            eprintln!(
                "using mock-claude ({}); pass a cli path to use the real one",
                mock.display()
            );
            let var = if mock_scenario.trim_start().starts_with('{') {
                "MOCK_CLAUDE_SCRIPT_JSON"
            } else {
                "MOCK_CLAUDE_SCENARIO"
            };
            ClaudeOptions::new().cli_path(mock).env(var, mock_scenario)
        }
    }
}
