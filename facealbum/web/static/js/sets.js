// The sets page (/) and a set's page (/sets/<name>): thumbnails in pages, the owner's set tools.

import { api, media, session } from "./api.js";
import { ask, enc, fill, focusPosition, h, main, onKeys, toast } from "./dom.js";
import { jobsLine } from "./jobs.js";
import { current, navigate } from "./nav.js";
import { openLightbox } from "./picture.js";
import { uploader } from "./upload.js";

const PAGE = 200; // thumbnails per request on a set page
const SETS_PAGE = 60; // sets per request on the sets page

/** Calls load(cursor) for the next page whenever `more` nears the view, until the last. */
function pager(more, load) {
  let loading = null; // the page on its way: a second call waits for it
  const step = () => {
    if (loading || more.hidden) return loading || Promise.resolve();
    loading = (async () => {
      try { more.hidden = !(await load()); } finally { loading = null; }
    })();
    return loading;
  };
  more.onclick = step;
  // load the next page a little before the end comes into view
  new IntersectionObserver((entries) => entries[0].isIntersecting && step(), { rootMargin: "600px" }).observe(more);
  return step;
}

export async function setsPage(seq, params) {
  const sort = params.get("sort") === "name" ? "name" : "newest";
  const first = await api("GET", `/api/sets?sort=${sort}&limit=${SETS_PAGE}`);
  if (!current(seq)) return;
  let after = first.next;
  document.title = "facealbum";
  const select = h("select", { id: "sort", "aria-label": "Sort sets",
    onchange: () => navigate(select.value === "name" ? "/?sort=name" : "/", true) },
  h("option", { value: "newest" }, "Newest first"), h("option", { value: "name" }, "By name"));
  select.value = sort;
  const newSet = session.owner ? h("button", { id: "new-set", class: "primary", onclick: async () => {
    const name = await ask({ title: "New picture set", label: "Name", confirmText: "Create",
      submit: (n) => api("POST", "/api/sets", { name: n }) });
    if (name) navigate(`/sets/${enc(name.trim())}`);
  } }, "New set") : null;
  const card = (s) => h("a", { class: "card", href: `/sets/${enc(s.name)}`, dataset: { set: s.name } },
    s.featured ? h("img", { src: media(s.featured.thumb_url), alt: `Featured picture of ${s.name}`, loading: "lazy", style: { objectPosition: focusPosition(s.featured, 4 / 3) } })
      : h("div", { class: "empty" }, "No pictures yet"),
    h("div", { class: "label" }, h("b", {}, s.name), h("span", { class: "muted" }, `${s.picture_count} ${s.picture_count === 1 ? "picture" : "pictures"}`)));
  const cards = h("div", { class: "cards", id: "sets" }, first.sets.map(card));
  const more = h("button", { class: "more", id: "more-sets", hidden: !after }, "Show more sets");
  fill(main,
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Picture sets"), select, newSet),
    first.sets.length ? cards
      : h("p", { class: "muted" }, session.owner ? "No sets yet: create one." : "No pictures yet."),
    more);
  // the next page starts after the last set shown (a cursor): sets created or deleted
  // meanwhile never show a set twice or skip one
  pager(more, async () => {
    const page = await api("GET", `/api/sets?sort=${sort}&limit=${SETS_PAGE}&after=${encodeURIComponent(after)}`);
    if (!current(seq)) return false;
    cards.append(...page.sets.map(card));
    after = page.next;
    return Boolean(after);
  });
  if (session.owner) jobsLine(seq);
}

export async function setPage(seq, name) {
  onKeys(null);
  const first = await api("GET", `/api/sets/${enc(name)}?limit=${PAGE}`);
  if (!current(seq)) return;
  document.title = `${first.name} · facealbum`;
  const grid = h("div", { class: "grid", id: "grid" });
  const count = h("span", { class: "muted", id: "count" }, `${first.picture_count} pictures`);
  const state = { set: first.name, pictures: [], total: first.picture_count, share: first.share_location };
  const shown = new Set();

  const addThumbs = (pictures) => {
    for (const p of pictures) {
      if (shown.has(p.image_id)) continue; // uploaded here, then listed by a later page
      shown.add(p.image_id);
      state.pictures.push(p);
      grid.append(thumb(p, state));
    }
  };
  addThumbs(first.pictures);
  let after = first.next; // the cursor after the last picture listed
  const more = h("button", { class: "more", id: "more", hidden: !after }, "Show more");
  // the lightbox steps past the last thumbnail loaded by loading the next page
  state.more = pager(more, async () => {
    const page = await api("GET", `/api/sets/${enc(state.set)}?limit=${PAGE}&after=${encodeURIComponent(after)}`);
    addThumbs(page.pictures);
    after = page.next;
    return Boolean(after);
  });
  state.hasMore = () => !more.hidden;

  fill(main, 
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, first.name), count, session.owner ? ownerSetTools(state) : null),
    session.owner ? uploader(state, (p) => { addThumbs([p]); state.total += 1; count.textContent = `${state.total} pictures`; }) : null,
    state.total ? null : h("p", { class: "muted", id: "empty" }, "This set has no pictures yet."),
    grid, more);
}

export function thumb(p, state) {
  return h("a", { class: "thumb", href: `/pictures/${p.image_id}`, title: p.name, dataset: { imageId: p.image_id },
    onclick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      openLightbox(state, state.pictures.findIndex((q) => q.image_id === p.image_id));
    } },
  h("img", { src: media(p.thumb_url), alt: p.name, loading: "lazy", decoding: "async", style: { objectPosition: focusPosition(p) } }),
  h("span", { class: "name" }, p.name));
}

export function ownerSetTools(state) {
  const share = h("input", { type: "checkbox", id: "share-location", checked: state.share,
    onchange: async () => {
      try {
        await api("PATCH", `/api/sets/${enc(state.set)}`, { share_location: share.checked });
        toast(share.checked ? "Visitors now get the exact originals, location included" : "Visitors get originals without location");
      } catch (err) { share.checked = !share.checked; toast(err.message); }
    } });
  return [
    h("label", { class: "check", title: "Off: visitors get originals without GPS position and serial numbers" },
      share, " Share location"),
    h("button", { id: "rename-set", onclick: async () => {
      let answer = null;
      const name = await ask({ title: "Rename set", label: "New name", value: state.set, confirmText: "Rename",
        submit: async (n) => { answer = await api("PATCH", `/api/sets/${enc(state.set)}`, { name: n }); } });
      if (name && answer && answer.job) { toast("Renaming in the background"); navigate("/"); }
      else if (name) navigate(`/sets/${enc(name.trim())}`, true);
    } }, "Rename"),
    h("button", { id: "delete-set", class: "danger", onclick: async () => {
      const ok = await ask({ title: `Delete the set “${state.set}” and its ${state.total} pictures?`, confirmText: "Delete", danger: true,
        submit: () => api("DELETE", `/api/sets/${enc(state.set)}`) });
      if (ok) { toast("Deleting the set in the background"); navigate("/"); }
    } }, "Delete set"),
  ];
}
