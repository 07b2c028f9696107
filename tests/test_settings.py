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
