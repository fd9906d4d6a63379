// Shared helpers: the API client, a tiny DOM builder, formatting, forms and dialogs.

/** An error answered by the API: `{"error": {"message", "type", "param"}}`. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || (typeof body === "string" && body) || `HTTP ${status}`);
    this.status = status;
    this.type = e.type || "";
    this.param = e.param || "";
  }
}

let onUnauthorized = () => {};
let onRerender = () => {};
/** Draws the current page again (after a change), through the router: its cleanup runs. */
export function rerender() {
  onRerender();
}
export function setRerender(f) {
  onRerender = f;
}
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

/** Calls the gateway's API (same origin; the session cookie rides along). */
export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  if (resp.status === 401 && path.startsWith("/api/") && !path.startsWith("/api/session/")) {
    onUnauthorized();
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** `h("div", {class: "x", onclick: f}, child, …)`: children are nodes, strings or arrays. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---- formatting ----

const nf = new Intl.NumberFormat("en-US");
export const num = (n) => (n === null || n === undefined ? "–" : nf.format(n));
export function money(c) {
  if (c === null || c === undefined) return "–";
  if (c === 0) return "$0";
  if (Math.abs(c) >= 1) return "$" + c.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  if (Math.abs(c) < 0.01) return "$" + c.toPrecision(2);
  return "$" + c.toFixed(4).replace(/0+$/, "").replace(/\.$/, "");
}
export function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v >= 10000) return (v / 1000).toFixed(1) + " s";
  if (v >= 100) return Math.round(v) + " ms";
  return v.toFixed(1) + " ms";
}
export function when(t) {
  const d = new Date(t);
  return d.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}
export function ago(t) {
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

// ---- feedback ----

export function toast(message, kind = "ok") {
  let box = document.getElementById("toasts");
  const t = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 8000 : 4000);
}

/** A panel saying what to do next, for lists that are still empty. */
export function empty(title, text, ...actions) {
  return h("div", { class: "empty" }, h("h3", {}, title), h("p", {}, text), actions);
}

export function spinner() {
  return h("div", { class: "loading", "aria-busy": "true" }, "Loading…");
}

/** Shows an API error next to the field it names (`param`), or at the top of the form. */
export function showError(form, err) {
  clearErrors(form);
  const msg = err && err.message ? err.message : String(err);
  const param = (err && err.param) || "";
  // `param` may be a path (`budgets[0].max_limit`); match the form field by its last part.
  const names = [param, param.split(/[.[\]]/).filter(Boolean).pop()].filter(Boolean);
  let field = null;
  for (const n of names) {
    field = form.querySelector(`[name="${CSS.escape(n)}"]`);
    if (field) break;
  }
  const note = h("div", { class: "field-error", role: "alert" }, msg);
  if (field) {
    field.setAttribute("aria-invalid", "true");
    (field.closest(".field") || field).after(note);
    field.focus();
  } else {
    form.prepend(note);
  }
}

export function clearErrors(form) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const old of form.querySelectorAll("[aria-invalid]")) old.removeAttribute("aria-invalid");
}

/** A labelled input. `type` "checkbox", "select" (with `options`), "textarea" or an input type.
 * A hint goes under the input (`aria-describedby`), so the label names the field alone. */
let fieldSeq = 0;
export function field(label, name, opts = {}) {
  const { type = "text", value, options = [], hint, required, placeholder, attrs = {} } = opts;
  const id = `f-${name}-${++fieldSeq}`;
  const hintEl = hint ? h("small", { id: `${id}-hint` }, hint) : null;
  const common = { name, id, "aria-describedby": hint ? `${id}-hint` : undefined, ...attrs };
  let input;
  if (type === "select") {
    input = h("select", common,
      options.map((o) => {
        const [v, text] = Array.isArray(o) ? o : [o, o];
        return h("option", { value: v, selected: String(v) === String(value ?? "") }, text);
      }));
  } else if (type === "textarea") {
    input = h("textarea", { rows: 3, placeholder, required, ...common });
    input.value = value ?? "";
  } else if (type === "checkbox") {
    input = h("input", { type, checked: !!value, ...common });
    return h("div", { class: "field check" }, h("label", { for: id }, input, " ", label), hintEl);
  } else {
    input = h("input", { type, value: value ?? "", required, placeholder, ...common });
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl);
}

