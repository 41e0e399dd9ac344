"""Identity, the /sim/ control API, faults, specs and `rhworker sim serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import keystoneauth1.exceptions as ks_exc
import openstack
import openstack.exceptions as sdk_exc
import pytest

from rhworker.sim import SimControl
from rhworker.testing.sim_fixture import (
    password_connection,
    running_simulator,
    sdk_connection,
    wait_until,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_password_auth_admin_and_non_admin(sim: Any) -> None:
    admin = password_connection(sim, "admin", "admin", "admin", compute_api_version="2.94")
    on_host = list(admin.compute.servers(all_projects=True, compute_host="compute-1"))
    assert len(on_host) == 4
    demo = password_connection(sim, "demo", "demo", "demo", compute_api_version="2.94")
    own = list(demo.compute.servers())
    assert len(own) == 5 and all(s.compute_host is None for s in own)  # no host for non-admins
    with pytest.raises(sdk_exc.ForbiddenException):
        list(demo.compute.servers(all_projects=True))
    with pytest.raises(sdk_exc.ForbiddenException):
        list(demo.compute.services())
    svc = next(iter(admin.compute.services(host="compute-1", binary="nova-compute")))
    with pytest.raises(sdk_exc.ForbiddenException):
        demo.compute.disable_service(svc.id)


def test_wrong_password_is_refused(sim: Any) -> None:
    conn = password_connection(sim, "admin", "wrong", "admin", compute_api_version="2.94")
    with pytest.raises(ks_exc.Unauthorized):
        list(conn.compute.services())


def test_admin_token_and_strict_auth() -> None:
    with running_simulator(admin_token="secret", anonymous_admin=False) as sim:
        conn = openstack.connect(
            auth_type="admin_token",
            auth={"token": "secret", "endpoint": sim.compute_url},
            compute_endpoint_override=sim.compute_url,
            compute_api_version="2.94",
        )
        assert len(list(conn.compute.services(binary="nova-compute"))) == 3
        anonymous = sdk_connection(sim)
        with pytest.raises(sdk_exc.HttpException) as err:
            list(anonymous.compute.services())
        assert err.value.status_code == 401


def test_control_api_from_another_client(sim: Any) -> None:
    control = SimControl(sim.url)
    assert control.health()
    control.load_cloud(
        {
            "segments": [
                {"name": "s", "recovery_method": "auto", "hosts": [{"name": "a"}, {"name": "b"}]}
            ],
            "servers": [{"name": "x", "count": 2, "host": "a"}],
        }
    )
    state = control.state()
    assert [h["name"] for h in state["hosts"]] == ["a", "b"]
    assert [s["host"] for s in state["servers"]] == ["a", "a"]
    control.kill_host("a")
    assert not next(h for h in control.state()["hosts"] if h["name"] == "a")["alive"]
    control.revive_host("a")
    assert control.set_options(evacuation_time=0.0)["evacuation_time"] == 0.0
    control.reset()
    assert len(control.state()["servers"]) == 2
    control.close()


def test_injected_error_and_latency(sim: Any) -> None:
    conn = sdk_connection(sim)
    control = SimControl(sim.url)
    control.inject(type="error", status=503, path="/os-services", method="GET", count=1)
    with pytest.raises(sdk_exc.HttpException) as err:
        list(conn.compute.services())
    assert err.value.status_code == 503
    assert len(list(conn.compute.services())) == 5  # count=1: fired once
    control.inject(type="error", status=500, action="evacuate")
    sim.kill_host("compute-1")
    server = next(iter(conn.compute.servers(all_projects=True, compute_host="compute-1")))
    with pytest.raises(sdk_exc.HttpException) as err:
        conn.compute.evacuate_server(server, host="compute-2")
    assert err.value.status_code == 500
    control.clear_faults()
    control.inject(type="latency", seconds=0.01, path="/servers")
    assert conn.compute.get_server(server.id).id == server.id
    assert control.state()["faults"]["requests"][0]["type"] == "latency"


def test_spec_bulk_servers_and_reserved_disabled() -> None:
    spec = {
        "segments": [
            {
                "name": "s1",
                "recovery_method": "reserved_host",
                "hosts": [{"name": "c1"}, {"name": "c2"}, {"name": "r1", "reserved": True}],
            }
        ],
        "servers_per_host": 2,
        "servers": [{"count": 3, "host": "c1", "status": "ERROR"}],
    }
    with running_simulator(spec) as sim:
        state = sim.state()
        by_host: dict[str, int] = {}
        for s in state["servers"]:
            by_host[s["host"]] = by_host.get(s["host"], 0) + 1
        assert by_host == {"c1": 5, "c2": 2}
        assert sum(s["status"] == "ERROR" for s in state["servers"]) == 3
        r1 = next(h for h in state["hosts"] if h["name"] == "r1")
        assert r1["service"]["status"] == "disabled" and r1["reserved"]


def test_example_cloud_loads() -> None:
    from rhworker.sim import spec as sim_spec

    data = sim_spec.load_file(os.path.join(REPO, "conf", "cloud.example.yaml"))
    with running_simulator(data) as sim:
        state = sim.state()
        assert len(state["servers"]) == 20
        assert sum(h["reserved"] for h in state["hosts"]) == 4


def test_cli_serve_prints_url_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rhworker",
            "sim",
            "serve",
            "--port",
            "0",
            "--evacuation-time",
            "0",
            "--cloud",
            os.path.join(REPO, "conf", "cloud.example.yaml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        control = SimControl(url)
        wait_until(control.health)
        assert len(control.state()["servers"]) == 20
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("cloud", ["sim", "sim-noauth", "sim-token"])
def test_clouds_yaml_example_works(tmp_path: Any, cloud: str) -> None:
    from openstack import config as os_config

    with running_simulator(admin_token="secret") as sim:
        with open(os.path.join(REPO, "conf", "clouds.yaml.example"), encoding="utf-8") as f:
            text = f.read().replace("http://127.0.0.1:PORT", sim.url)
        path = tmp_path / "clouds.yaml"
        path.write_text(text)
        region = os_config.OpenStackConfig(config_files=[str(path)]).get_one(cloud=cloud)
        conn = openstack.connection.Connection(config=region)
        services = list(conn.compute.services(binary="nova-compute"))
        assert len(services) == 3
