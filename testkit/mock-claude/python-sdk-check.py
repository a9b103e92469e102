#!/usr/bin/env python3
"""Manual check: the official Python SDK (claude-agent-sdk) drives mock-claude.

Not run in CI. See the README ("Checking against the official Python SDK") for how to run it:

    python3 -m venv /tmp/venv-mock && /tmp/venv-mock/bin/pip install claude-agent-sdk
    cargo build -p mock-claude
    /tmp/venv-mock/bin/python testkit/mock-claude/python-sdk-check.py target/debug/mock-claude

Exits 0 and prints "python-sdk-check: N passed, 0 failed" when every check holds.
"""

import asyncio
import json
import os
import sys
import tempfile

from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookMatcher,
    PermissionResultAllow,
    PermissionResultDeny,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
    create_sdk_mcp_server,
    query,
    tool,
)

MOCK = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/mock-claude")
PASSED = []
FAILED = []


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f"  -- {detail}"))


def options(script=None, scenario=None, log=None, **kw):
    env = {}
    if script is not None:
        env["MOCK_CLAUDE_SCRIPT_JSON"] = json.dumps(script)
    if scenario is not None:
        env["MOCK_CLAUDE_SCENARIO"] = scenario
    if log is not None:
        env["MOCK_CLAUDE_LOG"] = log
    return ClaudeAgentOptions(cli_path=MOCK, env=env, **kw)


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


async def check_query():
    """One-shot query(): init, echoed text, result; env and argv as the SDK sets them."""
    log = tempfile.mktemp(suffix=".jsonl")
    msgs = [m async for m in query(prompt="hello mock", options=options(log=log, model="claude-test-model"))]
    inits = [m for m in msgs if isinstance(m, SystemMessage) and m.subtype == "init"]
    texts = [b.text for m in msgs if isinstance(m, AssistantMessage) for b in m.content if isinstance(b, TextBlock)]
    results = [m for m in msgs if isinstance(m, ResultMessage)]
    check("query: one system/init", len(inits) == 1, msgs)
    check("query: model from --model", inits and inits[0].data.get("model") == "claude-test-model", inits)
    check("query: text echoes the prompt", texts == ["hello mock"], texts)
    check("query: result success", len(results) == 1 and results[0].subtype == "success" and not results[0].is_error, results)
    check("query: result text", results and results[0].result == "hello mock", results)
    events = read_log(log)
    start = events[0]
    check("query: entrypoint env", start["env"]["CLAUDE_CODE_ENTRYPOINT"] == "sdk-py", start["env"])
    check("query: stream-json argv", "--input-format" in start["argv"] and "stream-json" in start["argv"], start["argv"])
    check("query: exit 0 at EOF", events[-1]["event"] == "exit" and events[-1]["code"] == 0, events[-1])


