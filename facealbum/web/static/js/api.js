// The album's JSON API: where it is, who is asking, and one call to it.

export const session = { owner: false, csrf: null };
// The API this page reads: its own server, or (the static site on S3) the album's API
// function, named by the shell's meta tag. Visitors read from there; the owner signs
// in on the API's own pages, where changes are same-origin.
export const API = (document.querySelector('meta[name="facealbum-api"]')?.content || "").replace(/\/$/, "");
export const media = (url) => (url && url.startsWith("/") ? API + url : url);

export async function api(method, url, body) {
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

/** A "Show more" button that calls ``load`` when clicked or when it nears the view
 * (infinite scroll); ``load`` resolves whether there is more. Loads once at a time. */
export function moreButton(load, hasMore) {
  let busy = false;
  const more = document.createElement("button");
  more.className = "more";
  more.id = "more";
  more.textContent = "Show more";
  more.hidden = !hasMore;
  const seen = new IntersectionObserver((entries) => entries[0].isIntersecting && go(), { rootMargin: "600px" });
  const go = async () => {
    if (busy || more.hidden) return;
    busy = true;
    try { more.hidden = !(await load()); } finally { busy = false; }
    if (!more.hidden) { seen.unobserve(more); seen.observe(more); }  // still in view: on
  };
  more.addEventListener("click", go);
  seen.observe(more);
  return more;
}
