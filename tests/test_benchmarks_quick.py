"""The benchmark harness works: ``python -m benchmarks all --quick`` end to end.

Checks that both reports are written and parse, that every scenario ran, and that
the runs themselves were sound (every notification terminal, no simulator
violation). No timing is asserted: the numbers of a quick run mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import in_ci

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIOS = ("rto", "floor", "storm", "takeover", "backends", "profile")


def test_quick_run_writes_both_reports(tmp_path):
    md, js = tmp_path / "b.md", tmp_path / "b.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "all", "--quick", "--out", str(md), "--json", str(js)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(js.read_text())
    text = md.read_text()
    assert "## Targets" in text and "## 6. Profile" in text
    for name in SCENARIOS:
        assert name in results, name
    assert {"nproc", "cpu", "memory_gb"} <= set(results["machine"])
    assert results["targets"], "no target evaluated"

    assert all(r["status"] == "finished" for r in results["rto"]["runs"])
    for run in results["storm"]["runs"]:
        assert run["count"] == run["failures"]
        assert sum(run["statuses"].values()) == run["failures"], run["statuses"]
        assert run["sim_violations"] == 0
        if run["segments"] == 1:
            assert run["statuses"] == {"finished": run["failures"]}
            assert run["steps"]["claimed"] == run["failures"]
        assert run["store_ops_per_notification"] > 0
    assert all(f["moved"] > 0 for f in results["storm"]["floor"])
    (takeover,) = results["takeover"]["runs"]
    assert takeover["status"] == "finished" and takeover["attempts"] == 2
    assert takeover["evacuated_twice"] == 0
    assert results["profile"]["groups"]
    if in_ci():
        assert not results["backends"]["skipped"], results["backends"]["skipped"]
    assert {r["backend"] for r in results["backends"]["runs"]} >= {"sqlite+file"}
