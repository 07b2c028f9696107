"""Deleting and renaming a set as jobs: the request returns at once, the work runs on
the job queue in batches, resumably, its progress kept in the catalog for the site and
the CLI.

State lives in the catalog's job records (``Catalog.get_job``/``put_job``), changed
only by conditional writes on the version read, as people/regroup.py does: one record
per job (key ``sets.job#<id>``) and one registry of the unfinished ones (``sets.jobs``)::

    job:      {"id", "kind": "delete" | "rename", "set": str, "to": str | None,
               "state": "queued" | "running" | "done" | "failed",
               "done": int, "total": int,  # pictures deleted / moved so far, of
               "holder": str | None, "lease_until": float, "queued_at": float,
               "pending": [ref, …],  # the batch being deleted (see _ref)
               "persons": [id, …],  # persons that lost faces (see _persons)
               "failures": int, "error": str | None,
               "created_at", "started_at", "finished_at": float | None}
    registry: {"jobs": {id: {"kind", "set", "to"}}}

Deleting: each batch (``Settings.set_job_batch`` pictures) is first written to the
job's ``pending`` list, then deleted from the catalog (``Catalog.delete_pictures``),
then its faces leave the collection and its blobs go unless another picture uses their
content (under the content's lock, as for one picture: an upload of the same photo
meanwhile either counts as a use or writes its blobs again after), then the batch
leaves ``pending`` with the progress. Every step is harmless twice, so a runner that
dies anywhere is replaced once its lease runs out (:func:`recover`, from the server's
job loop) and the next one does the pending batch again and carries on. The set's row
goes last, with whatever arrived meanwhile (``Catalog.delete_set``).

Visitors never see a half-deleted set: from the request on, listings and the set's
page leave it out (:func:`hidden_sets`), and a renamed set's new name is left out
until its pictures are all there (a DynamoDB rename moves them one by one).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from .domain import BadInput, NotFound, Picture, as_stored, check_set_name

if TYPE_CHECKING:
    from .album import Album
    from .importer import Outcome

log = logging.getLogger(__name__)
REGISTRY = "sets.jobs"
TASK = "set_job"  # the job queue's task name
MAX_PENDING_FACES = 2000  # faces of one batch (~80 bytes each in its job record)
MAX_PERSONS = 5000  # persons remembered for choosing their representatives again
PROGRESS_EVERY = 1.0  # seconds between a reindex's progress writes
MAX_FAILURES = 5  # runs in a row that raised before a job is marked failed
Progress = Callable[[int, int], None]  # (done, total)


class LostLease(Exception):
    """Another runner took the job over (this one was too slow to renew its lease)."""


class Paused(Exception):
    """The runner's time is up (a function's time limit): the job waits for the next."""


def _key(job_id: str) -> str:
    return f"sets.job#{job_id}"


def _change(album: Album, key: str, change: Callable[[dict], bool | None]) -> dict | None:
    """Apply ``change`` to the record read (``{}`` if none) and write it conditionally,
    again on a race. ``change`` edits in place; False means "nothing to write" (None
    is returned then), otherwise the record written is returned."""
    for _ in range(50):
        found = album.catalog.get_job(key)
        state, version = (found[0], found[1]) if found else ({}, 0)
        if change(state) is False:
            return None
        if album.catalog.put_job(key, state, version):
            return state
    raise RuntimeError(f"the job record {key} kept changing under this writer")


def active(album: Album) -> dict[str, dict]:
    """The unfinished jobs: id -> {"kind", "set", "to"}. One read."""
    found = album.catalog.get_job(REGISTRY)
    return dict(found[0].get("jobs", {})) if found else {}


def hidden_sets(album: Album) -> set[str]:
    """The sets no listing or set page shows: those being deleted, and the new names of
    those being renamed. One read."""
    return _hidden(active(album))


def _hidden(jobs: dict[str, dict]) -> set[str]:
    return {j["set"] for j in jobs.values() if j["kind"] == "delete"} | {
        j["to"] for j in jobs.values() if j["kind"] == "rename"
    }


def job_for(album: Album, set_name: str) -> tuple[str, dict] | None:
    """(id, entry) of the unfinished job that changes this set (as its old or new name)."""
    return _job_for(active(album), set_name)


def _job_for(jobs: dict[str, dict], set_name: str) -> tuple[str, dict] | None:
    for job_id, j in jobs.items():
        if j["kind"] in ("delete", "rename") and set_name in (j["set"], j.get("to")):
            return job_id, j
    return None


def status(album: Album, job_id: str) -> dict:
    """The job's record without its batch and persons; NotFound if there is none."""
    found = album.catalog.get_job(_key(job_id)) if len(job_id) == 32 else None
    if not found or "kind" not in found[0]:
        raise NotFound(f"no job {job_id}")
    return {k: v for k, v in found[0].items() if k not in ("pending", "persons")}


