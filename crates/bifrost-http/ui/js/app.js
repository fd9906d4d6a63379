// The app shell: hash routing, the login page and the navigation.
import { api, h, clear, field, showError, setUnauthorizedHandler, setRerender, spinner } from "./core.js";
import { dashboard } from "./dashboard.js";
import { logs } from "./logs.js";
import { providers } from "./providers.js";
import { virtualKeys, teams, limits } from "./governance.js";
import { settings } from "./settings.js";
import { playground } from "./playground.js";

const PAGES = {
  "": ["Dashboard", dashboard],
  logs: ["Logs", logs],
  playground: ["Playground", playground],
  providers: ["Providers & keys", providers],
  "virtual-keys": ["Virtual keys", virtualKeys],
  teams: ["Teams & customers", teams],
  limits: ["Budgets & rate limits", limits],
  config: ["Config", settings],
};

const main = document.getElementById("main");
const shell = document.getElementById("shell");
const loginBox = document.getElementById("login");
let authEnabled = false;
// Each page may return a cleanup (timers, live streams) run when the route changes.
let cleanup = null;
// Bumped by each navigation: a page that finishes loading after the user moved on is dropped.
let navSeq = 0;

function routeName() {
  return (location.hash.replace(/^#\/?/, "").split("?")[0] || "").split("/")[0];
}

function leavePage() {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a page's cleanup must not stop navigation */
    }
    cleanup = null;
  }
  // Dialogs belong to the page they were opened on (the back button closes them too).
  for (const d of document.querySelectorAll("dialog.modal")) d.dispatchEvent(new Event("cancel"));
}

async function render() {
  leavePage();
  const seq = ++navSeq;
  const name = routeName();
  const [title, page] = PAGES[name] || [null, null];
  for (const a of document.querySelectorAll("#nav a")) {
    const current = a.getAttribute("href") === `#/${name}`;
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  closeMenu();
  if (!page) {
    clear(main, h("h1", {}, "Not found"), h("p", {}, "No such page. ", h("a", { href: "#/" }, "Go to the dashboard.")));
    return;
  }
  document.title = `${title} · Bifrost`;
  clear(main, spinner());
  try {
    const r = await page(main);
    if (seq !== navSeq) {
      if (typeof r === "function") r();
      return;
    }
    if (typeof r === "function") cleanup = r;
  } catch (e) {
    if (seq !== navSeq || e.status === 401) return; // moved on, or the login page is showing
    clear(main, h("h1", {}, title), h("div", { class: "error-box", role: "alert" }, e.message));
  }
}

function closeMenu() {
  document.getElementById("nav").classList.remove("open");
  document.getElementById("menu").setAttribute("aria-expanded", "false");
}

function showLogin(message) {
  // Once: later 401s (requests still in flight) must not wipe what is being typed.
  if (!loginBox.hidden) return;
  navSeq++;
  leavePage();
  shell.hidden = true;
  loginBox.hidden = false;
  const form = h("form", { class: "card login-card", "aria-label": "Log in" },
    h("h1", {}, h("img", { src: "/ui/favicon.svg", alt: "", width: 28, height: 28 }), " Bifrost"),
    h("p", { class: "muted" }, message || "Log in with the admin credentials of auth_config."),
    field("Username", "username", { required: true, attrs: { autocomplete: "username" } }),
    field("Password", "password", { type: "password", required: true, attrs: { autocomplete: "current-password" } }),
    h("button", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    try {
      await api("POST", "/api/session/login", { username: fd.get("username"), password: fd.get("password") });
      loginBox.hidden = true;
      clear(loginBox);
      start();
    } catch (err) {
      showError(form, err);
    }
  });
  clear(loginBox, form);
  form.querySelector("input").focus();
}

async function start() {
  shell.hidden = false;
  document.getElementById("logout").hidden = !authEnabled;
  try {
    const v = await api("GET", "/api/version");
    document.getElementById("version").textContent = `v${v.version}`;
  } catch (e) {
    if (e.status === 401) return; // the handler shows the login page
  }
  render();
}

async function boot() {
  setUnauthorizedHandler(() => showLogin(authEnabled ? "Your session has ended; log in again." : undefined));
  document.getElementById("menu").addEventListener("click", () => {
    const nav = document.getElementById("nav");
    const open = nav.classList.toggle("open");
    document.getElementById("menu").setAttribute("aria-expanded", String(open));
  });
  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await api("POST", "/api/session/logout");
    } catch {
      /* the session is over either way */
    }
    showLogin("Logged out.");
  });
  window.addEventListener("hashchange", render);
  setRerender(render);
  // The skip link moves focus; as a plain `#main` link it would be taken for a route.
  document.querySelector(".skip").addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
  try {
    const s = await api("GET", "/api/session/is-auth-enabled");
    authEnabled = s.is_auth_enabled;
    if (authEnabled && !s.has_valid_token) return showLogin();
  } catch {
    /* an older gateway without the endpoint: try the API directly */
  }
  start();
}

boot();
