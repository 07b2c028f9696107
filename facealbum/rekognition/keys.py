"""The key pair requests must be signed with: from the settings, or generated on first
start, kept 0600 in the data directory and printed once (like the owner's secret)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from ..settings import Settings

FILE = "rekognition-keys.json"


def load_or_create_keys(settings: Settings) -> tuple[str, str, bool]:
    """(access key id, secret access key, newly created)."""
    if settings.rekognition_access_key_id and settings.rekognition_secret_access_key:
        return settings.rekognition_access_key_id, settings.rekognition_secret_access_key, False
    path = Path(settings.home) / FILE
    if path.is_file():
        keys = json.loads(path.read_text())
        return keys["access_key_id"], keys["secret_access_key"], False
    key_id = "FA" + secrets.token_hex(9).upper()
    secret = secrets.token_urlsafe(30)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"access_key_id": key_id, "secret_access_key": secret}, fh)
    return key_id, secret, True
