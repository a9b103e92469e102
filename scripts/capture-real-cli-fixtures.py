#!/usr/bin/env python3
"""Capture transcripts of the real Claude Code CLI against the fake Messages API binary and write them
as fixtures (tether-claude/tests/fixtures/real-cli/). A regeneration tool, not a test: see the README there.

usage: capture-real-cli-fixtures.py CLAUDE_CLI_PATH FAKE_MESSAGES_API_BIN OUTDIR [scenario ...]
"""
import json, os, queue, shutil, signal, subprocess, sys, threading, time, urllib.request

CLI = sys.argv[1]
FAKE = sys.argv[2]
OUTDIR = sys.argv[3]
ONLY = sys.argv[4:] 
ROOT = "/tmp/claude-fixture"

class Fake:
    def __init__(self):
        self.p = subprocess.Popen([FAKE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.url = self.p.stdout.readline().decode().strip().split("=", 1)[1]
    def push(self, *replies):
        urllib.request.urlopen(urllib.request.Request(self.url + "/_fake/replies", data=json.dumps(list(replies)).encode(), method="POST", headers={"content-type": "application/json"}))
    def stats(self): return json.load(urllib.request.urlopen(self.url + "/_fake/statistics"))
    def requests(self): return json.load(urllib.request.urlopen(self.url + "/_fake/requests"))
    def wait(self, pred, timeout=30):
        end = time.time() + timeout
        while not pred(self.stats()):
            if time.time() > end: raise TimeoutError("fake stats")
            time.sleep(0.02)
    def close(self):
        self.p.stdin.close(); self.p.wait(10)

class Cli:
    def __init__(self, fake, name, args=(), home=None, extra_env=None):
        self.name = name
        home = home or f"{ROOT}/{name}"
        self.home = home
        os.makedirs(home, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE" and not k.startswith(("ANTHROPIC", "CLAUDE"))}
        env.update({"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "dummy", "DISABLE_TELEMETRY": "1",
                    "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                    "HOME": home, "CLAUDE_CODE_ENTRYPOINT": "sdk-rs"})
        env.update(extra_env or {})
        self.extra_env = extra_env or {}
        self.argv = ["claude", "--output-format", "stream-json", "--verbose", "--input-format", "stream-json", "--system-prompt", ""] + list(args)
        self.p = subprocess.Popen([CLI] + self.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=home)
        self.log = []
        self.lock = threading.Lock()
        self.q = queue.Queue()
        self.n = 0
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()
    def rec(self, e):
        with self.lock: self.log.append(e)
    def _out(self):
        for line in self.p.stdout:
            s = line.decode().rstrip("\n")
            try: m = json.loads(s)
            except Exception: self.rec({"dir": "out_raw", "line": s}); continue
            self.rec({"dir": "out", "msg": m}); self.q.put(m)
        self.rec({"dir": "event", "event": "stdout_eof"}); self.q.put(None)
    def _err(self):
        for line in self.p.stderr:
            self.rec({"dir": "err", "line": line.decode().rstrip("\n")})
    def send(self, m):
        self.rec({"dir": "in", "msg": m})
        self.p.stdin.write((json.dumps(m) + "\n").encode()); self.p.stdin.flush()
    def user(self, text):
        self.send({"type": "user", "message": {"role": "user", "content": text}, "parent_tool_use_id": None, "session_id": "default"})
    def control(self, subtype, **kw):
        self.n += 1; rid = f"req_{self.n}_{os.urandom(4).hex()}"
        self.send({"type": "control_request", "request_id": rid, "request": dict(subtype=subtype, **kw)}); return rid
    def until(self, pred, handler=None, timeout=60):
        end = time.time() + timeout
        while True:
            m = self.q.get(timeout=max(0.01, end - time.time()))
            if m is None: raise EOFError("stdout closed")
            if handler: handler(self, m)
            if pred(m): return m
    def drain(self, handler=None, timeout=30):
        end = time.time() + timeout
        while True:
            m = self.q.get(timeout=max(0.01, end - time.time()))
            if m is None: return
            if handler: handler(self, m)
    def initialize(self, hooks=None, handler=None):
        rid = self.control("initialize", hooks=hooks)
        return self.until(resp(rid), handler)
    def close_stdin(self):
        self.rec({"dir": "event", "event": "stdin_eof"}); self.p.stdin.close()
    def signal(self, sig):
        self.rec({"dir": "event", "event": "signal", "signal": sig.name}); self.p.send_signal(sig)
    def finish(self, handler=None, close=True):
        if close: self.close_stdin()
        self.drain(handler)
        code = self.p.wait(30)
        time.sleep(0.05)
        self.rec({"dir": "event", "event": "exit", "code": code})
        return code
    def save(self):
        head = {"dir": "meta", "scenario": self.name, "argv": self.argv, "cwd": self.home, "extra_env": self.extra_env}
        with open(f"{OUTDIR}/{self.name}.jsonl", "w") as f:
            for e in [head] + self.log: f.write(json.dumps(e, ensure_ascii=False) + "\n")

is_result = lambda m: m.get("type") == "result"
def resp(rid): return lambda m: m.get("type") == "control_response" and m["response"].get("request_id") == rid

def mcp_reply(msg):
    m = msg.get("method"); i = msg.get("id")
    if m == "initialize":
        return {"jsonrpc": "2.0", "id": i, "result": {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}}, "serverInfo": {"name": "sdk-tools", "version": "1.0.0"}}}
    if m == "tools/list":
        return {"jsonrpc": "2.0", "id": i, "result": {"tools": [{"name": "add", "description": "Add two numbers", "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}}]}}
    if m == "tools/call":
        a = msg["params"]["arguments"]; return {"jsonrpc": "2.0", "id": i, "result": {"content": [{"type": "text", "text": str(a["a"] + a["b"])}]}}
    if i is None: return {"jsonrpc": "2.0", "result": {}}
    return {"jsonrpc": "2.0", "id": i, "error": {"code": -32601, "message": f"method not found: {m}"}}

def answering(perm=None, hook=None):
    def h(c, m):
        if m.get("type") != "control_request": return
        r = m["request"]; st = r["subtype"]
        if st == "can_use_tool": body = perm(r) if perm else {"behavior": "allow", "updatedInput": r["input"]}
        elif st == "hook_callback": body = hook(r) if hook else {}
        elif st == "mcp_message": body = {"mcp_response": mcp_reply(r["message"])}
        else:
            c.send({"type": "control_response", "response": {"subtype": "error", "request_id": m["request_id"], "error": f"unsupported control request subtype: {st}"}}); return
        c.send({"type": "control_response", "response": {"subtype": "success", "request_id": m["request_id"], "response": body}})
    return h

BASH = {"type": "tool_use", "id": "toolu_01Bash", "name": "Bash", "input": {"command": "echo hello > out.txt", "description": "Write hello to out.txt"}}
PERM = ["--permission-prompt-tool", "stdio"]
SCEN = {}
def scenario(f): SCEN[f.__name__] = f; return f

@scenario
def one_shot(fake):
    c = Cli(fake, "one_shot"); c.user("hi"); c.until(is_result); c.finish(); return c
@scenario
def initialize(fake):
    c = Cli(fake, "initialize"); c.initialize(); c.user("hi"); c.until(is_result); c.finish(); return c
@scenario
def multi_turn(fake):
    c = Cli(fake, "multi_turn"); c.initialize()
    for t in ["first turn", "second turn", "third turn"]: c.user(t); c.until(is_result)
    c.finish(); return c
@scenario
def queued_turns(fake):
    c = Cli(fake, "queued_turns"); c.initialize(); c.user("one"); c.user("two"); c.until(is_result); c.until(is_result); c.finish(); return c
@scenario
def can_use_tool_allow(fake):
    fake.push({"blocks": [{"type": "text", "text": "I'll write the file."}, BASH]}, {"blocks": [{"type": "text", "text": "Done: wrote out.txt."}]})
    c = Cli(fake, "can_use_tool_allow", PERM); h = answering(); c.initialize(handler=h); c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h)
    assert open(f"{c.home}/out.txt").read() == "hello\n"; return c
@scenario
def can_use_tool_deny(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Understood, I won't."}]})
    h = answering(perm=lambda r: {"behavior": "deny", "message": "not allowed in this test"})
    c = Cli(fake, "can_use_tool_deny", PERM); c.initialize(handler=h); c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h)
    assert not os.path.exists(f"{c.home}/out.txt"); return c
@scenario
def can_use_tool_deny_interrupt(fake):
    fake.push({"blocks": [BASH]})
    h = answering(perm=lambda r: {"behavior": "deny", "message": "stop everything", "interrupt": True})
    c = Cli(fake, "can_use_tool_deny_interrupt", PERM); c.initialize(handler=h); c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h); return c
@scenario
def permission_denied_without_prompt_tool(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "It was refused."}]})
    c = Cli(fake, "permission_denied_without_prompt_tool"); c.initialize(); c.user("write hello to out.txt"); c.until(is_result); c.finish(); return c
@scenario
def hook_pre_tool_use(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    h = answering()
    c = Cli(fake, "hook_pre_tool_use", PERM); c.initialize(hooks={"PreToolUse": [{"matcher": None, "hookCallbackIds": ["hook_0"]}]}, handler=h)
    c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h); return c
@scenario
def hook_deny(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "The hook refused."}]})
    h = answering(hook=lambda r: {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "hook says no"}})
    c = Cli(fake, "hook_deny", PERM); c.initialize(hooks={"PreToolUse": [{"matcher": "Bash", "hookCallbackIds": ["hook_0"], "timeout": 30}]}, handler=h)
    c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h); return c
