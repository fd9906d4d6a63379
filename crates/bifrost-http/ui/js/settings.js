// Config: the client settings of PUT /api/config. Logging, direct keys and CORS origins apply
// at once; the rest at the next start, which the page says.
import { api, h, clear, clearErrors, field, showError, toast, list } from "./core.js";

const FIELDS = [
  ["Logging", [
    ["enable_logging", "Keep request logs", "bool", "Applies at the next start."],
    ["disable_content_logging", "Do not log request and response bodies", "bool"],
    ["log_retention_days", "Keep logs for (days)", "number"],
    ["logging_headers", "Request headers to record as metadata", "list", "Comma-separated, e.g. x-team, x-user-id."],
    ["log_queue_size", "Log queue size", "number", "Applies at the next start."],
  ]],
  ["Requests", [
    ["allow_direct_keys", "Allow clients to bring their own provider keys", "bool"],
    ["drop_excess_requests", "Drop requests when a provider's queue is full (instead of waiting)", "bool", "Applies at the next start."],
    ["initial_pool_size", "Initial pool size", "number", "Applies at the next start."],
    ["max_request_body_size_mb", "Max request body (MB)", "number", "Applies at the next start."],
  ]],
  ["Browsers and metrics", [
    ["allowed_origins", "CORS origins", "list", "scheme://host[:port] or *, comma-separated; localhost is always allowed."],
    ["prometheus_labels", "Extra Prometheus labels (from request headers)", "list", "Applies at the next start."],
  ]],
];

export async function settings(main) {
  const { client } = await api("GET", "/api/config");
  const form = h("form", { class: "stack", novalidate: true, "aria-label": "Client settings" },
    FIELDS.map(([title, fields]) => h("section", { class: "card stack" }, h("h2", {}, title),
      fields.map(([name, label, kind, hint]) => {
        const v = client[name];
        if (kind === "bool") return field(label, name, { type: "checkbox", value: v, hint });
        if (kind === "number") return field(label, name, { type: "number", value: v, hint, attrs: { min: 1 } });
        return field(label, name, { value: (v || []).join(", "), hint });
      }))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const patch = {};
    for (const [, fields] of FIELDS) {
      for (const [name, , kind] of fields) {
        let v;
        if (kind === "bool") v = fd.get(name) === "on";
        else if (kind === "number") v = fd.get(name) === "" ? null : Number(fd.get(name));
        else v = list(fd.get(name));
        const was = client[name];
        if (v === null || JSON.stringify(v) === JSON.stringify(kind === "list" ? was || [] : was)) continue;
        patch[name] = v;
      }
    }
    if (!Object.keys(patch).length) return toast("Nothing changed");
    try {
      const r = await api("PUT", "/api/config", { client: patch });
      clearErrors(form);
      Object.assign(client, r.client);
      toast(r.restart_required.length ? `Saved. Applies at the next start: ${r.restart_required.join(", ")}` : "Saved and applied");
    } catch (err) {
      showError(form, { message: err.message, param: (err.param || "").replace(/^client\./, "").replace(/\[\d+\]$/, "") });
    }
  });
  clear(main, h("h1", {}, "Config"),
    h("p", { class: "muted" }, "Client settings of this gateway, stored in its config store. Providers, keys and governance have their own pages."),
    form);
}
