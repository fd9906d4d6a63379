// The web UI end to end in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): log in, add a provider pointing at our mock, create a virtual key with a
// budget and a rate limit, send requests with it from the playground and with curl, find them in
// the logs with their cost, filter, open one, watch the usage bar move, deactivate the key and see
// the next request refused. Every page is also loaded at 1280 px and at phone width (390 px) with
// no script error, and screenshotted into $UI_SHOTS_DIR (default target/ui-shots).
//
// Run by scripts/test.sh: `node --test tests/ui/` (needs the debug binaries built).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = process.env.BIFROST_BIN_DIR || path.join(ROOT, "target", "debug");
const SHOTS = process.env.UI_SHOTS_DIR || path.join(ROOT, "target", "ui-shots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const USER = "admin";
const PASSWORD = "correct horse battery staple";
const PAGES = ["", "logs", "playground", "providers", "virtual-keys", "teams", "limits", "config"];

const procs = [];
let ctx, page, base, mockUrl, vkValue;
const problems = []; // console errors and uncaught exceptions, checked after each test

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function startProc(args, readyUrl, env = {}) {
  const p = spawn(args[0], args.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  p.stderr.on("data", (d) => { stderr = (stderr + d).slice(-4000); });
  procs.push(p);
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (p.exitCode !== null) throw new Error(`${args[0]} exited: ${stderr}`);
    try {
      if ((await fetch(readyUrl)).ok) return p;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${args[0]} not ready at ${readyUrl}`);
}

/** curl, as a user would run it: status code and body. */
function curl(...args) {
  const out = execFileSync("curl", ["-s", "-w", "\n%{http_code}", ...args], { encoding: "utf8" });
  const i = out.lastIndexOf("\n");
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

async function shoot(name) {
  await page.evaluate(() => document.getElementById("toasts").replaceChildren());
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Waits until the logs table has `n` rows (at least `n` with `atLeast`), saying what it saw. */
async function rowsAre(n, atLeast = false) {
  // The log writer flushes every 500 ms: refresh, as a user would, until the rows are there.
  const deadline = Date.now() + 10000;
  for (;;) {
    const c = await page.locator("tbody tr").count();
    if (atLeast ? c >= n : c === n) return;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(250);
    await page.getByRole("button", { name: "Refresh" }).click();
  }
  {
    const rows = await page.locator("tbody tr").allInnerTexts();
    assert.fail(`expected ${atLeast ? "at least " : ""}${n} rows, saw ${rows.length}:\n${rows.join("\n")}`);
  }
}

async function go(route) {
  await page.goto(`${base}/#/${route}`);
  await page.locator("main h1").first().waitFor();
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const [mockPort, gwPort] = [await freePort(), await freePort()];
  mockUrl = `http://127.0.0.1:${mockPort}`;
  base = `http://127.0.0.1:${gwPort}`;
  // Chunks 40 ms apart, so the playground's stream arrives in pieces.
  await startProc([`${BIN}/bifrost-mock`, "-port", String(mockPort), "-chunk-delay-ms", "40"], `${mockUrl}/health`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bifrost-ui-"));
  const config = path.join(dir, "config.json");
  fs.writeFileSync(config, JSON.stringify({
    auth_config: { is_enabled: true, admin_username: USER, admin_password: PASSWORD },
  }));
  await startProc([`${BIN}/bifrost-http`, "-config", config, "-port", String(gwPort), "-host", "127.0.0.1"],
    `${base}/health`, { XDG_CONFIG_HOME: dir });
  // A fresh profile each run: this machine has no network, and nothing carries over.
  ctx = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "chromium-")), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
  page = await ctx.newPage();
  page.on("console", (m) => {
    // A refused request the test makes on purpose is logged by Chromium as a failed resource.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
});

after(async () => {
  await ctx?.close();
  for (const p of procs.reverse()) {
    p.kill("SIGTERM");
    await new Promise((r) => (p.exitCode !== null ? r() : p.once("exit", r)));
  }
});

function noProblems() {
  assert.deepEqual(problems.splice(0), [], "no script errors on the page");
}

test("the login page refuses bad credentials and lets the admin in", async () => {
  await page.goto(base);
  const form = page.getByRole("form", { name: "Log in" });
  await form.waitFor();
  await shoot("login-1280");
  await page.getByLabel("Username").fill(USER);
  await page.getByLabel("Password").fill("wrong");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").filter({ hasText: "invalid username or password" }).waitFor();
  // Inference and the API are closed without the session.
  assert.equal(curl(`${base}/api/providers`).status, 401);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  // A fresh start says what to do next.
  await page.getByText("No requests in this range").waitFor();
  await page.getByRole("link", { name: "Add a provider" }).waitFor();
  noProblems();
});

test("a provider pointing at the mock is added, masked, and answers a test request at once", async () => {
  await go("providers");
  await page.getByRole("button", { name: "Add provider" }).click();
  const dlg = page.getByRole("dialog");
  // An invalid base URL is refused next to its field.
  await dlg.getByLabel("Provider", { exact: true }).fill("openai");
  await dlg.getByLabel("Base URL").fill("not a url");
  await dlg.getByLabel("API key").fill("sk-mock-openai-key-0123456789");
  await dlg.getByRole("button", { name: "Add provider" }).click();
  await dlg.locator(".field-error").waitFor();
  assert.equal(await dlg.getByLabel("Base URL").getAttribute("aria-invalid"), "true", "the error is at the Base URL field");
  await dlg.getByLabel("Base URL").fill(mockUrl);
  await dlg.getByRole("button", { name: "Add provider" }).click();
  const card = page.locator('[data-provider="openai"]');
  await card.waitFor();
  const text = await card.innerText();
  assert.match(text, /\*\*\*\*6789/, "the key is shown masked");
  assert.doesNotMatch(text, /0123456789/, "never in full");
  await card.getByRole("button", { name: "Send a test request" }).click();
  await page.getByRole("dialog").getByLabel("Model").fill("gpt-4o-mini");
  await page.getByRole("dialog").getByRole("button", { name: "Send" }).click();
  await page.getByRole("dialog").getByText("Mock reply to").waitFor();
  await shoot("provider-test-1280");
  await page.keyboard.press("Escape");
  noProblems();
});

test("a virtual key with a budget and a rate limit is created and its value shown once", async () => {
  await go("virtual-keys");
  await page.getByText("No virtual keys yet").waitFor();
  await page.getByRole("button", { name: "Create virtual key" }).first().click();
  const dlg = page.getByRole("dialog");
  await dlg.getByLabel("Name").fill("web-team");
  await dlg.getByLabel("Budget").selectOption("__new");
  await dlg.getByLabel("Rate limit").selectOption("__new");
  await dlg.getByLabel("Requests", { exact: true }).fill("100");
  // A day, not the default minute: the requests counted below must not straddle a window.
  // Windows are aligned to the epoch, so a day ends at 00:00 UTC: a run that starts in the
  // last minute of a day waits for the next one (the counting below takes a few seconds).
  await dlg.getByLabel("Requests per").fill("1d");
  const toMidnight = 86_400_000 - (Date.now() % 86_400_000);
  if (toMidnight < 60_000) await new Promise((r) => setTimeout(r, toMidnight + 1_000));
  await dlg.getByLabel("Allowed providers and models").fill("openai: gpt-4o-mini");
  // A budget without an amount is refused at its field, and nothing is created yet.
  await dlg.getByRole("button", { name: "Create" }).click();
  await dlg.locator(".field-error").filter({ hasText: "USD" }).waitFor();
  assert.equal(await dlg.getByLabel("Max spend (USD)").getAttribute("aria-invalid"), "true");
  await dlg.getByLabel("Max spend (USD)").fill("1");
  await dlg.getByRole("button", { name: "Create" }).click();
  const value = page.getByTestId("vk-value");
  await value.waitFor();
  vkValue = (await value.innerText()).trim();
  assert.match(vkValue, /^sk-bf-/);
  await shoot("virtual-key-created-1280");
  await page.getByRole("button", { name: "Done" }).click();
  const row = page.locator('tr[data-vk="web-team"]');
  await row.waitFor();
  await row.getByText("0 of 100 requests").waitFor();
  // The value is not shown again anywhere.
  assert.doesNotMatch(await page.content(), new RegExp(vkValue));
  noProblems();
});

test("requests with the key, from the playground (streamed) and with curl", async () => {
  await go("playground");
  await page.getByLabel("Model").fill("gpt-4o-mini");
  await page.getByLabel("Virtual key").fill(vkValue);
  await page.getByLabel("Message").fill("hello from the playground");
  await page.getByRole("button", { name: "Send" }).click();
  const out = page.getByTestId("playground-output");
  await out.getByText("Mock reply to: hello from the playground", { exact: false }).waitFor();
  await page.getByTestId("playground-meta").getByText("first token").waitFor();
  await shoot("playground-1280");
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello from curl" }] });
  for (let i = 0; i < 2; i++) {
    const r = curl(`${base}/v1/chat/completions`, "-H", `x-bf-vk: ${vkValue}`, "-H", "content-type: application/json", "-d", body);
    assert.equal(r.status, 200, r.body);
  }
  // A model the key does not allow is refused.
  const denied = curl(`${base}/v1/chat/completions`, "-H", `x-bf-vk: ${vkValue}`, "-H", "content-type: application/json",
    "-d", JSON.stringify({ model: "openai/gpt-4o", messages: [{ role: "user", content: "x" }] }));
  assert.equal(denied.status, 403, denied.body);
  noProblems();
});

test("the logs show the requests with their cost; filter, open one, copy as curl", async () => {
  await go("logs");
  const rows = page.locator("tbody tr");
  // 1 test request + 1 playground + 2 curl + 1 refused.
  await rowsAre(5, true);
  assert.match(await rows.filter({ hasText: "success" }).first().innerText(), /\$0\.0000\d/, "a cost is shown");
  await page.getByLabel("Virtual key").selectOption({ label: "web-team" });
  await rowsAre(4);
  for (const t of await rows.allInnerTexts()) assert.match(t, /web-team/);
  await page.getByLabel("Status").selectOption("error");
  await rowsAre(1);
  assert.match(await rows.first().innerText(), /error 403/);
  await page.getByLabel("Status").selectOption("");
  await page.getByLabel("Search request and response text").fill("playground");
  await page.getByLabel("Search request and response text").press("Enter");
  await rowsAre(1);
  await shoot("logs-1280");
  // Keyboard: focus the row and open it with Enter.
  await rows.first().focus();
  await page.keyboard.press("Enter");
  const detail = page.getByTestId("log-detail");
  await detail.waitFor();
  const d = await detail.innerText();
  assert.match(d, /Response \(reassembled from the stream\)/);
  assert.match(d, /Mock reply to: hello from the playground/);
  assert.match(d, /Cost\s+\$0\.0000\d+/);
  assert.match(d, /web-team/);
  await shoot("log-detail-1280");
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await detail.getByRole("button", { name: "Copy as curl" }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, /^curl http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/);
  assert.match(copied, /hello from the playground/);
  assert.doesNotMatch(copied, new RegExp(vkValue), "the key is not in the copied command");
  await page.keyboard.press("Escape");
  noProblems();
});

test("the live tail shows a new request as it finishes", async () => {
  await go("logs");
  await page.getByRole("button", { name: "Live tail" }).click();
  await page.waitForTimeout(300); // the event stream is open
  const body = JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "tail me" }] });
  assert.equal(curl(`${base}/v1/chat/completions`, "-H", `x-bf-vk: ${vkValue}`, "-H", "content-type: application/json", "-d", body).status, 200);
  await page.locator("tbody tr.fresh").first().waitFor();
  await page.getByRole("button", { name: "Live tail" }).click();
  noProblems();
});

