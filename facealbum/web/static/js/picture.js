// A picture's page (/pictures/<id>) and the lightbox: the photo, its face boxes and names, ← / →.

import { api, media, session } from "./api.js";
import { arrows, ask, enc, faceCrop, fill, h, main, onKeys, pct, stage, toast } from "./dom.js";
import { current, navigate, route } from "./nav.js";

export function faceButton(f, i, n) {
  const b = f.box;
  const name = f.person && f.person.name; // user text: a text node, never markup
  return h("button", { class: "face", type: "button", dataset: { faceId: f.face_id },
    "aria-label": name ? `${name} (face ${i + 1} of ${n}): show pictures of ${name}` : `Face ${i + 1} of ${n}: show pictures of this person`,
    title: name ? `Find ${name}` : "Find this person",
    style: { left: pct(b.left), top: pct(b.top), width: pct(b.width), height: pct(b.height) },
    onclick: () => navigate(`/faces/${f.face_id}`) },
    // a name under a face in the right half grows leftwards: it never leaves the picture
    name ? h("span", { class: b.left + b.width / 2 > 0.5 ? "face-name end" : "face-name" }, name) : null);
}

/** The named people of a picture, once each, as links to their pages. */
export function peopleOf(p) {
  const seen = new Map();
  for (const f of p.faces) if (f.person && f.person.name && !seen.has(f.person.person_id)) seen.set(f.person.person_id, f.person.name);
  if (!seen.size) return null;
  const links = [...seen].map(([id, name]) => h("li", {}, h("a", { href: `/people/${id}` }, name)));
  return h("div", { class: "picture-people", id: "picture-people" }, h("span", { class: "muted" }, "In this picture: "), h("ul", {}, links));
}

// taken_at as the API gives it (ISO 8601: a date alone, or a date and time with or
// without its offset): the date and time as the camera's clock read them, not moved into
// the viewer's time zone (a photo of a sunset in Rome stays at 20:40)
const TAKEN = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?/;

export function takenText(takenAt) {
  const m = TAKEN.exec(takenAt || "");
  if (!m) return null;
  const [y, mo, d, hh, mm] = m.slice(1, 6).map((v) => (v === undefined ? undefined : Number(v)));
  const at = new Date(Date.UTC(y, mo - 1, d, hh || 0, mm || 0));
  const opts = { timeZone: "UTC", dateStyle: "long", ...(hh === undefined ? {} : { timeStyle: "short" }) };
  return new Intl.DateTimeFormat(undefined, opts).format(at);
}

/** When (and, where the API gives it: the owner's, or a set sharing locations, where) it was taken. */
export function takenOf(p) {
  const when = takenText(p.taken_at);
  const where = p.place || null;
  if (!when && !where) return null;
  return h("p", { class: "picture-taken", id: "picture-taken" },
    when ? h("time", { datetime: p.taken_at, title: `${p.taken_at} (from ${p.taken_at_source})` }, `Taken ${when}`) : null,
    when && where ? " · " : null,
    where ? h("span", { class: "picture-place", title: p.latitude == null ? null : `${p.latitude.toFixed(5)}, ${p.longitude.toFixed(5)}` }, where) : null);
}

/**
 * "Who is this?": the owner names each unnamed face of the picture, the album's names
 * offered as they type (a datalist). As in Google Photos or Immich, a name is a person:
 * the server resolves it when it is saved (POST /api/faces/<id>/name), not this page
 * from what it loaded (another tab may have named or moved the face since):
 * - the name of an existing person: this face joins that person (the face alone moves,
 *   as "Move selected to…" would; its old group keeps its other faces);
 * - a new name: the face's person, unnamed until now, takes it, with every face the
 *   album grouped with it (a face of no one, or of a person named meanwhile, becomes a
 *   person of its own).
 */
function whoIsThis(p) {
  const faces = p.faces.filter((f) => !(f.person && f.person.name));
  if (!faces.length) return null;
  const names = h("datalist", { id: "people-names" });
  api("GET", "/api/people/names") // names only: no person's faces are read for them
    .then(({ names: all }) => fill(names, all.map((n) => h("option", { value: n }))))
    .catch(() => {});
  const save = async (f, name) => (await api("POST", `/api/faces/${enc(f.face_id)}/name`, { name })).name;
  return h("section", { class: "who-is-this", id: "who-is-this", "aria-label": "Who is this?" }, names,
    faces.map((f, i) => {
      const input = h("input", { type: "text", class: "who-name", list: "people-names", autocomplete: "off",
        required: true, maxlength: 200, placeholder: "Name", "aria-label": `Who is face ${p.faces.indexOf(f) + 1}?` });
      const error = h("span", { class: "error", role: "alert" });
      return h("form", { class: "who", dataset: { faceId: f.face_id }, onsubmit: async (e) => {
        e.preventDefault();
        const name = input.value.trim();
        if (!name) return;
        try { toast(`Named ${await save(f, name)}`); route(); } catch (err) { error.textContent = err.message; }
      } },
      faceCrop(p.thumb_url, f.box, 48), h("label", {}, `Who is this${faces.length > 1 ? ` (${i + 1})` : ""}? `, input),
      h("button", { type: "submit" }, "Save"), error);
    }));
}

