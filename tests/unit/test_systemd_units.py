"""The systemd units in conf/systemd: valid for systemd, and their command lines valid
for rhworker (the API unit waits for an `api` command, and says so)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rhworker.cli import build_parser

UNITS = Path(__file__).resolve().parents[2] / "conf" / "systemd"
BINARY = "/opt/rhworker/bin/rhworker"


def _exec_start(unit: Path) -> list[str]:
    lines = [x for x in unit.read_text().splitlines() if x.startswith("ExecStart=")]
    assert len(lines) == 1
    return shlex.split(lines[0].removeprefix("ExecStart="))


def test_the_three_units_are_there() -> None:
    names = sorted(p.name for p in UNITS.glob("*.service"))
    assert names == ["rhworker-api.service", "rhworker-pool.service", "rhworker-worker@.service"]


@pytest.mark.parametrize("name", ["rhworker-pool.service", "rhworker-worker@.service"])
def test_command_lines_parse(name: str) -> None:
    argv = _exec_start(UNITS / name)
    assert argv[0] == BINARY
    args = build_parser().parse_args(argv[1:])
    assert args.command == ("pool" if "pool" in name else "worker")
    assert args.config_file == ["/etc/rhworker/rhworker.conf"]
    text = (UNITS / name).read_text()
    for setting in ("KillMode=mixed", "UMask=0077", "StateDirectoryMode=0700", "User=rhworker"):
        assert setting in text
    assert "EnvironmentFile=-/etc/rhworker/rhworker.env" in text  # secrets, not argv


def test_api_unit_is_marked_for_the_coming_command() -> None:
    unit = UNITS / "rhworker-api.service"
    assert _exec_start(unit)[-1] == "api"
    assert "FOR WHEN `rhworker api` EXISTS" in unit.read_text()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that the binary exists: point the copies at one that does.
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace(BINARY, sys.executable)
        (tmp_path / unit.name).write_text(text)
    copies = [str(tmp_path / "rhworker-pool.service"), str(tmp_path / "rhworker-api.service")]
    copies.append(str(tmp_path / "rhworker-worker@.service"))
    proc = subprocess.run(
        ["systemd-analyze", "verify", *copies], capture_output=True, text=True, timeout=60
    )
    complaints = [line for line in proc.stderr.splitlines() if "rhworker" in line]
    assert complaints == [], proc.stderr
