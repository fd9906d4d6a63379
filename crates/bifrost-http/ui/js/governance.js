// Governance: virtual keys (value shown once), teams, customers, budgets and rate limits, with
// usage bars against each limit's current window.
import {
  api, h, clear, field, labelled, rerender, showError, dialog, confirmAction, toast, badge, empty, list, bar, money, num, copy, when,
} from "./core.js";

const G = "/api/governance";

async function loadAll() {
  const [vk, teams, customers, budgets, limits] = await Promise.all(
    ["virtual-keys", "teams", "customers", "budgets", "rate-limits"].map((p) => api("GET", `${G}/${p}`)));
  return {
    vks: vk.virtual_keys, teams: teams.teams, customers: customers.customers,
    budgets: budgets.budgets, limits: limits.rate_limits,
  };
}

const opt = (items, label) => [["", "(none)"], ...items.map((x) => [x.id, label(x)])];
const budgetLabel = (b) => `${money(b.max_limit)} / ${b.reset_duration}${b.id ? ` (${b.id})` : ""}`;
const limitLabel = (r) => [
  r.request_max_limit != null ? `${num(r.request_max_limit)} req / ${r.request_reset_duration}` : null,
  r.token_max_limit != null ? `${num(r.token_max_limit)} tok / ${r.token_reset_duration}` : null,
].filter(Boolean).join(", ") || r.id;

/** Usage bars of one entity (`GET …/{id}/usage`). */
async function usageBars(path) {
  try {
    const u = await api("GET", path);
    if (!u.limits.length) return h("span", { class: "muted" }, "no limits");
    return h("div", { class: "usage-list" }, u.limits.map((l) => {
      const what = l.kind === "budget" ? `${money(l.used)} of ${money(l.limit)}`
        : `${num(l.used)} of ${num(l.limit)} ${l.kind === "requests" ? "requests" : l.kind}`;
      const scope = l.provider ? ` · ${l.provider}` : l.level !== "virtual_key" ? ` · ${l.level.replace("_", " ")}` : "";
      const reset = l.resets_at ? ` · resets ${when(l.resets_at)}` : "";
      return bar(Number(l.used), Number(l.limit), `${what}${scope}${reset}`);
    }));
  } catch (e) {
    return h("span", { class: "muted" }, e.message);
  }
}

// ---------- virtual keys ----------

export async function virtualKeys(main) {
  const all = await loadAll();
  const add = h("button", { type: "button", onclick: () => editVk(null, all).then(afterVk) }, "Create virtual key");
  const head = h("div", { class: "spread" }, h("h1", {}, "Virtual keys"), add);
  if (!all.vks.length) {
    clear(main, head, empty("No virtual keys yet",
      "A virtual key (sk-bf-…) is what you hand to an app or a team: it can only reach the providers and models you allow, within its budget and rate limits. Clients send it as x-bf-vk or as their SDK's API key.",
      h("button", { type: "button", onclick: () => add.click() }, "Create your first virtual key")));
    return;
  }
  const tbody = h("tbody", {});
  clear(main, head, h("div", { class: "table-wrap" }, h("table", { "aria-label": "Virtual keys" },
    h("thead", {}, h("tr", {}, ["Name", "Active", "Owner", "Providers", "Usage", ""].map((t) => h("th", {}, t)))),
    tbody)));
  const name = (items, id) => (items.find((x) => x.id === id) || {}).name || id;
  for (const vk of all.vks) {
    const usage = h("td", { style: { minWidth: "220px", whiteSpace: "normal" } }, "…");
    const toggle = h("input", {
      type: "checkbox", checked: vk.is_active, "aria-label": `Active: ${vk.name}`,
      onchange: async (e) => {
        try {
          const { value_hash: _, ...body } = vk; // the API keeps the hash; sending it back is refused
          await api("PUT", `${G}/virtual-keys/${encodeURIComponent(vk.id)}`, { ...body, is_active: e.target.checked });
          vk.is_active = e.target.checked;
          toast(`${vk.name} ${vk.is_active ? "activated" : "deactivated"}`);
        } catch (err) {
          e.target.checked = !e.target.checked;
          toast(err.message, "error");
        }
      },
    });
    tbody.append(h("tr", { "data-vk": vk.name },
      h("td", {}, h("b", {}, vk.name), vk.description ? h("div", { class: "muted" }, vk.description) : null),
      h("td", {}, toggle),
      h("td", {}, vk.team_id ? `team ${name(all.teams, vk.team_id)}` : vk.customer_id ? `customer ${name(all.customers, vk.customer_id)}` : "–"),
      h("td", { class: "wrap" }, (vk.provider_configs || []).map((pc) =>
        `${pc.provider}${pc.allowed_models?.length ? ` (${pc.allowed_models.join(", ")})` : ""}`).join("; ") || h("span", { class: "muted" }, "all")),
      usage,
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary small", onclick: () => editVk(vk, all).then(afterVk) }, "Edit"),
        h("a", { class: "button secondary small", href: `#/logs?virtual_key_ids=${encodeURIComponent(vk.id)}` }, "Logs"),
        h("button", {
          type: "button", class: "secondary small", "aria-label": `Delete ${vk.name}`,
          onclick: () => remove(`virtual-keys/${vk.id}`, `virtual key ${vk.name}`, rerender),
        }, "Delete")))));
    usageBars(`${G}/virtual-keys/${encodeURIComponent(vk.id)}/usage`).then((b) => clear(usage, b));
  }
  // Usage moves with traffic: refresh the bars while the page is open.
  const timer = setInterval(() => {
    for (const tr of tbody.children) {
      const vk = all.vks.find((v) => v.name === tr.dataset.vk);
      if (vk) usageBars(`${G}/virtual-keys/${encodeURIComponent(vk.id)}/usage`).then((b) => clear(tr.children[4], b));
    }
  }, 5000);
  return () => clearInterval(timer);
}

