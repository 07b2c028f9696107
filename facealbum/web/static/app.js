// facealbum's site: every page is drawn here from the JSON API. No framework, no CDN:
// the album works offline and a page URL shows exactly what the API says.

const main = document.getElementById("main");
const PAGE = 200; // thumbnails per request on a set page
const session = { owner: false, csrf: null };
// The API this page reads: its own server, or (the static site on S3) the album's API
// function, named by the shell's meta tag. Visitors read from there; the owner signs
// in on the API's own pages, where changes are same-origin.
const API = (document.querySelector('meta[name="facealbum-api"]')?.content || "").replace(/\/$/, "");
const media = (url) => (url && url.startsWith("/") ? API + url : url);

// -- small helpers ---------------------------------------------------------------

/** Build an element; strings become text nodes, so names can never inject markup. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (method !== "GET" && session.csrf) opts.headers["X-CSRF-Token"] = session.csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(API + url, opts);
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

/** replaceChildren that skips null/false and flattens arrays (it would print "null"). */
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
}

const enc = encodeURIComponent;
const pct = (x) => `${(x * 100).toFixed(3)}%`;

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 2600);
}

function navigate(url, replace = false) {
  history[replace ? "replaceState" : "pushState"]({}, "", url);
  route();
}

// Internal links navigate without reloading; modified clicks keep browser behaviour.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[href^='/']");
  if (!a || a.target || a.hasAttribute("download") || e.defaultPrevented) return;
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.pathname.startsWith("/media/") || a.pathname.startsWith("/docs")) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
});
window.addEventListener("popstate", () => route());

/** A modal that asks for one value (or just confirmation); resolves null on cancel. */
function ask({ title, label, value = "", type = "text", confirmText = "OK", danger = false, submit }) {
  return new Promise((resolve) => {
    const input = label ? h("input", { type, value, "aria-label": label, required: true, autocomplete: type === "password" ? "current-password" : "off" }) : null;
    const error = h("p", { class: "error", role: "alert" });
    const dialog = h("dialog", { "aria-label": title },
      h("form", { method: "dialog" },
        h("strong", {}, title),
        label ? h("label", {}, label, h("br"), input) : null,
        error,
        h("div", { class: "row" },
          h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel"),
          h("button", { type: "submit", class: danger ? "danger" : "primary" }, confirmText))));
    dialog.querySelector("form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = input ? input.value : true;
      if (!submit) { dialog.close("ok"); resolve(v); return; }
      try { await submit(v); dialog.close("ok"); resolve(v); } catch (err) { error.textContent = err.message; }
    });
    dialog.addEventListener("close", () => { dialog.remove(); if (dialog.returnValue !== "ok") resolve(null); });
    document.body.append(dialog);
    dialog.showModal();
    (input || dialog.querySelector("button[type=submit]")).focus();
  });
}

// -- owner session ---------------------------------------------------------------

async function loadSession() {
  Object.assign(session, await api("GET", "/api/session"));
  drawOwnerNav();
}

