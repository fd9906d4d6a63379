// Request logs: the logs API's filters, keyset paging (never a count of the table), a live
// tail over server-sent events, and a detail view with copy-as-curl.
import {
  api, h, clear, labelled, num, money, ms, when, badge, pre, copy, dialog, empty, rangePicker, rangeMs,
  routeParams, setRouteParams, toast,
} from "./core.js";

const PAGE = 50;
const LIST_FILTERS = ["providers", "models", "status", "virtual_key_ids"];

export async function logs(main) {
  const params = routeParams();
  const state = {
    range: params.get("range") || "24h",
    filters: Object.fromEntries(LIST_FILTERS.map((k) => [k, params.get(k) || ""])),
    search: params.get("q") || "",
    minLatency: params.get("min_latency") || "",
    cursors: [null], // keyset cursors of the pages visited; the last is the current page
    live: false,
  };
  let source = null;
  let fd = { providers: [], models: [], statuses: [], virtual_key_ids: [] };
  const filterBar = h("form", { class: "card filters inline", "aria-label": "Filters", onsubmit: (e) => { e.preventDefault(); apply(); } });
  const tableBox = h("div", {});
  const pager = h("div", { class: "spread", style: { marginTop: "10px" } });
  const liveBtn = h("button", { type: "button", class: "secondary", "aria-pressed": "false", onclick: toggleLive }, "● Live tail");
  clear(main,
    h("div", { class: "spread" }, h("h1", {}, "Logs"),
      h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: refresh }, "Refresh"),
        liveBtn, rangePicker(state.range, (r) => { state.range = r; rerenderBar(); apply(); }))),
    filterBar, tableBox, pager);
  let rows = [];

  function query(cursor) {
    const q = new URLSearchParams();
    const end = Date.now();
    q.set("start_time", String(Math.round(end - rangeMs(state.range))));
    for (const k of LIST_FILTERS) if (state.filters[k]) q.set(k, state.filters[k]);
    if (state.search) q.set("content_search", state.search);
    if (state.minLatency) q.set("min_latency", state.minLatency);
    if (cursor) q.set("cursor", cursor);
    return q;
  }

  function saveRoute() {
    const p = new URLSearchParams({ range: state.range });
    for (const k of LIST_FILTERS) if (state.filters[k]) p.set(k, state.filters[k]);
    if (state.search) p.set("q", state.search);
    if (state.minLatency) p.set("min_latency", state.minLatency);
    setRouteParams(p);
  }

  function select(label, name, values, current, names = {}) {
    const opts = [...new Set([...(values || []), ...(current ? [current] : [])])];
    return labelled(label,
      h("select", { name, onchange: (e) => { state.filters[name] = e.target.value; apply(); } },
        h("option", { value: "" }, "All"),
        opts.map((v) => h("option", { value: v, selected: v === current }, names[v] || v))));
  }

  function rerenderBar() {
    // Values arrive while the user may be in a field: keep the focus and what was typed.
    const active = filterBar.contains(document.activeElement) ? document.activeElement : null;
    const typed = active && active.tagName === "INPUT" ? active.value : null;
    clear(filterBar,
      select("Provider", "providers", fd.providers, state.filters.providers),
      select("Model", "models", fd.models, state.filters.models),
      select("Status", "status", ["success", "error", "cancelled"], state.filters.status),
      select("Virtual key", "virtual_key_ids", fd.virtual_key_ids, state.filters.virtual_key_ids, vkNames),
      labelled("Min latency (ms)",
        h("input", { name: "min_latency", type: "number", min: 0, value: state.minLatency,
          onchange: (e) => { state.minLatency = e.target.value; apply(); } })),
      labelled("Search request and response text",
        h("input", { name: "content_search", type: "search", value: state.search, placeholder: "words in a prompt or answer",
          onchange: (e) => { state.search = e.target.value; apply(); } }), { style: { maxWidth: "none", flex: 2 } }),
      h("button", { type: "submit", class: "secondary" }, "Apply"));
    if (active && active.name) {
      const again = filterBar.querySelector(`[name="${active.name}"]`);
      if (again) {
        if (typed !== null) again.value = typed;
        again.focus();
      }
    }
  }

  // Answers can arrive out of order (filters changed quickly): only the latest request draws.
  let loadSeq = 0;

  /** Shows the page at the end of `cursors` (the keyset cursors from the newest page on). */
  async function load(cursors = state.cursors) {
    const seq = ++loadSeq;
    const q = query(cursors[cursors.length - 1]);
    q.set("limit", String(PAGE));
    const t0 = performance.now();
    const page = await api("GET", `/api/logs?${q}`);
    if (seq !== loadSeq) return;
    state.cursors = cursors;
    saveRoute();
    rows = page.logs;
    renderTable();
    const first = state.cursors.length === 1;
    clear(pager,
      h("span", { class: "muted", "data-testid": "page-info" },
        `Page ${state.cursors.length} · ${rows.length} rows · ${Math.round(performance.now() - t0)} ms`),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", disabled: first, onclick: (e) => turn(e, cursors.slice(0, -1)) }, "← Newer"),
        h("button", {
          type: "button", class: "secondary", disabled: !page.has_more,
          onclick: (e) => turn(e, [...cursors, page.next_cursor]),
        }, "Older →")));
    // When the page was drawn (ms since navigation), for the logs page's benchmark.
    document.body.dataset.logsRendered = String(performance.now());
  }

  function renderTable() {
    if (!rows.length) {
      const filtered = LIST_FILTERS.some((k) => state.filters[k]) || state.search || state.minLatency;
      clear(tableBox, empty(filtered ? "No logs match these filters" : "No requests logged yet",
        filtered ? "Widen the time range or clear a filter." :
          "Requests through the gateway appear here as they finish. Try one from the playground.",
        h("a", { class: "button", href: "#/playground" }, "Open the playground")));
      return;
    }
    clear(tableBox, h("div", { class: "table-wrap" }, h("table", { "aria-label": "Request logs" },
      h("thead", {}, h("tr", {}, ["Time", "Status", "Provider", "Model", "Virtual key", "Latency", "Tokens", "Cost"].map(
        (c, i) => h("th", { class: i >= 5 ? "num" : "" }, c)))),
      h("tbody", {}, rows.map((r) => row(r))))));
  }

  function row(r, fresh = false) {
    const open = () => detail(r.id);
    return h("tr", {
      class: fresh ? "clickable fresh" : "clickable", tabindex: 0, "data-id": r.id, onclick: open,
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } },
    },
      h("td", { title: new Date(r.timestamp).toISOString() }, when(r.timestamp)),
      h("td", {}, statusBadge(r)),
      h("td", {}, r.provider || "–"),
      h("td", { class: "wrap" }, r.model || "–", r.stream ? " " : "", r.stream ? badge("stream") : ""),
      h("td", {}, r.virtual_key_name || r.virtual_key_id || "–"),
      h("td", { class: "num" }, ms(r.latency_ms)),
      h("td", { class: "num" }, num(r.total_tokens)),
      h("td", { class: "num" }, money(r.cost)));
  }

  /** A pager click: the button is off until the page is there (a double click turns once). */
  async function turn(e, cursors) {
    const button = e.currentTarget;
    button.disabled = true;
    try {
      await load(cursors);
    } catch (err) {
      button.disabled = false;
      toast(err.message, "error");
    }
  }

  async function apply() {
    if (state.live) startLive();
    try {
      await load([null]);
    } catch (e) {
      clear(tableBox, h("div", { class: "error-box", role: "alert" }, e.message));
    }
  }

  /** Reloads the dropdowns' values too: new providers, models and keys appear with traffic. */
  async function refresh() {
    try {
      fd = await api("GET", "/api/logs/filterdata");
      rerenderBar();
    } catch {
      /* the table's load reports the error */
    }
    await apply();
  }

  function stopLive() {
    if (source) source.close();
    source = null;
  }

  function startLive() {
    stopLive();
    const q = new URLSearchParams();
    for (const k of LIST_FILTERS) if (state.filters[k]) q.set(k, state.filters[k]);
    source = new EventSource(`/api/logs/stream?${q}`);
    source.addEventListener("log", (e) => {
      // New rows go on top of the newest page only; older pages stay still.
      if (state.cursors.length !== 1) return;
      const r = JSON.parse(e.data);
      if (state.minLatency && r.latency_ms < Number(state.minLatency)) return;
      // Text search runs in the store: such a tail shows no rows ("Refresh" runs the search).
      if (state.search) return;
      const tbody = tableBox.querySelector("tbody");
      if (!tbody) return void load([null]).catch(() => {});
      // Prepended, never trimmed: "Older →" pages on from the rows already shown.
      tbody.prepend(row(r, true));
    });
  }

  function toggleLive() {
    state.live = !state.live;
    liveBtn.setAttribute("aria-pressed", String(state.live));
    liveBtn.className = state.live ? "" : "secondary";
    if (state.live) startLive();
    else stopLive();
  }

  // Virtual keys by name in the filter (the logs hold their ids).
  let vkNames = {};
  api("GET", "/api/governance/virtual-keys").then((r) => {
    vkNames = Object.fromEntries(r.virtual_keys.map((v) => [v.id, v.name]));
    rerenderBar();
  }).catch(() => {});
  // The first page does not wait for the dropdowns' values (distinct values over the table).
  rerenderBar();
  api("GET", "/api/logs/filterdata").then((d) => {
    fd = d;
    rerenderBar();
  }).catch(() => {});
  try {
    await load();
  } catch (e) {
    if (e.status === 503) {
      clear(main, h("h1", {}, "Logs"), empty("Request logging is off",
        "Turn on client.enable_logging (Config page, applies at the next start) to keep request logs."));
      return undefined;
    }
    throw e;
  }
  const open = params.get("id");
  if (open) detail(open);
  return stopLive;
}

