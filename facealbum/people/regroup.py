"""The full regrouping of people as a job of its own: requested when a batch ends,
debounced, run by one runner at a time per album, its progress visible.

Placing each new face as it arrives (grouping.place_faces) cannot see what a whole
batch shows together, so every batch ends with a full regrouping (grouping.recluster,
which keeps the owner's placements, "not this person" answers and names):

- ``facealbum import`` and ``aws migrate`` run it at their end, in their own process,
  with their progress (:func:`run_now`);
- the site's and API's uploads each :func:`request` one a quiet period
  (``regroup_delay`` seconds) after the last: every upload pushes it back, so many
  uploads make one regrouping. The server's job loop (:func:`enqueue_if_due`) queues
  it once it is due and the upload queue has drained;
- on AWS, the upload function runs it at the end of a batch of S3 events that added
  faces, in the same invocation (:func:`run_now`; Lambda has no loop of its own).

The job's state is one record in the catalog (``Catalog.get_job``/``put_job``, key
:data:`JOB`), changed only by conditional writes on the version read, so every process
(servers, workers, functions, the CLI) agrees on it::

    {"due_at": float | None,     # a regrouping is wanted from then on (scheduled)
     "requested_at": float | None,  # when the last request came (the batch ended)
     "queued_at": float | None,  # handed to the job queue (so it is queued once)
     "holder": str | None, "lease_until": float,  # who runs it, until when
     "done": int, "total": int,  # faces compared so far, of
     "started_at": float | None, "finished_at": float | None,
     "failed_at": float | None, "failures": int,  # failed runs in a row: retried
     "runs": int}  # a lease after the last, doubling with each (MAX_BACKOFF leases)

The runner's claim is a lease renewed while it works; a dead runner's lease runs out
and the next one takes over, its request still standing. A request while a regrouping
runs (``requested_at`` after its ``started_at``) stays when it finishes, so one more runs
after it ("again after this one"), never two at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..album import Album
    from .grouping import GroupingReport

log = logging.getLogger(__name__)
JOB = "people.regroup"
TASK = "regroup_people"  # the job queue's task name
PROGRESS_EVERY = 1.0  # seconds between progress writes while running
IDLE: dict = {"due_at": None, "requested_at": None, "queued_at": None, "holder": None,
              "lease_until": 0.0, "done": 0, "total": 0, "started_at": None,
              "finished_at": None, "failed_at": None, "failures": 0, "runs": 0}  # fmt: skip
MAX_BACKOFF = 64  # leases (an hour at the default lease) between retries of a failing run


def _read(album: Album) -> tuple[dict, int]:
    found = album.catalog.get_job(JOB)
    return ({**IDLE, **found[0]}, found[1]) if found else (dict(IDLE), 0)


def _change(album: Album, change: Callable[[dict], bool | None]) -> dict | None:
    """Apply ``change`` to the state read and write it conditionally, again on a race.
    ``change`` edits the dict in place; returning False means "nothing to write"
    (then None is returned); otherwise the state written is returned."""
    for _ in range(50):
        state, version = _read(album)
        if change(state) is False:
            return None
        if album.catalog.put_job(JOB, state, version):
            return state
    raise RuntimeError("the regrouping's state kept changing under this writer")


def _running(state: dict, now: float) -> bool:
    return bool(state["holder"]) and state["lease_until"] > now


def request(album: Album, delay: float | None = None, now: float | None = None) -> None:
    """Want a regrouping ``delay`` seconds from now (default ``regroup_delay``); a
    later request pushes it back (debounce). One conditional write."""
    now = time.time() if now is None else now
    at = now + (album.settings.regroup_delay if delay is None else delay)

    def want(state: dict) -> None:
        state["due_at"] = max(at, state["due_at"] or 0.0)
        state["requested_at"] = max(now, state["requested_at"] or 0.0)

    _change(album, want)


def status(album: Album, now: float | None = None) -> dict:
    """``{state: idle|scheduled|running, done, total, started_at, finished_at, due_at,
    lease_until}`` (times in seconds since the epoch; ``lease_until``: when a running
    one's claim runs out unless its runner renews it, i.e. when another takes over if
    that runner died): what the site and CLI show. One read."""
    now = time.time() if now is None else now
    s, _ = _read(album)
    state = "running" if _running(s, now) else "scheduled" if s["due_at"] else "idle"
    keys = ("done", "total", "started_at", "finished_at", "due_at", "lease_until")
    return {"state": state, **{k: s[k] for k in keys}}


def enqueue_if_due(album: Album, now: float | None = None) -> bool:
    """Queue the regrouping if it is due, the upload queue has drained and nobody runs
    or has queued it (a queued job lost for a lease's time is queued again). The job
    loop of ``serve``/``worker`` calls this every second: one read when idle."""
    now = time.time() if now is None else now
    lease = album.settings.upload_lease_seconds
    s, _ = _read(album)
    if not s["due_at"] or s["due_at"] > now or _running(s, now):
        return False
    if _queued(s, now, lease):
        return False
    if album.queue.pending():  # uploads still waiting: their batch has not ended
        return False

    def mark(state: dict) -> bool | None:
        if not state["due_at"] or state["due_at"] > now or _running(state, now):
            return False
        if _queued(state, now, lease):
            return False
        state["queued_at"] = now
        return None

    if _change(album, mark) is None:
        return False
    album.queue.enqueue(TASK)
    return True


def _queued(state: dict, now: float, lease: float) -> bool:
    """Queued already for the request it answers (a request after it, e.g. an upload
    that came in before the job ran, needs it queued again), and not lost (a queued job
    nobody ran for a lease's time is queued again)."""
    at, failed = state["queued_at"], state["failed_at"]
    backoff = min(2 ** max(state["failures"] - 1, 0), MAX_BACKOFF) * lease
    if failed and failed > now - backoff:
        return True  # it failed a moment ago: not again at once, ever less often
    return bool(at) and at >= state["due_at"] and at > now - lease


def claim(album: Album, holder: str, now: float | None = None, due_only: bool = False) -> bool:
    """Take the lease if nobody holds it (or its holder's ran out); ``due_only``: and
    only if a regrouping is due. The request it answers stays until the run finishes
    (so a runner that dies leaves it for the next). One conditional write."""
    now = time.time() if now is None else now
    lease = album.settings.upload_lease_seconds

    def take(state: dict) -> bool | None:
        if _running(state, now) or (due_only and not (state["due_at"] and state["due_at"] <= now)):
            return False
        state.update(holder=holder, lease_until=now + lease, queued_at=None, done=0,
                     total=0, started_at=now)  # fmt: skip
        return None

    return _change(album, take) is not None


def let_go(album: Album) -> None:
    """Drop the runner's claim and the queued mark, keeping any request: for an album
    in which nothing can be running (one just restored from a backup that caught a run
    mid-way), so that it is regrouped at once rather than a lease later."""

    def free(state: dict) -> bool | None:
        if not state["holder"] and not state["queued_at"]:
            return False
        state.update(holder=None, lease_until=0.0, queued_at=None)
        return None

    _change(album, free)


def _release(album: Album, holder: str, finished: bool, progress: dict | None = None) -> None:
    def done(state: dict) -> bool | None:
        if state["holder"] != holder:
            return False  # taken over after our lease ran out: theirs now
        state.update(holder=None, lease_until=0.0, **(progress or {}))
        if finished:
            state.update(finished_at=time.time(), runs=state["runs"] + 1)
            if (state["requested_at"] or 0.0) <= state["started_at"]:
                state["due_at"] = None  # answered; one made during the run stays
            state.update(failed_at=None, failures=0)
        elif state["due_at"]:  # it failed: retried a lease later, then ever less often
            state.update(failed_at=time.time(), failures=state["failures"] + 1)
        return None

    _change(album, done)


def run(
    album: Album,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[], None] = lambda: None,
    due_only: bool = False,
) -> GroupingReport | None:
    """Run the regrouping here if no one else does (None if someone does: their run
    picks up a request left for after it), renewing the lease and writing progress
    while it works; then again while a request came in meanwhile that is due already
    (a batch that ended during the run), at most three times."""
    report = None
    for _ in range(3):
        ran = _run_once(album, on_start, on_progress, due_only)
        if ran is None:
            break
        report = ran
        state, _ = _read(album)
        if not state["due_at"] or state["due_at"] > time.time():
            break
        due_only = True
    return report


def _run_once(
    album: Album,
    on_start: Callable[[int], None],
    on_progress: Callable[[], None],
    due_only: bool,
) -> GroupingReport | None:
    from .grouping import recluster

    holder = uuid.uuid4().hex
    if not claim(album, holder, due_only=due_only):
        return None
    progress = {"done": 0, "total": 0}
    stop = threading.Event()
    lease = album.settings.upload_lease_seconds

    def renew() -> None:
        while not stop.wait(min(PROGRESS_EVERY, lease / 3)):
            try:
                _change(album, lambda s: _renew(s, holder, progress, lease))
            except Exception:  # a busy database: the next renewal will do
                log.warning("could not renew the regrouping's lease", exc_info=True)

    def start(total: int) -> None:
        progress["total"] = total
        on_start(total)

    def step() -> None:
        progress["done"] += 1
        on_progress()

    thread = threading.Thread(target=renew, daemon=True)
    thread.start()
    finished = False
    try:
        report = recluster(album, on_start=start, on_progress=step)
        finished = True
    finally:
        stop.set()
        thread.join()
        _release(album, holder, finished, progress)
    log.info("people regrouped: %s", report)
    return report


def _renew(state: dict, holder: str, progress: dict, lease: float) -> bool | None:
    if state["holder"] != holder:
        return False
    state.update(lease_until=time.time() + lease, **progress)
    return None


def run_now(
    album: Album,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[], None] = lambda: None,
) -> GroupingReport | None:
    """A batch ended here: regroup now in this process, or, if another runner is at
    it, leave a request so that it runs once more after (None then)."""
    request(album, delay=0)
    return run(album, on_start, on_progress)

