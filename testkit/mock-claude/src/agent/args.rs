//! Command-line parsing in the real CLI's shape (commander-style flags).

use serde_json::{Map, Value, json};

/// Flags that take one value (`--flag value` or `--flag=value`).
const VALUE_FLAGS: &[&str] = &[
    "--output-format",
    "--input-format",
    "--system-prompt",
    "--system-prompt-file",
    "--append-system-prompt",
    "--append-system-prompt-file",
    "--tools",
    "--max-turns",
    "--max-budget-usd",
    "--task-budget",
    "--model",
    "--fallback-model",
    "--permission-mode",
    "--permission-prompt-tool",
    "--resume",
    "-r",
    "--session-id",
    "--settings",
    "--setting-sources",
    "--effort",
    "--json-schema",
    "--resume-session-at",
    "--resume-drops-turn",
    "--max-thinking-tokens",
    "--thinking",
    "--thinking-display",
    "--agents",
    "--agent",
];

/// Flags that take one or more values (commander's `<values...>`): they consume arguments up to the
/// next one that starts with `-`.
const VARIADIC_FLAGS: &[&str] = &[
    "--allowedTools",
    "--allowed-tools",
    "--disallowedTools",
    "--disallowed-tools",
    "--add-dir",
    "--mcp-config",
    "--betas",
    "--plugin-dir",
];

/// Flags without a value.
const BOOL_FLAGS: &[&str] = &[
    "--verbose",
    "--print",
    "-p",
    "--continue",
    "-c",
    "--fork-session",
    "--include-partial-messages",
    "--include-hook-events",
    "--strict-mcp-config",
    "--session-mirror",
    "--dangerously-skip-permissions",
    "--replay-user-messages",
    "--debug",
    "-d",
    "--version",
    "-v",
    "--help",
    "-h",
];

/// The parsed command line.
#[derive(Debug, Default)]
pub(crate) struct Args {
    /// Every argument as given (without argv[0]).
    pub(crate) raw: Vec<String>,
    /// Known flags in order, each with its values (empty for a boolean flag).
    pub(crate) flags: Vec<(String, Vec<String>)>,
    /// Unknown flags, each with the value it seemed to carry.
    pub(crate) unknown: Vec<(String, Option<String>)>,
    /// Arguments that are not flags (the real CLI's `[prompt]`).
    pub(crate) positional: Vec<String>,
}

impl Args {
    pub(crate) fn parse(raw: Vec<String>) -> Args {
        let mut args = Args {
            raw: raw.clone(),
            ..Args::default()
        };
        let mut i = 0;
        while i < raw.len() {
            let a = &raw[i];
            i += 1;
            if a == "--" {
                args.positional.extend(raw[i..].iter().cloned());
                break;
            }
            if !a.starts_with('-') || a == "-" {
                args.positional.push(a.clone());
                continue;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (a.clone(), None),
            };
            if BOOL_FLAGS.contains(&name.as_str()) {
                args.flags.push((name, inline.into_iter().collect()));
            } else if VALUE_FLAGS.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => Some(v),
                    None if i < raw.len() => {
                        i += 1;
                        Some(raw[i - 1].clone())
                    }
                    None => None,
                };
                args.flags.push((name, value.into_iter().collect()));
            } else if VARIADIC_FLAGS.contains(&name.as_str()) {
                let mut values: Vec<String> = inline.into_iter().collect();
                if values.is_empty() {
                    while i < raw.len() && !raw[i].starts_with('-') {
                        values.push(raw[i].clone());
                        i += 1;
                    }
                    // A value that starts with `-` is still taken when it is the only one
                    // (commander requires at least one).
                    if values.is_empty() && i < raw.len() {
                        values.push(raw[i].clone());
                        i += 1;
                    }
                }
                args.flags.push((name, values));
            } else {
                let value = match inline {
                    Some(v) => Some(v),
                    None if i < raw.len() && !raw[i].starts_with('-') => {
                        i += 1;
                        Some(raw[i - 1].clone())
                    }
                    None => None,
                };
                args.unknown.push((name, value));
            }
        }
        args
    }

    /// The last value of a flag (any of its spellings).
    pub(crate) fn value(&self, names: &[&str]) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| names.contains(&n.as_str()))
            .and_then(|(_, v)| v.last())
            .map(String::as_str)
    }

    /// Every value of a flag (any of its spellings), in order.
    pub(crate) fn values(&self, names: &[&str]) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .flat_map(|(_, v)| v.iter().map(String::as_str))
            .collect()
    }

    pub(crate) fn has(&self, names: &[&str]) -> bool {
        self.flags.iter().any(|(n, _)| names.contains(&n.as_str()))
    }

    /// Tool names from `--allowedTools`/`--disallowedTools` style values (comma or space separated).
    pub(crate) fn tool_list(&self, names: &[&str]) -> Vec<String> {
        self.values(names)
            .iter()
            .flat_map(|v| v.split([',', ' ']))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The parsed form for the log.
    pub(crate) fn to_json(&self) -> Value {
        let mut flags = Map::new();
        for (n, v) in &self.flags {
            let entry = flags.entry(n.clone()).or_insert_with(|| json!([]));
            if let Value::Array(a) = entry {
                if v.is_empty() {
                    a.push(Value::Bool(true));
                } else {
                    a.extend(v.iter().cloned().map(Value::String));
                }
            }
        }
        json!({
            "flags": flags,
            "unknown": self.unknown.iter().map(|(n, v)| json!({"flag": n, "value": v})).collect::<Vec<_>>(),
            "positional": self.positional,
        })
    }
}
