"""The SQL catalog's PostgreSQL engine: what a read costs in round trips.

A read is ``with engine.connect() as conn: conn.execute(...)``, and a page's route
makes several. With psycopg's default (a transaction begun implicitly) one statement
took four round trips to the server: the pool's liveness check (``SELECT 1``),
``BEGIN``, the statement, and the ``ROLLBACK`` the pool resets the connection with.
On a loaded 2-core machine each round trip waits for the server process to be
scheduled; at a million faces a person's page (8 reads) spent more time in them than
in its queries.

Here a read is its statement alone, one round trip:

- The pool checks a connection without asking the server. An idle connection has
  nothing to read unless the server closed it (a restart, ``pg_terminate_backend``:
  its last message, then end of file), so a readable socket is a dead connection,
  replaced before use as SQLAlchemy's pre-ping would.
- A connection runs in autocommit until a transaction is asked for. Nothing a read
  sees changes: under READ COMMITTED (PostgreSQL's default, and the catalog's) every
  statement takes its own snapshot inside a transaction too. ``engine.begin()`` (every
  write, the migrations) still runs one transaction at the server's default isolation,
  and ``conn.execution_options(isolation_level=...)`` then ``conn.begin()`` (the
  backup's snapshot) one at the level it names.

The pool hands out the most recently returned connection first (LIFO): one server
process answers a run of requests with its caches (catalog, psycopg's prepared
statements) warm, and idle ones time out at the back of the queue.

psycopg prepares a statement once a connection has run it 5 times, and PostgreSQL
then plans it for any parameters (a generic plan) after 5 more. The catalog's
parameters are skewed — the largest person has 60,000 faces, the median 12 — and
a person's faces among a page's pictures went from 10 ms to 2.3 s on its generic
plan. Each connection plans every execution for its own parameters
(``plan_cache_mode=force_custom_plan``): a prepared statement still skips parsing.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError

SESSION = {"plan_cache_mode": "force_custom_plan"}  # each connection's settings


def make_pg_engine(url: str) -> Engine:
    """An engine on ``url`` (``postgresql+psycopg://…``, its libpq ``options`` kept):
    reads in autocommit, ``begin()`` a real transaction, a LIFO pool checked by each
    connection's socket, every execution planned for its parameters (module docstring)."""
    given = make_url(url).query.get("options", "")  # libpq's options, kept
    options = " ".join([*([given] if isinstance(given, str) and given else []),
                        *(f"-c {k}={v}" for k, v in SESSION.items())])  # fmt: skip
    engine = create_engine(
        url,
        pool_use_lifo=True,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": options},
    )

    @contextlib.contextmanager
    def begin() -> Iterator[Connection]:
        """Engine.begin, in a transaction at the server's default isolation level."""
        with engine.connect() as conn:  # the dialect knows the server's default from here
            level = engine.dialect.default_isolation_level or "READ COMMITTED"
            conn.execution_options(isolation_level=level)
            with conn.begin():
                yield conn

    setattr(engine, "begin", begin)  # noqa: B010 - on this engine only, not the class
    event.listen(engine, "checkout", _closed_by_server)
    return engine


def _closed_by_server(dbapi_conn, _record, _proxy) -> None:
    """The pool's check at checkout, with no round trip (module docstring); raising
    DisconnectionError makes SQLAlchemy's pool connect again."""
    if dbapi_conn.closed:
        raise DisconnectionError("this connection is closed")
    poll = select.poll()
    poll.register(dbapi_conn.fileno(), select.POLLIN)
    if poll.poll(0):
        raise DisconnectionError("the server closed this connection")