@scenario
def sdk_mcp(fake):
    fake.push({"blocks": [{"type": "tool_use", "id": "toolu_02Mcp", "name": "mcp__sdk-tools__add", "input": {"a": 2, "b": 3}}]}, {"blocks": [{"type": "text", "text": "2 + 3 = 5"}]})
    h = answering()
    c = Cli(fake, "sdk_mcp", PERM + ["--mcp-config", json.dumps({"mcpServers": {"sdk-tools": {"type": "sdk", "name": "sdk-tools"}}})])
    c.initialize(handler=h); c.user("add 2 and 3"); c.until(is_result, h)
    rid = c.control("mcp_status"); c.until(resp(rid), h)
    c.finish(h); return c
@scenario
def interrupt(fake):
    fake.push({"blocks": [{"type": "text", "text": "Once upon a time there was a stream that never ended"}], "stall": True})
    c = Cli(fake, "interrupt"); c.initialize(); c.user("tell me a long story")
    s0 = fake.stats()["streams_started"]; fake.wait(lambda s: s["streams_started"] > s0); time.sleep(0.3)
    c.control("interrupt"); c.until(is_result)
    fake.wait(lambda s: s["streams_aborted"] >= 1)
    c.user("next turn after the interrupt"); c.until(is_result); c.finish(); return c