test("the usage bar moves; a deactivated key is refused on its next request", async () => {
  await go("virtual-keys");
  const row = page.locator('tr[data-vk="web-team"]');
  // 1 playground + 2 curl + 1 tail (the refused one is not counted).
  const requests = row.getByRole("progressbar", { name: /of 100 requests/ });
  await page.waitForFunction(() => /[1-9]\d* of 100 requests/.test(document.querySelector('tr[data-vk="web-team"]').innerText));
  assert.match(await requests.getAttribute("aria-label"), /^4 of 100 requests/);
  const budget = await row.getByRole("progressbar").first().getAttribute("aria-label");
  assert.match(budget, /^\$0\.0000\d+ of \$1/, `budget used: ${budget}`);
  await shoot("virtual-keys-1280");
  await row.getByLabel("Active: web-team").uncheck();
  await page.getByText("web-team deactivated").waitFor();
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "again" }] });
  const r = curl(`${base}/v1/chat/completions`, "-H", `x-bf-vk: ${vkValue}`, "-H", "content-type: application/json", "-d", body);
  assert.equal(r.status, 401, r.body);
  assert.match(JSON.parse(r.body).error.message, /inactive|not active/i);
  noProblems();
});

test("config changes apply at once and errors show next to the field", async () => {
  await go("config");
  await page.getByLabel("CORS origins").fill("not an origin");
  await page.getByRole("button", { name: "Save" }).click();
  const settings = page.getByRole("form", { name: "Client settings" });
  await settings.locator(".field-error").filter({ hasText: "is not an origin" }).waitFor();
  await page.getByLabel("CORS origins").fill("https://app.example.com");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved and applied").waitFor();
  assert.equal(await settings.locator(".field-error").count(), 0, "the old error is gone");
  // The new origin is allowed now, without a restart.
  const r = execFileSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "OPTIONS", `${base}/v1/chat/completions`,
    "-H", "Origin: https://app.example.com", "-H", "Access-Control-Request-Method: POST"], { encoding: "utf8" });
  assert.equal(r, "204");
  await shoot("config-1280");
  noProblems();
});

