#!/usr/bin/env bash
# Installs a pinned version of the real Claude Code CLI into a git-ignored, cacheable folder and
# prints where it is:
#
#   CLAUDE_CLI_PATH=/abs/path/to/claude
#   CLAUDE_CLI_VERSION=2.1.330
#
# are always the last two lines of stdout, unquoted (read them with
# `sed -n 's/^CLAUDE_CLI_PATH=//p'`; `eval` works only while the path has no spaces).
#
# Where it comes from, in order:
#   1. npm `@anthropic-ai/claude-code@$CLAUDE_CLI_VERSION`. The npm package is a thin wrapper whose
#      optional dependency `@anthropic-ai/claude-code-<platform>` ships the native executable `claude`;
#      we install with --ignore-scripts (its postinstall only copies that binary over a placeholder)
#      and use the platform package's binary directly, so node's version does not matter at run time.
#   2. PyPI `claude-agent-sdk==$CLAUDE_AGENT_SDK_VERSION`, whose wheel bundles the CLI binary at
#      `claude_agent_sdk/_bundled/claude` (used only if npm fails).
#
# Idempotent: a cached install whose `claude --version` reports the pinned version is reused without
# touching the network. If nothing can be installed the script exits non-zero and says why; it never
# skips silently.
#
# Environment:
#   CLAUDE_CLI_CACHE_DIR  cache root (default: <repo>/.cache/claude-cli)
#   CLAUDE_CLI_SOURCE     `npm`, `pypi` or `auto` (default `auto`: npm, then PyPI)
set -euo pipefail

# The one place the pinned versions live.
CLAUDE_CLI_VERSION="2.1.330"
# Fallback only: the claude-agent-sdk release whose bundled CLI is CLAUDE_CLI_VERSION.
CLAUDE_AGENT_SDK_VERSION="0.2.187"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${CLAUDE_CLI_CACHE_DIR:-${repo_root}/.cache/claude-cli}"
source_choice="${CLAUDE_CLI_SOURCE:-auto}"
install_dir="${cache_root}/${CLAUDE_CLI_VERSION}"
marker="${install_dir}/claude-path"

log() { printf 'install-claude-cli: %s\n' "$*" >&2; }
fail() {
    log "ERROR: $*"
    log "ERROR: the real Claude Code CLI ${CLAUDE_CLI_VERSION} could not be installed; tests against the real CLI cannot run"
    exit 1
}

# Prints the version `claude --version` reports ("2.1.330 (Claude Code)" -> "2.1.330"), or nothing.
reported_version() {
    local exe="$1" out
    [[ -x "$exe" ]] || return 0
    out="$(DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 timeout 60 "$exe" --version 2>/dev/null || true)"
    printf '%s' "${out%% *}"
}

report() {
    local exe="$1" version="$2"
    printf 'CLAUDE_CLI_PATH=%s\n' "$exe"
    printf 'CLAUDE_CLI_VERSION=%s\n' "$version"
}

case "$source_choice" in
    npm | pypi | auto) ;;
    *) fail "CLAUDE_CLI_SOURCE must be npm, pypi or auto, not '${source_choice}'" ;;
esac

# 0. Cached install.
if [[ -f "$marker" ]]; then
    exe="$(cat "$marker")"
    version="$(reported_version "$exe")"
    if [[ "$version" == "$CLAUDE_CLI_VERSION" ]]; then
        log "using cached install at ${install_dir}"
        report "$exe" "$version"
        exit 0
    fi
    log "cached install at ${install_dir} is broken (reports '${version}'); reinstalling"
fi

install_npm() {
    command -v npm >/dev/null 2>&1 || { log "npm is not installed"; return 1; }
    local dir="${install_dir}/npm"
    rm -rf "$dir"
    mkdir -p "$dir"
    log "npm: installing @anthropic-ai/claude-code@${CLAUDE_CLI_VERSION} into ${dir}"
    # --ignore-scripts: the postinstall only copies the platform binary, which we use in place.
    # --force: the wrapper declares engines.node >= 22; the native binary does not need node.
    if ! (cd "$dir" && npm install --prefix "$dir" --no-audit --no-fund --no-save --ignore-scripts \
        --include=optional --loglevel=error \
        "@anthropic-ai/claude-code@${CLAUDE_CLI_VERSION}" >&2); then
        log "npm install failed"
        return 1
    fi
    local exe candidate
    exe=""
    for candidate in "$dir"/node_modules/@anthropic-ai/claude-code-*/claude; do
        [[ -x "$candidate" ]] || continue
        if [[ "$(reported_version "$candidate")" == "$CLAUDE_CLI_VERSION" ]]; then
            exe="$candidate"
            break
        fi
    done
    if [[ -z "$exe" ]]; then
        log "npm: no platform package with a runnable 'claude' ${CLAUDE_CLI_VERSION} for $(uname -s)-$(uname -m)"
        return 1
    fi
    printf '%s' "$exe"
}

install_pypi() {
    local py
    py="$(command -v python3 || command -v python || true)"
    [[ -n "$py" ]] || { log "python is not installed"; return 1; }
    local dir="${install_dir}/pypi"
    rm -rf "$dir"
    mkdir -p "$dir"
    log "pypi: installing claude-agent-sdk==${CLAUDE_AGENT_SDK_VERSION} into ${dir}"
    if ! "$py" -m pip install --quiet --no-deps --only-binary=:all: --target "$dir" \
        "claude-agent-sdk==${CLAUDE_AGENT_SDK_VERSION}" >&2; then
        log "pip install failed"
        return 1
    fi
    local exe="$dir/claude_agent_sdk/_bundled/claude"
    [[ -f "$exe" ]] || { log "pypi: the wheel has no bundled CLI at ${exe}"; return 1; }
    chmod +x "$exe"
    local version
    version="$(reported_version "$exe")"
    if [[ "$version" != "$CLAUDE_CLI_VERSION" ]]; then
        log "pypi: the bundled CLI reports '${version}', not the pinned ${CLAUDE_CLI_VERSION}"
        return 1
    fi
    printf '%s' "$exe"
}

exe=""
case "$source_choice" in
    npm) exe="$(install_npm)" || fail "npm install of @anthropic-ai/claude-code@${CLAUDE_CLI_VERSION} failed" ;;
    pypi) exe="$(install_pypi)" || fail "PyPI install of claude-agent-sdk==${CLAUDE_AGENT_SDK_VERSION} failed" ;;
    auto)
        if ! exe="$(install_npm)"; then
            log "npm failed; falling back to PyPI"
            exe="$(install_pypi)" || fail "both npm and PyPI installs failed (see above)"
        fi
        ;;
    *) fail "CLAUDE_CLI_SOURCE must be npm, pypi or auto, not '${source_choice}'" ;;
esac

version="$(reported_version "$exe")"
[[ "$version" == "$CLAUDE_CLI_VERSION" ]] || fail "installed ${exe} reports '${version}'"
printf '%s\n' "$exe" >"$marker"
log "installed ${exe}"
report "$exe" "$version"