@scenario
def interrupt_partial_messages(fake):
    fake.push({"blocks": [{"type": "text", "text": "Once upon a time there was a stream that never ended"}], "stall": True})
    c = Cli(fake, "interrupt_partial_messages", ["--include-partial-messages"]); c.initialize(); c.user("tell me a long story")
    c.until(lambda m: m.get("type") == "stream_event" and m["event"]["type"] == "content_block_delta")
    c.control("interrupt"); c.until(is_result); c.finish(); return c
@scenario
def partial_messages(fake):
    fake.push({"blocks": [{"type": "text", "text": "Let me write it."}, BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    h = answering()
    c = Cli(fake, "partial_messages", PERM + ["--include-partial-messages"]); c.initialize(handler=h); c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h); return c
@scenario
def interrupt_pending_permission(fake):
    fake.push({"blocks": [BASH]})
    c = Cli(fake, "interrupt_pending_permission", PERM); c.initialize()
    c.user("write hello to out.txt")
    m = c.until(lambda m: m.get("type") == "control_request" and m["request"]["subtype"] == "can_use_tool")
    c.control("interrupt"); c.until(is_result)
    c.send({"type": "control_response", "response": {"subtype": "success", "request_id": m["request_id"], "response": {"behavior": "allow", "updatedInput": m["request"]["input"]}}})
    time.sleep(0.5)
    c.user("are you still there?"); c.until(is_result); c.finish(); return c
@scenario
def interrupt_idle(fake):
    c = Cli(fake, "interrupt_idle"); c.initialize()
    rid = c.control("interrupt"); c.until(resp(rid))
    c.user("hi"); c.until(is_result)
    rid = c.control("interrupt"); c.until(resp(rid)); c.finish(); return c
@scenario
def control_requests(fake):
    c = Cli(fake, "control_requests"); c.initialize()
    for sub, kw in [("set_model", {"model": "claude-sonnet-4-5"}), ("set_model", {"model": None}), ("set_permission_mode", {"mode": "acceptEdits"}),
                    ("set_permission_mode", {"mode": "bogusMode"}), ("no_such_subtype", {}), ("mcp_status", {})]:
        rid = c.control(sub, **kw); c.until(resp(rid))
    c.user("hi"); c.until(is_result); c.finish(); return c
@scenario
def resume(fake):
    home = f"{ROOT}/resume"
    c1 = Cli(fake, "resume_first_session", home=home); c1.initialize(); c1.user("remember the word banana"); r = c1.until(is_result); c1.finish(); c1.save()
    sid = r["session_id"]
    n0 = len([q for q in fake.requests() if q["path"] == "/v1/messages"])
    c = Cli(fake, "resume", [f"--resume={sid}"], home=home); c.initialize(); c.user("what was the word?"); r2 = c.until(is_result); c.finish()
    assert r2["session_id"] == sid
    body = [q for q in fake.requests() if q["path"] == "/v1/messages"][n0]["body"]
    texts = json.dumps(body["messages"])
    assert "banana" in texts, "resumed request lacks the earlier turn"
    c.rec({"dir": "note", "note": f"the API request of the resumed turn carried {len(body['messages'])} messages including the earlier turn ('banana')"})
    return c
@scenario
def resume_unknown(fake):
    c = Cli(fake, "resume_unknown", ["--resume=00000000-0000-4000-8000-000000000000"]); c.control("initialize", hooks=None); c.finish(close=False); return c
@scenario
def stdin_eof_mid_turn(fake):
    fake.push({"blocks": [{"type": "text", "text": "a reply that takes a while to stream to the end of its words"}], "delta_delay_ms": 100})
    c = Cli(fake, "stdin_eof_mid_turn"); c.initialize(); c.user("long one")
    s0 = fake.stats()["streams_started"]; fake.wait(lambda s: s["streams_started"] > s0)
    c.finish(); return c
@scenario
def stdin_eof_idle(fake):
    c = Cli(fake, "stdin_eof_idle"); c.initialize(); c.finish(); return c
@scenario
def sigterm_mid_turn(fake):
    fake.push({"blocks": [{"type": "text", "text": "never finishes"}], "stall": True})
    c = Cli(fake, "sigterm_mid_turn"); c.initialize(); c.user("long one")
    s0 = fake.stats()["streams_started"]; fake.wait(lambda s: s["streams_started"] > s0); time.sleep(0.3)
    c.signal(signal.SIGTERM); c.finish(close=False); return c
@scenario
def sigint_mid_turn(fake):
    fake.push({"blocks": [{"type": "text", "text": "never finishes"}], "stall": True})
    c = Cli(fake, "sigint_mid_turn"); c.initialize(); c.user("long one")
    s0 = fake.stats()["streams_started"]; fake.wait(lambda s: s["streams_started"] > s0); time.sleep(0.3)
    c.signal(signal.SIGINT); c.finish(close=False); return c
@scenario
def api_error_401(fake):
    fake.push({"error": {"status": 401, "type": "authentication_error", "message": "invalid x-api-key"}})
    c = Cli(fake, "api_error_401"); c.initialize(); c.user("hi"); c.until(is_result, timeout=90); c.finish(); return c

@scenario
def api_error_no_retry(fake):
    err = {"error": {"status": 401, "type": "authentication_error", "message": "invalid x-api-key"}}
    fake.push(err, err, err, err)
    c = Cli(fake, "api_error_no_retry", extra_env={"CLAUDE_CODE_MAX_RETRIES": "0"}); c.initialize(); c.user("hi"); c.until(is_result, timeout=90)
    c.user("hi again"); c.until(is_result, timeout=90); c.finish(); return c

@scenario
def can_use_tool_updated_input(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    h = answering(perm=lambda r: {"behavior": "allow", "updatedInput": {"command": "echo changed > changed.txt", "description": "changed by the SDK"}})
    c = Cli(fake, "can_use_tool_updated_input", PERM); c.initialize(handler=h); c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h)
    assert open(f"{c.home}/changed.txt").read() == "changed\n" and not os.path.exists(f"{c.home}/out.txt"); return c
@scenario
def max_turns(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [BASH | {"id": "toolu_01Bash2"}]}, {"blocks": [{"type": "text", "text": "never reached"}]})
    h = answering()
    c = Cli(fake, "max_turns", PERM + ["--max-turns", "1"]); c.initialize(handler=h); c.user("loop"); c.until(is_result, h); c.finish(h); return c
@scenario
def hooks_all_events(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    h = answering()
    hooks = {ev: [{"matcher": None, "hookCallbackIds": [f"hook_{i}"]}] for i, ev in enumerate(["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "SessionStart", "SessionEnd", "Notification", "PermissionRequest"])}
    c = Cli(fake, "hooks_all_events", PERM); c.initialize(hooks=hooks, handler=h); c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h); return c
@scenario
def stdin_eof_pending_permission(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "after"}]})
    c = Cli(fake, "stdin_eof_pending_permission", PERM); c.initialize(); c.user("write hello to out.txt")
    c.until(lambda m: m.get("type") == "control_request")
    c.finish(); return c
@scenario
def subagent(fake):
    # The main model calls the Task/Agent tool; the subagent's own request gets the next reply.
    fake.push({"blocks": [{"type": "tool_use", "id": "toolu_03Agent", "name": "Agent", "input": {"description": "Say hi", "prompt": "Say hi", "subagent_type": "general-purpose"}}]},
              {"blocks": [{"type": "text", "text": "hi from the subagent"}]},
              {"blocks": [{"type": "text", "text": "The subagent said hi."}]})
    h = answering()
    c = Cli(fake, "subagent", PERM); c.initialize(handler=h); c.user("ask a subagent"); c.until(is_result, h, timeout=60); c.finish(h); return c

@scenario
def interrupt_then_eof(fake):
    fake.push({"blocks": [{"type": "text", "text": "never finishes"}], "stall": True})
    c = Cli(fake, "interrupt_then_eof"); c.initialize(); c.user("long one")
    s0 = fake.stats()["streams_started"]; fake.wait(lambda s: s["streams_started"] > s0)
    c.control("interrupt"); c.until(is_result); c.finish(); return c

@scenario
def hook_allow(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    h = answering(hook=lambda r: {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "permissionDecisionReason": "hook says yes"}})
    c = Cli(fake, "hook_allow", PERM); c.initialize(hooks={"PreToolUse": [{"matcher": "Bash", "hookCallbackIds": ["hook_0"]}]}, handler=h)
    c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h); return c
