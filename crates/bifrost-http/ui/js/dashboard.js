// Dashboard: totals, requests/errors, latency, tokens and cost over time, by provider and model
// (from /api/logs/stats and /api/logs/histogram, which answer from minute rollups).
import { api, h, clear, labelled, num, money, ms, rangePicker, rangeMs, routeParams, setRouteParams, empty, spinner } from "./core.js";

export async function dashboard(main) {
  const params = routeParams();
  let range = params.get("range") || "24h";
  let provider = params.get("provider") || "";
  const body = h("div", {});
  // The controls are built once: a refresh must not take the focus or close an open dropdown.
  const providerSelect = h("select", {
    name: "provider", onchange: (e) => { provider = e.target.value; refresh(); },
  }, h("option", { value: "" }, "All providers"));
  const header = h("div", { class: "spread" }, h("h1", {}, "Dashboard"), h("div", { class: "row" },
    labelled("Provider", providerSelect, { style: { minWidth: "150px" } }),
    rangePicker(range, (r) => { range = r; refresh(); })));
  clear(main, header, body);
  const charts = [];
  // Only the latest load draws (a quick 7d → 1h must not end on 7d).
  let loadSeq = 0;

  async function load() {
    const seq = ++loadSeq;
    const end = Date.now();
    const start = end - rangeMs(range);
    const q = new URLSearchParams({ start_time: start, end_time: end });
    if (provider) q.set("providers", provider);
    const [stats, hist, fd] = await Promise.all([
      api("GET", `/api/logs/stats?${q}`),
      api("GET", `/api/logs/histogram?${q}&bucket=${bucketSeconds(end - start)}`),
      api("GET", "/api/logs/filterdata"),
    ]);
    if (seq !== loadSeq) return;
    for (const c of charts.splice(0)) c.destroy();
    const p = new URLSearchParams({ range });
    if (provider) p.set("provider", provider);
    setRouteParams(p);
    const known = [...providerSelect.options].slice(1).map((o) => o.value);
    for (const v of [...fd.providers, provider].filter((v) => v && !known.includes(v))) {
      providerSelect.append(h("option", { value: v }, v));
      known.push(v);
    }
    providerSelect.value = provider;
    if (stats.total_requests === 0) {
      clear(body, empty("No requests in this range",
        "Send a request through the gateway (or the playground) and it shows up here. No provider yet? Add one first.",
        h("div", { class: "actions", style: { justifyContent: "center" } },
          h("a", { class: "button", href: "#/playground" }, "Open the playground"),
          h("a", { class: "button secondary", href: "#/providers" }, "Add a provider"))));
      return;
    }
    const cards = h("div", { class: "cards" },
      stat("Requests", num(stats.total_requests)),
      stat("Success rate", `${stats.success_rate.toFixed(1)}%`),
      stat("Avg latency", ms(stats.average_latency_ms)),
      stat("Tokens", num(stats.total_tokens)),
      stat("Cost", money(stats.total_cost)));
    const series = timeSeries(hist);
    const grid = h("div", { class: "grid wide" });
    clear(body, cards, grid, breakdown(hist.buckets));
    const add = (title, opts, data, fmt, points = false) => {
      const box = h("div", { class: "chart" });
      grid.append(h("section", { class: "card", "aria-label": title }, h("h2", {}, title), box));
      charts.push(chart(box, opts, data, fmt, points));
    };
    add("Requests", [["requests", "#2563eb"], ["errors", "#dc2626"]], [series.t, series.requests, series.errors], compact);
    add("Latency", [["p50", "#059669"], ["p99", "#d97706"]], [series.t, series.p50, series.p99], ms, true);
    add("Tokens", [["prompt", "#7c3aed"], ["completion", "#0891b2"]], [series.t, series.prompt, series.completion], compact);
    add("Cost", [["cost", "#16a34a"]], [series.t, series.cost], money);
  }

  let timer = null;
  async function refresh() {
    try {
      await load();
    } catch (e) {
      clear(body, h("div", { class: "error-box", role: "alert" }, e.message));
    }
  }
  body.append(spinner());
  await load();
  // Live enough for a dashboard, cheap for the store (rollups).
  timer = setInterval(refresh, 30000);
  const onResize = () => charts.forEach((c) => c.setSize(size(c.root.parentElement)));
  window.addEventListener("resize", onResize);
  return () => {
    clearInterval(timer);
    window.removeEventListener("resize", onResize);
    charts.forEach((c) => c.destroy());
  };
}

