"""Preflight's configuration check and the store location rules (issue 17, items 1
and 2) — everything that needs no server. The checks against Nova, Redis and
ZooKeeper are in tests/integration/test_preflight.py."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from rhworker import conf as rconf
from rhworker import preflight
from rhworker.cli import EXIT_NO_STORE, EXIT_OK, EXIT_PREFLIGHT, main
from rhworker.conf import paths
from rhworker.errors import PreflightFailed
from rhworker.store.sqlite.schema import SCHEMA_VERSION

SMALL = """
segments:
  - name: s1
    recovery_method: reserved_host
    hosts: [{name: c1}, {name: spare, reserved: true}]
"""


def conf_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rhworker.conf"
    path.write_text(text)
    return str(path)


# --- configuration values and names ---------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[worker]\nmax_attempts = many\n",
            "[worker] max_attempts: invalid value 'many' (expected an integer >= 1)",
        ),
        (
            "[worker]\nconcurrency = 0\n",
            "[worker] concurrency: invalid value '0' (expected an integer >= 1)",
        ),
        (
            "[coordination]\nfile_backend_policy = maybe\n",
            "[coordination] file_backend_policy: invalid value 'maybe' "
            "(expected one of warn, refuse, allow)",
        ),
        (
            "[compute]\ninsecure = sometimes\n",
            "[compute] insecure: invalid value 'sometimes' (expected true or false)",
        ),
    ],
)
def test_bad_value_names_the_option(tmp_path: Path, capsys, text: str, message: str) -> None:
    path = conf_file(tmp_path, text)
    assert main(["--config-file", path, "--state-dir", str(tmp_path), "config"]) == EXIT_PREFLIGHT
    assert capsys.readouterr().err == f"error: {message}\n"


def test_bad_value_from_the_environment(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OS_WORKER__LEASE_TIMEOUT", "soon")
    assert main(["--state-dir", str(tmp_path), "config"]) == EXIT_PREFLIGHT
    err = capsys.readouterr().err
    assert err == "error: [worker] lease_timeout: invalid value 'soon' (expected a number >= 1)\n"


def test_unknown_options_and_sections_as_the_validator_reports_them(tmp_path: Path) -> None:
    path = conf_file(
        tmp_path,
        "[DEFAULT]\nstate_dir = /x\nstatedir = /y\n"
        "[worker]\nmax_atempts = 3\nconcurrency = 2\n"
        "[wroker]\nmax_attempts = 3\n",
    )
    conf = rconf.load(config_files=[path])
    assert preflight.unknown_options(conf) == [
        f"{path}: unknown option [DEFAULT] statedir",
        f"{path}: unknown option [worker] max_atempts",
        f"{path}: unknown section [wroker] (max_attempts)",
    ]
    with pytest.raises(PreflightFailed, match=r"unknown option \[DEFAULT\] statedir \(and 2 more"):
        preflight.check_config(conf)


def test_a_valid_file_passes(tmp_path: Path) -> None:
    path = conf_file(tmp_path, "[worker]\nconcurrency = 2\n[compute]\ncloud = prod\n")
    conf = rconf.load(config_files=[path])
    assert preflight.invalid_values(conf) == [] and preflight.unknown_options(conf) == []
    assert preflight.check_config(conf) == f"{path} valid"


def test_microversion_above_2_94_fails_the_config_check(tmp_path: Path) -> None:
    conf = rconf.load(config_files=[conf_file(tmp_path, "[compute]\nmicroversion = 2.95\n")])
    with pytest.raises(PreflightFailed, match="microversion 2.95 is above 2.94"):
        preflight.check_config(conf)


def test_check_stops_after_a_config_failure(tmp_path: Path, capsys) -> None:
    path = conf_file(tmp_path, "[worker]\nmax_atempts = 3\n")
    assert main(["--config-file", path, "--state-dir", str(tmp_path), "check"]) == EXIT_PREFLIGHT
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"config: FAILED: {path}: unknown option [worker] max_atempts",
        "store: skipped (the configuration is invalid)",
        "locks: skipped (the configuration is invalid)",
        "compute: skipped (the configuration is invalid)",
    ]


# --- store: check without creating -------------------------------------------------------


def test_check_store_reads_the_schema_version_and_creates_nothing(tmp_path: Path, capsys) -> None:
    state = str(tmp_path / "state")
    args = ["--state-dir", state, "check", "--only", "store", "--only", "locks"]
    assert main(args) == EXIT_PREFLIGHT
    out = capsys.readouterr().out
    assert f"store: FAILED: no store at {state}/rhworker.db (run `rhworker inventory load`" in out
    assert "locks: ok: file locks in" in out
    assert not os.path.exists(state)
    os.mkdir(state)
    sqlite3.connect(f"{state}/rhworker.db").execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    assert main(args) == EXIT_PREFLIGHT
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in capsys.readouterr().out
    os.remove(f"{state}/rhworker.db")
    assert main(["--state-dir", state, "inventory", "load", conf_file(tmp_path, SMALL)]) == 0
    capsys.readouterr()
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert f"store: ok: sqlite {state}/rhworker.db, schema version {SCHEMA_VERSION}" in out
    assert "(not created yet; the first worker creates it)" in out
    os.mkdir(f"{state}/locks")  # as a worker leaves it
    assert main(args) == EXIT_OK
    assert f"locks: ok: file://{state}/locks: a lock taken and released" in capsys.readouterr().out


# --- store location ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["notification", "list"],
        ["notification", "show", "x"],
        ["status"],
        ["inventory", "export"],
        ["segment", "list"],
        ["host", "list"],
        ["notify", "c1"],
        ["pause"],
    ],
)
def test_commands_never_create_a_store(tmp_path: Path, capsys, command: list[str]) -> None:
    state = tmp_path / "state"
    assert main(["--state-dir", str(state), *command]) == EXIT_NO_STORE
    err = capsys.readouterr().err
    assert err == (
        f"error: no store at {state}/rhworker.db (run `rhworker inventory load` or start a "
        "worker to create one)\n"
    )
    assert not state.exists()
    store = tmp_path / "typo.db"
    assert main(["--store", f"sqlite:///{store}", *command]) == EXIT_NO_STORE
    assert not store.exists()


def test_inventory_load_creates_the_state_dir_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert main(["--state-dir", str(state), "inventory", "load", conf_file(tmp_path, SMALL)]) == 0
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert (state / "rhworker.db").exists()
    assert main(["--state-dir", str(state), "segment", "list"]) == EXIT_OK


def test_explicit_store_directory_is_never_created(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/x.db"
    assert main(["--store", url, "inventory", "load", conf_file(tmp_path, SMALL)]) == 1
    assert f"directory {tmp_path}/no/such/dir does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_explicit_state_dir_parents_are_not_created(tmp_path: Path, capsys) -> None:
    state = tmp_path / "a" / "b"
    assert main(["--state-dir", str(state), "inventory", "load", conf_file(tmp_path, SMALL)]) == 1
    assert "cannot create the state directory" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_relative_store_url_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inventory = conf_file(tmp_path, SMALL)
    assert main(["--store", "sqlite:///rel.db", "inventory", "load", inventory]) == 0
    assert (tmp_path / "rel.db").exists()
    assert main(["--store", f"sqlite:///{tmp_path}/rel.db", "segment", "show", "s1"]) == 0


def test_default_state_dir_is_absolute_and_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert paths.default_state_dir() == "/var/lib/rhworker"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(paths, "SYSTEM_STATE_DIR", "/nonexistent/rhworker")
    monkeypatch.setenv("XDG_STATE_HOME", "/srv/state")
    assert paths.default_state_dir() == "/srv/state/rhworker"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # the spec wants absolute
    monkeypatch.setenv("HOME", "/home/ann")
    assert paths.default_state_dir() == "/home/ann/.local/state/rhworker"
    conf = rconf.load()
    assert rconf.state_dir(conf) == "/home/ann/.local/state/rhworker"
    assert rconf.store_url(conf) == "sqlite:////home/ann/.local/state/rhworker/rhworker.db"


def test_default_state_dir_is_created_with_its_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(paths, "SYSTEM_STATE_DIR", "/nonexistent/rhworker")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg" / "state"))
    monkeypatch.chdir(tmp_path)
    assert main(["inventory", "load", conf_file(tmp_path, SMALL)]) == 0
    assert (tmp_path / "xdg" / "state" / "rhworker" / "rhworker.db").exists()
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # the same store from any directory
    assert main(["segment", "show", "s1"]) == 0


# --- compute settings (no Nova needed to find them missing) -----------------------------


@pytest.mark.parametrize(
    "compute, message",
    [
        (
            {},
            "[compute] is not configured: set cloud = NAME (a clouds.yaml entry) or "
            "auth_url, username, password and project_name",
        ),
        (
            {"auth_url": "http://keystone:5000/v3", "username": "rh"},
            "[compute] password, project_name unset (or set cloud = NAME)",
        ),
        (
            {"auth_type": "none"},
            "[compute] auth_type = none needs endpoint_override (the Nova …/v2.1 URL)",
        ),
    ],
)
def test_missing_compute_settings_are_one_line(compute: dict[str, str], message: str) -> None:
    conf = rconf.load(overrides={"compute": compute})
    result = preflight.run_checks(conf, create_store=True, checks=["compute"])
    assert [r.line() for r in result] == [f"compute: FAILED: {message}"]


def test_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "rhworker.db").write_bytes(b"not a database, just bytes " * 100)
    conf = rconf.load(overrides={"DEFAULT": {"state_dir": str(tmp_path)}})
    [result] = preflight.run_checks(conf, create_store=False, checks=["store"])
    assert not result.ok and "file is not a database" in result.detail


def test_unknown_cloud_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  prod:\n    auth_type: none\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    conf = rconf.load(overrides={"compute": {"cloud": "nosuch"}})
    [result] = preflight.run_checks(conf, create_store=True, checks=["compute"])
    assert result.line() == (
        "compute: FAILED: [compute] cannot configure the compute connection: "
        "Cloud nosuch was not found."
    )
