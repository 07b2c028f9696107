// Moving between pages without reloading: the router is main.js's, registered here so
// that pages can navigate without importing it (no import cycle).

let router = () => {};
export function setRouter(fn) { router = fn; }
/** Draw the current URL's page again (after an edit). */
export const route = () => router();

export function navigate(url, replace = false) {
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

let routeSeq = 0; // a slow page load must not overwrite the page that followed it
/** A new page load begins: its number, which current() tells is still the latest. */
export const nextPage = () => ++routeSeq;
export const current = (seq) => seq === routeSeq;