function statusBadge(r) {
  const kind = r.status === "success" ? "ok" : r.status === "cancelled" ? "warn" : "bad";
  return badge(`${r.status}${r.http_status ? " " + r.http_status : ""}`, kind);
}

/** The conversation of a request body, when it has one. */
function transcript(input) {
  if (!input || typeof input !== "object") return null;
  const msgs = Array.isArray(input.messages) ? input.messages
    : Array.isArray(input.contents) ? input.contents.map((c) => ({ role: c.role, content: c.parts }))
      : typeof input.input === "string" ? [{ role: "user", content: input.input }]
        : Array.isArray(input.input) ? input.input : null;
  const system = typeof input.system === "string" ? [{ role: "system", content: input.system }] : [];
  if (!msgs) return null;
  return [...system, ...msgs].map((m) => h("div", { class: "chat-msg" }, h("b", {}, m.role || "message"), text(m.content)));
}

function text(c) {
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((p) => (typeof p === "string" ? p : p.text ?? JSON.stringify(p))).join("\n");
  return JSON.stringify(c);
}

/** What the model answered, in any of the logged shapes (streams are reassembled by the store). */
function answer(output) {
  if (!output) return null;
  if (typeof output.content === "string") return output.content;
  if (output.choices) return output.choices.map((c) => text(c.message?.content ?? c.text ?? "")).join("\n");
  if (Array.isArray(output.content)) return text(output.content);
  if (output.candidates) return output.candidates.map((c) => text(c.content?.parts ?? [])).join("\n");
  if (Array.isArray(output.output)) {
    return output.output.flatMap((o) => (o.content || []).map((p) => p.text || "")).join("");
  }
  return null;
}