def start(
    album: Album, kind: str, name: str, to: str | None = None, queue: bool = True
) -> dict:
    """Record the job and queue it (``queue``; else the caller runs it, and if it dies
    :func:`recover` queues it): O(1) catalog writes whatever the set's size. A
    delete of a set being deleted already returns that job; any other job on a set (or
    a new name) another job changes is BadInput (422, as an upload to it or a set made
    under its name: though hidden from reads, it is not free); a missing set NotFound."""
    name = as_stored(name)
    if kind == "rename":
        to = check_set_name(to or "")
    # one read of the jobs, before the set's: a delete recorded meanwhile by another
    # request then finds the set (hidden, not gone) and ``_record`` returns its job;
    # a second read could see the set hidden by a job the first did not see
    jobs = active(album)
    summary = album.catalog.get_set(name)
    existing = _job_for(jobs, name)
    if existing and existing[1]["kind"] == kind == "delete" and existing[1]["set"] == name:
        retry(album, existing[0], queue)  # if it failed: asked again, so tried again
        return status(album, existing[0])
    if existing:  # as every other change of a set a job changes (its old or new name)
        raise BadInput(f"set {name!r} is being changed already; try again when that is done")
    if summary is None:
        raise NotFound(f"no set {name!r}")
    if to is not None and (album.catalog.get_set(to) is not None or job_for(album, to)):
        raise BadInput(f"a set named {to!r} exists already")
    return _record(album, kind, name, to, summary.picture_count, {}, queue)


def start_reindex(
    album: Album,
    set_name: str | None,
    everything: bool = False,
    workers: int | None = None,
    queue: bool = True,
) -> dict:
    """``facealbum reindex`` as a job (importer.reindex, resumable by each picture's
    engine tag): its progress in the owner's status line, and a runner that dies is
    replaced by the server's job loop. A reindex that runs already is returned."""
    if set_name is not None:
        set_name = album.get_set(set_name, limit=0)[0].name
    for job_id, j in active(album).items():
        if j["kind"] == "reindex":
            retry(album, job_id, queue)
            return status(album, job_id)
    extra: dict = {"everything": everything, "workers": workers, "marked": False, "faces": 0,
             "failed": []}  # fmt: skip
    return _record(album, "reindex", set_name, None, 0, extra, queue)


def _record(
    album: Album, kind: str, name: str | None, to: str | None, total: int, extra: dict,
    queue: bool,
) -> dict:  # fmt: skip
    """Write the job's record, then add it to the registry (refusing a conflicting job
    by its conditional write), then queue it."""
    job_id = uuid.uuid4().hex
    now = time.time()
    state: dict = {"id": job_id, "kind": kind, "set": name, "to": to, "state": "queued",
                   "done": 0, "total": total, "holder": None, "lease_until": 0.0,
                   "queued_at": now, "pending": [], "failures": 0, "error": None,
                   "created_at": now, "started_at": None, "finished_at": None,
                   **extra}  # fmt: skip
    album.catalog.put_job(_key(job_id), state, 0)
    same: list[str] = []

    def register(reg: dict) -> bool | None:
        jobs = reg.setdefault("jobs", {})
        for other, j in jobs.items():
            if kind == j["kind"] and (kind == "reindex" or (kind == "delete" and j["set"] == name)):
                same[:] = [other]  # two at once: one job
                return False
            if kind != "reindex" != j["kind"] and {name, to} & {j["set"], j.get("to")} - {None}:
                raise BadInput(f"set {name!r} is being changed already")
        jobs[job_id] = {"kind": kind, "set": name, "to": to}
        return None

    if _change(album, REGISTRY, register) is None and same:
        return status(album, same[0])
    if not queue:
        return status(album, job_id)
    try:
        album.queue.enqueue(TASK, job_id=job_id)
    except Exception:  # a full disk under the queue: recover queues it
        log.warning("could not queue job %s; it is queued again later", job_id)
    return status(album, job_id)