/** A label for a control built elsewhere (a select with handlers, a textarea kept by the caller). */
export function labelled(text, control, attrs = {}) {
  if (!control.id) control.id = `f-${control.name || "c"}-${++fieldSeq}`;
  return h("div", { class: "field", ...attrs }, h("label", { for: control.id }, text), control);
}

/** A modal dialog; resolves when closed. `build(close)` returns its body. */
export function dialog(title, build) {
  return new Promise((resolve) => {
    const d = h("dialog", { class: "modal", "aria-label": title });
    const close = (v) => {
      d.close();
      d.remove();
      resolve(v);
    };
    d.append(
      h("header", {}, h("h2", {}, title),
        h("button", { class: "icon", type: "button", "aria-label": "Close", onclick: () => close() }, "×")),
      build(close),
    );
    d.addEventListener("cancel", (e) => {
      e.preventDefault();
      close();
    });
    document.body.append(d);
    d.showModal();
    const first = d.querySelector("input, select, textarea, button:not(.icon)");
    if (first) first.focus();
  });
}

export async function confirmAction(text, verb = "Delete") {
  return dialog("Are you sure?", (close) => h("div", { class: "stack" },
    h("p", {}, text),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "danger", onclick: () => close(true) }, verb),
      h("button", { type: "button", class: "secondary", onclick: () => close(false) }, "Cancel"))));
}

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied to the clipboard");
  } catch {
    // No clipboard permission (plain http on a remote host): show it to copy by hand.
    dialog("Copy", () => h("textarea", { class: "mono", rows: 8, readonly: true }, text));
  }
}

/** A `<pre>` with pretty-printed JSON (or the text as is). */
export function pre(v) {
  const text = typeof v === "string" ? v : JSON.stringify(v, null, 2);
  return h("pre", { class: "code" }, text);
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

/** A usage bar: `used` of `limit`, red past 90%. */
export function bar(used, limit, label) {
  const pct = limit > 0 ? Math.min(100, (used / limit) * 100) : 0;
  return h("div", { class: "usage" },
    h("div", { class: "usage-label" }, label),
    h("div", {
      class: "bar", role: "progressbar", "aria-label": label,
      "aria-valuenow": Math.round(pct), "aria-valuemin": 0, "aria-valuemax": 100,
    }, h("div", { class: pct >= 90 ? "fill hot" : "fill", style: { width: pct + "%" } })));
}

/** Splits "a, b\nc" into ["a","b","c"]. */
export function list(text) {
  return String(text || "").split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

/** The time ranges the dashboard and logs offer. */
export const RANGES = [
  ["15m", 15 * 60e3], ["1h", 3600e3], ["6h", 6 * 3600e3], ["24h", 86400e3], ["7d", 7 * 86400e3], ["30d", 30 * 86400e3],
];

export function rangePicker(current, onchange) {
  const group = h("div", { class: "segmented", role: "group", "aria-label": "Time range" },
    RANGES.map(([label]) => h("button", {
      type: "button", class: label === current ? "on" : "", "aria-pressed": label === current ? "true" : "false",
      onclick: (e) => {
        for (const b of group.children) {
          const on = b === e.currentTarget;
          b.className = on ? "on" : "";
          b.setAttribute("aria-pressed", String(on));
        }
        onchange(label);
      },
    }, label)));
  return group;
}

export function rangeMs(label) {
  const r = RANGES.find(([l]) => l === label);
  return r ? r[1] : 3600e3;
}

/** Hash-route query parameters (`#/logs?status=error`). */
export function routeParams() {
  const q = location.hash.split("?")[1] || "";
  return new URLSearchParams(q);
}

export function setRouteParams(params) {
  const base = location.hash.split("?")[0] || "#/";
  const q = params.toString();
  history.replaceState(null, "", q ? `${base}?${q}` : base);
}
