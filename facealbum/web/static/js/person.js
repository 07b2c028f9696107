// A person's page (/people/<id>): their pictures, and the owner's name, hide, merge and move.

import { api, media, moreButton, session } from "./api.js";
import { alsoIn, ask, enc, fill, h, main, onKeys, pct, personName, stage, toast } from "./dom.js";
import { current, navigate, route } from "./nav.js";
import { choosePerson } from "./people.js";

export async function personPage(seq, personId) {
  onKeys(null);
  const [p, everyone] = await Promise.all([api("GET", `/api/people/${enc(personId)}`),
    session.owner ? api("GET", "/api/people?limit=500") : Promise.resolve({ people: [] })]);  // the 500 most pictured
  if (!current(seq)) return;
  document.title = `${personName(p)} · facealbum`;
  const selected = new Set(); // face ids, with their twins in the copies of each photo
  const picked = () => main.querySelectorAll(".pick:checked").length; // faces the owner ticked
  const others = everyone.people.filter((o) => o.person_id !== personId);
  const change = async (body) => { await api("PATCH", `/api/people/${enc(personId)}`, body); route(); };
  const owner = session.owner ? [
    h("button", { id: "rename-person", onclick: async () => {
      const name = await ask({ title: "Name this person", label: "Name", value: p.name || "", confirmText: "Save",
        submit: (n) => api("PATCH", `/api/people/${enc(personId)}`, { name: n }) });
      if (name !== null) route();
    } }, p.name ? "Rename" : "Name"),
    h("button", { id: "hide-person", onclick: () => change({ hidden: !p.hidden }) }, p.hidden ? "Show" : "Hide"),
    h("button", { id: "merge-into", disabled: !others.length, onclick: async () => {
      const into = await choosePerson({ title: `Merge ${personName(p)} into…`, people: others });
      if (!into) return;
      await api("POST", `/api/people/${enc(personId)}/merge`, { into });
      toast("Merged");
      navigate(`/people/${into}`);
    } }, "Merge into…"),
    // split: the selected faces to a new person or to another one
    h("button", { id: "move-to", disabled: true, onclick: async () => {
      const into = await choosePerson({ title: `Move ${picked()} selected to…`, people: others,
        extra: [{ value: "new", label: "A new person" }] });
      if (!into) return;
      const moved = await api("POST", "/api/people/split",
        { face_ids: [...selected], ...(into === "new" ? {} : { into }) });
      toast(`${picked()} moved to ${personName(moved)}`);
      navigate(`/people/${moved.person_id}`);
    } }, "Move selected to…"),
  ] : [];
  const moveTo = owner.length ? owner[owner.length - 1] : null;  // enabled once faces are picked
  const tile = (pic) => {
    const faces = pic.faces.filter((f) => f.person_id === personId);
    // a photo listed once stands for its copies in other sets: a face picked here is
    // moved there too (the server turns a face's twins away with it), else the photo
    // stays (as its copy)
    const withTwins = (f) => [f.face_id, ...(pic.also_in || []).map((c) => c.faces && c.faces[f.face_id]).filter(Boolean)];
    const boxes = faces.map((f) => h("span", { class: "face matched", dataset: { faceId: f.face_id }, "aria-hidden": "true",
      style: { left: pct(f.box.left), top: pct(f.box.top), width: pct(f.box.width), height: pct(f.box.height) } }));
    const tools = session.owner ? faces.map((f) => h("div", { class: "face-tools" },
      h("label", {}, h("input", { type: "checkbox", class: "pick", dataset: { faceId: f.face_id }, onchange: (e) => {
        for (const id of withTwins(f)) { if (e.target.checked) selected.add(id); else selected.delete(id); }
        moveTo.disabled = !selected.size;
      } }), " select"),
      h("button", { class: "not-person", dataset: { faceId: f.face_id }, onclick: async () => {
        await api("POST", `/api/faces/${f.face_id}/not-person`, { person_id: personId }); // and its twins
        toast("Noted: not this person"); route();
      } }, "Not this person"),
      h("button", { class: "cover", dataset: { faceId: f.face_id }, onclick: () => change({ cover_face_id: f.face_id }) }, "Use as cover"))) : [];
    return h("div", { class: "result", dataset: { imageId: pic.image_id } },
      h("a", { href: `/pictures/${pic.image_id}`, title: pic.name }, stage(pic, media(pic.thumb_url), boxes)),
      h("div", { class: "caption" }, h("span", {}, pic.name)), alsoIn(pic), tools);
  };
  const results = h("div", { class: "results", id: "results" }, p.pictures.map(tile));
  // a page of pictures at a time: the next as the end comes near
  let next = p.next;
  const more = moreButton(async () => {
    const page = await api("GET", `/api/people/${enc(personId)}?after=${enc(next)}`);
    if (!current(seq)) return false;
    results.append(...page.pictures.map(tile));
    next = page.next;
    return next !== null;
  }, p.next !== null);
  fill(main,
    h("div", { class: "toolbar" }, h("h1", { class: "grow", id: "person-name" }, personName(p)),
      h("span", { class: "muted", id: "person-count" }, `${p.picture_count} ${p.picture_count === 1 ? "picture" : "pictures"}`),
      h("a", { class: "button", href: `/search?people=${enc(personId)}&mode=all` }, "Pictures with…"), owner),
    results, more);
}