export function viewer(p, { prev, next, close, inLightbox }) {
  const nav = h("div", { class: "viewer-nav" },
    h("button", { id: "prev", onclick: prev, disabled: !prev, "aria-label": "Previous picture" }, "← Previous"),
    h("span", { class: "hint" }, p.faces.length ? `${p.faces.length} ${p.faces.length === 1 ? "face" : "faces"}: select one to find that person` : "No faces found"),
    h("button", { id: "next", onclick: next, disabled: !next, "aria-label": "Next picture" }, "Next →"));
  const owner = session.owner ? [
    h("button", { id: "make-featured", onclick: async () => {
      await api("PATCH", `/api/sets/${enc(p.set)}`, { featured_image_id: p.image_id });
      toast("Featured picture changed");
    } }, "Make featured"),
    h("button", { id: "rename-picture", onclick: async () => {
      const name = await ask({ title: "Rename picture", label: "New name", value: p.name, confirmText: "Rename",
        submit: (n) => api("PATCH", `/api/pictures/${p.image_id}`, { name: n }) });
      if (name) route();
    } }, "Rename"),
    h("button", { id: "delete-picture", class: "danger", onclick: async () => {
      const ok = await ask({ title: `Delete “${p.name}”?`, confirmText: "Delete", danger: true,
        submit: () => api("DELETE", `/api/pictures/${p.image_id}`) });
      if (ok) { toast("Picture deleted"); navigate(`/sets/${enc(p.set)}`); }
    } }, "Delete"),
  ] : [];
  return h("div", { class: "viewer", dataset: { imageId: p.image_id } },
    h("div", { class: "viewer-head" },
      h("h1", {}, p.name),
      h("a", { href: `/sets/${enc(p.set)}`, class: "button" }, `Set: ${p.set}`),
      h("a", { href: media(p.original_url), class: "button", id: "original", target: "_blank", rel: "noopener" }, "Original"),
      inLightbox ? h("a", { href: `/pictures/${p.image_id}`, class: "button" }, "Page") : null,
      owner,
      close ? h("button", { id: "close", onclick: close, "aria-label": "Close" }, "✕") : null),
    stage(p, media(p.preview_url), p.faces.map((f, i) => faceButton(f, i, p.faces.length)), inLightbox ? "100vh - 9rem" : "100vh - 12rem"),
    nav, takenOf(p), peopleOf(p), session.owner && !inLightbox ? whoIsThis(p) : null);
}

let pending = 0; // ← / → pressed while the picture stepped to was still loading

export async function picturePage(seq, imageId) {
  // the picture names its neighbours in its set (previous / next by name): no id list
  const p = await api("GET", `/api/pictures/${imageId}`);
  if (!current(seq)) return;
  if (pending) { // fast key presses keep moving: step on before drawing this one
    const d = Math.sign(pending);
    pending -= d;
    const id = d < 0 ? p.previous : p.next;
    if (id) { navigate(`/pictures/${id}`, true); return; }
    pending = 0;
  }
  document.title = `${p.name} · facealbum`;
  const to = (id, d) => (id ? () => {
    // a step already left this picture: count this one for the page being loaded
    if (!location.pathname.endsWith(`/${p.image_id}`)) { pending += d; return; }
    navigate(`/pictures/${id}`, true);
  } : null);
  const close = () => { pending = 0; navigate(`/sets/${enc(p.set)}`); };
  fill(main, viewer(p, { prev: to(p.previous, -1), next: to(p.next, 1), close }));
  onKeys(arrows(to(p.previous, -1), to(p.next, 1), close));
}

let lightbox = null;
export function openLightbox(state, index) {
  const p = state.pictures[index];
  if (!p) return;
  const returnFocus = document.activeElement;
  closeLightbox(false);
  // past the last thumbnail loaded: the set page loads its next page first
  const more = index === state.pictures.length - 1 && state.hasMore && state.hasMore()
    ? async () => { await state.more(); openLightbox(state, index + 1); } : null;
  const go = (j) => (j >= 0 && j < state.pictures.length ? () => openLightbox(state, j) : j > index ? more : null);
  const close = () => closeLightbox(true, returnFocus);
  lightbox = h("div", { class: "lightbox", role: "dialog", "aria-modal": "true", "aria-label": p.name, id: "lightbox" },
    viewer(p, { prev: go(index - 1), next: go(index + 1), close, inLightbox: true }));
  lightbox.returnFocus = returnFocus;
  lightbox.addEventListener("keydown", (e) => { // wrap Tab around, as a modal should
    if (e.key !== "Tab") return;
    const items = [...lightbox.querySelectorAll("a[href], button:not([disabled])")];
    const [first, last] = [items[0], items[items.length - 1]];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  });
  document.body.append(lightbox);
  document.body.style.overflow = "hidden";
  for (const el of document.querySelectorAll("header.top, main")) el.inert = true; // keep Tab inside
  lightbox.querySelector("#close").focus();
  onKeys(arrows(go(index - 1), go(index + 1), close));
}

export function closeLightbox(restore, focusTo) {
  if (!lightbox) return;
  const target = focusTo || lightbox.returnFocus;
  lightbox.remove();
  lightbox = null;
  document.body.style.overflow = "";
  for (const el of document.querySelectorAll("header.top, main")) el.inert = false;
  onKeys(null);
  if (restore && target) target.focus();
}
