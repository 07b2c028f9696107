// The owner's status line for the album's jobs (a set being deleted or renamed in the
// background, a reindex; issue 18): polled while any runs; the page reloads once they are
// done. A delete that failed for good offers to try again.

import { api } from "./api.js";
import { enc, fill, h, main, toast } from "./dom.js";
import { current, route } from "./nav.js";

const count = (n) => n.toLocaleString();

function describe(j) {
  const what = j.kind === "rename" ? `Renaming “${j.set}” to “${j.to}”`
    : j.kind === "reindex" ? `Reindexing faces${j.set ? ` of “${j.set}”` : ""}` : `Deleting “${j.set}”`;
  if (j.state !== "failed") return h("span", {}, `${what}… ${count(j.done)} of ${count(j.total)} pictures`);
  const retry = j.kind === "delete" ? h("button", { class: "retry-job", onclick: async () => {
    try { await api("DELETE", `/api/sets/${enc(j.set)}`); route(); } catch (err) { toast(err.message); }
  } }, "Try again") : null;
  return h("span", {}, `${what} failed: ${j.error} `, retry);
}

export async function jobsLine(seq) {
  const line = h("p", { class: "muted", id: "set-jobs", role: "status" });
  main.querySelector(".toolbar")?.after(line);
  let seen = false;
  while (current(seq)) {
    const { jobs } = await api("GET", "/api/jobs");
    if (!current(seq)) return;
    fill(line, jobs.map(describe));
    if (!jobs.length) {
      if (seen) route();  // done while this page was open: show the sets as they are now
      return;
    }
    if (jobs.every((j) => j.state === "failed")) return;  // nothing moves until asked again
    seen = true;
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}
