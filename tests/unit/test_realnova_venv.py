"""The real-Nova virtualenv's bookkeeping (no build: pip is not run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhworker.testing.realnova import venv


def test_path_is_keyed_by_the_requirements(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(venv.ENV_VENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert venv.venv_path() == tmp_path / "rhworker" / f"nova-venv-{venv.requirements_hash()}"
    monkeypatch.setenv(venv.ENV_VENV, str(tmp_path / "mine"))
    assert venv.venv_path() == tmp_path / "mine"


def test_requirements_are_exact_pins() -> None:
    lines = [
        line.strip()
        for line in venv.REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all("==" in line for line in lines), lines
    names = {line.split("==")[0].lower() for line in lines}
    assert {"nova", "openstack-placement", "sqlalchemy", "wsgi-intercept"} <= names


def test_a_half_built_venv_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "venv"
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").write_text("")
    monkeypatch.setenv(venv.ENV_VENV, str(path))
    assert not venv.is_built(path)  # no completion marker
    reason = venv.realnova_available(build=False)
    assert reason is not None and "not built" in reason
    (path / venv.MARKER).write_text(venv.requirements_hash())
    assert venv.is_built(path)
    assert venv.realnova_available(build=False) is None
