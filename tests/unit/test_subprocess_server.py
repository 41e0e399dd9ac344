"""ChildServer: reading a child's ready line, its exit before ready, stopping it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from rhworker.errors import RhworkerError
from rhworker.testing.subprocess_server import ChildServer


class _Err(RhworkerError):
    pass


class _Child(ChildServer):
    name = "child"
    error = _Err
    log_names = ("child.log",)

    def run(self, code: str) -> None:
        with open(self.dir / "child.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code],
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )


def _ready(buf: bytes) -> str | None:
    return buf.decode() if b"READY\n" in buf else None


def test_reads_until_ready_then_close_stops_the_child_and_removes_its_folder() -> None:
    with _Child(prefix="rhworker-test-child-", startup_timeout=30) as child:
        child.run("import sys, time; print('READY', flush=True); time.sleep(60)")
        assert child._read_stdout_until(time.monotonic() + 30, _ready) == "READY\n"
        proc = child.proc
        assert proc is not None
    assert proc.returncode is not None and child.proc is None
    assert not child.dir.exists()


def test_exit_before_ready_quotes_the_log() -> None:
    with _Child(prefix="rhworker-test-child-", startup_timeout=30) as child:
        child.run("import sys; sys.stderr.write('boom\\n'); sys.exit(3)")
        with pytest.raises(_Err, match=r"child exited with 3 before ready; log:\nboom"):
            child._read_stdout_until(time.monotonic() + 30, _ready)