/** After the key form: redraw, then (for a new key) show its value, which the redraw must not
 * close. */
function afterVk(result) {
  if (!result) return;
  rerender();
  if (result.value) showValueOnce(result);
}

async function remove(path, what, reload) {
  if (!(await confirmAction(`Delete ${what}?`))) return;
  try {
    await api("DELETE", `${G}/${path}`);
    toast(`Deleted ${what}`);
    reload();
  } catch (e) {
    toast(e.message, "error");
  }
}

/** Budget and rate-limit pickers, with "new…" inline fields. */
function limitPickers(cur, all) {
  const budgetSel = field("Budget", "budget_id", {
    type: "select", value: cur.budget_id || "",
    options: [...opt(all.budgets, budgetLabel), ["__new", "New budget…"]],
  });
  const newBudget = h("div", { class: "row", hidden: true },
    field("Max spend (USD)", "max_limit", { type: "number", attrs: { min: 0, step: "any" } }),
    field("Resets every", "reset_duration", { value: "1M", hint: "e.g. 1h, 1d, 1w, 1M" }));
  const rlSel = field("Rate limit", "rate_limit_id", {
    type: "select", value: cur.rate_limit_id || "",
    options: [...opt(all.limits, limitLabel), ["__new", "New rate limit…"]],
  });
  const newRl = h("div", { class: "row", hidden: true },
    field("Requests", "request_max_limit", { type: "number", attrs: { min: 1 } }),
    field("Requests per", "request_reset_duration", { value: "1m" }),
    field("Tokens", "token_max_limit", { type: "number", attrs: { min: 1 } }),
    field("Tokens per", "token_reset_duration", { value: "1h" }));
  budgetSel.querySelector("select").addEventListener("change", (e) => { newBudget.hidden = e.target.value !== "__new"; });
  rlSel.querySelector("select").addEventListener("change", (e) => { newRl.hidden = e.target.value !== "__new"; });
  return [budgetSel, newBudget, rlSel, newRl];
}

/** An error shown at the field `param` (as the API's are). */
const fieldError = (param, message) => Object.assign(new Error(message), { param });

/** A rate limit from the form's request and token fields (each pair only when its limit is set). */
function rateLimitBody(fd) {
  if (!fd.get("request_max_limit") && !fd.get("token_max_limit")) {
    throw fieldError("request_max_limit", "Set a request limit, a token limit, or both.");
  }
  const body = {};
  for (const kind of ["request", "token"]) {
    if (fd.get(`${kind}_max_limit`)) {
      body[`${kind}_max_limit`] = Number(fd.get(`${kind}_max_limit`));
      body[`${kind}_reset_duration`] = fd.get(`${kind}_reset_duration`);
    }
  }
  return body;
}

