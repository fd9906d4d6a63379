// Providers and their keys: add, edit, disable, delete; secrets come back masked and a masked
// value sent back keeps the stored one. "Send a test request" goes through the gateway itself.
import {
  api, h, clear, field, rerender, showError, dialog, confirmAction, toast, badge, empty, list, ms,
} from "./core.js";

const KNOWN = ["openai", "anthropic", "azure", "bedrock", "vertex", "gemini", "cohere", "mistral", "groq",
  "cerebras", "xai", "openrouter", "fireworks", "parasail", "perplexity", "nebius", "deepseek", "together",
  "huggingface", "ollama", "vllm", "sgl", "lmstudio"];
const BASE_TYPES = ["openai", "anthropic", "gemini", "cohere", "bedrock"];

export async function providers(main) {
  const { providers: all } = await api("GET", "/api/providers");
  const add = h("button", { type: "button", onclick: () => editProvider(null).then((ok) => ok && rerender()) }, "Add provider");
  if (!all.length) {
    clear(main, h("div", { class: "spread" }, h("h1", {}, "Providers & keys"), add),
      empty("No providers yet",
        "Add a provider with its API key (or a base URL for a local, OpenAI-compatible server). Providers also come from config.json and from environment variables such as OPENAI_API_KEY.",
        h("button", { type: "button", onclick: () => add.click() }, "Add your first provider")));
    return;
  }
  all.sort((a, b) => a.name.localeCompare(b.name));
  clear(main, h("div", { class: "spread" }, h("h1", {}, "Providers & keys"), add),
    h("div", { class: "stack" }, all.map((p) => card(p, rerender))));
}

