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

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import AlbumError
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
    """At most ``per_minute`` events per client in any 60 s (a sliding window, kept in
    this process: a server with several processes allows that many per process). Memory
    is O(clients seen in the last minute x per_minute)."""

    WINDOW = 60.0

    def __init__(self, per_minute: int, what: str, clock: Callable[[], float] = time.monotonic):
        self.per_minute, self.what, self.clock = per_minute, what, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    def hit(self, client: str) -> None:
        """Count one event of ``client``, or raise TooManyRequests (not counted)."""
        now = self.clock()
        with self._lock:
            if now - self._swept > self.WINDOW:  # forget clients quiet for a minute
                self._seen = {c: q for c, q in self._seen.items() if now - q[-1] < self.WINDOW}
                self._swept = now
            times = self._seen.setdefault(client, deque())
            while times and now - times[0] >= self.WINDOW:
                times.popleft()
            if len(times) >= self.per_minute:
                wait = int(self.WINDOW - (now - times[0])) + 1
                raise TooManyRequests(
                    f"too many {self.what} from your address; try again in {wait} s", wait
                )
            times.append(now)


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