function budgetBody(fd) {
  if (fd.get("max_limit") === "") throw fieldError("max_limit", "Enter the most it may spend, in USD.");
  return { max_limit: Number(fd.get("max_limit")), reset_duration: String(fd.get("reset_duration")).trim() };
}

/** Makes a just-created budget or rate limit the picker's choice, so a retry of the form (after
 * an error elsewhere) reuses it rather than creating another. */
function adopt(form, name, id, label) {
  const select = form.querySelector(`select[name="${name}"]`);
  select.insertBefore(h("option", { value: id }, label), select.querySelector('option[value="__new"]'));
  select.value = id;
  select.dispatchEvent(new Event("change"));
}

/** Creates the budget / rate limit asked for inline; returns their ids. */
async function resolveLimits(form, fd) {
  let budget_id = fd.get("budget_id") || undefined;
  let rate_limit_id = fd.get("rate_limit_id") || undefined;
  // Both checked before either is created.
  const newBudget = budget_id === "__new" ? budgetBody(fd) : null;
  const newLimit = rate_limit_id === "__new" ? rateLimitBody(fd) : null;
  if (newBudget) {
    const b = await api("POST", `${G}/budgets`, newBudget);
    adopt(form, "budget_id", b.id, budgetLabel(b));
    budget_id = b.id;
  }
  if (newLimit) {
    const r = await api("POST", `${G}/rate-limits`, newLimit);
    adopt(form, "rate_limit_id", r.id, limitLabel(r));
    rate_limit_id = r.id;
  }
  return { budget_id, rate_limit_id };
}

function editVk(vk, all) {
  const cur = vk || { is_active: true, provider_configs: [] };
  return dialog(vk ? `Edit ${vk.name}` : "Create virtual key", (close) => {
    const pcs = h("textarea", {
      name: "provider_configs", rows: 3, placeholder: "one per line: provider: model, model (empty = every provider)",
    });
    pcs.value = (cur.provider_configs || []).map((pc) =>
      `${pc.provider}${pc.allowed_models?.length ? `: ${pc.allowed_models.join(", ")}` : ""}`).join("\n");
    const form = h("form", { class: "stack", novalidate: true },
      field("Name", "name", { value: cur.name, required: true }),
      field("Description", "description", { value: cur.description }),
      h("div", { class: "row" },
        field("Team", "team_id", { type: "select", value: cur.team_id, options: opt(all.teams, (t) => t.name) }),
        field("Customer", "customer_id", { type: "select", value: cur.customer_id, options: opt(all.customers, (c) => c.name) })),
      ...limitPickers(cur, all),
      labelled("Allowed providers and models", pcs),
      h("small", { class: "muted" }, "e.g. openai: gpt-4o-mini, gpt-4o — a request for a bare model is routed to a provider listed here."),
      field("Active", "is_active", { type: "checkbox", value: cur.is_active }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, vk ? "Save" : "Create"),
        h("button", { type: "button", class: "secondary", onclick: () => close(false) }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      try {
        const provider_configs = String(fd.get("provider_configs") || "").split("\n").map((l) => l.trim()).filter(Boolean)
          .map((l) => {
            const [provider, models] = l.split(/:(.*)/s);
            const prev = (cur.provider_configs || []).find((p) => p.provider === provider.trim()) || {};
            return { ...prev, provider: provider.trim(), weight: prev.weight ?? 1, allowed_models: list(models) };
          });
        const { budget_id, rate_limit_id } = await resolveLimits(form, fd);
        const body = {
          ...(vk || {}), name: String(fd.get("name")).trim(), description: fd.get("description") || undefined,
          team_id: fd.get("team_id") || undefined, customer_id: fd.get("customer_id") || undefined,
          budget_id, rate_limit_id, provider_configs, is_active: fd.get("is_active") === "on",
        };
        for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
        delete body.value_hash;
        if (vk) {
          await api("PUT", `${G}/virtual-keys/${encodeURIComponent(vk.id)}`, body);
          close(true);
        } else {
          close(await api("POST", `${G}/virtual-keys`, body));
        }
      } catch (err) {
        showError(form, err);
      }
    });
    return form;
  });
}

