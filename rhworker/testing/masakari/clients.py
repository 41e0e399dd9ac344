"""Masakari's real clients, pointed at any instance-ha endpoint (masakari-api or rhworker).

- :func:`openstack_cli`: the ``openstack`` command (python-openstackclient with
  python-masakariclient's plugin: ``segment create``, ``segment host create``,
  ``notification create`` ...) run from the Masakari virtualenv. Without Keystone it
  runs with ``--os-auth-type none --os-endpoint <endpoint>``: keystoneauth's ``none``
  plugin takes the endpoint and the plugin's ``Connection`` uses it for every service.
- :func:`run_host_monitor`: masakari-monitors' host monitor code (``monitor.py``, run
  by the venv's python) sending the notification of a host that went offline, with the
  HTTP answers it got.
- :func:`sdk_connection`: openstacksdk's ``instance_ha`` proxy from rhworker's own
  environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhworker.testing import venvbuild
from rhworker.testing.masakari import venv
from rhworker.testing.masakari.server import MasakariError

MONITOR = Path(__file__).with_name("monitor.py")
MONITOR_RESULT = "RHWORKER-MONITOR-RESULT"
DEFAULT_CLI_TIMEOUT = 120.0  # s; one `openstack` run is ~2-4 s (imports)


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        if self.returncode != 0:
            raise MasakariError(f"openstack {' '.join(self.args)} failed: {self.stderr.strip()}")
        return json.loads(self.stdout) if self.stdout.strip() else None


@dataclass
class MonitorRun:
    """What the host monitor's code sent and what it got back, request by request."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""

    @property
    def statuses(self) -> list[int]:
        return [int(c["status"]) for c in self.calls]


def _clean_env() -> dict[str, str]:
    """rhworker's environment minus PYTHONPATH and any ``OS_*`` cloud settings."""
    return {k: v for k, v in venvbuild.child_env().items() if not k.startswith("OS_")}


def auth_args(endpoint: str | None, auth: Mapping[str, str] | None) -> list[str]:
    """OSC's global options: ``none`` with an endpoint, or keystone ``password`` auth."""
    if auth is None:
        if endpoint is None:
            raise ValueError("an endpoint or Keystone credentials are needed")
        return ["--os-auth-type", "none", "--os-endpoint", endpoint]
    args: list[str] = []
    for key, value in auth.items():
        args += [f"--os-{key.replace('_', '-')}", value]
    return args


def openstack_cli(
    endpoint: str | None,
    *args: str,
    auth: Mapping[str, str] | None = None,
    api_version: str | None = None,
    timeout: float = DEFAULT_CLI_TIMEOUT,
) -> CliResult:
    """Run ``openstack <args>`` from the Masakari virtualenv against ``endpoint``.

    ``api_version``: ``--os-ha-api-version`` (the plugin's default is 1.3).
    """
    path = venv.ensure_venv()
    cmd = [*venvbuild.script_command(path, "openstack"), *auth_args(endpoint, auth)]
    if api_version is not None:
        cmd += ["--os-ha-api-version", api_version]
    cmd += list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_clean_env())
    return CliResult(list(args), proc.returncode, proc.stdout, proc.stderr)


def monitor_conf(
    endpoint: str | None,
    auth: Mapping[str, str] | None = None,
    *,
    region: str = "RegionOne",
    retry_max: int = 0,
) -> str:
    """masakarimonitors.conf for the host monitor: its ``[api]`` (keystoneauth) and
    ``[host]`` sections (one sample per state, no IPMI check)."""
    if auth is None:
        api = {"auth_type": "none", "endpoint": endpoint or ""}
    else:
        api = {"auth_type": "password", **auth}
    api["region"] = region
    host = {
        "monitoring_samples": "1",
        "disable_ipmi_check": "True",
        "api_retry_max": str(retry_max),
        "api_retry_interval": "1",
    }
    text = "[api]\n" + "".join(f"{k} = {v}\n" for k, v in api.items())
    return text + "[host]\n" + "".join(f"{k} = {v}\n" for k, v in host.items())


def run_host_monitor(
    endpoint: str | None,
    host: str,
    states: Sequence[str] = ("online", "offline"),
    *,
    auth: Mapping[str, str] | None = None,
    region: str = "RegionOne",
    timeout: float = DEFAULT_CLI_TIMEOUT,
) -> MonitorRun:
    """masakari-monitors' host monitor seeing ``host`` go through ``states`` (Pacemaker's
    ``online``/``offline``): a change to ``offline`` sends a COMPUTE_HOST STOPPED
    notification to ``endpoint`` (or, with Keystone ``auth``, to the instance-ha
    endpoint of ``region`` in its catalog), through the monitor's own
    ``SendNotification``."""
    path = venv.ensure_venv()
    tmp = Path(tempfile.mkdtemp(prefix="rhworker-monitor-"))
    try:
        conf = tmp / "masakarimonitors.conf"
        conf.write_text(monitor_conf(endpoint, auth, region=region))
        cmd = [str(venvbuild.venv_python(path)), str(MONITOR), "--config-file", str(conf)]
        cmd += ["--host", host, "--states", ",".join(states)]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=_clean_env(), cwd=tmp
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for line in proc.stdout.splitlines():
        if line.startswith(MONITOR_RESULT):
            result = json.loads(line[len(MONITOR_RESULT) :])
            return MonitorRun(calls=list(result["calls"]), stderr=proc.stderr)
    tail = "\n".join(proc.stderr.splitlines()[-20:])
    raise MasakariError(f"the host monitor exited with {proc.returncode}:\n{tail}")


def sdk_connection(endpoint: str, **kwargs: Any) -> Any:
    """openstacksdk (rhworker's own) with ``auth_type: none``; use ``.instance_ha``."""
    import openstack

    return openstack.connect(
        auth_type="none",
        instance_ha_endpoint_override=endpoint,
        load_yaml_config=False,
        load_envvars=False,
        **kwargs,
    )
