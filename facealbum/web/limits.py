"""What any visitor may cost the server: request-body caps, the owner's credentials
checked before a body is read, searches by photo at once, and searches per client.

``BodyLimit`` is ASGI middleware because FastAPI reads (and parses) a route's body
before it runs the route's dependencies: without it an anonymous 1 GB JSON POST to an
owner route is read whole before its 401. It finds the route a request is for, refuses
it at once (401/403/429) if the route is the owner's and the request is not, refuses a
declared ``Content-Length`` over the route's cap with 413 before a byte is read, and
counts a chunked body as it streams, answering 413 the moment it passes the cap.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import AlbumError
from ..settings import Settings
from .auth import Forbidden, NotOwner, OwnerAuth, TooManyAttempts

VISITOR_JSON_BYTES = 16 * 1024  # sign-in: a secret of at most 1000 characters, escaped
MULTIPART_ENVELOPE = 64 * 1024  # boundaries and part headers around a searched photo


class TooManyRequests(AlbumError):
    """429 with Retry-After (seconds): too many searches at once, or by one client."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Slots:
    """At most ``n`` at once; one more is refused at once, never queued (a queue of
    visitors' photos would be memory held for nobody's benefit)."""

    def __init__(self, n: int, what: str):
        self._free = threading.BoundedSemaphore(n)
        self.what = what

    def __enter__(self) -> Slots:
        if not self._free.acquire(blocking=False):
            raise TooManyRequests(f"too many {self.what} at once; try again shortly", 1)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._free.release()


class OnePerClient:
    """At most one at once per client address; a second is refused at once (429).
    With :class:`Slots` alone, one address holding every slot (slow bodies, one each)
    kept the feature from everyone else for as long as it liked."""

    def __init__(self, what: str):
        self.what = what
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, client: str) -> Iterator[None]:
        with self._lock:
            if client in self._busy:
                raise TooManyRequests(
                    f"one of your {self.what} is still running (one at once per address); "
                    "try again shortly",
                    1,
                )
            self._busy.add(client)
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(client)


class SlowBody(AlbumError):
    """408: a body that did not arrive within its time."""


class RateLimit:
    """At most ``per_minute`` events per client in any 60 s. Memory is O(clients seen
    in the last minute x per_minute).

    In one process the window slides event by event. With ``shared`` (a file in the
    album's home: ``serve --workers N``) every process of the server counts in that
    file (:class:`SharedWindow`), so a visitor gets ``per_minute`` in all, not in each:
    the kernel hands each connection to any process, so per-process windows let a
    visitor with N connections search N times as often."""

    WINDOW = 60.0

    def __init__(
        self,
        per_minute: int,
        what: str,
        clock: Callable[[], float] = time.monotonic,
        shared: Path | None = None,
    ):
        self.per_minute, self.what, self.clock = per_minute, what, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = clock()
        self._shared = SharedWindow(shared) if shared is not None else None

    def hit(self, client: str) -> None:
        """Count one event of ``client``, or raise TooManyRequests (not counted)."""
        now = self.clock()
        if self._shared is not None:
            wait = self._shared.hit(client, now, self.per_minute)
        else:
            wait = self._hit_here(client, now)
        if wait:
            raise TooManyRequests(
                f"too many {self.what} from your address; try again in {wait} s", wait
            )

    def _hit_here(self, client: str, now: float) -> int:
        with self._lock:
            if now - self._swept > self.WINDOW:  # forget clients quiet for a minute
                self._seen = {c: q for c, q in self._seen.items() if now - q[-1] < self.WINDOW}
                self._swept = now
            times = self._seen.setdefault(client, deque())
            while times and now - times[0] >= self.WINDOW:
                times.popleft()
            if len(times) >= self.per_minute:
                return int(self.WINDOW - (now - times[0])) + 1
            times.append(now)
            return 0


