// Pictures with… (/search) chosen people, and search by an uploaded photo (/search/photo).

import { API, api, media, moreButton } from "./api.js";
import { alsoIn, enc, faceCrop, fill, focusPosition, h, main, onKeys, pct, personName, stage } from "./dom.js";
import { result } from "./face.js";
import { current, navigate } from "./nav.js";

export async function peopleSearchPage(seq, params) {
  onKeys(null);
  const chosen = (params.get("people") || "").split(",").filter(Boolean);
  const mode = ["all", "any", "only"].includes(params.get("mode")) ? params.get("mode") : "all";
  const [{ people }, found] = await Promise.all([api("GET", "/api/people"),
    chosen.length ? api("GET", `/api/search?people=${chosen.map(enc).join(",")}&mode=${mode}`) : Promise.resolve({ pictures: [] })]);
  // the chips: the first page of people (the most pictured), and whoever is chosen
  const listed = new Set(people.map((p) => p.person_id));
  people.push(...await Promise.all(chosen.filter((id) => !listed.has(id))
    .map((id) => api("GET", `/api/people/${enc(id)}?limit=1`).catch(() => null))).then((xs) => xs.filter(Boolean)));
  if (!current(seq)) return;
  document.title = "Pictures with… · facealbum";
  const go = (ids, m) => navigate(ids.length ? `/search?people=${ids.map(enc).join(",")}&mode=${m}` : `/search?mode=${m}`, true);
  const modes = h("select", { id: "mode", "aria-label": "Which pictures", onchange: () => go(chosen, modes.value) },
    h("option", { value: "all" }, "with all of them"), h("option", { value: "any" }, "with any of them"),
    h("option", { value: "only" }, "with only them"));
  modes.value = mode;
  const chips = h("div", { class: "chips", id: "chips" }, people.map((p) => h("label", { class: "chip", dataset: { personId: p.person_id } },
    h("input", { type: "checkbox", checked: chosen.includes(p.person_id), onchange: (e) => {
      const ids = e.target.checked ? [...chosen, p.person_id] : chosen.filter((i) => i !== p.person_id);
      go(ids, mode);
    } }),
    p.cover ? faceCrop(p.cover.thumb_url, p.cover.box, 36) : null, h("span", { class: "chip-name" }, personName(p)))));
  const thumb = (p) => h("a", { class: "thumb", href: `/pictures/${p.image_id}`, title: p.name, dataset: { imageId: p.image_id } },
    h("img", { src: media(p.thumb_url), alt: p.name, loading: "lazy", style: { objectPosition: focusPosition(p) } }), h("span", { class: "name" }, p.name),
    alsoIn(p, false));
  const grid = h("div", { class: "grid", id: "grid" }, found.pictures.map(thumb));
  const summary = h("p", { class: "muted", id: "summary" });
  const count = () => {
    const n = grid.children.length;
    summary.textContent = chosen.length ? `${n}${found.next ? "+" : ""} ${n === 1 ? "picture" : "pictures"}` : "Choose people above.";
  };
  count();
  // a page at a time (the server looks at a bounded number of pictures per page, so a
  // page may be short): the next as the end comes near
  const more = moreButton(async () => {
    const page = await api("GET", `/api/search?people=${chosen.map(enc).join(",")}&mode=${mode}&after=${enc(found.next)}`);
    if (!current(seq)) return false;
    grid.append(...page.pictures.map(thumb));
    found.next = page.next;
    count();
    return found.next !== null;
  }, Boolean(found.next));
  fill(main,
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Pictures with…"), modes),
    chips,
    summary, grid, more);
}

// A large photo is shrunk here to 2048 px on its long side, well under the server's
// pixel cap (FACEALBUM_SEARCH_MAX_PIXELS) and plenty for faces; boxes come back as
// ratios, so they still fit the original shown. A format the browser cannot decode is
// sent as it is.
export async function searchable(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const k = Math.min(1, 2048 / Math.max(bitmap.width, bitmap.height));
    if (k === 1) { bitmap.close(); return file; }
    const canvas = h("canvas", { width: Math.round(bitmap.width * k), height: Math.round(bitmap.height * k) });
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return await new Promise((done) => canvas.toBlob((b) => done(b || file), "image/jpeg", 0.92));
  } catch {
    return file;
  }
}

export async function photoSearchPage(seq) {
  onKeys(null);
  if (!current(seq)) return;
  document.title = "Search by photo · facealbum";
  const out = h("div", { id: "found" });
  const input = h("input", { type: "file", id: "photo-file", accept: "image/*", onchange: async () => {
    const file = input.files[0];
    if (!file) return;
    const url = URL.createObjectURL(file); // shown from the browser's memory, stored nowhere
    fill(out, h("p", { class: "muted" }, "Searching…"));
    const form = new FormData();
    form.append("file", await searchable(file), file.name);
    const r = await fetch(`${API}/api/search/by-image`, { method: "POST", body: form });
    const data = await r.json().catch(() => null);
    if (!r.ok) { fill(out, h("p", { class: "error", role: "alert" }, (data && data.error) || `${r.status}`)); return; }
    const img = new Image();
    img.onload = () => {
      const p = { name: file.name, width: img.naturalWidth, height: img.naturalHeight };
      const boxes = data.faces.map((f, i) => h("span", { class: "face matched", "aria-hidden": "true",
        style: { left: pct(f.box.left), top: pct(f.box.top), width: pct(f.box.width), height: pct(f.box.height) } }, String(i + 1)));
      fill(out, stage(p, url, boxes, "60vh"),
        data.faces.length ? data.faces.map((f, i) => h("section", { class: "found-face", dataset: { personId: f.person ? f.person.person_id : "" } },
          h("h2", {}, `Face ${i + 1}: `, f.person ? h("a", { href: `/people/${f.person.person_id}` }, personName(f.person)) : "someone not in the album"),
          h("div", { class: "results" }, f.matches.slice(0, 12).map(result))))
          : h("p", { class: "muted" }, "No faces found in this photo."));
    };
    img.src = url;
  } });
  fill(main,
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Search by photo")),
    h("p", { class: "muted" }, "Choose a photo: every face in it is looked for in the album. The photo is not kept."),
    input, out);
}
