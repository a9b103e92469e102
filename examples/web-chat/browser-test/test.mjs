// Drives the web-chat page in a real browser: headless Chromium (the Debian package) through
// playwright-core. Starts the `web-chat` binary against the mock agent, loads the page, sends a
// prompt, watches the reply stream in, presses Stop, checks the turn ended interrupted and the
// next turn is clean, saves docs/web-chat.png, then stops the server with SIGINT and checks it
// exits cleanly. Run from the repository root (see README.md next to this file).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const bin = process.env.WEB_CHAT_BIN ?? path.join(root, "target/debug/web-chat");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const screenshot = path.join(root, "docs/web-chat.png");
const scratch = mkdtempSync(path.join(tmpdir(), "web-chat-browser-"));
const pidfile = path.join(scratch, "mock.pid");

function check(condition, message) {
  if (!condition) throw new Error("check failed: " + message);
  console.log("ok - " + message);
}

// A deadline for the whole run: nothing may hang.
const deadline = setTimeout(() => {
  console.error("browser test: timed out after 120 s");
  process.exit(1);
}, 120_000);

const server = spawn(bin, ["--addr", "127.0.0.1:0"], {
  cwd: root,
  env: { ...process.env, MOCK_CLAUDE_PIDFILE: pidfile },
  stdio: ["ignore", "pipe", "inherit"],
});
let out = "";
const url = await new Promise((resolve, reject) => {
  server.stdout.on("data", (chunk) => {
    out += chunk;
    const m = out.match(/http:\/\/127\.0\.0\.1:\d+\//);
    if (m) resolve(m[0]);
  });
  server.on("exit", (code) => reject(new Error("web-chat exited early: " + code)));
});
console.log("server at " + url);

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
  await page.goto(url);
  check((await page.title()).includes("web-chat"), "the page loads");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("alive"));
  check(true, "the status line shows a live connection");

  // Send a prompt; the reply streams in piece by piece.
  await page.fill("#prompt", "Hello from headless Chromium");
  await page.click("#send");
  const reply = page.locator(".msg.agent").last();
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll(".msg.agent")].pop();
    return r && r.textContent.includes("You said: Hello from headless Chromium");
  });
  check(true, "the prompt's echo arrived");
  const lengths = [];
  for (let i = 0; i < 5; i++) {
    lengths.push((await reply.textContent()).length);
    await page.waitForTimeout(150);
  }
  check(lengths.every((n, i) => i === 0 || n >= lengths[i - 1]) && lengths[4] > lengths[0],
    "the reply grows while it streams (" + lengths.join(" → ") + " chars)");
  check(await page.isEnabled("#stop"), "Stop is enabled while the turn runs");

  // Stop: interrupts this turn.
  await page.click("#stop");
  await page.waitForFunction(() =>
    [...document.querySelectorAll(".msg.meta")].some((m) => m.textContent.includes("interrupted")));
  check(true, "Stop interrupted the turn (its result says so)");
  const stopped = await reply.textContent();
  check(!stopped.includes("closing the tab withdraws or interrupts it."), "the reply stopped before its end");
  await page.waitForTimeout(300);
  check((await reply.textContent()) === stopped, "nothing more arrives after the interrupt");

  // The next turn is clean.
  await page.fill("#prompt", "And again");
  await page.click("#send");
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll(".msg.agent")].pop();
    return r && r.textContent.startsWith("You said: And again") && r.textContent.length > 60;
  });
  check(true, "the next turn starts clean and streams");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("running turn 2"));
  await page.screenshot({ path: screenshot });
  check(true, "screenshot saved to docs/web-chat.png");
  const status = await (await page.request.get(url + "api/status")).json();
  check(status.alive && status.turns_interrupted === 1 && status.running === 2,
    "status: alive, 1 turn interrupted, turn 2 running");
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}

// Ctrl-C: the server ends the open turn, tears the agent down, reaps it and exits 0.
server.kill("SIGINT");
const [code] = await once(server, "exit");
clearTimeout(deadline);
if (failed) {
  console.error(failed);
  process.exit(1);
}
check(code === 0, "web-chat exited 0 after SIGINT");
check(/exited and was reaped/.test(out), "it reported the agent reaped");
const agent = readFileSync(pidfile, "utf8").trim();
let gone = false;
try { readFileSync("/proc/" + agent + "/stat"); } catch { gone = true; }
check(gone, "the agent process " + agent + " is gone (not alive, not a zombie)");
console.log("browser test: all checks passed");