function showValueOnce(vk) {
  return dialog("Virtual key created", (close) => h("div", { class: "stack" },
    h("p", {}, "Copy the key now: the gateway keeps only its hash and cannot show it again."),
    h("div", { class: "secret mono", "data-testid": "vk-value" }, vk.value),
    h("p", { class: "muted" }, "Send it as the x-bf-vk header, or as the API key of an OpenAI, Anthropic or Google SDK."),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => copy(vk.value) }, "Copy"),
      h("button", { type: "button", class: "secondary", onclick: () => close() }, "Done"))));
}

// ---------- teams and customers ----------

export async function teams(main) {
  const all = await loadAll();
  const reload = rerender;
  const nameOf = (id) => (all.customers.find((c) => c.id === id) || {}).name || id;
  const section = (title, kind, items, cols, addLabel, emptyText) => {
    const add = h("button", { type: "button", onclick: () => editOwner(kind, null, all).then((ok) => ok && reload()) }, addLabel);
    const rows = items.map((x) => {
      const usage = h("td", { style: { minWidth: "220px", whiteSpace: "normal" } }, "…");
      usageBars(`${G}/${kind}/${encodeURIComponent(x.id)}/usage`).then((b) => clear(usage, b));
      return h("tr", {}, h("td", {}, h("b", {}, x.name)), cols(x), usage,
        h("td", {}, h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary small", onclick: () => editOwner(kind, x, all).then((ok) => ok && reload()) }, "Edit"),
          h("button", { type: "button", class: "secondary small", onclick: () => remove(`${kind}/${x.id}`, `${kind.slice(0, -1)} ${x.name}`, reload) }, "Delete"))));
    });
    return h("section", { class: "section" }, h("div", { class: "spread" }, h("h2", {}, title), add),
      items.length ? h("div", { class: "table-wrap" }, h("table", { "aria-label": title },
        h("thead", {}, h("tr", {}, ["Name", kind === "teams" ? "Customer" : "Virtual keys", "Usage", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))) : empty(`No ${kind} yet`, emptyText));
  };
  clear(main, h("h1", {}, "Teams & customers"),
    section("Customers", "customers", all.customers,
      (c) => h("td", {}, num(all.vks.filter((v) => v.customer_id === c.id).length)), "Add customer",
      "A customer groups teams (or keys) under one budget, e.g. a client you bill."),
    section("Teams", "teams", all.teams, (t) => h("td", {}, t.customer_id ? nameOf(t.customer_id) : "–"), "Add team",
      "A team's budget and rate limit apply to all of its virtual keys together."));
}

function editOwner(kind, cur, all) {
  const single = kind === "teams" ? "team" : "customer";
  const x = cur || {};
  return dialog(cur ? `Edit ${single} ${x.name}` : `Add ${single}`, (close) => {
    const form = h("form", { class: "stack", novalidate: true },
      field("Name", "name", { value: x.name, required: true }),
      kind === "teams" ? field("Customer", "customer_id", { type: "select", value: x.customer_id, options: opt(all.customers, (c) => c.name) }) : null,
      ...limitPickers(x, all),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", class: "secondary", onclick: () => close(false) }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      try {
        const { budget_id, rate_limit_id } = await resolveLimits(form, fd);
        const body = { ...x, name: String(fd.get("name")).trim(), budget_id, rate_limit_id };
        if (kind === "teams") body.customer_id = fd.get("customer_id") || undefined;
        for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
        if (cur) await api("PUT", `${G}/${kind}/${encodeURIComponent(cur.id)}`, body);
        else await api("POST", `${G}/${kind}`, body);
        close(true);
      } catch (err) {
        showError(form, err);
      }
    });
    return form;
  });
}

// ---------- budgets and rate limits ----------