function drawOwnerNav() {
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

async function signIn() {
  const ok = await ask({
    title: "Sign in as the owner", label: "Secret", type: "password", confirmText: "Sign in",
    submit: async (secret) => Object.assign(session, await api("POST", "/api/session", { secret })),
  });
  if (ok) { drawOwnerNav(); toast("Signed in"); route(); }
}

/** Every signed-in browser of the owner: when, from where; end one or all of them. */
async function showSessions() {
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

async function signOut() {
  Object.assign(session, await api("DELETE", "/api/session"));
  drawOwnerNav();
  route();
}

// -- pages -----------------------------------------------------------------------

let routeSeq = 0; // a slow page load must not overwrite the page that followed it
const current = (seq) => seq === routeSeq;

async function route() {
  const seq = ++routeSeq;
  closeLightbox(false);
  const path = decodeURIComponent(location.pathname);
  const params = new URLSearchParams(location.search);
  try {
    let m;
    if (path === "/") await setsPage(seq, params);
    else if ((m = path.match(/^\/sets\/(.+)$/))) await setPage(seq, m[1]);
    else if ((m = path.match(/^\/pictures\/([^/]+)$/))) await picturePage(seq, m[1]);
    else if ((m = path.match(/^\/faces\/([^/]+)$/))) await facePage(seq, m[1], params);
    else throw new Error("There is no such page.");
  } catch (err) {
    if (!current(seq)) return;
    document.title = "facealbum";
    fill(main, h("h1", {}, "Not found"), h("p", { class: "muted" }, err.message), h("a", { href: "/" }, "Back to the album"));
  }
}

async function setsPage(seq, params) {
  const sort = params.get("sort") === "name" ? "name" : "newest";
  const sets = await api("GET", `/api/sets?sort=${sort}`);
  if (!current(seq)) return;
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
  fill(main, 
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Picture sets"), select, newSet),
    sets.length ? h("div", { class: "cards", id: "sets" }, sets.map((s) =>
      h("a", { class: "card", href: `/sets/${enc(s.name)}`, dataset: { set: s.name } },
        s.featured ? h("img", { src: media(s.featured.thumb_url), alt: `Featured picture of ${s.name}`, loading: "lazy" })
          : h("div", { class: "empty" }, "No pictures yet"),
        h("div", { class: "label" }, h("b", {}, s.name), h("span", { class: "muted" }, `${s.picture_count} ${s.picture_count === 1 ? "picture" : "pictures"}`)))))
      : h("p", { class: "muted" }, session.owner ? "No sets yet: create one." : "No pictures yet."));
}

async function setPage(seq, name) {
  onKeys(null);
  const first = await api("GET", `/api/sets/${enc(name)}?limit=${PAGE}`);
  if (!current(seq)) return;
  setOrder.delete(first.name); // uploads or deletions may have changed the order
  document.title = `${first.name} · facealbum`;
  const grid = h("div", { class: "grid", id: "grid" });
  const count = h("span", { class: "muted", id: "count" }, `${first.picture_count} pictures`);
  const state = { set: first.name, pictures: [], offset: 0, total: first.picture_count, share: first.share_location };

  const addThumbs = (pictures) => {
    for (const p of pictures) {
      state.pictures.push(p);
      grid.append(thumb(p, state));
    }
  };
  addThumbs(first.pictures);
  state.offset = first.pictures.length;
  const more = h("button", { class: "more", id: "more", onclick: loadMore }, "Show more");
  async function loadMore() {
    if (state.loading || state.offset >= state.total) return;
    state.loading = true;
    const next = await api("GET", `/api/sets/${enc(state.set)}?limit=${PAGE}&offset=${state.offset}`);
    addThumbs(next.pictures);
    state.offset += next.pictures.length;
    state.loading = false;
    more.hidden = state.offset >= state.total || !next.pictures.length;
  }
  more.hidden = state.offset >= state.total;
  // load the next page a little before the end comes into view
  new IntersectionObserver((entries) => entries[0].isIntersecting && loadMore(), { rootMargin: "600px" }).observe(more);

  fill(main, 
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, first.name), count, session.owner ? ownerSetTools(state) : null),
    session.owner ? uploader(state, (p) => { addThumbs([p]); state.total += 1; state.offset += 1; count.textContent = `${state.total} pictures`; }) : null,
    state.total ? null : h("p", { class: "muted", id: "empty" }, "This set has no pictures yet."),
    grid, more);
}

function thumb(p, state) {
  return h("a", { class: "thumb", href: `/pictures/${p.image_id}`, title: p.name, dataset: { imageId: p.image_id },
    onclick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      openLightbox(state, state.pictures.findIndex((q) => q.image_id === p.image_id));
    } },
  h("img", { src: media(p.thumb_url), alt: p.name, loading: "lazy", decoding: "async" }),
  h("span", { class: "name" }, p.name));
}

function ownerSetTools(state) {
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
      const name = await ask({ title: "Rename set", label: "New name", value: state.set, confirmText: "Rename",
        submit: (n) => api("PATCH", `/api/sets/${enc(state.set)}`, { name: n }) });
      if (name) navigate(`/sets/${enc(name.trim())}`, true);
    } }, "Rename"),
    h("button", { id: "delete-set", class: "danger", onclick: async () => {
      const ok = await ask({ title: `Delete the set “${state.set}” and its ${state.total} pictures?`, confirmText: "Delete", danger: true,
        submit: () => api("DELETE", `/api/sets/${enc(state.set)}`) });
      if (ok) { toast("Set deleted"); navigate("/"); }
    } }, "Delete set"),
  ];
}

// -- uploads ---------------------------------------------------------------------

