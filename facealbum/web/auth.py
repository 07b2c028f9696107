"""The owner's sign-in: one secret, revocable sessions, CSRF tokens, a shared rate limit.

Visitors only look. The owner proves the secret once and gets an HttpOnly, SameSite
cookie naming a session; the cookie is signed (itsdangerous), and only a row in the
catalog makes it valid, so signing out, ending every session, or changing the secret
takes effect at once in every server process. Mutating requests must also carry a
CSRF token bound to the session (a header no other site can set), or the secret itself
as a Bearer token, which scripts use and browsers never send on their own. Failed
sign-ins are counted in the catalog, so several server processes share one limit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
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

    def is_owner(self, request: Request) -> bool:
        """For reads that differ for the owner (true originals); never counts failures."""
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            return self.secret_matches(bearer[7:].strip())
        return self.session(request.cookies.get(COOKIE)) is not None

    def require_owner(self, request: Request) -> None:
        """Raise unless the request comes from the owner; mutations need CSRF proof."""
        client = request.client.host if request.client else "?"
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            self._prove(bearer[7:].strip(), client)
            return
        session = self.session(request.cookies.get(COOKIE))
        if session is None:
            raise NotOwner("sign in as the owner to do this")
        request.state.session = session
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            token = request.headers.get(CSRF_HEADER, "")
            if not self._csrf_ok(token, session):
                raise Forbidden("missing or wrong CSRF token")