@scenario
def hook_updated_input(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    h = answering(hook=lambda r: {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "updatedInput": {"command": "echo hooked > hooked.txt", "description": "rewritten by the hook"}}})
    c = Cli(fake, "hook_updated_input", PERM); c.initialize(hooks={"PreToolUse": [{"matcher": "Bash", "hookCallbackIds": ["hook_0"]}]}, handler=h)
    c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h)
    c.rec({"dir": "note", "note": f"files in cwd after the turn: {sorted(os.listdir(c.home))}"}); return c
@scenario
def hook_continue_false(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "should not be requested"}]})
    h = answering(hook=lambda r: {"continue": False, "stopReason": "the hook stopped the turn"} if r["input"]["hook_event_name"] == "PostToolUse" else {})
    c = Cli(fake, "hook_continue_false", PERM); c.initialize(hooks={"PostToolUse": [{"matcher": None, "hookCallbackIds": ["hook_0"]}]}, handler=h)
    c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h)
    c.rec({"dir": "note", "note": f"messages requests: {fake.stats()['messages_requests']}"}); return c
@scenario
def stdin_eof_with_queued_turns(fake):
    fake.push({"blocks": [{"type": "text", "text": "first reply streams slowly"}], "delta_delay_ms": 100})
    c = Cli(fake, "stdin_eof_with_queued_turns"); c.initialize(); c.user("one"); c.user("two"); c.finish(); return c

