"""The owner's sign-in: one secret, revocable sessions, CSRF tokens, a shared rate limit.

Visitors only look. The owner proves the secret once and gets an HttpOnly, SameSite
cookie naming a session; the cookie is signed (itsdangerous), and only a row in the
catalog makes it valid, so signing out, ending every session, or changing the secret
takes effect at once in every server process. Mutating requests must also carry a
CSRF token bound to the session (a header no other site can set), or the secret itself
as a Bearer token, which scripts use and browsers never send on their own. Every
check of the secret (a sign-in, a Bearer token on any route, reads included) counts its
failures in the catalog under one limit per client address, so several server
processes share it; past the limit every such check answers 429, a right secret too,
so no answer tells a right guess apart until the minute has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from pathlib import Path

from fastapi import Request
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from ..domain import AlbumError, OwnerSession
from ..ports import Catalog
from ..settings import Settings

COOKIE = "facealbum_session"
CSRF_HEADER = "x-csrf-token"
WINDOW = 60.0  # seconds over which failed sign-ins are counted


class NotOwner(AlbumError):
    """401: no owner's session or secret."""


class Forbidden(AlbumError):
    """403: a session without its CSRF token, or something for the owner's eyes only."""


class TooManyAttempts(AlbumError):
    def __init__(self, retry_after: int):
        super().__init__(
            f"too many failed sign-ins (or wrong Bearer tokens); try again in {retry_after} s"
        )
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
    path.chmod(0o600)
    path.write_text(secret + "\n")
    return secret, True


def secret_tag(secret: str) -> str:
    """Names the secret a session was opened with, without revealing it."""
    return hashlib.sha256(b"facealbum-secret\0" + secret.encode()).hexdigest()[:32]


def public_id(session_id: str) -> str:
    """How the owner's session list names a session: not the id the cookie carries."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


class OwnerAuth:
    def __init__(self, secret: str, catalog: Catalog, session_days: int = 30, attempts: int = 5):
        self.catalog = catalog
        self.tag = secret_tag(secret)
        self._secret_digest = hashlib.sha256(secret.encode()).digest()
        self._cookies = URLSafeTimedSerializer(secret, salt="facealbum-session")
        self._csrf = URLSafeSerializer(secret, salt="facealbum-csrf")
        self.max_age = session_days * 86400
        self.attempts = attempts
        # one check at a time per process, so a burst of guesses cannot all pass the
        # limit before the first failure is written (processes share the catalog's count)
        self._proving = threading.Lock()
        catalog.delete_sessions(keep_tag=self.tag)  # a new secret ends the old sessions

    # -- the secret and the shared limit ----------------------------------------------

    def secret_matches(self, given: str) -> bool:
        # digests first: compare_digest is constant time only for equal lengths
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._secret_digest)

    def _check_limit(self, client: str) -> None:
        now = time.time()
        fails = self.catalog.signin_failures(client, now - WINDOW)
        if len(fails) >= self.attempts:
            raise TooManyAttempts(int(WINDOW - (now - fails[-self.attempts])) + 1)

    def _prove(self, given: str, client: str) -> None:
        """Check ``given`` under the shared limit: TooManyAttempts (429) past it whatever
        ``given`` is, NotOwner (401) for a wrong secret, which counts."""
        with self._proving:
            self._check_limit(client)
            if not self.secret_matches(given):
                self.catalog.add_signin_failure(client, time.time())
                raise NotOwner("wrong secret")

    # -- sessions ---------------------------------------------------------------------

    def sign_in(self, given: str, client: str, user_agent: str = "") -> str:
        """A new session's cookie value, or an error; failures count toward the limit."""
        self._prove(given, client)
        now = time.time()
        session_id = secrets.token_urlsafe(24)
        self.catalog.add_session(
            OwnerSession(
                session_id, self.tag, now, now, now + self.max_age, client[:100], user_agent[:300]
            )
        )
        return self._cookies.dumps(session_id)

    def session(self, cookie: str | None) -> OwnerSession | None:
        """The live session a genuine, fresh cookie names; None once it was ended."""
        if not cookie:
            return None
        try:
            session_id = self._cookies.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also covers an expired signature
            return None
        found = self.catalog.get_session(str(session_id))
        now = time.time()
        if found is None or found.secret_tag != self.tag or found.expires_at < now:
            return None
        if now - found.last_seen > 60:  # "last seen" to the minute is plenty
            self.catalog.touch_session(found.session_id, now)
        return found

    def sign_out(self, session: OwnerSession) -> None:
        self.catalog.delete_sessions(session.session_id)

    def end_all(self) -> int:
        return self.catalog.delete_sessions()

    def end(self, public: str) -> bool:
        for s in self.catalog.list_sessions():
            if public_id(s.session_id) == public:
                return self.catalog.delete_sessions(s.session_id) > 0
        return False

    def csrf_token(self, session: OwnerSession) -> str:
        return self._csrf.dumps(session.session_id)

    def _csrf_ok(self, token: str, session: OwnerSession) -> bool:
        try:
            return hmac.compare_digest(str(self._csrf.loads(token)), session.session_id)
        except BadSignature:
            return False

    # -- per request ------------------------------------------------------------------

    def _bearer(self, request: Request) -> bool:
        """Whether the request carries the secret as a Bearer token (False: none).
        Proved once per request (a route may ask several times): NotOwner for a wrong
        one, which counts toward the limit, TooManyAttempts past the limit."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return False
        if getattr(request.state, "bearer_proved", False):
            return True
        self._prove(header[7:].strip(), request.client.host if request.client else "?")
        request.state.bearer_proved = True
        return True

    def is_owner(self, request: Request) -> bool:
        """For reads that differ for the owner (true originals, hidden people). A Bearer
        token is proved as in :meth:`require_owner`: a wrong one is a 401 that counts, not
        a visitor's answer (whose difference would tell a right guess apart for free)."""
        if self._bearer(request):
            return True
        return self.session(request.cookies.get(COOKIE)) is not None

    def require_owner(self, request: Request) -> None:
        """Raise unless the request comes from the owner; mutations need CSRF proof."""
        if self._bearer(request):
            return
        session = self.session(request.cookies.get(COOKIE))
        if session is None:
            raise NotOwner("sign in as the owner to do this")
        request.state.session = session
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            token = request.headers.get(CSRF_HEADER, "")
            if not self._csrf_ok(token, session):
                raise Forbidden("missing or wrong CSRF token")