export function curlFor(r) {
  const body = JSON.stringify(r.input ?? {});
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    `curl ${location.origin}${r.route || "/v1/chat/completions"}`,
    `  -H 'content-type: application/json'`,
    r.virtual_key_id ? `  -H 'x-bf-vk: <your virtual key>'` : null,
    `  -d ${q(body)}`,
  ].filter(Boolean).join(" \\\n");
}

async function detail(id) {
  let r;
  try {
    r = await api("GET", `/api/logs/${encodeURIComponent(id)}`);
  } catch (e) {
    toast(e.message, "error");
    return;
  }
  const said = transcript(r.input);
  const out = answer(r.output);
  await dialog(`Request ${r.id.slice(0, 12)}`, () => h("div", { class: "detail stack", "data-testid": "log-detail" },
    h("dl", {},
      dt("Status", statusBadge(r)),
      dt("Time", new Date(r.timestamp).toISOString()),
      dt("Route", r.route),
      dt("Provider / model", `${r.provider || "–"} / ${r.model || "–"}`),
      dt("Key", r.key_name || r.key_id || "–"),
      dt("Virtual key", r.virtual_key_name || r.virtual_key_id || "–"),
      dt("Latency", ms(r.latency_ms) + (r.ttft_ms != null ? ` (first token ${ms(r.ttft_ms)})` : "")),
      dt("Attempts", `${r.number_of_retries + 1}${r.number_of_retries ? ` (${r.number_of_retries} retried)` : ""}`),
      dt("Fallback", r.fallback_index ? `fallback #${r.fallback_index}` : "primary"),
      dt("Tokens", `${num(r.prompt_tokens)} in · ${num(r.completion_tokens)} out${r.cached_tokens ? ` · ${num(r.cached_tokens)} cached` : ""}${r.reasoning_tokens ? ` · ${num(r.reasoning_tokens)} reasoning` : ""}`),
      dt("Cost", money(r.cost)),
      r.parent_request_id ? dt("Parent", r.parent_request_id) : null,
      Object.keys(r.metadata || {}).length ? dt("Metadata", Object.entries(r.metadata).map(([k, v]) => `${k}=${v}`).join(", ")) : null),
    r.error ? h("section", {}, h("h3", {}, "Error"), pre(r.error)) : null,
    said ? h("section", {}, h("h3", {}, "Request"), said) : null,
    out !== null ? h("section", {}, h("h3", {}, r.stream ? "Response (reassembled from the stream)" : "Response"),
      h("div", { class: "chat-msg" }, h("b", {}, "assistant"), out)) : null,
    r.input === null && r.output === null ? h("p", { class: "muted" }, "Content logging is off for this request.") : null,
    h("details", {}, h("summary", {}, "Raw request JSON"), pre(r.input)),
    h("details", {}, h("summary", {}, "Raw response JSON"), pre(r.output)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => copy(curlFor(r)) }, "Copy as curl"),
      h("button", { type: "button", class: "secondary", onclick: () => copy(JSON.stringify(r, null, 2)) }, "Copy JSON"))));
}

function dt(k, v) {
  return [h("dt", {}, k), h("dd", {}, v)];
}
