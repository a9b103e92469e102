//! Finding the built `mock-claude` binary from a test in another package.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const EXE: &str = if cfg!(windows) {
    "mock-claude.exe"
} else {
    "mock-claude"
};

/// The path of the `mock-claude` executable, building it if no built one can be found.
///
/// Looks, in order:
/// 1. at `MOCK_CLAUDE_BIN`, if set;
/// 2. next to the running test executable, if it is not older than the mock's sources: a test runs from `<target>/<profile>/deps/` (an example
///    from `<target>/<profile>/examples/`), and
///    `cargo test --workspace` builds `mock-claude` into `<target>/<profile>/` before running any
///    test (the `mock-claude` package has integration tests, which makes Cargo build its binary);
/// 3. otherwise it runs `cargo build -p mock-claude --bin mock-claude` once per process, into the
///    separate target directory `<target>/mock-claude-fallback` (a nested build into the running
///    `cargo test`'s own target directory would wait on its lock), and returns that binary. This is
///    the path taken by `cargo test -p tether-claude` alone; it costs one build.
///
/// # Panics
///
/// If the fallback build fails or cannot be started (the message names the command).
///
/// # Examples
///
/// ```no_run
/// let mock = mock_claude::binary_path();
/// let status = std::process::Command::new(mock).arg("-v").status().unwrap();
/// assert!(status.success());
/// ```
pub fn binary_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(find_or_build).clone()
}

fn find_or_build() -> PathBuf {
    if let Some(p) = std::env::var_os(crate::env::BIN) {
        return PathBuf::from(p);
    }
    let exe =
        std::env::current_exe().expect("mock-claude: cannot read the current executable path");
    let mut profile_dir = exe.parent().map(Path::to_path_buf);
    // Tests and benches run from `<profile>/deps/`, examples from `<profile>/examples/`.
    if profile_dir.as_ref().is_some_and(|d| {
        d.file_name()
            .is_some_and(|n| n == "deps" || n == "examples")
    }) {
        profile_dir = profile_dir.and_then(|d| d.parent().map(Path::to_path_buf));
    }
    if let Some(dir) = &profile_dir {
        let candidate = dir.join(EXE);
        // Only if it is at least as new as every source of the mock: `cargo test -p
        // tether-claude` alone does not rebuild it, so a binary left by an earlier
        // `cargo test --workspace` may be stale.
        if candidate.is_file() && !older_than_sources(&candidate) {
            return candidate;
        }
    }
    // Fallback: build it into a target directory of its own.
    let target_root = profile_dir
        .as_ref()
        .and_then(|d| d.parent().map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir);
    let fallback = target_root.join("mock-claude-fallback");
    // A bench runs from `release/`: build the mock optimized too, so it is not the bottleneck.
    let release = profile_dir
        .as_ref()
        .is_some_and(|d| d.file_name().is_some_and(|n| n == "release"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet", "--bin", "mock-claude"])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&fallback);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("mock-claude: cannot run `{cargo:?} build --bin mock-claude --manifest-path {manifest}`: {e}")
    });
    assert!(
        status.success(),
        "mock-claude: `cargo build --bin mock-claude --manifest-path {manifest}` failed ({status}); \
         build it yourself or set MOCK_CLAUDE_BIN"
    );
    fallback
        .join(if release { "release" } else { "debug" })
        .join(EXE)
}

/// Whether `binary` is older than any file of this package's sources (`src/**`, `Cargo.toml`);
/// an unreadable time counts as older (the fallback build then decides).
fn older_than_sources(binary: &Path) -> bool {
    let Ok(built) = std::fs::metadata(binary).and_then(|m| m.modified()) else {
        return true;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("src"), root.join("Cargo.toml")];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if meta.modified().map_or(true, |m| m > built) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_older_than_the_sources_is_stale_and_a_new_one_is_not() {
        let dir = std::env::temp_dir().join(format!("mock-claude-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old");
        std::fs::write(&old, b"").unwrap();
        let file = std::fs::File::options().write(true).open(&old).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1))
            .unwrap();
        assert!(older_than_sources(&old));
        let new = dir.join("new");
        std::fs::write(&new, b"").unwrap();
        let file = std::fs::File::options().write(true).open(&new).unwrap();
        file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
            .unwrap();
        assert!(!older_than_sources(&new));
        assert!(older_than_sources(&dir.join("missing")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
