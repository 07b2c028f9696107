// The owner's session: sign in and out, the owner's navigation, every signed-in browser.

import { API, api, session } from "./api.js";
import { ask, enc, fill, h, toast } from "./dom.js";
import { route } from "./nav.js";

export async function loadSession() {
  Object.assign(session, await api("GET", "/api/session"));
  drawOwnerNav();
}

export function drawOwnerNav() {
  const nav = document.getElementById("owner-nav");
  fill(nav, session.owner
    ? h("span", { class: "muted" }, "Owner")
    : null,
    session.owner ? h("button", { id: "sessions", onclick: showSessions }, "Sessions") : null,
    session.owner
      ? h("button", { id: "sign-out", onclick: signOut }, "Sign out")
      : API
        ? h("a", { id: "sign-in", class: "button", href: API + location.pathname }, "Sign in")
        : h("button", { id: "sign-in", onclick: signIn }, "Sign in"));
}

export async function signIn() {
  const ok = await ask({
    title: "Sign in as the owner", label: "Secret", type: "password", confirmText: "Sign in",
    submit: async (secret) => Object.assign(session, await api("POST", "/api/session", { secret })),
  });
  if (ok) { drawOwnerNav(); toast("Signed in"); route(); }
}

/** Every signed-in browser of the owner: when, from where; end one or all of them. */
export async function showSessions() {
  const body = h("tbody");
  const when = (t) => new Date(t * 1000).toLocaleString();
  const draw = async () => {
    const { sessions } = await api("GET", "/api/sessions");
    fill(body, sessions.map((s) => h("tr", { dataset: { session: s.id } },
      h("td", {}, when(s.created_at)), h("td", {}, when(s.last_seen)), h("td", {}, s.client),
      h("td", { class: "agent", title: s.user_agent }, s.user_agent),
      h("td", {}, s.current ? h("b", {}, "this browser")
        : h("button", { onclick: async () => { await api("DELETE", `/api/sessions/${enc(s.id)}`); draw(); } }, "End")))));
  };
  await draw();
  const dialog = h("dialog", { "aria-label": "Sessions", class: "wide", id: "sessions-dialog" },
    h("strong", {}, "Signed-in sessions"),
    h("table", { class: "sessions" },
      h("thead", {}, h("tr", {}, ["Signed in", "Last seen", "From", "Browser", ""].map((t) => h("th", {}, t)))), body),
    h("div", { class: "row" },
      h("button", { class: "danger", id: "end-all", onclick: async () => {
        await api("DELETE", "/api/sessions");
        dialog.close();
        Object.assign(session, { owner: false, csrf: null });
        drawOwnerNav(); toast("Every session ended"); route();
      } }, "Sign out everywhere"),
      h("button", { onclick: () => dialog.close() }, "Close")));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

export async function signOut() {
  Object.assign(session, await api("DELETE", "/api/session"));
  drawOwnerNav();
  route();
}
