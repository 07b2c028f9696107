// facealbum's site: every page is drawn here from the JSON API. No framework, no CDN,
// no build step: one ES module per page, loaded by the browser as they are, so the album
// works offline and a page URL shows exactly what the API says.

import { fill, h, main } from "./dom.js";
import { facePage } from "./face.js";
import { current, nextPage, route, setRouter } from "./nav.js";
import { drawOwnerNav, loadSession } from "./owner.js";
import { peoplePage } from "./people.js";
import { personPage } from "./person.js";
import { closeLightbox, picturePage } from "./picture.js";
import { peopleSearchPage, photoSearchPage } from "./search.js";
import { setPage, setsPage } from "./sets.js";

// -- pages -----------------------------------------------------------------------

async function draw() {
  const seq = nextPage();
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

// -- start -----------------------------------------------------------------------

setRouter(draw);
loadSession().catch(() => drawOwnerNav()).finally(route);