async def check_client_tools_hooks_mcp():
    """ClaudeSDKClient with can_use_tool (allow with rewritten input, deny), a PreToolUse hook, and
    an in-process @tool served over mcp_message."""

    @tool("add", "Add two numbers", {"a": int, "b": int})
    async def add(args):
        return {"content": [{"type": "text", "text": str(args["a"] + args["b"])}]}

    server = create_sdk_mcp_server("calc", tools=[add])
    permission_calls = []
    hook_calls = []

    async def can_use_tool(name, tool_input, context):
        permission_calls.append((name, tool_input))
        if name == "Bash" and tool_input.get("command") == "rm -rf /":
            return PermissionResultDeny(message="not in a test")
        if name == "Bash":
            return PermissionResultAllow(updated_input={**tool_input, "command": "echo rewritten"})
        return PermissionResultAllow()

    async def pre_tool_use(hook_input, tool_use_id, context):
        hook_calls.append((hook_input["hook_event_name"], hook_input.get("tool_name"), tool_use_id))
        return {}

    script = {
        "turns": [
            {
                "steps": [
                    {"type": "text", "text": "Running tools."},
                    {"type": "tool_use", "name": "Bash", "input": {"command": "echo original"}},
                    {"type": "tool_use", "name": "Bash", "input": {"command": "rm -rf /"}},
                    {"type": "mcp_tool", "server": "calc", "tool": "add", "arguments": {"a": 2, "b": 3}},
                    {"type": "text", "text": "Done."},
                ]
            },
            {"steps": [{"type": "slow_text", "text": "a b c d e f g h i j", "chunks": 10, "chunk_ms": 200}]},
        ]
    }
    log = tempfile.mktemp(suffix=".jsonl")
    opts = options(
        script=script,
        log=log,
        can_use_tool=can_use_tool,
        hooks={"PreToolUse": [HookMatcher(matcher="Bash", hooks=[pre_tool_use])]},
        mcp_servers={"calc": server},
    )
    async with ClaudeSDKClient(options=opts) as client:
        await client.query("use the tools")
        msgs = [m async for m in client.receive_response()]
        init = next(m for m in msgs if isinstance(m, SystemMessage) and m.subtype == "init")
        check("client: init lists the mcp tool", "mcp__calc__add" in init.data["tools"], init.data["tools"])
        check(
            "client: init mcp server connected",
            {"name": "calc", "status": "connected", "source": "sdk"} in init.data["mcp_servers"],
            init.data["mcp_servers"],
        )
        uses = [b for m in msgs if isinstance(m, AssistantMessage) for b in m.content if isinstance(b, ToolUseBlock)]
        check("client: three tool_use blocks", [u.name for u in uses] == ["Bash", "Bash", "mcp__calc__add"], uses)
        results = [b for m in msgs if isinstance(m, UserMessage) and isinstance(m.content, list) for b in m.content if isinstance(b, ToolResultBlock)]
        check("client: three tool results", len(results) == 3, results)
        if len(results) == 3:
            check("client: allowed tool ran with rewritten input", "echo rewritten" in str(results[0].content) and not results[0].is_error, results[0])
            check("client: denied tool is an error with the message", results[1].is_error and results[1].content == "not in a test", results[1])
            check("client: mcp tool result content", results[2].content == [{"type": "text", "text": "5"}], results[2])
        check(
            "client: can_use_tool called for each tool",
            [n for n, _ in permission_calls] == ["Bash", "Bash", "mcp__calc__add"],
            permission_calls,
        )
        check("client: PreToolUse hook called for Bash only", [h[1] for h in hook_calls] == ["Bash", "Bash"], hook_calls)
        result = msgs[-1]
        check("client: result last", isinstance(result, ResultMessage) and result.subtype == "success", result)
        check(
            "client: permission_denials",
            isinstance(result, ResultMessage) and [d["tool_name"] for d in result.permission_denials or []] == ["Bash"],
            getattr(result, "permission_denials", None),
        )

        # Turn 2: interrupt mid-stream.
        await client.query("stream slowly")
        got = []
        async for m in client.receive_response():
            got.append(m)
            if isinstance(m, SystemMessage) and m.subtype == "init":
                await asyncio.sleep(0.5)
                await client.interrupt()
        res = got[-1]
        check(
            "client: interrupted turn ends with error_during_execution",
            isinstance(res, ResultMessage) and res.subtype == "error_during_execution" and res.is_error,
            res,
        )
        aborted = [m for m in got if isinstance(m, AssistantMessage)]
        check("client: partial text before the interrupt", len(aborted) == 1 and aborted[0].content[0].text.startswith("a"), aborted)

        await client.set_permission_mode("acceptEdits")
        await client.set_model("claude-other")

    events = read_log(log)
    inits = [e for e in events if e["event"] == "stdin" and e["line"].get("request", {}).get("subtype") == "initialize"]
    check("client: initialize registered the hook", inits and inits[0]["line"]["request"]["hooks"]["PreToolUse"][0]["hookCallbackIds"] == ["hook_0"], inits)
    check("client: --permission-prompt-tool stdio", "stdio" in events[0]["argv"], events[0]["argv"])
    check("client: exit after disconnect", events[-1]["event"] == "exit", events[-1])


async def main():
    await check_query()
    await check_client_tools_hooks_mcp()
    print(f"python-sdk-check: {len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
