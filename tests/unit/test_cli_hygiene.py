"""CLI hygiene: a closed pipe ends quietly, every exit code is documented, and the
demo/sim/pool options refuse out-of-range values with the allowed range."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from rhworker import cli
from rhworker.supervisor import rhworker_command

ROOT = Path(__file__).resolve().parents[2]
EXIT_CODES = {
    name: value
    for name, value in vars(cli).items()
    if name.startswith("EXIT_") and isinstance(value, int)
}


def _to_closed_pipe(argv: list[str]) -> subprocess.CompletedProcess:
    """Run rhworker with its stdout a pipe nobody reads (the reader left, as `| head`
    does once it has its line)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*rhworker_command(), *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["notification", "list", "--json"], cli.EXIT_PIPE_CLOSED),
        (["segment", "list", "--json"], cli.EXIT_PIPE_CLOSED),
        (["--help"], cli.EXIT_OK),  # argparse prints it, ignores the error and exits 0
    ],
)
def test_a_closed_pipe_ends_quietly(argv: list[str], code: int, tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    subprocess.run(  # a store with something in it (read-only commands need one)
        [*rhworker_command(), *state, "segment", "create", "seg1", "--recovery-method", "auto"],
        check=True,
        capture_output=True,
    )
    proc = _to_closed_pipe([*state, *argv])
    assert proc.stderr == ""  # no traceback, no "Exception ignored" at exit
    assert proc.returncode == code
    assert cli.EXIT_PIPE_CLOSED == 141  # 128 + SIGPIPE, what a shell expects


def test_every_exit_code_is_in_help_and_readme(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    help_text = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    assert len(EXIT_CODES) >= 8
    for name, code in EXIT_CODES.items():
        assert re.search(rf"^\s+{code}\s+\S", help_text, re.M), f"{name}={code} not in --help"
        assert re.search(rf"^\|\s*`?{code}`?\s*\|", readme, re.M), f"{name}={code} not in README"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["demo", "--failures", "0"],
            "argument --failures: 0 is out of range (allowed: at least 1)",
        ),
        (["demo", "--failures", "many"], "argument --failures: expected an integer, not 'many'"),
        (["demo", "--evacuation-time", "-5"], "-5 is out of range (allowed: 0 or more seconds)"),
        (["demo", "--timeout", "nan"], "nan is out of range (allowed: 0 or more seconds)"),
        (["sim", "serve", "--port", "99999"], "99999 is out of range (allowed: 0..65535)"),
        (["sim", "serve", "--port", "-1"], "-1 is out of range (allowed: 0..65535)"),
        (["sim", "serve", "--evacuation-time", "-5"], "-5 is out of range (allowed: 0 or more"),
        (["sim", "serve", "--service-down-time", "x"], "expected seconds, not 'x'"),
        (["pool", "-n", "0"], "argument -n/--workers: 0 is out of range (allowed: at least 1)"),
        (["pool", "--restart-delay", "-1"], "-1 is out of range (allowed: 0 or more seconds)"),
        (["worker", "--metrics-port", "70000"], "70000 is out of range (allowed: 0..65535)"),
        (["worker", "--concurrency", "0"], "0 is out of range (allowed: at least 1)"),
    ],
)
def test_out_of_range_options_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_demo_failures_above_the_cloud_size_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rhworker.cli.demo.scenario import demo_cloud, failable_hosts

    most = len(failable_hosts(demo_cloud()))
    assert cli.main(["demo", "--failures", str(most + 1)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--failures {most + 1}: this cloud has {most} hosts that can fail" in err
    assert f"(allowed: 1..{most})" in err