function stat(label, value) {
  return h("div", { class: "card stat" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}

/** About 60 buckets over the range, whole minutes at least. */
function bucketSeconds(spanMs) {
  return Math.max(60, Math.ceil(spanMs / 60 / 60000) * 60);
}

/** Buckets (per provider × model) folded into one series per time. */
function timeSeries(hist) {
  const w = hist.bucket_ms;
  const first = Math.floor(hist.start_time / w) * w;
  const n = Math.max(1, Math.ceil((hist.end_time - first) / w));
  const s = { t: [], requests: [], errors: [], p50: [], p99: [], prompt: [], completion: [], cost: [] };
  const p50w = new Array(n).fill(0);
  for (let i = 0; i < n; i++) {
    s.t.push((first + i * w) / 1000);
    s.requests.push(0); s.errors.push(0); s.p50.push(null); s.p99.push(null);
    s.prompt.push(0); s.completion.push(0); s.cost.push(0);
  }
  for (const b of hist.buckets) {
    const i = Math.floor((b.start - first) / w);
    if (i < 0 || i >= n) continue;
    s.requests[i] += b.requests;
    s.errors[i] += b.errors;
    s.prompt[i] += b.prompt_tokens;
    s.completion[i] += b.completion_tokens;
    s.cost[i] += b.cost;
    // Across models: the request-weighted p50, and the worst p99.
    p50w[i] += b.p50_latency_ms * b.requests;
    s.p99[i] = Math.max(s.p99[i] ?? 0, b.p99_latency_ms);
  }
  for (let i = 0; i < n; i++) if (s.requests[i]) s.p50[i] = p50w[i] / s.requests[i];
  return s;
}

function size(el) {
  return { width: Math.max(240, el.clientWidth), height: 200 };
}

const compact = (v) => new Intl.NumberFormat("en-US", { notation: "compact" }).format(v);

function chart(el, series, data, fmt, points) {
  const opts = {
    ...size(el),
    cursor: { drag: { x: false, y: false } },
    legend: { live: false },
    scales: { x: { time: true } },
    axes: [{ stroke: "#888" }, { stroke: "#888", size: 84, values: (u, vals) => vals.map((v) => fmt(v)) }],
    // Buckets without traffic have no latency: its lines span the gaps, and its points show
    // lone values.
    series: [{}, ...series.map(([label, stroke]) => ({
      label, stroke, width: 2, spanGaps: true, fill: stroke + "18", points: { show: points, size: 5 },
    }))],
  };
  // The first layout may not have a width yet.
  requestAnimationFrame(() => u.setSize(size(el)));
  const u = new window.uPlot(opts, data, el);
  return u;
}

/** Totals per provider and per model over the range. */
function breakdown(buckets) {
  const by = (key) => {
    const m = new Map();
    for (const b of buckets) {
      const k = key(b) || "(none)";
      const r = m.get(k) || { requests: 0, errors: 0, tokens: 0, cost: 0, p99: 0 };
      r.requests += b.requests; r.errors += b.errors; r.tokens += b.total_tokens; r.cost += b.cost;
      r.p99 = Math.max(r.p99, b.p99_latency_ms);
      m.set(k, r);
    }
    return [...m.entries()].sort((a, b) => b[1].requests - a[1].requests);
  };
  const table = (title, rows) => h("section", { class: "section" }, h("h2", {}, title),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, title.replace("By ", "")), h("th", { class: "num" }, "Requests"),
        h("th", { class: "num" }, "Errors"), h("th", { class: "num" }, "p99 (worst)"), h("th", { class: "num" }, "Tokens"),
        h("th", { class: "num" }, "Cost"))),
      h("tbody", {}, rows.map(([k, r]) => h("tr", {},
        h("td", {}, h("a", { href: `#/logs?${title === "By provider" ? "providers" : "models"}=${encodeURIComponent(k)}` }, k)),
        h("td", { class: "num" }, num(r.requests)), h("td", { class: "num" }, num(r.errors)),
        h("td", { class: "num" }, ms(r.p99)), h("td", { class: "num" }, num(r.tokens)),
        h("td", { class: "num" }, money(r.cost))))))));
  return h("div", { class: "grid two" }, table("By provider", by((b) => b.provider)), table("By model", by((b) => b.model)));
}
