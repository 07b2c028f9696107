// The owner's status line for the album's jobs (a set being deleted or renamed in the
// background, a reindex; issue 18): polled while any runs; the page reloads once they are done.

import { api } from "./api.js";
import { h, main } from "./dom.js";
import { current, route } from "./nav.js";

const count = (n) => n.toLocaleString();

function describe(j) {
  const what = j.kind === "rename" ? `Renaming “${j.set}” to “${j.to}”`
    : j.kind === "reindex" ? `Reindexing faces${j.set ? ` of “${j.set}”` : ""}` : `Deleting “${j.set}”`;
  if (j.state === "failed") return `${what} failed: ${j.error}. Delete it again to retry.`;
  return `${what}… ${count(j.done)} of ${count(j.total)} pictures`;
}

export async function jobsLine(seq) {
  const line = h("p", { class: "muted", id: "set-jobs", role: "status" });
  main.querySelector(".toolbar")?.after(line);
  let seen = false;
  while (current(seq)) {
    const { jobs } = await api("GET", "/api/jobs");
    if (!current(seq)) return;
    line.textContent = jobs.map(describe).join(" · ");
    if (!jobs.length) {
      if (seen) route();  // done while this page was open: show the sets as they are now
      return;
    }
    seen = true;
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}