def run(
    album: Album,
    job_id: str,
    on_progress: Progress = lambda done, total: None,
    until: float | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> dict | None:
    """Run the job here unless another runner holds it or it is over (None then).
    The lease is renewed with every batch's progress; a failure frees it for a retry
    (by :func:`recover`), up to MAX_FAILURES runs, after which the job is "failed" and
    its set stays hidden until the owner deletes it again. ``until`` (epoch seconds):
    stop between batches after then, freeing the job for the next runner (None then).
    ``on_outcome``: a reindex's outcome of each picture (importer.Outcome), as the
    CLI's progress bar shows them."""
    holder = uuid.uuid4().hex
    lease = album.settings.upload_lease_seconds
    now = time.time()

    def take(s: dict) -> bool | None:
        if s.get("state") not in ("queued", "running"):
            return False
        if s["holder"] and s["lease_until"] > now:
            return False
        s.update(holder=holder, lease_until=now + lease, state="running",
                 started_at=s["started_at"] or now)  # fmt: skip
        return None

    job = _change(album, _key(job_id), take)
    if job is None:
        return None
    try:
        if job["kind"] == "delete":
            _delete(album, job, holder, on_progress, until)
        elif job["kind"] == "rename":
            _rename(album, job, holder, on_progress)
        else:
            _reindex(album, job, holder, on_progress, on_outcome or (lambda o: None))
    except LostLease:
        return None
    except Paused:
        _change(album, _key(job_id), lambda s: _let_go(s, holder))
        return None
    except Exception as exc:
        log.exception("set job %s failed", job_id)
        _fail(album, job_id, holder, str(exc))
        raise
    return _finish(album, job_id, holder)


def _let_go(state: dict, holder: str) -> bool | None:
    if state.get("holder") != holder:
        return False
    state.update(holder=None, lease_until=0.0)
    return None


def run_active(album: Album, until: float | None = None) -> int:
    """Run every unfinished set job nobody runs, one after the other, until ``until``: for
    an album without a job loop (AWS: the scheduled function, each minute, continues
    where the last left off). How many finished."""
    finished = 0
    for job_id, j in active(album).items():
        if j["kind"] == "reindex":  # a pool of processes: the command's (or a server's)
            continue
        if until is not None and time.time() > until:
            break
        finished += run(album, job_id, until=until) is not None
    return finished


def retry(album: Album, job_id: str, queue: bool = True) -> None:
    """A failed job made runnable once more (the owner asked again), and queued."""

    def again(s: dict) -> bool | None:
        if s.get("state") != "failed":
            return False
        s.update(state="queued", failures=0, error=None, queued_at=time.time())
        return None

    if _change(album, _key(job_id), again) is not None and queue:
        album.queue.enqueue(TASK, job_id=job_id)


def recover(album: Album, now: float | None = None) -> int:
    """Queue again every unfinished job whose runner died (its lease ran out) or whose
    queued task was lost (queued a lease ago, never taken): the server's job loop calls
    this as it recovers uploads. One read when nothing is going on."""
    now = time.time() if now is None else now
    lease = album.settings.upload_lease_seconds
    queued = 0
    for job_id in active(album):

        def lost(s: dict) -> bool | None:
            if s.get("state") not in ("queued", "running") or s["lease_until"] > now:
                return False
            if s["queued_at"] > now - lease:  # queued a moment ago: not lost yet
                return False
            s["queued_at"] = now
            return None

        if _change(album, _key(job_id), lost) is not None:
            log.warning("set job %s was interrupted; queued again", job_id)
            album.queue.enqueue(TASK, job_id=job_id)
            queued += 1
    return queued


# -- the work ----------------------------------------------------------------------


def _save(album: Album, job_id: str, holder: str, **changes: object) -> dict:
    """Write progress and renew the lease, if the job is still this runner's."""
    lease = album.settings.upload_lease_seconds

    def put(s: dict) -> bool | None:
        if s.get("holder") != holder:
            return False
        s.update(changes, lease_until=time.time() + lease)
        s["total"] = max(s["total"], s["done"])
        return None

    saved = _change(album, _key(job_id), put)
    if saved is None:
        raise LostLease(job_id)
    return saved


def _ref(p: Picture) -> dict:
    """What cleaning up after a deleted picture needs of it (small: it is kept in the
    job's record until its batch is done)."""
    return {"image_id": p.image_id, "set": p.set_name, "name": p.name, "sha256": p.sha256,
            "original_key": p.original_key,
            "faces": [[f.face_id, f.person_id] for f in p.faces]}  # fmt: skip


def _bounded(refs: list[dict], faces: int = MAX_PENDING_FACES) -> list[dict]:
    """The first pictures of a batch up to ``faces`` faces (at least one): the batch is
    kept in one job record, and a DynamoDB item holds 400 KB."""
    out: list[dict] = []
    n = 0
    for r in refs:
        n += len(r["faces"])
        if out and n > faces:
            break
        out.append(r)
    return out


def _clean_up(album: Album, refs: list[dict]) -> None:
    """The faces of deleted pictures leave the collection; each content's blobs go
    unless a picture still uses it. Harmless twice (forgetting a forgotten face,
    deleting a deleted blob). Their persons' representatives are chosen again once, at
    the job's end (a read leaves a gone face out meanwhile): per batch, a person mostly
    in the set would have all its faces read again each time."""
    album.collection.forget([f[0] for r in refs for f in r["faces"]])
    for r in {r["sha256"]: r for r in refs}.values():
        picture = Picture(r["image_id"], r["set"], r["name"], r["sha256"], 0, 0,
                          r["original_key"], "", 0)  # fmt: skip
        album._drop_blobs(picture)


def _persons(job: dict, refs: list[dict]) -> list[str]:
    """The persons that lost faces so far, with this batch's (at most MAX_PERSONS kept:
    beyond, a person's next change or read chooses its representatives again)."""
    touched = dict.fromkeys(job.get("persons", []))
    touched.update(dict.fromkeys(f[1] for r in refs for f in r["faces"] if f[1]))
    return list(touched)[:MAX_PERSONS]


def _delete(
    album: Album, job: dict, holder: str, on_progress: Progress, until: float | None
) -> None:
    job_id, name, batch = job["id"], job["set"], album.settings.set_job_batch
    if job["pending"]:  # a runner died in the middle of this batch: do it again
        refs = job["pending"]
        album.catalog.delete_pictures([r["image_id"] for r in refs])
        _clean_up(album, refs)
        job = _save(album, job_id, holder, pending=[], done=job["done"] + len(refs))
    on_progress(job["done"], job["total"])
    while found := album.catalog.list_pictures(name, batch, 0):
        if until is not None and time.time() > until:
            raise Paused(job_id)
        refs = _bounded([_ref(p) for p in found])
        job = _save(album, job_id, holder, pending=refs, persons=_persons(job, refs))
        album.catalog.delete_pictures([r["image_id"] for r in refs])
        _clean_up(album, refs)
        job = _save(album, job_id, holder, pending=[], done=job["done"] + len(refs))
        on_progress(job["done"], job["total"])
    try:  # the set's row, with anything that came in since the last batch
        last = [_ref(p) for p in album.catalog.delete_set(name)]
    except NotFound:  # deleted by the run before this one, which died after
        last = []
    _clean_up(album, last)
    album._refresh_people(set(_persons(job, last)))
    if last:
        job = _save(album, job_id, holder, done=job["done"] + len(last))
        on_progress(job["done"], job["total"])


def _rename(album: Album, job: dict, holder: str, on_progress: Progress) -> None:
    """The catalog moves the pictures (``Catalog.rename_set_step``): SQL a transaction
    of ``Settings.set_job_batch`` pictures a step, its progress saved after each (which
    renews the lease), DynamoDB one transaction per picture; a run after an interrupted
    one goes on where it stopped. Meanwhile the set reads under its old name alone
    (the new one is hidden until the job is done), its pictures leaving it a batch at
    a time, as uploads to it are refused."""
    on_progress(job["done"], job["total"])
    batch = album.settings.set_job_batch
    try:
        while not album.catalog.rename_set_step(job["set"], job["to"], batch):
            moved = album.catalog.get_set(job["to"])
            done = moved.picture_count if moved else job["done"]
            job = _save(album, job["id"], holder, done=done)
            on_progress(done, max(done, job["total"]))
    except NotFound:
        if album.catalog.get_set(job["to"]) is None:
            raise
    summary = album.catalog.get_set(job["to"])
    done = summary.picture_count if summary else job["total"]
    _save(album, job["id"], holder, done=done)
    on_progress(done, max(done, job["total"]))


def _reindex(
    album: Album, job: dict, holder: str, on_progress: Progress,
    on_outcome: Callable[[Outcome], None],
) -> None:  # fmt: skip
    """importer.reindex, its progress written each second (which renews the lease): a
    run after a dead one reindexes only what is left (each picture's engine tag)."""
    from .importer import reindex

    job_id = job["id"]
    if job["everything"] and not job["marked"]:
        album.catalog.mark_stale(job["set"])
        job = _save(album, job_id, holder, marked=True)
    base, counts, last = job["done"], {"n": 0, "faces": 0}, [time.monotonic()]
    total = [job["total"]]

    def start(n: int) -> None:
        total[0] = base + n
        _save(album, job_id, holder, total=total[0])
        on_progress(base, total[0])

    def step(outcome: Outcome) -> None:
        counts["n"] += 1
        counts["faces"] += outcome.faces
        on_outcome(outcome)
        if time.monotonic() - last[0] >= PROGRESS_EVERY:
            last[0] = time.monotonic()
            _save(album, job_id, holder, done=base + counts["n"])
            on_progress(base + counts["n"], total[0])

    report = reindex(album, job["set"], workers=job["workers"], on_start=start,
                     on_progress=step)  # fmt: skip
    failed = job["failed"] + [[o.name, o.reason] for o in report.failed]
    _save(album, job_id, holder, done=base + counts["n"], reindexed=report.done,
          faces=job["faces"] + report.faces, failed=failed[:100])  # fmt: skip
    on_progress(base + counts["n"], total[0])


def _finish(album: Album, job_id: str, holder: str) -> dict | None:
    def end(s: dict) -> bool | None:
        if s.get("holder") != holder:
            return False
        s.update(state="done", holder=None, lease_until=0.0, finished_at=time.time(),
                 error=None)  # fmt: skip
        return None

    if _change(album, _key(job_id), end) is None:
        return None

    def unregister(reg: dict) -> bool | None:
        if job_id not in reg.get("jobs", {}):
            return False
        del reg["jobs"][job_id]
        return None

    _change(album, REGISTRY, unregister)
    return status(album, job_id)


def _fail(album: Album, job_id: str, holder: str, error: str) -> None:
    def free(s: dict) -> bool | None:
        if s.get("holder") != holder:
            return False
        failures = s["failures"] + 1
        s.update(holder=None, lease_until=0.0, failures=failures, error=error,
                 state="failed" if failures >= MAX_FAILURES else "running")  # fmt: skip
        return None

    try:
        _change(album, _key(job_id), free)
    except Exception:  # the catalog itself is failing: the lease runs out instead
        log.warning("could not record the failure of set job %s", job_id, exc_info=True)