function uploader(state, onAdded) {
  const input = h("input", { type: "file", id: "file-input", multiple: true, accept: "image/jpeg,image/png,image/webp,image/heic,.heic,.heif", hidden: true,
    onchange: () => { start([...input.files]); input.value = ""; } });
  const list = h("ul", { class: "uploads", id: "uploads", "aria-live": "polite" });
  const zone = h("section", { class: "drop", id: "drop", "aria-label": "Upload photos" },
    h("p", {}, "Drop photos here, or ", h("button", { type: "button", id: "choose-files", onclick: () => input.click() }, "choose files"), "."),
    h("p", { class: "hint" }, "JPEG, PNG, WebP or HEIC. Faces are found in the background."),
    input, list);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    start([...e.dataTransfer.files]);
  });

  const waiting = new Map(); // upload_id -> row
  const queue = [];
  let running = 0;

  function start(files) {
    for (const file of files) {
      const bar = h("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
      const status = h("span", { class: "s" }, "waiting");
      const row = h("li", { dataset: { name: file.name } }, h("span", { class: "n" }, file.name), bar, status);
      list.append(row);
      queue.push({ file, bar, status, row });
    }
    pump();
  }

  function pump() {
    while (running < 3 && queue.length) {
      running += 1;
      send(queue.shift()).finally(() => { running -= 1; pump(); });
    }
  }

  function send(item) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/api/sets/${enc(state.set)}/pictures`);
      xhr.setRequestHeader("X-CSRF-Token", session.csrf || "");
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) item.bar.value = (100 * e.loaded) / e.total; };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { /* shown below */ }
        if (xhr.status !== 202 || !body) {
          finish(item, "failed", (body && body.error) || `upload failed (${xhr.status})`);
        } else {
          const u = body.uploads[0];
          item.bar.value = 100;
          if (u.status === "failed") finish(item, "failed", u.error);
          else { item.status.textContent = "finding faces…"; waiting.set(u.upload_id, item); poll(); }
        }
        resolve();
      };
      xhr.onerror = () => { finish(item, "failed", "network error"); resolve(); };
      const form = new FormData();
      form.append("files", item.file, item.file.name);
      item.status.textContent = "uploading…";
      xhr.send(form);
    });
  }

  function finish(item, status, text) {
    item.row.dataset.status = status;
    item.status.className = `s ${status === "failed" ? "bad" : "ok"}`;
    item.status.textContent = status === "failed" ? `✗ ${text}` : text;
  }

  let timer = null;
  function poll() {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      if (!waiting.size) return;
      try {
        const { uploads } = await api("GET", `/api/uploads?ids=${[...waiting.keys()].join(",")}`);
        for (const u of uploads) {
          if (u.status === "queued") continue;
          const item = waiting.get(u.upload_id);
          waiting.delete(u.upload_id);
          if (u.status === "failed") finish(item, "failed", u.error);
          else if (u.status === "duplicate") finish(item, "duplicate", "✓ already in this set");
          else {
            finish(item, "added", u.faces ? `✓ ${u.faces} ${u.faces === 1 ? "face" : "faces"} found` : "✓ added, no faces found");
            onAdded(await api("GET", `/api/pictures/${u.image_id}`));
            document.getElementById("empty")?.remove();
          }
        }
      } catch (err) { toast(err.message); }
      if (waiting.size) poll();
    }, 700);
  }
  return zone;
}

// -- the picture viewer (page and lightbox) ------------------------------------

/** An image box of the picture's own aspect: face boxes in % then sit exactly on it. */
function stage(p, src, boxes, maxHeight) {
  const el = h("div", { class: "stage", style: { aspectRatio: `${p.width} / ${p.height}` } },
    h("img", { src, alt: p.name, id: "photo" }), boxes);
  if (maxHeight) el.style.width = `min(100%, calc((${maxHeight}) * ${p.width / p.height}))`;
  return el;
}

function faceButton(f, i, n) {
  const b = f.box;
  return h("button", { class: "face", type: "button", dataset: { faceId: f.face_id },
    "aria-label": `Face ${i + 1} of ${n}: show pictures of this person`, title: "Find this person",
    style: { left: pct(b.left), top: pct(b.top), width: pct(b.width), height: pct(b.height) },
    onclick: () => navigate(`/faces/${f.face_id}`) });
}

function viewer(p, { prev, next, close, inLightbox }) {
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
    nav);
}

let keyHandler = null;
function onKeys(handler) {
  if (keyHandler) document.removeEventListener("keydown", keyHandler);
  keyHandler = handler;
  if (handler) document.addEventListener("keydown", handler);
}

function arrows(prev, next, close) {
  return (e) => {
    if (document.querySelector("dialog[open]") || e.target.closest?.("input, select, textarea")) return;
    if (e.key === "ArrowLeft" && prev) { e.preventDefault(); prev(); }
    else if (e.key === "ArrowRight" && next) { e.preventDefault(); next(); }
    else if (e.key === "Escape" && close) { e.preventDefault(); close(); }
  };
}

const setOrder = new Map(); // set name -> image ids in display order, for ← / →

async function idsOf(set) {
  if (!setOrder.has(set)) {
    setOrder.set(set, (await api("GET", `/api/sets/${enc(set)}/ids`)).image_ids);
  }
  return setOrder.get(set);
}

async function picturePage(seq, imageId) {
  const p = await api("GET", `/api/pictures/${imageId}`);
  let ids = await idsOf(p.set);
  if (!ids.includes(p.image_id)) { setOrder.delete(p.set); ids = await idsOf(p.set); }
  if (!current(seq)) return;
  document.title = `${p.name} · facealbum`;
  // steps read the URL, not this closure, so fast key presses keep moving
  const step = (d) => {
    const j = ids.indexOf(location.pathname.split("/").pop()) + d;
    if (j >= 0 && j < ids.length) navigate(`/pictures/${ids[j]}`, true);
  };
  const i = ids.indexOf(p.image_id);
  const close = () => navigate(`/sets/${enc(p.set)}`);
  fill(main, viewer(p, { prev: i > 0 ? () => step(-1) : null, next: i < ids.length - 1 ? () => step(1) : null, close }));
  onKeys(arrows(() => step(-1), () => step(1), close));
}

let lightbox = null;
function openLightbox(state, index) {
  const p = state.pictures[index];
  if (!p) return;
  const returnFocus = document.activeElement;
  closeLightbox(false);
  const go = (j) => (j >= 0 && j < state.pictures.length ? () => openLightbox(state, j) : null);
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

function closeLightbox(restore, focusTo) {
  if (!lightbox) return;
  const target = focusTo || lightbox.returnFocus;
  lightbox.remove();
  lightbox = null;
  document.body.style.overflow = "";
  for (const el of document.querySelectorAll("header.top, main")) el.inert = false;
  onKeys(null);
  if (restore && target) target.focus();
}

// -- face search -----------------------------------------------------------------

async function facePage(seq, faceId, params) {
  onKeys(null);
  const raw = params.get("threshold");
  const url = (t, offset) => `/api/faces/${faceId}/matches?limit=60&offset=${offset}${t === null ? "" : `&threshold=${t}`}`;
  const first = await api("GET", url(raw, 0));
  if (!current(seq)) return;
  const threshold = first.threshold;
  const query = first.matches[0];
  document.title = "Pictures of this person · facealbum";
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
  fill(main, 
    h("div", { class: "toolbar" },
      h("h1", { class: "grow" }, "Pictures of this person"),
      h("label", { class: "threshold" }, "Similarity at least", slider, value)),
    h("p", { class: "muted", id: "summary" },
      `${first.total} ${first.total === 1 ? "picture" : "pictures"}, best match first. `,
      query ? h("a", { href: `/pictures/${query.picture.image_id}` }, `Searched from ${query.picture.name}`) : null),
    results, more);
}

function result(m) {
  const p = m.picture;
  const b = m.face.box;
  const box = h("span", { class: "face matched", dataset: { faceId: m.face.face_id }, "aria-hidden": "true",
    style: { left: pct(b.left), top: pct(b.top), width: pct(b.width), height: pct(b.height) } });
  return h("a", { class: "result", href: `/pictures/${p.image_id}`, title: p.name, dataset: { imageId: p.image_id } },
    stage(p, media(p.thumb_url), [box]),
    h("div", { class: "caption" }, h("span", {}, p.name), h("span", { class: "sim", title: "Similarity" }, `${m.similarity.toFixed(1)}%`)));
}

// -- start -----------------------------------------------------------------------

loadSession().catch(() => drawOwnerNav()).finally(route);
