// Playground: one chat request through the gateway (any configured provider), streamed as it
// arrives, optionally under a virtual key.
import { api, h, clear, field, badge, ms, num } from "./core.js";

export async function playground(main) {
  let models = [];
  try {
    models = (await api("GET", "/api/models")).models.map((m) => m.id || m).filter(Boolean);
  } catch {
    /* the model field stays free text */
  }
  const out = h("div", { class: "chat-msg stream-out", "aria-live": "polite", "data-testid": "playground-output" },
    h("span", { class: "muted" }, "The answer appears here as it streams."));
  const meta = h("div", { class: "muted", "data-testid": "playground-meta" });
  const form = h("form", { class: "card stack", "aria-label": "Chat request" },
    h("div", { class: "row" },
      h("div", { style: { flex: 2, minWidth: "220px" } },
        field("Model", "model", { value: models[0] || "", required: true, placeholder: "provider/model", attrs: { list: "pg-models", autocomplete: "off" } }),
        h("datalist", { id: "pg-models" }, models.map((m) => h("option", { value: m })))),
      field("Virtual key", "vk", { type: "password", placeholder: "sk-bf-… (optional)", attrs: { autocomplete: "new-password" } }),
      field("Max tokens", "max_tokens", { type: "number", value: 256, attrs: { min: 1 } })),
    field("System", "system", { type: "textarea", placeholder: "You are a helpful assistant." }),
    field("Message", "message", { type: "textarea", value: "Hello! What can you do?", required: true }),
    h("div", { class: "row" }, field("Stream the answer", "stream", { type: "checkbox", value: true }),
      h("button", { type: "submit" }, "Send")));
  let controller = null;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (controller) controller.abort();
    controller = new AbortController();
    const fd = new FormData(form);
    const stream = fd.get("stream") === "on";
    const messages = [];
    if (fd.get("system")) messages.push({ role: "system", content: fd.get("system") });
    messages.push({ role: "user", content: fd.get("message") });
    const body = { model: String(fd.get("model")).trim(), messages, max_tokens: Number(fd.get("max_tokens")) || undefined, stream };
    if (stream) body.stream_options = { include_usage: true };
    const headers = { "content-type": "application/json" };
    if (fd.get("vk")) headers["x-bf-vk"] = fd.get("vk");
    clear(out, h("b", {}, "assistant"));
    clear(meta, "Sending…");
    const t0 = performance.now();
    let first = null;
    let usage = null;
    try {
      const resp = await fetch("/v1/chat/completions", {
        method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin", signal: controller.signal,
      });
      if (!resp.ok || !stream || !resp.body) {
        const data = await resp.json().catch(() => ({}));
        if (!resp.ok) throw Object.assign(new Error(data.error?.message || `HTTP ${resp.status}`), { status: resp.status });
        out.append(data.choices?.[0]?.message?.content ?? "");
        usage = data.usage;
      } else {
        // Server-sent events: append each delta as it arrives.
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const event = buf.slice(0, i);
            buf = buf.slice(i + 2);
            for (const line of event.split("\n")) {
              if (!line.startsWith("data:")) continue;
              const data = line.slice(5).trim();
              if (data === "[DONE]") continue;
              const chunk = JSON.parse(data);
              if (chunk.error) throw Object.assign(new Error(chunk.error.message), { status: "" });
              const piece = chunk.choices?.[0]?.delta?.content;
              if (piece) {
                if (first === null) first = performance.now() - t0;
                out.append(piece);
              }
              if (chunk.usage) usage = chunk.usage;
            }
          }
        }
      }
      const total = performance.now() - t0;
      clear(meta, badge("ok", "ok"), ` ${ms(total)}`, first !== null ? ` · first token ${ms(first)}` : "",
        usage ? ` · ${num(usage.prompt_tokens)} in / ${num(usage.completion_tokens)} out tokens` : "");
    } catch (err) {
      if (err.name === "AbortError") return;
      clear(meta, h("div", { class: "error-box", role: "alert" }, `${err.status || ""} ${err.message}`.trim()));
    }
  });
  clear(main, h("h1", {}, "Playground"),
    models.length ? null : h("p", { class: "muted" }, "No models listed yet: add a provider, or type provider/model."),
    h("div", { class: "stack" }, form, h("section", { class: "card", "aria-label": "Answer" }, out, meta)));
  return () => controller && controller.abort();
}
