"""The web edge: FastAPI app, owner's sign-in, and the site's static files."""

from .app import create_app

__all__ = ["create_app"]
