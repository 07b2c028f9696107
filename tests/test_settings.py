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
