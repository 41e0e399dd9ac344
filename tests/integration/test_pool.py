"""``rhworker pool``: workers that the current directory cannot shadow, and a crash loop
that ends with one clear message instead of restarts forever."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rhworker.deployment import Deployment
from rhworker.supervisor import rhworker_command
from rhworker.testing.chaos_faults import child_pids
from rhworker.testing.servers import RedisServer, ServerUnavailable
from rhworker.testing.sim_fixture import running_simulator
from tests.conftest import require
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

SHADOW_MARK = "a shadowing rhworker package from the current directory was imported"


def plant_shadow(directory: Path) -> Path:
    """A ``rhworker/`` package in ``directory`` that fails loudly when imported."""
    package = directory / "rhworker"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(f"raise SystemExit({SHADOW_MARK!r})\n")
    (package / "__main__.py").write_text(f"raise SystemExit({SHADOW_MARK!r})\n")
    return directory


def test_the_shadow_shadows_plain_python_m(tmp_path: Path) -> None:
    """The fixture is real: ``python -m rhworker`` from there imports the wrong package."""
    cwd = plant_shadow(tmp_path / "cwd")
    proc = subprocess.run(
        [sys.executable, "-m", "rhworker", "--help"], cwd=cwd, capture_output=True, text=True
    )
    assert proc.returncode != 0 and SHADOW_MARK in proc.stderr


def test_pool_workers_ignore_a_rhworker_folder_in_the_current_directory(tmp_path: Path) -> None:
    spec = segment_cloud(spares=1)
    cwd = plant_shadow(tmp_path / "cwd")
    with running_simulator(spec) as sim:
        d = Deployment(sim.compute_url, state_dir=str(tmp_path / "state"))
        try:
            d.load_inventory(spec)
            pool = subprocess.Popen(
                [*rhworker_command(), *d.cli_args(), "pool", "-n", "2"],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                sim.kill_host("compute-1")
                nid = d.notify("compute-1")
                (done,) = d.wait_terminal([nid], timeout=90)
                assert done.status.value == "finished"
            finally:
                pool.send_signal(signal.SIGTERM)
                out, _ = pool.communicate(timeout=60)
        finally:
            d.close()
    assert SHADOW_MARK not in out
    assert "exited with" not in out  # no worker died
    assert pool.returncode == 0


def test_pool_gives_up_on_a_worker_that_cannot_start(tmp_path: Path) -> None:
    """The lock backend answers the pool's preflight, then goes away before its workers
    connect: every worker exits 1 at start, and the pool backs off, then gives up."""
    try:
        locks = RedisServer(appendonly=False).start()
    except ServerUnavailable as e:
        require(str(e))
    try:
        with running_simulator(segment_cloud()) as sim:
            conf = tmp_path / "rhworker.conf"
            conf.write_text(
                f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n"
                f"[coordination]\nbackend_url = {locks.url}\ncall_timeout = 1\n"
                f"[compute]\nauth_type = none\nendpoint_override = {sim.compute_url}\n"
                "[pool]\nrestart_delay = 0.1\nmax_quick_failures = 3\nquick_failure_time = 60\n"
            )
            started = time.monotonic()
            pool = subprocess.Popen(
                [*rhworker_command(), "--config-file", str(conf), "pool", "-n", "2"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
            )
            try:
                deadline = time.monotonic() + 60
                while not child_pids(pool.pid) and pool.poll() is None:
                    assert time.monotonic() < deadline, "the pool started no worker"
                    time.sleep(0.01)
                locks.kill()  # before a just-spawned worker has even imported rhworker
                _, err = pool.communicate(timeout=120)
            finally:
                if pool.poll() is None:
                    pool.kill()
                    pool.wait(10)
    finally:
        locks.stop()
    took = time.monotonic() - started
    assert pool.returncode == 1, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"error: worker \d exited 3 times in a row within 60s of its start \(last exit code 1\); "
        r"the pool gives up\. `rhworker check` or `rhworker worker` shows why it cannot start",
        last,
    ), last
    # The back-off doubled between the quick failures: 0.1 s, then 0.2 s.
    assert re.search(r"restarting in 0\.1s \(quick failure 1 of 3\)", err)
    assert re.search(r"restarting in 0\.2s \(quick failure 2 of 3\)", err)
    assert took < 90