export async function limits(main) {
  const all = await loadAll();
  const reload = rerender;
  const users = (field_, id) => [
    ...all.vks.filter((v) => v[field_] === id || (v.provider_configs || []).some((p) => p[field_] === id)).map((v) => `key ${v.name}`),
    ...all.teams.filter((t) => t[field_] === id).map((t) => `team ${t.name}`),
    ...all.customers.filter((c) => c[field_] === id).map((c) => `customer ${c.name}`),
  ].join(", ") || "unused";
  const budgets = h("section", { class: "section" },
    h("div", { class: "spread" }, h("h2", {}, "Budgets"),
      h("button", { type: "button", onclick: () => editBudget(null).then((ok) => ok && reload()) }, "Add budget")),
    all.budgets.length ? h("div", { class: "table-wrap" }, h("table", { "aria-label": "Budgets" },
      h("thead", {}, h("tr", {}, ["Id", "Max spend", "Resets every", "Used by", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, all.budgets.map((b) => h("tr", {},
        h("td", { class: "mono" }, b.id), h("td", {}, money(b.max_limit)),
        h("td", {}, b.reset_duration, b.calendar_aligned ? " (calendar)" : ""), h("td", { class: "wrap" }, users("budget_id", b.id)),
        h("td", {}, h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary small", onclick: () => editBudget(b).then((ok) => ok && reload()) }, "Edit"),
          h("button", { type: "button", class: "secondary small", onclick: () => remove(`budgets/${b.id}`, `budget ${b.id}`, reload) }, "Delete"))))))))
      : empty("No budgets yet", "A budget caps spend in USD over a window (1d, 1M…); attach it to a virtual key, team or customer."));
  const rls = h("section", { class: "section" },
    h("div", { class: "spread" }, h("h2", {}, "Rate limits"),
      h("button", { type: "button", onclick: () => editRateLimit(null).then((ok) => ok && reload()) }, "Add rate limit")),
    all.limits.length ? h("div", { class: "table-wrap" }, h("table", { "aria-label": "Rate limits" },
      h("thead", {}, h("tr", {}, ["Id", "Limits", "Used by", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, all.limits.map((r) => h("tr", {},
        h("td", { class: "mono" }, r.id), h("td", {}, limitLabel(r)), h("td", { class: "wrap" }, users("rate_limit_id", r.id)),
        h("td", {}, h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary small", onclick: () => editRateLimit(r).then((ok) => ok && reload()) }, "Edit"),
          h("button", { type: "button", class: "secondary small", onclick: () => remove(`rate-limits/${r.id}`, `rate limit ${r.id}`, reload) }, "Delete"))))))))
      : empty("No rate limits yet", "A rate limit caps requests and tokens per window; attach it to a virtual key, team or customer."));
  clear(main, h("h1", {}, "Budgets & rate limits"), budgets, rls);
}

function editBudget(b) {
  return simpleForm(b ? `Edit budget ${b.id}` : "Add budget", [
    field("Max spend (USD)", "max_limit", { type: "number", value: b?.max_limit, required: true, attrs: { min: 0, step: "any" } }),
    field("Resets every", "reset_duration", { value: b?.reset_duration || "1M", required: true, hint: "e.g. 30s, 1h, 1d, 1w, 1M, 1Y" }),
    field("Align to the calendar (day, month…)", "calendar_aligned", { type: "checkbox", value: b?.calendar_aligned }),
  ], (fd) => {
    const body = { ...(b || {}), ...budgetBody(fd), calendar_aligned: fd.get("calendar_aligned") === "on" };
    return b ? api("PUT", `${G}/budgets/${encodeURIComponent(b.id)}`, body) : api("POST", `${G}/budgets`, body);
  });
}

function editRateLimit(r) {
  return simpleForm(r ? `Edit rate limit ${r.id}` : "Add rate limit", [
    h("div", { class: "row" },
      field("Requests", "request_max_limit", { type: "number", value: r?.request_max_limit, attrs: { min: 1 } }),
      field("Requests per", "request_reset_duration", { value: r?.request_reset_duration || "1m" })),
    h("div", { class: "row" },
      field("Tokens", "token_max_limit", { type: "number", value: r?.token_max_limit, attrs: { min: 1 } }),
      field("Tokens per", "token_reset_duration", { value: r?.token_reset_duration || "1h" })),
  ], (fd) => {
    const body = rateLimitBody(fd);
    if (r) body.id = r.id;
    return r ? api("PUT", `${G}/rate-limits/${encodeURIComponent(r.id)}`, body) : api("POST", `${G}/rate-limits`, body);
  });
}

function simpleForm(title, fields, submit) {
  return dialog(title, (close) => {
    const form = h("form", { class: "stack", novalidate: true }, fields,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", class: "secondary", onclick: () => close(false) }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await submit(new FormData(form));
        close(true);
      } catch (err) {
        showError(form, err);
      }
    });
    return form;
  });
}
