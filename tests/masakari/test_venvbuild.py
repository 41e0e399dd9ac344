"""The generic test-venv builder: a build whose check fails leaves nothing half-made
behind; a built venv (with what its prepare step made) is found again without
rebuilding. (Creates real virtualenvs, offline.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from rhworker.testing import venvbuild

pytestmark = pytest.mark.integration


def _recipe(tmp_path: Path, requirements: str, **kw: object) -> venvbuild.Recipe:
    req = tmp_path / "requirements.txt"
    req.write_text(requirements)
    return venvbuild.Recipe(
        name="probe",
        requirements=req,
        env_venv="RHWORKER_PROBE_VENV",
        env_build="RHWORKER_PROBE_BUILD",
        **kw,  # type: ignore[arg-type]
    )


def test_a_failing_check_or_prepare_is_no_venv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("RHWORKER_PROBE_VENV", str(tmp_path / "venv"))
    recipe = _recipe(tmp_path, "# nothing to install\n", checks=("import no_such_module_here",))
    reason = venvbuild.available(recipe)
    assert reason is not None and "no_such_module_here" in reason
    assert not (tmp_path / "venv").exists()
    assert [p.name for p in tmp_path.iterdir() if ".build-" in p.name] == []

    made: list[Path] = []

    def prepare(venv: Path, run: venvbuild.Runner) -> None:
        code = f"open({str(venv / 'template')!r}, 'w').write('x')"
        run([str(venvbuild.venv_python(venv)), "-c", code], 60)
        made.append(venv)

    ok = _recipe(tmp_path, "# nothing to install\n", checks=("import json",), prepare=prepare)
    assert venvbuild.available(ok) is None
    assert venvbuild.is_built(tmp_path / "venv") and len(made) == 1
    assert (tmp_path / "venv" / "template").read_text() == "x"  # renamed into place
    assert venvbuild.available(ok) is None and len(made) == 1  # found, not rebuilt
    monkeypatch.setenv("RHWORKER_PROBE_BUILD", "0")
    monkeypatch.setenv("RHWORKER_PROBE_VENV", str(tmp_path / "other"))
    assert "not built" in (venvbuild.available(ok) or "")
