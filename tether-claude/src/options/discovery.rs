//! Finding the `claude` executable: explicit path, then `PATH`, then the usual install places.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The places a `claude` installed by the usual means ends up, after `PATH`.
fn usual_locations(home: Option<&Path>, cwd: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(home) = home {
        out.push(home.join(".claude/local/claude"));
        out.push(home.join(".local/bin/claude"));
        out.push(home.join(".npm-global/bin/claude"));
    }
    out.push(PathBuf::from("/usr/local/bin/claude"));
    out.push(PathBuf::from("/opt/homebrew/bin/claude"));
    if let Some(home) = home {
        out.push(home.join("node_modules/.bin/claude"));
        out.push(home.join(".yarn/bin/claude"));
    }
    if let Some(cwd) = cwd {
        out.push(cwd.join("node_modules/.bin/claude"));
    }
    out
}

fn is_executable_file(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o111 != 0
            }
            #[cfg(not(unix))]
            {
                true
            }
        }
        _ => false,
    }
}

/// Looks for the CLI: `explicit` alone if given, else each `PATH` entry, else the usual install
/// locations. The error lists every place tried.
pub(crate) fn find_cli(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut searched = Vec::new();
    if let Some(path) = explicit {
        if is_executable_file(path) {
            return Ok(path.to_path_buf());
        }
        // A bare name ("claude", "mock-claude") is looked up on PATH like a shell would.
        if path.components().count() == 1
            && let Some(found) = search_path(path.as_os_str(), &mut searched)
        {
            return Ok(found);
        }
        searched.insert(0, path.to_path_buf());
        return Err(Error::CliNotFound { searched });
    }
    if let Some(found) = search_path("claude".as_ref(), &mut searched) {
        return Ok(found);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cwd = std::env::current_dir().ok();
    for candidate in usual_locations(home.as_deref(), cwd.as_deref()) {
        if is_executable_file(&candidate) {
            return Ok(candidate);
        }
        searched.push(candidate);
    }
    Err(Error::CliNotFound { searched })
}

fn search_path(name: &std::ffi::OsStr, searched: &mut Vec<PathBuf>) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let candidate = dir.join(name);
        if is_executable_file(&candidate) {
            return Some(candidate);
        }
        searched.push(candidate);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_path_is_a_typed_error_listing_it() {
        let err = find_cli(Some(Path::new("/definitely/not/here/claude"))).unwrap_err();
        let Error::CliNotFound { searched } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(searched[0], Path::new("/definitely/not/here/claude"));
        let text = err.to_string();
        assert!(text.contains("/definitely/not/here/claude"), "{text}");
        assert!(
            text.contains("npm install -g @anthropic-ai/claude-code"),
            "{text}"
        );
    }

    #[test]
    fn explicit_existing_executable_is_used() {
        assert_eq!(
            find_cli(Some(Path::new("/bin/sh"))).unwrap(),
            Path::new("/bin/sh")
        );
    }

    #[test]
    fn bare_name_is_looked_up_on_path() {
        let found = find_cli(Some(Path::new("sh"))).unwrap();
        assert!(found.ends_with("sh"), "{found:?}");
    }

    #[test]
    fn usual_locations_include_the_documented_ones() {
        let all = usual_locations(Some(Path::new("/home/u")), Some(Path::new("/proj")));
        for want in [
            "/home/u/.claude/local/claude",
            "/home/u/.local/bin/claude",
            "/usr/local/bin/claude",
            "/home/u/.npm-global/bin/claude",
            "/proj/node_modules/.bin/claude",
        ] {
            assert!(all.iter().any(|p| p == Path::new(want)), "{want}");
        }
    }
}