test("every page renders at 1280 px and at phone width without errors; the menu works by keyboard", async () => {
  await go("teams");
  await shoot("teams-1280");
  await go("limits");
  // One budget and one rate limit: the refused first try created none.
  assert.equal(await page.getByRole("table", { name: "Budgets" }).locator("tbody tr").count(), 1);
  assert.equal(await page.getByRole("table", { name: "Rate limits" }).locator("tbody tr").count(), 1);
  await shoot("limits-1280");
  await go("");
  await page.locator(".uplot").first().waitFor();
  await shoot("dashboard-1280");
  await go("providers");
  await shoot("providers-1280");
  await page.setViewportSize({ width: 390, height: 844 });
  for (const p of PAGES) {
    await go(p);
    await page.waitForTimeout(150);
    // Nothing wider than the screen but scrolling tables.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `#/${p} overflows by ${overflow}px at 390 px`);
    await shoot(`${p || "dashboard"}-390`);
  }
  // The menu: hidden on a phone, opened with the keyboard, and a link followed.
  assert.equal(await page.locator("#nav").isVisible(), false);
  await page.locator("#menu").focus();
  await page.keyboard.press("Enter");
  await page.locator("#nav").getByRole("link", { name: "Logs" }).waitFor();
  await shoot("menu-390");
  await page.locator("#nav").getByRole("link", { name: "Logs" }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Logs" }).waitFor();
  assert.equal(await page.locator("#nav").isVisible(), false, "the menu closes after navigating");
  await page.setViewportSize({ width: 1280, height: 900 });
  noProblems();
});

test("logging out returns to the login page", async () => {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("form", { name: "Log in" }).waitFor();
  await page.reload();
  await page.getByRole("form", { name: "Log in" }).waitFor();
  noProblems();
});
