"""A planted password never shows: not on stdout, stderr, in log files, nor on the
command lines of the pool's workers. Redis (store and locks) requires the password;
every command of a full flow runs as an operator would run it."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from rhworker.deployment import wait_until
from rhworker.supervisor import rhworker_command
from rhworker.testing.chaos_faults import child_pids
from rhworker.testing.servers import RedisServer, ServerUnavailable, free_port
from rhworker.testing.sim_fixture import running_simulator
from tests.conftest import require
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

PASSWORD = "Pl4nted-s3cret-f00"


class _PasswordRedis(RedisServer):
    def command(self) -> Sequence[str]:
        return [*super().command(), "--requirepass", PASSWORD]


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    try:
        server = _PasswordRedis(appendonly=False)
    except ServerUnavailable as e:
        require(str(e))
    server.start()
    yield server
    server.stop()


class Run:
    """Runs rhworker commands and keeps everything they printed."""

    def __init__(self, conf_path: str) -> None:
        self.conf_path = conf_path
        self.outputs: list[tuple[str, str]] = []

    def __call__(
        self, *argv: str, ok: bool = True, conf: bool = True
    ) -> subprocess.CompletedProcess:
        pre = ["--config-file", self.conf_path] if conf else []
        proc = subprocess.run(
            [*rhworker_command(), *pre, *argv],
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.outputs.append((f"{argv} stdout", proc.stdout))
        self.outputs.append((f"{argv} stderr", proc.stderr))
        if ok:
            assert proc.returncode == 0, (argv, proc.stdout[-1500:], proc.stderr[-1500:])
        return proc


def test_planted_password_is_never_shown(locked_redis: RedisServer, tmp_path: Path) -> None:
    spec = segment_cloud(spares=1)
    port = locked_redis.port
    store_url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0?prefix=secrets"
    lock_url = f"redis://:{PASSWORD}@127.0.0.1:{port}?timeout=5"
    log_file = tmp_path / "rhworker.log"
    with running_simulator(spec) as sim:
        conf_path = tmp_path / "rhworker.conf"
        conf_path.write_text(
            f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\nlog_file = {log_file}\n"
            f"[store]\nurl = {store_url}\n"
            f"[coordination]\nbackend_url = {lock_url}\n"
            f"[compute]\nauth_type = none\nendpoint_override = {sim.compute_url}\n"
            "[worker]\npoll_interval = 0.05\nlease_timeout = 3\nretry_interval = 0.2\n"
            "[host_failure]\nverify_interval = 0.02\n"
            "[notification]\nduplicate_notification_detection_interval = 0\n"
        )
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(spec))
        run = Run(str(conf_path))

        run("inventory", "load", str(inventory))
        sim.kill_host("compute-1")
        nid = run("notify", "compute-1").stdout.strip().split()[-1]
        burst = run("--debug", "worker", "--burst")
        # The option dump at DEBUG shows the secret=True options as ****.
        assert re.search(r"store\.url\s+= \*\*\*\*", burst.stderr), burst.stderr[-2000:]
        assert re.search(r"coordination\.backend_url\s+= \*\*\*\*", burst.stderr)
        run("--debug", "--log-format", "json", "status")
        status = json.loads(run("status", "--json").stdout)
        assert status is not None
        listed = json.loads(run("notification", "list", "--json").stdout)
        assert [n["id"] for n in listed] == [nid]
        assert listed[0]["status"] == "finished"
        run("notification", "list")
        run("notification", "show", nid)
        run("notification", "show", nid, "--json")
        shown = run("config").stdout
        assert f"127.0.0.1:{port}" in shown and "***" in shown
        # The same URLs given on the command line, a wrong password, an unreachable
        # server, and a bad scheme: the errors name the URL, masked.
        run("--store", store_url, "--coordination", lock_url, "config")
        wrong = store_url.replace(PASSWORD, PASSWORD + "-typo")
        assert run("--store", wrong, "notification", "list", ok=False).returncode == 1
        gone = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
        assert run("--store", gone, "notification", "list", ok=False).returncode == 1
        bad = f"redsi://:{PASSWORD}@127.0.0.1:{port}/0"
        failed = run("--store", bad, "notification", "list", ok=False)
        assert failed.returncode == 1 and "redsi://:***@" in failed.stderr

        # The pool: URLs on its own command line reach the workers by environment.
        pool = subprocess.Popen(
            [
                *rhworker_command(),
                "--config-file",
                str(conf_path),
                "--store",
                store_url,
                "--coordination",
                lock_url,
                "--debug",
                "pool",
                "-n",
                "2",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            two = lambda: len(child_pids(pool.pid)) == 2 and child_pids(pool.pid)  # noqa: E731
            workers = wait_until(two, 30, "2")
            cmdlines = {}
            for pid in workers:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdlines[pid] = f.read().replace(b"\0", b" ").decode()
            assert all(" worker" in c for c in cmdlines.values()), cmdlines
            wait_until(
                lambda: len(json.loads(run("status", "--json").stdout)["workers"]) == 2,
                60,
                "the pool's workers to join the group",
            )
        finally:
            pool.send_signal(signal.SIGTERM)
            out, err = pool.communicate(timeout=60)
        run.outputs += [("pool stdout", out), ("pool stderr", err)]
        for pid, cmdline in cmdlines.items():
            run.outputs.append((f"/proc/{pid}/cmdline", cmdline))

    logged = log_file.read_text()
    assert "step" in logged and nid in logged  # the log file was written
    run.outputs.append(("log file", logged))
    leaks = [where for where, text in run.outputs if PASSWORD in text]
    assert leaks == [], f"the password shows in: {leaks}"
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


def test_state_dir_database_and_locks_are_private(tmp_path: Path) -> None:
    """Embedded mode: state dir 0700, database and lock files 0600 (whatever the umask)."""
    spec = segment_cloud(spares=1)
    state = tmp_path / "state"
    with running_simulator(spec) as sim:
        conf_path = tmp_path / "rhworker.conf"
        conf_path.write_text(
            f"[DEFAULT]\nstate_dir = {state}\n"
            f"[compute]\nauth_type = none\nendpoint_override = {sim.compute_url}\n"
            "[worker]\npoll_interval = 0.05\n[host_failure]\nverify_interval = 0.02\n"
        )
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(spec))
        run = Run(str(conf_path))
        old = os.umask(0o022)  # what a login shell has: the children must not rely on it
        try:
            run("inventory", "load", str(inventory))
            sim.kill_host("compute-1")
            run("notify", "compute-1")
            run("worker", "--burst")
        finally:
            os.umask(old)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "rhworker.db" for p in files)
    assert any("locks" in p.parts for p in files), files  # a reserved host was locked
    loose = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert {p: m for p, m in loose.items() if m != "0o600"} == {}
    dirs = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in state.rglob("*") if p.is_dir()}
    assert {p: m for p, m in dirs.items() if m != "0o700"} == {}
