"""The owner's sign-in: one secret, a signed session cookie, CSRF tokens, rate limits.

Visitors only look. The owner proves the secret once and gets an HttpOnly, SameSite
cookie; every mutating request must also carry a CSRF token derived from that session
(a header no other site can set), or the secret itself as a Bearer token, which scripts
use and browsers never send on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from fastapi import Request

from ..domain import AlbumError
from ..settings import Settings

COOKIE = "facealbum_session"
CSRF_HEADER = "x-csrf-token"


class NotOwner(AlbumError):
    """401: no owner's session or secret."""


class Forbidden(AlbumError):
    """403: a session without its CSRF token."""


class TooManyAttempts(AlbumError):
    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


def load_or_create_secret(settings: Settings) -> tuple[str, bool]:
    """(secret, newly created). A generated secret lives in the data directory, 0600."""
    if settings.owner_secret:
        return settings.owner_secret, False
    path = Path(settings.home) / "owner-secret"
    if path.is_file():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(18)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret, True


class RateLimiter:
    """Failed attempts per client in a sliding window."""

    def __init__(self, attempts: int, window: float = 60.0):
        self.attempts, self.window = attempts, window
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        with self._lock:
            fails = self._prune(client)
            if len(fails) >= self.attempts:
                raise TooManyAttempts(int(self.window - (time.monotonic() - fails[0])) + 1)

    def fail(self, client: str) -> None:
        with self._lock:
            self._prune(client).append(time.monotonic())

    def _prune(self, client: str) -> deque[float]:
        fails = self._fails[client]
        while fails and time.monotonic() - fails[0] > self.window:
            fails.popleft()
        return fails


class OwnerAuth:
    def __init__(self, secret: str, session_days: int = 30, attempts: int = 5):
        self._secret_digest = hashlib.sha256(secret.encode()).digest()
        self._key = hashlib.sha256(b"facealbum-session\0" + secret.encode()).digest()
        self.max_age = session_days * 86400
        self.limiter = RateLimiter(attempts)

    def secret_matches(self, given: str) -> bool:
        # digests first: compare_digest is constant time only for equal lengths
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._secret_digest)

    def sign_in(self, given: str, client: str) -> str:
        """A new session cookie value, or an error; failures count toward the limit."""
        self.limiter.check(client)
        if not self.secret_matches(given):
            self.limiter.fail(client)
            raise NotOwner("wrong secret")
        issued, nonce = str(int(time.time())), secrets.token_urlsafe(16)
        return f"{issued}.{nonce}.{self._mac(issued + '.' + nonce)}"

    def session(self, cookie: str | None) -> str | None:
        """The session's nonce if the cookie is genuine and fresh."""
        if not cookie or cookie.count(".") != 2:
            return None
        issued, nonce, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(issued + "." + nonce)):
            return None
        if not issued.isdigit() or time.time() - int(issued) > self.max_age:
            return None
        return nonce

    def csrf_token(self, nonce: str) -> str:
        return self._mac("csrf." + nonce)

    def _mac(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def require_owner(self, request: Request) -> None:
        """Raise unless the request comes from the owner; mutations need CSRF proof."""
        client = request.client.host if request.client else "?"
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            self.limiter.check(client)
            if self.secret_matches(bearer[7:].strip()):
                return
            self.limiter.fail(client)
            raise NotOwner("wrong secret")
        nonce = self.session(request.cookies.get(COOKIE))
        if nonce is None:
            raise NotOwner("sign in as the owner to do this")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            token = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(token, self.csrf_token(nonce)):
                raise Forbidden("missing or wrong CSRF token")
