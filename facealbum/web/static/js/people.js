// The people page (/people): everyone with a face, most pictured first.

import { api } from "./api.js";
import { faceCrop, fill, h, main, onKeys, personName } from "./dom.js";
import { current } from "./nav.js";

export async function peoplePage(seq) {
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
}
