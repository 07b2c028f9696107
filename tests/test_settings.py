"""Settings: defaults that work, environment over config file over defaults."""

from __future__ import annotations

from pathlib import Path

from facealbum.settings import Settings


def test_defaults(monkeypatch):
    for var in ("FACEALBUM_HOME", "FACEALBUM_CONFIG", "FACEALBUM_DETECT_SIZE"):
        monkeypatch.delenv(var, raising=False)
    s = Settings.load()
    assert s.home == Path("facealbum-data")
    assert s.catalog_url.startswith("sqlite:///") and s.catalog_url.endswith("catalog.db")
    assert s.detector == "hog" and s.port == 8000


def test_config_file_then_environment(tmp_path, monkeypatch):
    (tmp_path / "facealbum.toml").write_text('detect_size = 1000\nport = 9000\ndetector = "cnn"\n')
    monkeypatch.setenv("FACEALBUM_HOME", str(tmp_path))
    monkeypatch.setenv("FACEALBUM_PORT", "9100")
    s = Settings.load()
    assert s.detect_size == 1000  # from the file
    assert s.port == 9100  # the environment wins over the file
    assert s.detector == "cnn"
    assert Settings.load(port=9200).port == 9200  # an explicit option wins over both


def test_engine_tag_changes_with_face_settings():
    assert Settings(detect_size=1000).engine_tag != Settings(detect_size=1200).engine_tag
    assert Settings(port=1).engine_tag == Settings(port=2).engine_tag


def test_a_setting_that_is_not_valid_is_an_error_line_not_a_traceback(tmp_path, monkeypatch):
    """FACEALBUM_WEB_WORKERS=0 (or any setting out of range, in the environment or the
    config file) is named in one line and exit status 2 by every command, as
    ``--workers 0`` is: it was a pydantic traceback."""
    import subprocess
    import sys

    import pytest

    from facealbum.settings import SettingsError

    monkeypatch.setenv("FACEALBUM_HOME", str(tmp_path))
    monkeypatch.setenv("FACEALBUM_WEB_WORKERS", "0")
    with pytest.raises(SettingsError, match="FACEALBUM_WEB_WORKERS='0'"):
        Settings.load()
    monkeypatch.delenv("FACEALBUM_WEB_WORKERS")
    (tmp_path / "facealbum.toml").write_text("match_threshold = 200\n")
    with pytest.raises(SettingsError, match="match_threshold in .*facealbum.toml = 200"):
        Settings.load()
    (tmp_path / "facealbum.toml").write_text("match_threshold = \n")
    with pytest.raises(SettingsError, match="facealbum.toml"):
        Settings.load()
    (tmp_path / "facealbum.toml").unlink()
    monkeypatch.setenv("FACEALBUM_WEB_WORKERS", "abc")
    run = subprocess.run(
        [sys.executable, "-m", "facealbum", "serve"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "FACEALBUM_WEB_WORKERS='abc'" in run.stderr


def test_a_catalog_url_is_checked_and_its_password_never_shown(tmp_path, monkeypatch):
    """``postgresql://`` (as libpq and hosts print it) means psycopg 3, the driver that is
    installed; a scheme facealbum can't use is a settings error, and an unreachable
    catalog is one line with its password hidden and exit 1: both were SQLAlchemy
    tracebacks (NoSuchModuleError, psycopg2 missing, OperationalError)."""
    import subprocess
    import sys

    import pytest

    from facealbum.settings import SettingsError

    monkeypatch.setenv("FACEALBUM_HOME", str(tmp_path))
    for given in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert Settings(database_url=given).catalog_url == "postgresql+psycopg://u@h/db"
    assert Settings(database_url="dynamodb://album-").dynamodb_prefix == "album-"
    monkeypatch.setenv("FACEALBUM_DATABASE_URL", "mysql://u:hunter2@h/db")
    with pytest.raises(SettingsError, match="mysql:// is not a catalog") as raised:
        Settings.load()
    assert "hunter2" not in str(raised.value)

    def stats(url: str) -> subprocess.CompletedProcess:
        env = {**__import__("os").environ, "FACEALBUM_DATABASE_URL": url}
        return subprocess.run([sys.executable, "-m", "facealbum", "stats"], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    bad = stats("foo://bar")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "foo://" in bad.stderr
    down = stats("postgresql://someone:hunter2@127.0.0.1:1/album")  # nothing listens on 1
    assert down.returncode == 1 and "Traceback" not in down.stderr, down.stderr
    assert "can't use the catalog" in down.stderr and "127.0.0.1:1/album" in down.stderr
    assert "hunter2" not in down.stderr + down.stdout
