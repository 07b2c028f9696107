// The people page (/people): everyone with a face, most pictured first.

import { api, moreButton, session } from "./api.js";
import { enc, faceCrop, fill, h, main, onKeys, personName } from "./dom.js";
import { current, route } from "./nav.js";

export async function peoplePage(seq) {
  onKeys(null);
  const first = await api("GET", "/api/people"); // {people, next}
  if (!current(seq)) return;
  document.title = "People · facealbum";
  const tile = (p) => h("a", { class: `person${p.hidden ? " hidden-person" : ""}`, href: `/people/${p.person_id}`, dataset: { personId: p.person_id } },
    p.cover ? faceCrop(p.cover.thumb_url, p.cover.box) : h("span", { class: "crop" }),
    h("b", {}, personName(p)),
    h("span", { class: "muted" }, `${p.picture_count} ${p.picture_count === 1 ? "picture" : "pictures"}${p.hidden ? " · hidden" : ""}`));
  const grid = h("div", { class: "people", id: "people" }, first.people.map(tile));
  // a page at a time, most pictured first: the next as the end comes near
  let next = first.next;
  const more = moreButton(async () => {
    const page = await api("GET", `/api/people?after=${enc(next)}`);
    if (!current(seq)) return false;
    grid.append(...page.people.map(tile));
    next = page.next;
    return Boolean(next);
  }, Boolean(next));
  fill(main,
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "People"),
      h("a", { class: "button", href: "/search", id: "search-people" }, "Pictures with…"),
      h("a", { class: "button", href: "/search/photo", id: "search-photo" }, "Search by photo")),
    first.people.length ? [grid, more]
      : h("p", { class: "muted" }, "No people yet: they appear as pictures with faces are added."));
  if (session.owner) regroupLine(seq);
}

/** For the owner: whether people are being regrouped (after a batch of photos), with
 * its progress, polled while it is scheduled or running; the page reloads after. */
async function regroupLine(seq) {
  const line = h("p", { class: "muted", id: "regroup-status", role: "status" });
  main.querySelector(".toolbar")?.after(line);
  let was = null;
  while (current(seq)) {
    const s = await api("GET", "/api/people/status");
    if (!current(seq)) return;
    line.textContent = s.state === "running" ? `Grouping people… ${s.done} of ${s.total} faces compared`
      : s.state === "scheduled" ? "People will be regrouped shortly (new photos came in)." : "";
    if (s.state === "idle") {
      if (was) route();  // regrouped while this page was open: show the new people
      return;
    }
    was = s.state;
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

/** A dialog that picks a person by face: each a button with their cover crop, name and
 * count (a list of "Unnamed" rows tells nothing). ``extra``: choices before them, as
 * { value, label }. Resolves the chosen person_id (or extra value), null on cancel. */
export function choosePerson({ title, people, extra = [] }) {
  return new Promise((resolve) => {
    const choose = (value) => { dialog.returnValue = "ok"; dialog.close(); resolve(value); };
    const option = (value, crop, name, count) => h("li", {},
      h("button", { type: "button", class: "pick-person", dataset: { personId: value }, onclick: () => choose(value) },
        crop, h("b", {}, name), count ? h("span", { class: "muted" }, count) : null));
    const dialog = h("dialog", { "aria-label": title, class: "wide", id: "person-picker" },
      h("strong", {}, title),
      h("ul", { class: "picker" },
        extra.map((x) => option(x.value, h("span", { class: "crop", style: { width: "48px", height: "48px" } }), x.label)),
        people.map((o) => option(o.person_id, o.cover ? faceCrop(o.cover.thumb_url, o.cover.box, 48) : h("span", { class: "crop" }),
          personName(o), `${o.picture_count} ${o.picture_count === 1 ? "picture" : "pictures"}`))),
      h("div", { class: "row" }, h("button", { type: "button", onclick: () => dialog.close() }, "Cancel")));
    dialog.addEventListener("close", () => { dialog.remove(); if (dialog.returnValue !== "ok") resolve(null); });
    document.body.append(dialog);
    dialog.showModal();
  });
}
