"""Preflight (issue 17, item 1): ``rhworker check``, ``worker`` and ``pool`` refuse to
start on a configuration or a service they cannot work with — one line, exit 7, no
traceback, and no notification ever taken. Against the simulator over HTTP (its
Keystone with password users), the real CLI in subprocesses, real Redis/ZooKeeper."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rhworker.cli import EXIT_PREFLIGHT
from rhworker.inventory import apply_inventory, load_inventory
from rhworker.models import NotificationStatus
from rhworker.store import from_url
from rhworker.testing.servers import free_port
from rhworker.testing.sim_fixture import SMALL_CLOUD, running_simulator

pytestmark = pytest.mark.integration

STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    # Password auth only: no anonymous admin, so credentials matter.
    with running_simulator(SMALL_CLOUD, anonymous_admin=False) as s:
        yield s


def password_compute(sim: Any, user: str = "admin", password: str = "admin") -> dict[str, str]:
    return {
        "auth_url": sim.identity_url,
        "username": user,
        "password": password,
        "project_name": "admin" if user == "admin" else "demo",
        "region_name": "RegionOne",
    }


def write_conf(path: Path, groups: dict[str, dict[str, Any]], extra: str = "") -> str:
    lines = []
    for group, values in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return str(path)


def rh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rhworker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def state(tmp_path: Path) -> tuple[str, str]:
    """A state dir holding a store with SMALL_CLOUD's inventory and one notification."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    store = from_url(f"sqlite:///{state_dir}/rhworker.db")
    apply_inventory(store, load_inventory(SMALL_CLOUD))
    notification_id = store.create_notification("COMPUTE_HOST", "compute-1", dict(STOPPED)).id
    store.close()
    return str(state_dir), notification_id


def assert_refused(proc: subprocess.CompletedProcess[str], reason: str) -> str:
    """Exit 7, exactly one line on stderr naming ``reason``, no traceback."""
    assert proc.returncode == EXIT_PREFLIGHT, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert reason in lines[0], lines[0]
    return lines[0]


def assert_untouched(state_dir: str, notification_id: str) -> None:
    store = from_url(f"sqlite:///{state_dir}/rhworker.db", create=False)
    try:
        n = store.get_notification(notification_id)
    finally:
        store.close()
    assert n.status == NotificationStatus.NEW and n.attempts == 0


def refused_everywhere(
    conf_path: str, state_dir: str, notification_id: str, reason: str, check_name: str
) -> str:
    """``check`` names the failed check; ``worker --burst`` exits 7 with one line and
    leaves the notification as it was; the line is returned for the report."""
    common = ["--config-file", conf_path, "--state-dir", state_dir]
    check = rh(*common, "check")
    assert check.returncode == EXIT_PREFLIGHT, check.stdout + check.stderr
    failed = [line for line in check.stdout.splitlines() if "FAILED" in line]
    assert failed and failed[0].startswith(f"{check_name}: FAILED: "), check.stdout
    assert reason in failed[0]
    line = assert_refused(rh(*common, "worker", "--burst"), reason)
    assert_untouched(state_dir, notification_id)
    return line