class SharedWindow:
    """Each client's events of the last minute, counted by every process of one server
    in one memory-mapped file under ``flock`` (a few microseconds an event).

    A client's address is hashed (CRC-32, the same in every process) to one of
    ``BUCKETS`` rows of ``SLOTS`` (slot number, count) pairs: the minute in 5 s slots,
    so the window slides by 5 s steps (a client gets ``per_minute`` events in any 55 to
    60 s). Two clients in one bucket share a limit: with 32,768 buckets, rarely, and
    never to a client's advantage. The file is 3 MiB whatever the number of clients.
    Slot numbers come from ``time.monotonic`` (one clock for every process on Linux);
    a file left by an earlier boot holds numbers outside the window, ignored."""

    BUCKETS = 1 << 15
    SLOTS = 12
    STEP = 60.0 / SLOTS

    def __init__(self, path: Path):
        size = self.BUCKETS * self.SLOTS * 2 * 4
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size < size:  # new (processes racing here agree on the size)
            os.ftruncate(fd, size)
        self._fd = fd
        self._cells = memoryview(mmap.mmap(fd, size)).cast("I")
        self._lock = threading.Lock()  # flock does not exclude this process's threads

    def hit(self, client: str, now: float, per_minute: int) -> int:
        """Count one event of ``client`` at ``now`` (monotonic seconds): 0, or the
        seconds to wait if it already had ``per_minute`` (then not counted)."""
        row = (zlib.crc32(client.encode("utf-8", "surrogatepass")) % self.BUCKETS) * self.SLOTS
        slot = int(now // self.STEP) + 1  # 0 is a cell never written
        cells = self._cells
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                counted, oldest = 0, slot
                for i in range(row * 2, (row + self.SLOTS) * 2, 2):
                    if slot - self.SLOTS < cells[i] <= slot:
                        counted += cells[i + 1]
                        oldest = min(oldest, cells[i])
                if counted >= per_minute:  # free when the oldest slot leaves the window
                    return max(1, math.ceil((oldest + self.SLOTS - 1) * self.STEP - now))
                i = (row + slot % self.SLOTS) * 2
                if cells[i] != slot:
                    cells[i], cells[i + 1] = slot, 0
                cells[i + 1] += 1
                return 0
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


def rate_limit(settings: Settings, per_minute: int, what: str, name: str) -> RateLimit:
    """The server's limit of ``what``: in this process, or shared by the processes of
    ``serve --workers N`` through ``home/.rate-NAME`` (see :class:`RateLimit`)."""
    shared = settings.home / f".rate-{name}" if settings.web_workers > 1 else None
    return RateLimit(per_minute, what, shared=shared)


def forget_rates(settings: Settings) -> None:
    """A new server starts with no client counted (its parent calls this before any
    process counts): the files of the last one are removed."""
    for path in settings.home.glob(".rate-*"):
        path.unlink(missing_ok=True)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body too large (limit {limit} bytes)")


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: see the module's docstring. ``routes``: the site's own;
    ``caps``: route path (as declared, e.g. ``/api/sets/{name}/pictures``) -> its body
    cap in bytes; every other of ``routes`` takes ``default``. Requests for no route
    of ``routes`` pass untouched (mounted apps, such as /rekognition, keep their own)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[APIRoute],
        auth: OwnerAuth,
        caps: dict[str, int],
        default: int,
    ) -> None:
        self.app, self.routes, self.auth = app, routes, auth
        self.caps, self.default = caps, default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route(scope)
        if route is None:  # not one of the site's routes: a mount, or a 404
            await self.app(scope, receive, send)
            return
        if self._owners(route):
            refusal = await run_in_threadpool(self._refuse_unless_owner, scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        limit = self.caps.get(route.path, self.default)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _error(400, "malformed Content-Length")(scope, receive, send)
                return
            if size > limit:
                await _error(413, str(BodyTooLarge(limit).detail))(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    def _route(self, scope: Scope) -> APIRoute | None:
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route
            if match == Match.PARTIAL and partial is None:  # the path, another method
                partial = route
        return partial

    def _owners(self, route: APIRoute) -> bool:
        return any(d.call == self.auth.require_owner for d in route.dependant.dependencies)

    def _refuse_unless_owner(self, scope: Scope) -> JSONResponse | None:
        """The route's own check, run before its body is read (it reads only headers
        and the cookie; a failure counts once, since the route is then never run)."""
        try:
            self.auth.require_owner(Request(scope))
        except TooManyAttempts as exc:
            return _error(429, str(exc), {"Retry-After": str(exc.retry_after)})
        except NotOwner as exc:
            return _error(401, str(exc))
        except Forbidden as exc:
            return _error(403, str(exc))
        return None