@scenario
def thinking(fake):
    fake.push({"blocks": [{"type": "thinking", "thinking": "The user greets me; I should greet back.", "signature": "c2lnbmF0dXJl"}, {"type": "text", "text": "Hello!"}]})
    c = Cli(fake, "thinking"); c.initialize(); c.user("hi"); c.until(is_result); c.finish(); return c
def error_reply(subtypes):
    def h(c, m):
        if m.get("type") == "control_request" and m["request"]["subtype"] in subtypes:
            c.send({"type": "control_response", "response": {"subtype": "error", "request_id": m["request_id"], "error": "the callback failed"}})
        else:
            answering()(c, m)
    return h
@scenario
def can_use_tool_error_reply(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "It failed."}]})
    h = error_reply({"can_use_tool"})
    c = Cli(fake, "can_use_tool_error_reply", PERM); c.initialize(handler=h); c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h); return c
@scenario
def hook_error_reply(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    h = error_reply({"hook_callback"})
    c = Cli(fake, "hook_error_reply", PERM); c.initialize(hooks={"PreToolUse": [{"matcher": None, "hookCallbackIds": ["hook_0"]}]}, handler=h)
    c.user("write hello to out.txt"); c.until(is_result, h); c.finish(h)
    # The CLI prints its own minified source and a stack to stderr; keep only the message lines.
    kept, dropped = [], 0
    for e in c.log:
        if e["dir"] == "err":
            line = e["line"]
            if line.startswith("Error in hook callback"):
                kept.append({"dir": "err", "line": line.split(" 6 |")[0].rstrip()}); dropped += 1; continue
            if line.startswith("error: "):
                kept.append(e); continue
            dropped += 1; continue
        kept.append(e)
    c.log = kept
    c.rec({"dir": "note", "note": f"the CLI's stderr here is a source excerpt and a stack trace; only the 'Error in hook callback' prefix and the 'error:' line are kept ({dropped} lines trimmed or dropped)"})
    return c
@scenario
def stdin_not_json(fake):
    c = Cli(fake, "stdin_not_json")
    c.rec({"dir": "in_raw", "line": "this is not json"}); c.p.stdin.write(b"this is not json\n"); c.p.stdin.flush()
    c.finish(close=False); return c
@scenario
def stdin_unknown_type(fake):
    c = Cli(fake, "stdin_unknown_type")
    c.send({"type": "no_such_message_type", "x": 1})
    c.send({"type": "control_response", "response": {"subtype": "success", "request_id": "not-a-pending-request", "response": {}}})
    c.initialize(); c.user("still alive?"); c.until(is_result); c.finish(); return c

@scenario
def interrupt_pending_hook(fake):
    fake.push({"blocks": [BASH]})
    c = Cli(fake, "interrupt_pending_hook", PERM); c.initialize(hooks={"PreToolUse": [{"matcher": None, "hookCallbackIds": ["hook_0"]}]})
    c.user("write hello to out.txt")
    m = c.until(lambda m: m.get("type") == "control_request" and m["request"]["subtype"] == "hook_callback")
    c.control("interrupt"); c.until(is_result, answering()); c.finish(answering()); return c
@scenario
def interrupt_pending_mcp_call(fake):
    fake.push({"blocks": [{"type": "tool_use", "id": "toolu_02Mcp", "name": "mcp__sdk-tools__add", "input": {"a": 2, "b": 3}}]})
    base = answering()
    state = {}
    def h(c, m):
        if m.get("type") == "control_request" and m["request"]["subtype"] == "mcp_message" and m["request"]["message"].get("method") == "tools/call":
            state["call"] = m; return  # never answered
        base(c, m)
    c = Cli(fake, "interrupt_pending_mcp_call", PERM + ["--mcp-config", json.dumps({"mcpServers": {"sdk-tools": {"type": "sdk", "name": "sdk-tools"}}})])
    c.initialize(handler=h); c.user("add 2 and 3")
    c.until(lambda m: "call" in state, h)
    c.control("interrupt"); c.until(is_result, h); c.finish(h); return c

@scenario
def session_flags(fake):
    home = f"{ROOT}/session_flags"
    chosen = "11111111-2222-4333-8444-555555555555"
    c1 = Cli(fake, "session_id_flag", [f"--session-id={chosen}"], home=home); c1.initialize(); c1.user("remember kiwi"); r1 = c1.until(is_result); c1.finish(); c1.save()
    assert r1["session_id"] == chosen, r1["session_id"]
    c2 = Cli(fake, "continue_flag", ["--continue"], home=home); c2.initialize(); c2.user("what fruit?"); r2 = c2.until(is_result); c2.finish(); c2.save()
    c3 = Cli(fake, "fork_session", [f"--resume={chosen}", "--fork-session"], home=home); c3.initialize(); c3.user("fork it"); r3 = c3.until(is_result); c3.finish()
    bodies = [q["body"] for q in fake.requests() if q["path"] == "/v1/messages"]
    c3.rec({"dir": "note", "note": f"session ids: --session-id run {r1['session_id']}, --continue run {r2['session_id']}, --fork-session run {r3['session_id']}; the --continue request carried the earlier turn: {'kiwi' in json.dumps(bodies[1]['messages'])}; the fork request carried it: {'kiwi' in json.dumps(bodies[2]['messages'])}"})
    return c3
@scenario
def allowed_tools(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    c = Cli(fake, "allowed_tools", PERM + ["--allowedTools", "Bash"]); c.initialize(); c.user("write hello to out.txt"); c.until(is_result); c.finish(); return c
@scenario
def disallowed_tools(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Refused."}]})
    c = Cli(fake, "disallowed_tools", PERM + ["--disallowedTools", "Bash"]); c.initialize(); c.user("write hello to out.txt"); c.until(is_result); c.finish()
    c.rec({"dir": "note", "note": f"Bash in the API request's tools: {any(t.get('name') == 'Bash' for t in [q for q in fake.requests() if q['path'] == '/v1/messages'][0]['body'].get('tools', []))}"}); return c
@scenario
def bypass_permissions_as_root(fake):
    # As root the CLI refuses bypassPermissions at startup, before reading stdin.
    c = Cli(fake, "bypass_permissions_as_root", PERM + ["--permission-mode", "bypassPermissions"])
    c.finish(close=False)
    c.rec({"dir": "note", "note": f"ran as uid {os.getuid()}"}); return c
@scenario
def bypass_permissions_sandbox(fake):
    fake.push({"blocks": [BASH]}, {"blocks": [{"type": "text", "text": "Done."}]})
    c = Cli(fake, "bypass_permissions_sandbox", PERM + ["--permission-mode", "bypassPermissions"], extra_env={"IS_SANDBOX": "1"})
    c.initialize(); c.user("write hello to out.txt"); c.until(is_result, answering()); c.finish(answering())
    c.rec({"dir": "note", "note": f"ran as uid {os.getuid()}; out.txt written: {os.path.exists(c.home + '/out.txt')}"}); return c
@scenario
def set_permission_mode_bypass_as_root(fake):
    c = Cli(fake, "set_permission_mode_bypass_as_root"); c.initialize()
    rid = c.control("set_permission_mode", mode="bypassPermissions"); c.until(resp(rid))
    c.user("hi"); c.until(is_result); c.finish()
    c.rec({"dir": "note", "note": f"ran as uid {os.getuid()}"}); return c

if __name__ == "__main__":
    os.makedirs(OUTDIR, exist_ok=True)
    shutil.rmtree(ROOT, ignore_errors=True)
    for name, f in SCEN.items():
        if ONLY and name not in ONLY: continue
        fake = Fake()
        t0 = time.time()
        try:
            c = f(fake); c.save(); print(f"ok   {name} ({time.time()-t0:.1f}s)")
        except Exception as e:
            print(f"FAIL {name}: {type(e).__name__} {e}")
        finally:
            fake.close()