def test_all_checks_pass_and_the_worker_recovers(
    sim: Any, state: tuple[str, str], tmp_path: Path
) -> None:
    state_dir, notification_id = state
    conf = write_conf(tmp_path / "ok.conf", {"compute": password_compute(sim)})
    check = rh("--config-file", conf, "--state-dir", state_dir, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["config", "store", "locks", "compute"]
    assert all(": ok: " in line for line in lines), lines
    assert "microversion 2.94 supported (Nova max 2.95)" in lines[3]
    worker = rh("--config-file", conf, "--state-dir", state_dir, "worker", "--burst", timeout=120)
    assert worker.returncode == 0, worker.stderr
    store = from_url(f"sqlite:///{state_dir}/rhworker.db", create=False)
    try:
        assert store.get_notification(notification_id).status == NotificationStatus.FINISHED
    finally:
        store.close()


def test_no_compute_section(state: tuple[str, str], tmp_path: Path) -> None:
    state_dir, notification_id = state
    conf = write_conf(tmp_path / "empty.conf", {})
    line = refused_everywhere(
        conf, state_dir, notification_id, "[compute] is not configured", "compute"
    )
    assert line == (
        "error: preflight failed: compute: [compute] is not configured: set cloud = NAME "
        "(a clouds.yaml entry) or auth_url, username, password and project_name"
    )


def test_wrong_password(sim: Any, state: tuple[str, str], tmp_path: Path) -> None:
    state_dir, notification_id = state
    conf = write_conf(tmp_path / "pw.conf", {"compute": password_compute(sim, password="nope")})
    line = refused_everywhere(
        conf, state_dir, notification_id, "authentication as user admin refused", "compute"
    )
    assert sim.identity_url in line and "nope" not in line


def test_non_admin_user(sim: Any, state: tuple[str, str], tmp_path: Path) -> None:
    state_dir, notification_id = state
    conf = write_conf(tmp_path / "demo.conf", {"compute": password_compute(sim, "demo", "demo")})
    refused_everywhere(conf, state_dir, notification_id, "user demo is not admin", "compute")


def test_nova_unreachable(state: tuple[str, str], tmp_path: Path) -> None:
    state_dir, notification_id = state
    url = f"http://127.0.0.1:{free_port()}/v2.1"
    conf = write_conf(
        tmp_path / "down.conf", {"compute": {"auth_type": "none", "endpoint_override": url}}
    )
    started = time.monotonic()
    line = refused_everywhere(conf, state_dir, notification_id, "Nova unreachable at", "compute")
    assert url in line
    assert time.monotonic() - started < 30


def test_microversion_too_high(
    sim: Any, state: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rhworker.sim import views

    monkeypatch.setattr(views, "MAX_VERSION", "2.60")  # an older Nova's version document
    state_dir, notification_id = state
    conf = write_conf(tmp_path / "old.conf", {"compute": password_compute(sim)})
    line = refused_everywhere(
        conf, state_dir, notification_id, "microversion 2.94 is not supported", "compute"
    )
    assert "its highest is 2.60" in line


def test_unknown_option_and_section(sim: Any, state: tuple[str, str], tmp_path: Path) -> None:
    state_dir, notification_id = state
    conf = write_conf(
        tmp_path / "typo.conf",
        {"compute": password_compute(sim), "worker": {"max_atempts": 3}, "wroker": {"x": 1}},
    )
    line = refused_everywhere(
        conf, state_dir, notification_id, "unknown option [worker] max_atempts", "config"
    )
    assert "unknown section [wroker]" in line


def test_bad_value(sim: Any, state: tuple[str, str], tmp_path: Path) -> None:
    state_dir, notification_id = state
    conf = write_conf(
        tmp_path / "bad.conf",
        {"compute": password_compute(sim), "worker": {"max_attempts": "many"}},
    )
    check = rh("--config-file", conf, "--state-dir", state_dir, "check")
    assert check.returncode == EXIT_PREFLIGHT
    assert check.stdout.splitlines()[0] == (
        "config: FAILED: [worker] max_attempts: invalid value 'many' (expected an integer >= 1)"
    )
    # Every command refuses it while loading the configuration, naming the option.
    for command in (["worker", "--burst"], ["config"], ["status"]):
        line = assert_refused(
            rh("--config-file", conf, "--state-dir", state_dir, *command), "max_attempts"
        )
        assert line == (
            "error: [worker] max_attempts: invalid value 'many' (expected an integer >= 1)"
        )
    assert_untouched(state_dir, notification_id)


def test_missing_store(sim: Any, state: tuple[str, str], tmp_path: Path) -> None:
    _, notification_id = state
    conf = write_conf(tmp_path / "ok.conf", {"compute": password_compute(sim)})
    missing = tmp_path / "nowhere" / "rhworker.db"
    check = rh("--config-file", conf, "--store", f"sqlite:///{missing}", "check")
    assert check.returncode == EXIT_PREFLIGHT
    assert f"store: FAILED: no store at {missing}" in check.stdout
    line = assert_refused(
        rh("--config-file", conf, "--store", f"sqlite:///{missing}", "worker", "--burst"),
        "does not exist",
    )
    assert line == (
        f"error: preflight failed: store: sqlite store {missing}: directory "
        f"{missing.parent} does not exist"
    )
    assert not missing.parent.exists()


def test_pool_checks_once_and_starts_no_worker(state: tuple[str, str], tmp_path: Path) -> None:
    state_dir, notification_id = state
    conf = write_conf(tmp_path / "empty.conf", {})
    proc = rh("--config-file", conf, "--state-dir", state_dir, "pool", "-n", "2", timeout=30)
    assert_refused(proc, "[compute] is not configured")
    assert "worker 0 started" not in proc.stderr
    assert_untouched(state_dir, notification_id)


def test_redis_store_and_zookeeper_locks(
    sim: Any, redis_url: str, zookeeper_url: str, tmp_path: Path
) -> None:
    conf = write_conf(tmp_path / "ok.conf", {"compute": password_compute(sim)})
    store, locks = f"{redis_url}/0?prefix=pf", zookeeper_url
    check = rh("--config-file", conf, "--store", store, "--coordination", locks, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "store: ok: redis" in check.stdout and "locks: ok: zookeeper://" in check.stdout
    # A lock backend that does not answer fails within [coordination] call_timeout.
    dead = f"zookeeper://127.0.0.1:{free_port()}"
    short = write_conf(
        tmp_path / "short.conf",
        {"compute": password_compute(sim), "coordination": {"call_timeout": 2}},
    )
    started = time.monotonic()
    check = rh("--config-file", short, "--store", store, "--coordination", dead, "check")
    assert check.returncode == EXIT_PREFLIGHT
    assert "locks: FAILED: " in check.stdout
    assert time.monotonic() - started < 20
