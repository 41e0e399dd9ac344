"""Running the operator CLI in-process on the embedded SQLite store of a test's
tmp_path: shared by the CLI unit tests."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest

from rhworker.cli import EXIT_OK, main

# Two segments: reserved_host with a spare, and auto.
SMALL = """
segments:
  - name: seg1
    recovery_method: reserved_host
    hosts:
      - {name: compute-1}
      - {name: spare-1, reserved: true}
  - name: seg2
    recovery_method: auto
    hosts:
      - {name: compute-2}
"""

# ``rhworker --state-dir TMP ARGS`` → (exit code, stdout, stderr)
Run = Callable[..., tuple[int, str, str]]


def cli_runner(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``rhworker --state-dir tmp_path ARGS``; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--state-dir", str(tmp_path), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write(tmp_path: pathlib.Path, text: str, name: str = "inv.yaml") -> str:
    """Write ``text`` to ``tmp_path/name``; its path."""
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def loaded(run: Run, tmp_path: pathlib.Path, inventory: str) -> Run:
    """``run``, once ``inventory`` (YAML) is loaded into the store."""
    code, _, err = run("inventory", "load", write(tmp_path, inventory))
    assert code == EXIT_OK, err
    return run