function card(p, reload) {
  const c = p.config || {};
  const base = c.network_config?.base_url;
  const custom = c.custom_provider_config?.base_provider_type;
  return h("section", { class: "card", "aria-label": `Provider ${p.name}`, "data-provider": p.name },
    h("div", { class: "spread" },
      h("div", {}, h("h2", { style: { display: "inline", marginRight: "8px" } }, p.name),
        badge({ file: "config.json", api: "API", builtin: "built-in" }[p.source] || p.source), " ",
        custom ? badge(`custom · ${custom}`) : "",
        h("div", { class: "muted", style: { marginTop: "4px" } }, base ? `Base URL ${base}` : "Default base URL")),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary small", onclick: () => testRequest(p) }, "Send a test request"),
        h("button", { type: "button", class: "secondary small", onclick: () => editProvider(p).then((ok) => ok && reload()) }, "Edit"),
        h("button", {
          type: "button", class: "secondary small", onclick: async () => {
            if (!(await confirmAction(`Delete provider ${p.name} and its keys? Requests to it fail from now on.`))) return;
            try {
              await api("DELETE", `/api/providers/${encodeURIComponent(p.name)}`);
              toast(`Deleted ${p.name}`);
              reload();
            } catch (e) {
              toast(e.message, "error");
            }
          },
        }, "Delete"))),
    h("div", { class: "table-wrap", style: { marginTop: "10px" } }, h("table", { "aria-label": `Keys of ${p.name}` },
      h("thead", {}, h("tr", {}, ["Key", "Value", "Weight", "Models", "Enabled", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, p.keys.length ? p.keys.map((k) => keyRow(p, k, reload))
        : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No keys: add one, unless the provider needs none."))))),
    h("div", { style: { marginTop: "8px" } },
      h("button", { type: "button", class: "link", onclick: () => editKey(p, null).then((ok) => ok && reload()) }, "+ Add key")));
}

function keyRow(p, k, reload) {
  const cfg = k.config || {};
  const enabled = cfg.enabled !== false;
  const toggle = h("input", {
    type: "checkbox", checked: enabled, "aria-label": `Enable key ${k.name}`,
    onchange: async (e) => {
      try {
        await api("PUT", keyPath(p, k), { ...cfg, name: k.name, value: k.value, enabled: e.target.checked });
        toast(`${k.name} ${e.target.checked ? "enabled" : "disabled"}`);
      } catch (err) {
        e.target.checked = !e.target.checked;
        toast(err.message, "error");
      }
    },
  });
  return h("tr", {},
    h("td", {}, k.name),
    h("td", { class: "mono" }, k.value || "(none)"),
    h("td", {}, cfg.weight ?? 1),
    h("td", { class: "wrap" }, (cfg.models || []).join(", ") || h("span", { class: "muted" }, "all")),
    h("td", {}, toggle),
    h("td", {}, h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary small", onclick: () => editKey(p, k).then((ok) => ok && reload()) }, "Edit"),
      h("button", {
        type: "button", class: "secondary small", "aria-label": `Delete key ${k.name}`, onclick: async () => {
          if (!(await confirmAction(`Delete key ${k.name} of ${p.name}?`))) return;
          try {
            await api("DELETE", keyPath(p, k));
            reload();
          } catch (e) {
            toast(e.message, "error");
          }
        },
      }, "Delete"))));
}

const keyPath = (p, k) => `/api/providers/${encodeURIComponent(p.name)}/keys/${encodeURIComponent(k.id)}`;

/** The add/edit provider form. Resolves true when saved. */
function editProvider(p) {
  const c = (p && p.config) || {};
  const net = c.network_config || {};
  return dialog(p ? `Edit ${p.name}` : "Add provider", (close) => {
    const form = h("form", { class: "stack", novalidate: true },
      p ? null : h("div", {},
        field("Provider", "name", { required: true, placeholder: "openai, anthropic, or a custom name", attrs: { list: "known-providers", autocomplete: "new-password" } }),
        h("datalist", { id: "known-providers" }, KNOWN.map((n) => h("option", { value: n })))),
      field("Base URL", "base_url", { value: net.base_url, placeholder: "leave empty for the provider's default", hint: "For a local or self-hosted server, or a proxy." }),
      field("Custom provider: wire format", "base_provider_type", {
        type: "select", value: c.custom_provider_config?.base_provider_type || "",
        options: [["", "(a built-in provider)"], ...BASE_TYPES.map((t) => [t, `${t}-compatible`])],
        hint: "Only for a name that is not a built-in provider.",
      }),
      h("div", { class: "row" },
        field("Max retries", "max_retries", { type: "number", value: net.max_retries, attrs: { min: 0 } }),
        field("Timeout (s)", "default_request_timeout_in_seconds", { type: "number", value: net.default_request_timeout_in_seconds, attrs: { min: 1 } })),
      p ? null : field("API key", "value", { type: "password", placeholder: "sk-… or env.OPENAI_API_KEY", attrs: { autocomplete: "new-password" } }),
      p ? null : field("Models this key serves", "models", { placeholder: "empty = all; comma-separated" }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, p ? "Save" : "Add provider"),
        h("button", { type: "button", class: "secondary", onclick: () => close(false) }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      const body = { ...c };
      const network = { ...net };
      const setNum = (obj, k) => {
        const v = fd.get(k);
        if (v === "" || v === null) delete obj[k];
        else obj[k] = Number(v);
      };
      if (fd.get("base_url")) network.base_url = fd.get("base_url").trim();
      else delete network.base_url;
      setNum(network, "max_retries");
      setNum(network, "default_request_timeout_in_seconds");
      if (Object.keys(network).length) body.network_config = network;
      else delete body.network_config;
      const bt = fd.get("base_provider_type");
      if (bt) body.custom_provider_config = { ...(c.custom_provider_config || {}), base_provider_type: bt };
      else delete body.custom_provider_config;
      try {
        if (p) {
          await api("PUT", `/api/providers/${encodeURIComponent(p.name)}`, body);
        } else {
          body.name = String(fd.get("name") || "").trim();
          const value = fd.get("value");
          const models = list(fd.get("models"));
          body.keys = value || models.length ? [{ name: `${body.name}-key-1`, value: value || "", models, weight: 1 }] : [];
          await api("POST", "/api/providers", body);
        }
        toast(p ? `Saved ${p.name}` : `Added ${body.name}`);
        close(true);
      } catch (err) {
        showError(form, fixParam(err));
      }
    });
    return form;
  });
}

/** The API names nested paths (`network_config.base_url`); the form's fields are flat. */
function fixParam(err) {
  if (err.param) err.param = err.param.replace(/^keys\[\d+\]\./, "");
  return err;
}

function editKey(p, k) {
  const cfg = (k && k.config) || {};
  return dialog(k ? `Edit key ${k.name}` : `Add a key to ${p.name}`, (close) => {
    const form = h("form", { class: "stack", novalidate: true },
      field("Name", "name", { value: k ? k.name : "", required: true }),
      field("Value", "value", {
        type: "password", value: k ? k.value : "", attrs: { autocomplete: "new-password" },
        hint: k ? "Shown masked; leave as is to keep the stored secret." : "The secret, or env.VARIABLE to read it from the environment.",
      }),
      field("Weight", "weight", { type: "number", value: cfg.weight ?? 1, attrs: { min: 0, step: "any" } }),
      field("Models", "models", { value: (cfg.models || []).join(", "), placeholder: "empty = all models" }),
      field("Enabled", "enabled", { type: "checkbox", value: cfg.enabled !== false }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", class: "secondary", onclick: () => close(false) }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      const body = {
        ...cfg, name: String(fd.get("name")).trim(), value: fd.get("value"),
        weight: fd.get("weight") === "" ? 1 : Number(fd.get("weight")), models: list(fd.get("models")), enabled: fd.get("enabled") === "on",
      };
      try {
        if (k) await api("PUT", keyPath(p, k), body);
        else await api("POST", `/api/providers/${encodeURIComponent(p.name)}/keys`, body);
        close(true);
      } catch (err) {
        showError(form, err);
      }
    });
    return form;
  });
}

/** One chat request through the gateway to this provider. */
function testRequest(p) {
  const models = [...new Set(p.keys.flatMap((k) => k.config?.models || []))];
  return dialog(`Test ${p.name}`, () => {
    const out = h("div", { class: "stack", "aria-live": "polite" });
    const form = h("form", { class: "stack" },
      field("Model", "model", { value: models[0] || "", required: true, placeholder: "e.g. gpt-4o-mini" }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Send")), out);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const model = `${p.name}/${new FormData(form).get("model")}`;
      clear(out, h("span", { class: "muted" }, "Sending…"));
      const t0 = performance.now();
      try {
        const r = await api("POST", "/v1/chat/completions", {
          model, messages: [{ role: "user", content: "Reply with one short sentence." }], max_tokens: 32,
        });
        clear(out, h("div", {}, badge("ok", "ok"), ` ${ms(performance.now() - t0)} · ${r.model || model}`),
          h("div", { class: "chat-msg" }, h("b", {}, "assistant"), r.choices?.[0]?.message?.content ?? ""));
      } catch (err) {
        clear(out, h("div", { class: "error-box", role: "alert" }, `${err.status || ""} ${err.message}`));
      }
    });
    return form;
  });
}
