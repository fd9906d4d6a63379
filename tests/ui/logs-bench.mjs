// The logs page with a large table, in a real headless Chromium: how long from navigation until
// the first page of rows is drawn (the page marks it in `document.body.dataset.logsRendered`),
// for the default view, a filtered view and the next (keyset) page. Also lists the API calls
// the page made, to show it never asks for a count.
//
// Usage: node tests/ui/logs-bench.mjs <gateway-url> [runs]   (bench/ui_logs.sh sets it up)
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const base = process.argv[2];
const runs = Number(process.argv[3] || 15);
if (!base) {
  console.error("usage: node tests/ui/logs-bench.mjs <gateway-url> [runs]");
  process.exit(2);
}

const ctx = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "chromium-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 900 },
});
const page = await ctx.newPage();
const calls = new Set();
page.on("request", (r) => {
  const u = new URL(r.url());
  if (u.pathname.startsWith("/api/")) calls.add(u.pathname);
});

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function firstPage(route) {
  // A new document each time (about:blank in between): nothing is reused but the HTTP cache.
  await page.goto("about:blank");
  await page.goto(`${base}/#/${route}`);
  await page.waitForFunction(() => document.body.dataset.logsRendered, null, { timeout: 30000 });
  const t = Number(await page.evaluate(() => document.body.dataset.logsRendered));
  const rows = await page.locator("tbody tr").count();
  return { t, rows };
}

const results = [];
for (const [name, route] of [
  ["default (24h, newest first)", "logs"],
  ["filtered (provider + status)", "logs?providers=openai&status=error"],
]) {
  const times = [];
  let rows = 0;
  await firstPage(route); // warm-up: the HTTP cache holds the scripts, as for a returning user
  for (let i = 0; i < runs; i++) {
    const r = await firstPage(route);
    times.push(r.t);
    rows = r.rows;
  }
  results.push({ name, rows, p50: pct(times, 50), p95: pct(times, 95), max: Math.max(...times) });
}

// The next page: a keyset cursor, timed from the click to the new rows.
const next = [];
for (let i = 0; i < runs; i++) {
  await firstPage("logs");
  const before = await page.evaluate(() => document.body.dataset.logsRendered);
  const t0 = await page.evaluate(() => performance.now());
  await page.getByRole("button", { name: "Older →" }).click();
  await page.waitForFunction((b) => document.body.dataset.logsRendered !== b, before);
  next.push(Number(await page.evaluate(() => document.body.dataset.logsRendered)) - t0);
}
results.push({ name: "next page (cursor), from the click", rows: 50, p50: pct(next, 50), p95: pct(next, 95), max: Math.max(...next) });

console.log(`| view | rows drawn | p50 ms | p95 ms | max ms |`);
console.log(`|---|---|---|---|---|`);
for (const r of results) {
  console.log(`| ${r.name} | ${r.rows} | ${r.p50.toFixed(0)} | ${r.p95.toFixed(0)} | ${r.max.toFixed(0)} |`);
}
console.log(`\nAPI calls the page made: ${[...calls].sort().join(", ")}`);
await ctx.close();
const worst = Math.max(...results.map((r) => r.p95));
if (worst > 300) {
  console.error(`p95 ${worst.toFixed(0)} ms is above the 300 ms target`);
  process.exit(1);
}
