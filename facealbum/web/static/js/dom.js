// Small helpers every page uses: elements, dialogs, toasts, keys, pictures with boxes.

import { media } from "./api.js";

export const main = document.getElementById("main");

// -- small helpers ---------------------------------------------------------------

/** Build an element; strings become text nodes, so names can never inject markup. */
export function h(tag, attrs = {}, ...children) {
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

/** replaceChildren that skips null/false and flattens arrays (it would print "null"). */
export function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
}

export const enc = encodeURIComponent;
export const pct = (x) => `${(x * 100).toFixed(3)}%`;

export function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 2600);
}

/** A modal that asks for one value (or just confirmation); resolves null on cancel. */
export function ask({ title, label, value = "", type = "text", confirmText = "OK", danger = false, submit }) {
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

/** CSS object-position that puts the picture's focus (the API's ratios, where its faces
 * are) at the centre of an object-fit: cover box of width / height = aspect, as far as
 * the picture reaches: the crop keeps the faces in view without a new rendition. */
export function focusPosition(p, aspect = 1) {
  const f = p.focus || { x: 0.5, y: 0.5 }, r = p.width && p.height ? p.width / p.height : aspect;
  const at = (focus, over) => over > 1 ? Math.min(100, Math.max(0, ((focus * over - 0.5) / (over - 1)) * 100)) : 50;
  const x = at(f.x, r / aspect), y = at(f.y, aspect / r);
  return `${+x.toFixed(2)}% ${+y.toFixed(2)}%`;
}

/** An image box of the picture's own aspect: face boxes in % then sit exactly on it. */
export function stage(p, src, boxes, maxHeight) {
  const el = h("div", { class: "stage", style: { aspectRatio: `${p.width} / ${p.height}` } },
    h("img", { src, alt: p.name, id: "photo" }), boxes);
  // never past the photo's own size: a 150 px photo is shown at 150 px
  el.style.width = maxHeight ? `min(100%, ${p.width}px, calc((${maxHeight}) * ${p.width / p.height}))`
    : `min(100%, ${p.width}px)`;
  new ResizeObserver(() => untangle(el)).observe(el);
  return el;
}

const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

/**
 * Names under faces that sit close together (a group photo on a phone) would print over
 * each other: each name, left to right, goes under its face, else above it, else is left
 * out (the face's button still says it, and "In this picture" lists everyone). Run again
 * whenever the stage changes size.
 */
export function untangle(stageEl) {
  const names = [...stageEl.querySelectorAll(".face-name")];
  for (const n of names) { n.classList.remove("above"); n.hidden = false; }
  const placed = [];
  const edge = stageEl.getBoundingClientRect();
  const inside = (r) => r.left >= edge.left - 4 && r.right <= edge.right + 4;
  names.sort((a, b) => a.parentElement.getBoundingClientRect().left - b.parentElement.getBoundingClientRect().left);
  for (const n of names) {
    let r = n.getBoundingClientRect();
    if (placed.some((q) => meets(r, q))) {
      n.classList.add("above");
      r = n.getBoundingClientRect();
      if (placed.some((q) => meets(r, q)) || !inside(r)) { n.classList.remove("above"); n.hidden = true; continue; }
    }
    placed.push(r);
  }
}

let keyHandler = null;
export function onKeys(handler) {
  if (keyHandler) document.removeEventListener("keydown", keyHandler);
  keyHandler = handler;
  if (handler) document.addEventListener("keydown", handler);
}

export function arrows(prev, next, close) {
  return (e) => {
    if (document.querySelector("dialog[open]") || e.target.closest?.("input, select, textarea")) return;
    if (e.key === "ArrowLeft" && prev) { e.preventDefault(); prev(); }
    else if (e.key === "ArrowRight" && next) { e.preventDefault(); next(); }
    else if (e.key === "Escape" && close) { e.preventDefault(); close(); }
  };
}

/** A face cut out of its picture's thumbnail: the box fills a square, by CSS alone. */
export function faceCrop(thumbUrl, b, size = 120) {
  const w = Math.max(b.width, 0.01), hh = Math.max(b.height, 0.01);
  return h("span", { class: "crop", "aria-hidden": "true", style: {
    width: `${size}px`, height: `${size}px`,
    backgroundImage: `url("${media(thumbUrl)}")`,
    backgroundSize: `${100 / w}% ${100 / hh}%`,
    backgroundPosition: `${w < 1 ? (b.left / (1 - w)) * 100 : 0}% ${hh < 1 ? (b.top / (1 - hh)) * 100 : 0}%` } });
}

export const personName = (p) => p.name || "Unnamed";

/** "also in Trip": the other sets a listed photo is stored in (the API lists it once);
 * as links to those pictures, or as text inside a tile that is itself a link. */
export function alsoIn(p, links = true) {
  const copies = p.also_in || [];
  if (!copies.length) return null;
  return h("div", { class: "also-in muted" }, "also in ",
    copies.flatMap((c, i) => [i ? ", " : null,
      links ? h("a", { href: `/pictures/${c.image_id}`, dataset: { imageId: c.image_id } }, c.set)
        : h("span", { dataset: { imageId: c.image_id } }, c.set)]));
}
