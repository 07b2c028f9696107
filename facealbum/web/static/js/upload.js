// The owner's uploads into a set: a drop zone, three at a time, each followed until its faces are found.

import { api, session } from "./api.js";
import { enc, h, toast } from "./dom.js";

export function uploader(state, onAdded) {
  const input = h("input", { type: "file", id: "file-input", multiple: true, accept: "image/jpeg,image/png,image/webp,image/heic,.heic,.heif,image/tiff,.tif,.tiff,image/gif,image/bmp,.bmp,image/avif,.avif,.dng,.cr2,.cr3,.nef,.arw,.raf,.orf,.rw2", hidden: true,
    onchange: () => { start([...input.files]); input.value = ""; } });
  const list = h("ul", { class: "uploads", id: "uploads", "aria-live": "polite" });
  const zone = h("section", { class: "drop", id: "drop", "aria-label": "Upload photos" },
    h("p", {}, "Drop photos here, or ", h("button", { type: "button", id: "choose-files", onclick: () => input.click() }, "choose files"), "."),
    h("p", { class: "hint" }, "JPEG, PNG, WebP, HEIC, AVIF, TIFF, GIF, BMP or camera RAW. Faces are found in the background."),
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
          else if (u.status === "duplicate") {
            // "pixels": the same photo with other metadata (a caption edited), as u.name
            const same = u.duplicate === "pixels" ? ` (same photo as ${u.name}, metadata differs)` : "";
            finish(item, "duplicate", `✓ already in this set${same}`);
          }
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
