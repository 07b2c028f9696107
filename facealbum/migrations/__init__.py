"""The catalog's alembic migrations (versions/). HEAD is the newest revision, known
without importing alembic so that a start at head reads one row instead of loading
alembic and its script directory (~0.4 s); tests/test_migrations.py checks it against
alembic's own head, so a new migration that does not update it fails there."""

HEAD = "0019"
