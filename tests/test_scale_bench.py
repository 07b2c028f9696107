"""bench/scale.py end to end at a tiny size, so the bench cannot rot: it builds its album
through the catalog and faces ports, serves it with a real `facealbum serve`, and writes
the JSON issue 18 names with every key and sane values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402

SEARCH_KEYS = [
    "p50_ms",
    "http_p50_ms",
    "recall_at_10",
    "wide_p50_ms",
    "index_mib",
    "start_s",
    "delete_update_ms",
]


def test_scale_bench_builds_measures_and_writes_every_figure(tmp_path):
    out, cache = tmp_path / "scale.json", tmp_path / "cache"
    shape = ["--pictures", "200", "--sets", "5", "--faces", "400", "--people", "20"]
    subprocess.run(
        [sys.executable, "-m", "bench.scale", *shape, "--named", "2", "--repeat", "1",
         "--timeout", "60", "--cache", str(cache), "--json", str(out)],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert list(result) == ["reads_p50_ms", "reads_max_bytes", "search"]
    routes = [name for name, _ in scale.reads()] + ["cli: facealbum stats"]
    measured = list(result["reads_p50_ms"])
    assert set(measured) <= set(routes) and list(result["reads_max_bytes"]) == measured
    for route in ["GET /api/sets", "GET /api/people", "cli: facealbum stats"]:
        assert route in measured
    for route in measured:
        assert 0 < result["reads_p50_ms"][route] < 60_000, route  # none timed out
        assert result["reads_max_bytes"][route] > 0, route
    search = result["search"]
    assert list(search) == SEARCH_KEYS
    assert all(isinstance(search[k], int | float) for k in SEARCH_KEYS)
    assert search["recall_at_10"] >= 0.99  # the clustered faces are found as the exact scan does
    assert 0 < search["start_s"] < 120 and search["delete_update_ms"] > 0
    assert search["p50_ms"] > 0 and search["http_p50_ms"] > 0 and search["wide_p50_ms"] > 0
    # the built album stays cached by its shape, the measured copy is gone
    [built] = [p for p in cache.iterdir()]
    assert (built / "facts.json").exists() and (built / "vectors.npy").exists()
    facts = json.loads((built / "facts.json").read_text())
    assert facts["big_set_pictures"] == 80 and len(facts["queries"]) == 20


def test_scale_bench_descriptors_cluster_as_dlibs_do():
    """Within a person cosines ~0.93-0.97, between persons ~0.5-0.85: what makes the
    recall and the person-aware searches realistic, not uniform random vectors."""
    import numpy as np

    gen = scale.Descriptors(np.random.default_rng(0))
    centres = gen.centres(200)
    between = (centres @ centres.T)[np.triu_indices(200, 1)]
    assert np.percentile(between, 5) > 0.45 and np.percentile(between, 95) < 0.88
    faces = gen.faces(np.repeat(centres[:50], 6, axis=0)).reshape(50, 6, -1)
    within = np.einsum("pid,pjd->pij", faces, faces)[:, *np.triu_indices(6, 1)]
    assert np.percentile(within, 5) > 0.9 and np.percentile(within, 95) < 0.985
