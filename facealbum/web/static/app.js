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
    else if (path === "/people") await peoplePage(seq);
    else if ((m = path.match(/^\/people\/([^/]+)$/))) await personPage(seq, m[1]);
    else if (path === "/search") await peopleSearchPage(seq, params);
    else if (path === "/search/photo") await photoSearchPage(seq);
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
  const name = f.person && f.person.name; // user text: a text node, never markup
  return h("button", { class: "face", type: "button", dataset: { faceId: f.face_id },
    "aria-label": name ? `${name} (face ${i + 1} of ${n}): show pictures of ${name}` : `Face ${i + 1} of ${n}: show pictures of this person`,
    title: name ? `Find ${name}` : "Find this person",
    style: { left: pct(b.left), top: pct(b.top), width: pct(b.width), height: pct(b.height) },
    onclick: () => navigate(`/faces/${f.face_id}`) },
    name ? h("span", { class: "face-name" }, name) : null);
}

/** The named people of a picture, once each, as links to their pages. */
function peopleOf(p) {
  const seen = new Map();
  for (const f of p.faces) if (f.person && f.person.name && !seen.has(f.person.person_id)) seen.set(f.person.person_id, f.person.name);
  if (!seen.size) return null;
  const links = [...seen].map(([id, name]) => h("li", {}, h("a", { href: `/people/${id}` }, name)));
  return h("div", { class: "picture-people", id: "picture-people" }, h("span", { class: "muted" }, "In this picture: "), h("ul", {}, links));
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
    nav, peopleOf(p));
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
  fill(main, 
    h("div", { class: "toolbar" },
      h("h1", { class: "grow", id: "face-heading" }, heading),
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

// -- people ----------------------------------------------------------------------

/** A face cut out of its picture's thumbnail: the box fills a square, by CSS alone. */
function faceCrop(thumbUrl, b, size = 120) {
  const w = Math.max(b.width, 0.01), hh = Math.max(b.height, 0.01);
  return h("span", { class: "crop", "aria-hidden": "true", style: {
    width: `${size}px`, height: `${size}px`,
    backgroundImage: `url("${media(thumbUrl)}")`,
    backgroundSize: `${100 / w}% ${100 / hh}%`,
    backgroundPosition: `${w < 1 ? (b.left / (1 - w)) * 100 : 0}% ${hh < 1 ? (b.top / (1 - hh)) * 100 : 0}%` } });
}

const personName = (p) => p.name || "Unnamed";

async function peoplePage(seq) {
  onKeys(null);
  const people = await api("GET", "/api/people");
  if (!current(seq)) return;
  document.title = "People · facealbum";
  fill(main,
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "People"),
      h("a", { class: "button", href: "/search", id: "search-people" }, "Pictures with…"),
      h("a", { class: "button", href: "/search/photo", id: "search-photo" }, "Search by photo")),
    people.length ? h("div", { class: "people", id: "people" }, people.map((p) =>
      h("a", { class: `person${p.hidden ? " hidden-person" : ""}`, href: `/people/${p.person_id}`, dataset: { personId: p.person_id } },
        p.cover ? faceCrop(p.cover.thumb_url, p.cover.box) : h("span", { class: "crop" }),
        h("b", {}, personName(p)),
        h("span", { class: "muted" }, `${p.picture_count} ${p.picture_count === 1 ? "picture" : "pictures"}${p.hidden ? " · hidden" : ""}`))))
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

async function personPage(seq, personId) {
  onKeys(null);
  const [p, everyone] = await Promise.all([api("GET", `/api/people/${enc(personId)}`),
    session.owner ? api("GET", "/api/people") : Promise.resolve([])]);
  if (!current(seq)) return;
  document.title = `${personName(p)} · facealbum`;
  const selected = new Set();
  const change = async (body) => { await api("PATCH", `/api/people/${enc(personId)}`, body); route(); };
  const owner = session.owner ? [
    h("button", { id: "rename-person", onclick: async () => {
      const name = await ask({ title: "Name this person", label: "Name", value: p.name || "", confirmText: "Save",
        submit: (n) => api("PATCH", `/api/people/${enc(personId)}`, { name: n }) });
      if (name !== null) route();
    } }, p.name ? "Rename" : "Name"),
    h("button", { id: "hide-person", onclick: () => change({ hidden: !p.hidden }) }, p.hidden ? "Show" : "Hide"),
    (() => {
      const others = everyone.filter((o) => o.person_id !== personId);
      const pick = h("select", { id: "merge-into", "aria-label": "Merge into" },
        h("option", { value: "" }, "Merge into…"), others.map((o) => h("option", { value: o.person_id }, personName(o))));
      pick.onchange = async () => {
        if (!pick.value) return;
        await api("POST", `/api/people/${enc(personId)}/merge`, { into: pick.value });
        toast("Merged");
        navigate(`/people/${pick.value}`);
      };
      return pick;
    })(),
    (() => {  // split: the selected faces to a new person or to another one
      const others = everyone.filter((o) => o.person_id !== personId);
      const move = h("select", { id: "move-to", disabled: true, "aria-label": "Move selected faces to" },
        h("option", { value: "" }, "Move selected to…"), h("option", { value: "new" }, "A new person"),
        others.map((o) => h("option", { value: o.person_id }, personName(o))));
      move.onchange = async () => {
        if (!move.value) return;
        const into = move.value === "new" ? {} : { into: move.value };
        const moved = await api("POST", "/api/people/split", { face_ids: [...selected], ...into });
        toast(`${selected.size} moved to ${personName(moved)}`);
        navigate(`/people/${moved.person_id}`);
      };
      return move;
    })(),
  ] : [];
  const moveTo = owner.length ? owner[owner.length - 1] : null;  // enabled once faces are picked
  const tiles = p.pictures.map((pic) => {
    const faces = pic.faces.filter((f) => f.person_id === personId);
    const boxes = faces.map((f) => h("span", { class: "face matched", dataset: { faceId: f.face_id }, "aria-hidden": "true",
      style: { left: pct(f.box.left), top: pct(f.box.top), width: pct(f.box.width), height: pct(f.box.height) } }));
    const tools = session.owner ? faces.map((f) => h("div", { class: "face-tools" },
      h("label", {}, h("input", { type: "checkbox", class: "pick", dataset: { faceId: f.face_id }, onchange: (e) => {
        if (e.target.checked) selected.add(f.face_id); else selected.delete(f.face_id);
        moveTo.disabled = !selected.size;
      } }), " select"),
      h("button", { class: "not-person", dataset: { faceId: f.face_id }, onclick: async () => {
        await api("POST", `/api/faces/${f.face_id}/not-person`, { person_id: personId });
        toast("Noted: not this person"); route();
      } }, "Not this person"),
      h("button", { class: "cover", dataset: { faceId: f.face_id }, onclick: () => change({ cover_face_id: f.face_id }) }, "Use as cover"))) : [];
    return h("div", { class: "result", dataset: { imageId: pic.image_id } },
      h("a", { href: `/pictures/${pic.image_id}`, title: pic.name }, stage(pic, media(pic.thumb_url), boxes)),
      h("div", { class: "caption" }, h("span", {}, pic.name)), tools);
  });
  fill(main,
    h("div", { class: "toolbar" }, h("h1", { class: "grow", id: "person-name" }, personName(p)),
      h("span", { class: "muted", id: "person-count" }, `${p.picture_count} ${p.picture_count === 1 ? "picture" : "pictures"}`),
      h("a", { class: "button", href: `/search?people=${enc(personId)}&mode=all` }, "Pictures with…"), owner),
    h("div", { class: "results", id: "results" }, tiles));
}

async function peopleSearchPage(seq, params) {
  onKeys(null);
  const chosen = (params.get("people") || "").split(",").filter(Boolean);
  const mode = ["all", "any", "only"].includes(params.get("mode")) ? params.get("mode") : "all";
  const [people, found] = await Promise.all([api("GET", "/api/people"),
    chosen.length ? api("GET", `/api/search?people=${chosen.map(enc).join(",")}&mode=${mode}`) : Promise.resolve({ pictures: [] })]);
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
    p.cover ? faceCrop(p.cover.thumb_url, p.cover.box, 36) : null, personName(p))));
  fill(main,
    h("div", { class: "toolbar" }, h("h1", { class: "grow" }, "Pictures with…"), modes),
    chips,
    h("p", { class: "muted", id: "summary" }, chosen.length ? `${found.pictures.length} ${found.pictures.length === 1 ? "picture" : "pictures"}` : "Choose people above."),
    h("div", { class: "grid", id: "grid" }, found.pictures.map((p) =>
      h("a", { class: "thumb", href: `/pictures/${p.image_id}`, title: p.name, dataset: { imageId: p.image_id } },
        h("img", { src: media(p.thumb_url), alt: p.name, loading: "lazy" }), h("span", { class: "name" }, p.name)))));
}

// A large photo is shrunk here to 2048 px on its long side, well under the server's
// pixel cap (FACEALBUM_SEARCH_MAX_PIXELS) and plenty for faces; boxes come back as
// ratios, so they still fit the original shown. A format the browser cannot decode is
// sent as it is.
async function searchable(file) {
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

async function photoSearchPage(seq) {
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

// -- start -----------------------------------------------------------------------

loadSession().catch(() => drawOwnerNav()).finally(route);
