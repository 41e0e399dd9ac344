"""``rhworker demo`` as a new user runs it: the README's first command."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from rhworker.supervisor import rhworker_command
from tests.integration.test_pool import plant_shadow

pytestmark = pytest.mark.integration


def test_demo_embedded_default(tmp_path):
    # Run from a directory with a rhworker/ package of its own: the demo's simulator,
    # pool and workers must import the real one (`rhworker` is a console script).
    plant_shadow(tmp_path)
    proc = subprocess.run(
        [*rhworker_command(), "demo", "--plain", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "VERDICT: PASS" in proc.stdout
    assert "9 finished" in proc.stdout  # 6 host failures, 1 VM, PROCESS STOPPED and STARTED
    # The extra failures, as the live lines show them, ended finished: the crashed
    # instance was restarted, nova-compute's STOPPED and STARTED were handled.
    for what in (r"VM \S+", "nova-compute stopped", "nova-compute started"):
        assert re.search(rf"\s{what}\s+finished\s", proc.stdout), what
    assert "extra: instance" in proc.stdout and "extra: nova-compute stopped" in proc.stdout
    assert "fault cleared" in proc.stdout  # the failing evacuation was retried
    assert not (tmp_path / ".rhworker").exists()  # the demo keeps its state elsewhere


def test_demo_on_redis_and_zookeeper(tmp_path, redis_url, zookeeper_url):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rhworker",
            "--store",
            f"{redis_url}/0?prefix=demo",
            "--coordination",
            zookeeper_url,
            "demo",
            "--plain",
            "--failures",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "VERDICT: PASS" in proc.stdout
    assert "7 finished" in proc.stdout  # 4 host failures and the VM and PROCESS extras


def test_demo_rejects_bad_options(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rhworker", "demo", "--external-workers"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "--sim-url" in proc.stderr
