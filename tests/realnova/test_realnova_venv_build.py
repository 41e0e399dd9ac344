"""Building the real-Nova virtualenv: a failed build leaves nothing half-made behind.

(Creates a real virtualenv, so it is an integration test; pip runs offline.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from rhworker.testing.realnova import venv

pytestmark = pytest.mark.integration


def test_a_failed_build_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "venv"
    bad = tmp_path / "requirements.txt"
    bad.write_text("this-package-does-not-exist-rhworker==0.0.0\n")
    monkeypatch.setattr(venv, "REQUIREMENTS", bad)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # fail fast, offline
    with pytest.raises(venv.VenvError):
        venv.ensure_venv(path, timeout=120)
    assert not path.exists()
    assert [p.name for p in tmp_path.iterdir() if ".build-" in p.name] == []
