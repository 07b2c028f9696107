// Face-click results (/faces/<id>): the pictures of the clicked face's person, best first.

import { api, media, session } from "./api.js";
import { alsoIn, fill, h, main, onKeys, pct, stage, toast } from "./dom.js";
import { current, navigate, route } from "./nav.js";

export async function facePage(seq, faceId, params) {
  onKeys(null);
  const raw = params.get("threshold");
  const url = (t, offset) => `/api/faces/${faceId}/matches?limit=60&offset=${offset}${t === null ? "" : `&threshold=${t}`}`;
  const first = await api("GET", url(raw, 0));
  if (!current(seq)) return;
  const threshold = first.threshold;
  const query = first.matches[0];
  const named = first.query.person && first.query.person.name; // the clicked face's person
  const heading = named ? `Pictures of ${named}` : "Pictures of this person";
  document.title = `${heading} · facealbum`;
  const value = h("output", { id: "threshold-value" }, `${threshold}%`);
  const slider = h("input", { type: "range", id: "threshold", min: 0, max: 100, step: 1, value: threshold,
    "aria-label": "Minimum similarity",
    oninput: () => { value.textContent = `${slider.value}%`; },
    onchange: () => navigate(`/faces/${faceId}?threshold=${slider.value}`, true) });
  const results = h("div", { class: "results", id: "results" });
  let offset = 0;
  const add = (matches) => {
    for (const m of matches) results.append(result(m));
    offset += matches.length;
  };
  add(first.matches);
  const more = h("button", { class: "more", id: "more", hidden: offset >= first.total, onclick: async () => {
    const next = await api("GET", url(threshold, offset));
    add(next.matches);
    more.hidden = offset >= next.total || !next.matches.length;
  } }, "Show more");
  // the owner corrects the clicked face on the spot ("Pictures of Ana": "not Ana?"): it
  // leaves the person and is placed again elsewhere, and this page shows where it went
  const person = first.query.person;
  const notThem = session.owner && person ? h("button", { id: "not-person", onclick: async () => {
    await api("POST", `/api/faces/${faceId}/not-person`, { person_id: person.person_id });
    toast(named ? `Noted: not ${named}` : "Noted: not this person");
    route();
  } }, named ? `not ${named}?` : "Not this person?") : null;
  fill(main,
    h("div", { class: "toolbar" },
      h("h1", { class: "grow", id: "face-heading" }, heading), notThem,
      h("label", { class: "threshold" }, "Similarity at least", slider, value)),
    h("p", { class: "muted", id: "summary" },
      `${first.more ? "At least " : ""}${first.total} ${first.total === 1 ? "picture" : "pictures"}, best match first. `,
      query ? h("a", { href: `/pictures/${query.picture.image_id}` }, `Searched from ${query.picture.name}`) : null),
    results, more);
}

export function result(m) {
  const p = m.picture;
  const b = m.face.box;
  const box = h("span", { class: "face matched", dataset: { faceId: m.face.face_id }, "aria-hidden": "true",
    style: { left: pct(b.left), top: pct(b.top), width: pct(b.width), height: pct(b.height) } });
  return h("a", { class: "result", href: `/pictures/${p.image_id}`, title: p.name, dataset: { imageId: p.image_id } },
    stage(p, media(p.thumb_url), [box]),
    h("div", { class: "caption" }, h("span", {}, p.name), h("span", { class: "sim", title: "Similarity" }, `${m.similarity.toFixed(1)}%`)),
    alsoIn(p, false));
}
