"""The compute adapter through the real openstacksdk against the simulator over HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from rhworker.compute.base import Server
from rhworker.compute.openstack import OpenStackCompute
from rhworker.errors import ComputeBadRequest, ComputeNotFound, ComputeTransient
from rhworker.sim import Simulator
from rhworker.testing.sim_fixture import running_simulator, wait_until
from tests.confs import compute_conf_with

PAGE_SIZE = 3
SOURCE_SERVERS = 7  # more than two pages of PAGE_SIZE

CLOUD: dict[str, Any] = {
    "segments": [
        {
            "name": "seg1",
            "recovery_method": "reserved_host",
            "hosts": [
                {"name": "compute-1", "vcpus": 16, "memory_mb": 32768, "aggregates": ["agg1"]},
                {"name": "compute-2", "vcpus": 16, "memory_mb": 32768, "aggregates": ["agg1"]},
                {
                    "name": "spare-1",
                    "vcpus": 16,
                    "memory_mb": 32768,
                    "reserved": True,
                    "aggregates": ["spares"],
                },
            ],
        }
    ],
    "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
    "servers": [
        {
            "name": "vm",
            "count": SOURCE_SERVERS - 1,
            "host": "compute-1",
            "flavor": "small",
            "metadata": {"HA_Enabled": "True"},
        },
        {"name": "vm-off", "host": "compute-1", "flavor": "small", "power": "off"},
        {"name": "vm-other", "host": "compute-2", "flavor": "small"},
    ],
}


def adapter_for(sim: Simulator, **kwargs: Any) -> OpenStackCompute:
    conf_opts = {
        "auth_type": "none",
        "endpoint_override": sim.compute_url,
        "retry_deadline": 10.0,
        "api_timeout": 10.0,
    }
    conf_opts.update(kwargs.pop("conf", {}))
    kwargs.setdefault("page_size", PAGE_SIZE)
    kwargs.setdefault("initial_backoff", 0.01)
    kwargs.setdefault("max_backoff", 0.1)
    return OpenStackCompute.from_conf(compute_conf_with(**conf_opts), **kwargs)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running_simulator(CLOUD, evacuation_time=0.05, disable_rpc_delay=1.0) as s:
        yield s


@pytest.fixture
def compute(sim: Simulator) -> Iterator[OpenStackCompute]:
    client = adapter_for(sim)
    yield client
    client.close()


def sim_service(sim: Simulator, host: str) -> dict[str, Any]:
    return next(h["service"] for h in sim.state()["hosts"] if h["name"] == host)


def sim_server(sim: Simulator, server_id: str) -> dict[str, Any]:
    return next(s for s in sim.state()["servers"] if s["id"] == server_id)


def sim_server_ids(sim: Simulator, host: str) -> set[str]:
    return {s["id"] for s in sim.state()["servers"] if s["host"] == host}


def server_named(sim: Simulator, name: str) -> str:
    return str(next(s["id"] for s in sim.state()["servers"] if s["name"] == name))


def fence(sim: Simulator, compute: OpenStackCompute, host: str) -> None:
    sim.kill_host(host)
    compute.force_down_service(host)


def settled(compute: OpenStackCompute, server_id: str, predicate: Any) -> Server:
    """The server once no task runs on it and ``predicate(server)`` holds."""

    def check() -> Server | None:
        server = compute.get_server(server_id)
        return server if server.task_state is None and predicate(server) else None

    result: Server = wait_until(check)
    return result


def evacuations_of(sim: Simulator, server_id: str) -> list[dict[str, Any]]:
    return [m for m in sim.state()["migrations"] if m["instance_uuid"] == server_id]


# --- services ------------------------------------------------------------------------


def test_service_get_force_down_disable_enable(sim: Simulator, compute: OpenStackCompute) -> None:
    service = compute.get_service("compute-1")
    assert (service.host, service.binary, service.status, service.state) == (
        "compute-1",
        "nova-compute",
        "enabled",
        "up",
    )
    assert service.forced_down is False
    assert service.id == sim_service(sim, "compute-1")["id"]

    sim.kill_host("compute-1")
    compute.force_down_service("compute-1")
    assert sim_service(sim, "compute-1")["forced_down"] is True
    assert compute.get_service("compute-1").state == "down"

    reason = "rhworker notification 1234: " + "x" * 300
    compute.disable_service("compute-1", reason)
    state = sim_service(sim, "compute-1")
    assert state["status"] == "disabled"
    assert state["disabled_reason"] == reason[:255]
    # Forced down first, so the disable made no (blocking) RPC to the dead compute.
    events = [e for e in sim.state()["events"] if e.get("kind") == "service_rpc_timeout_wait"]
    assert events == []
    got = compute.get_service("compute-1")
    assert (got.status, got.disabled_reason) == ("disabled", reason[:255])

    compute.enable_service("compute-1")
    state = sim_service(sim, "compute-1")
    assert (state["status"], state["disabled_reason"]) == ("enabled", None)

    compute.force_down_service("compute-1", forced=False)
    assert sim_service(sim, "compute-1")["forced_down"] is False


def test_disable_twice_with_another_reason(sim: Simulator, compute: OpenStackCompute) -> None:
    # spare-1 starts disabled ("reserved host"): a new reason must still be sent with
    # its status (Nova refuses a reason alone).
    compute.disable_service("spare-1", "maintenance 42")
    assert sim_service(sim, "spare-1")["disabled_reason"] == "maintenance 42"


def test_unknown_service_host(compute: OpenStackCompute) -> None:
    with pytest.raises(ComputeNotFound):
        compute.get_service("no-such-host")
    with pytest.raises(ComputeNotFound):
        compute.force_down_service("no-such-host")


# --- servers -------------------------------------------------------------------------


def test_list_servers_on_host_reads_every_page(sim: Simulator, compute: OpenStackCompute) -> None:
    servers = compute.list_servers_on_host("compute-1")
    assert len(servers) == SOURCE_SERVERS > 2 * PAGE_SIZE
    assert {s.id for s in servers} == sim_server_ids(sim, "compute-1")
    assert all(s.host == "compute-1" for s in servers)
    by_name = {s.name: s for s in servers}
    off = by_name["vm-off"]
    assert (off.status, off.vm_state, off.power_state) == ("SHUTOFF", "stopped", 4)
    on = by_name["vm-1"]
    assert (on.status, on.vm_state, on.power_state, on.task_state) == (
        "ACTIVE",
        "active",
        1,
        None,
    )
    assert on.metadata == {"HA_Enabled": "True"}
    assert on.project_id
    assert on.locked is False
    assert on.flavor.get("vcpus") == 1
    assert [s.name for s in compute.list_servers_on_host("compute-2")] == ["vm-other"]
    assert compute.list_servers_on_host("spare-1") == []


def test_read_servers_lists_hosts_and_gets_only_the_rest(
    sim: Simulator, compute: OpenStackCompute, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, str, str | None]] = []
    http = compute._conn.session.session
    real_request = http.request

    def spy(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or {}
        host = (kwargs.get("params") or {}).get("host")
        sent.append(
            (method, f"{url}?host={host}" if host else url, headers.get("OpenStack-API-Version"))
        )
        return real_request(method, url, *args, **kwargs)

    on_1 = sorted(sim_server_ids(sim, "compute-1"))
    other = server_named(sim, "vm-other")
    gone = "00000000-0000-0000-0000-000000000000"
    expected = {s.id: s for s in compute.list_servers_on_host("compute-1")}
    expected[other] = compute.get_server(other)
    monkeypatch.setattr(http, "request", spy)

    found = compute.read_servers([*on_1, other, gone], ["compute-1", "spare-1"])

    # the same view as the SDK's resources give, without building them (the flavor
    # as Nova gives it, not renamed by the SDK)
    assert {k: dataclasses.replace(v, flavor={}) for k, v in found.items()} == {
        k: dataclasses.replace(v, flavor={}) for k, v in expected.items()
    }
    assert found[other].flavor["original_name"] == "small"
    api = [(m, u.split("/v2.1", 1)[1], v) for m, u, v in sent if "/v2.1/" in u]
    lists = [u for m, u, _ in api if u.startswith("/servers/detail")]
    gets = [u for m, u, _ in api if not u.startswith("/servers/detail")]
    # compute-1's seven servers in pages of PAGE_SIZE, then spare-1 (none there)
    assert [u.split("?")[1] for u in lists] == ["host=compute-1"] * 3 + ["host=spare-1"]
    assert sorted(gets) == sorted([f"/servers/{other}", f"/servers/{gone}"])
    assert {v for _, _, v in api} == {"compute 2.94"}
    # every id found on the first host: no other call
    sent.clear()
    assert set(compute.read_servers(on_1, ["compute-1", "spare-1"])) == set(on_1)
    assert all("host=compute-1" in u for _, u, _ in sent if "/v2.1/" in u)


def test_read_evacuating_reads_only_servers_whose_evacuation_ended(
    sim: Simulator, compute: OpenStackCompute, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch's poll: one listing of compute-1's evacuations; servers still being
    evacuated are not read (None), ended ones are read (a GET each for fewer than
    LIST_FROM), deleted ones are absent."""
    fence(sim, compute, "compute-1")
    compute.enable_service("spare-1")
    slow, fast = server_named(sim, "vm-1"), server_named(sim, "vm-2")
    still = server_named(sim, "vm-3")  # never evacuated
    gone = "00000000-0000-0000-0000-000000000000"
    compute.evacuate_server(fast, host="spare-1")
    settled(compute, fast, lambda s: s.host == "spare-1")
    sim.set_options(evacuation_time=30.0)
    compute.evacuate_server(slow, host="spare-1")
    sent: list[str] = []
    http = compute._conn.session.session
    real_request = http.request

    def spy(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(url.split("/v2.1", 1)[-1])
        return real_request(method, url, *args, **kwargs)

    monkeypatch.setattr(http, "request", spy)
    found = compute.read_evacuating([slow, fast, gone], "compute-1", ["compute-1"])
    assert found[slow] is None
    assert found[fast] is not None and found[fast].host == "spare-1"
    assert gone not in found
    assert sent[0].startswith("/os-migrations")
    assert sorted(sent[1:]) == sorted(f"/servers/{i}" for i in (fast, gone))
    # more ended than LIST_FROM: the listing of their host instead of a GET each
    sent.clear()
    others = [s for s in sim_server_ids(sim, "compute-1") if s != slow]
    found = compute.read_evacuating([slow, *others], "compute-1", ["compute-1"])
    assert found[slow] is None and all(found[s] is not None for s in others)
    assert found[still] is not None and found[still].host == "compute-1"
    assert sent[0].startswith("/os-migrations")
    assert {u.split("?")[0] for u in sent[1:]} == {"/servers/detail"}  # its pages, no GET


def test_get_unknown_server(compute: OpenStackCompute) -> None:
    with pytest.raises(ComputeNotFound):
        compute.get_server("00000000-0000-0000-0000-000000000000")


def test_lock_unlock(sim: Simulator, compute: OpenStackCompute) -> None:
    server_id = server_named(sim, "vm-other")
    compute.lock_server(server_id)
    assert sim_server(sim, server_id)["locked"] is True
    assert compute.get_server(server_id).locked is True
    compute.unlock_server(server_id)
    assert sim_server(sim, server_id)["locked"] is False


def test_stop_start(sim: Simulator, compute: OpenStackCompute) -> None:
    server_id = server_named(sim, "vm-other")
    compute.stop_server(server_id)
    wait_until(lambda: compute.get_server(server_id).vm_state == "stopped")
    assert compute.get_server(server_id).status == "SHUTOFF"
    compute.start_server(server_id)
    wait_until(lambda: compute.get_server(server_id).status == "ACTIVE")
    with pytest.raises(ComputeBadRequest):  # 409: already running
        compute.start_server(server_id)


def test_reset_state(sim: Simulator, compute: OpenStackCompute) -> None:
    server_id = server_named(sim, "vm-other")
    compute.reset_state(server_id, "error")
    assert sim_server(sim, server_id)["vm_state"] == "error"
    assert compute.get_server(server_id).status == "ERROR"
    compute.reset_state(server_id, "active")
    assert compute.get_server(server_id).vm_state == "active"


# --- evacuation ----------------------------------------------------------------------


def test_evacuate_to_target(sim: Simulator, compute: OpenStackCompute) -> None:
    fence(sim, compute, "compute-1")
    compute.enable_service("spare-1")
    running = server_named(sim, "vm-1")
    stopped = server_named(sim, "vm-off")
    compute.evacuate_server(running, host="spare-1")
    compute.evacuate_server(stopped, host="spare-1")
    moved = settled(compute, running, lambda s: s.host == "spare-1")
    # The pinned microversion (<= 2.94) brings an evacuated server back ACTIVE.
    assert (moved.status, moved.vm_state, moved.power_state) == ("ACTIVE", "active", 1)
    off = settled(compute, stopped, lambda s: s.host == "spare-1")
    assert off.status == "SHUTOFF"
    assert len(evacuations_of(sim, running)) == 1
    assert sim.state()["violations"] == []


def test_evacuate_without_target_lets_the_scheduler_choose(
    sim: Simulator, compute: OpenStackCompute
) -> None:
    fence(sim, compute, "compute-1")
    server_id = server_named(sim, "vm-2")
    compute.evacuate_server(server_id)
    moved = settled(compute, server_id, lambda s: s.host != "compute-1")
    assert moved.host == "compute-2"  # spare-1 is disabled: the scheduler skips it
    assert moved.status == "ACTIVE"


def test_evacuate_refused_while_source_service_up(
    sim: Simulator, compute: OpenStackCompute
) -> None:
    sim.kill_host("compute-1")  # dead, but Nova still counts its service up
    compute.disable_service("compute-1", "disabling alone is not enough")
    server_id = server_named(sim, "vm-1")
    with pytest.raises(ComputeBadRequest, match="Compute service of compute-1 is still in use"):
        compute.evacuate_server(server_id, host="compute-2")
    assert evacuations_of(sim, server_id) == []
    # That disable made Nova's blocking RPC to the dead compute (why we force down first).
    kinds = [e.get("kind") for e in sim.state()["events"]]
    assert "service_rpc_timeout_wait" in kinds


def test_evacuate_to_unknown_target(sim: Simulator, compute: OpenStackCompute) -> None:
    fence(sim, compute, "compute-1")
    server_id = server_named(sim, "vm-1")
    with pytest.raises(ComputeNotFound):
        compute.evacuate_server(server_id, host="no-such-host")
    assert evacuations_of(sim, server_id) == []


def test_evacuate_to_disabled_target_fails_after_acceptance(
    sim: Simulator, compute: OpenStackCompute
) -> None:
    fence(sim, compute, "compute-1")
    server_id = server_named(sim, "vm-1")
    compute.evacuate_server(server_id, host="spare-1")  # still disabled (reserved)
    failed = settled(compute, server_id, lambda s: s.status == "ERROR")
    assert failed.host == "compute-1"
    assert failed.fault and "No valid host was found" in failed.fault


# --- transient failures ----------------------------------------------------------------


def test_injected_errors_at_a_rate_are_retried(sim: Simulator, compute: OpenStackCompute) -> None:
    # A listing is retried whole: each of its 3 pages must pass the 25% lottery.
    sim.inject(type="error", path=r"/servers", status=503, rate=0.25)
    sim.inject(type="error", path=r"/os-services", status=500, count=3)
    for _ in range(3):
        assert len(compute.list_servers_on_host("compute-1")) == SOURCE_SERVERS
    assert compute.get_service("compute-2").host == "compute-2"
    sim.clear_faults()
    sim.inject(type="error", path=r"/servers/", status=429, message="Rate limit", count=2)
    assert compute.get_server(server_named(sim, "vm-other")).name == "vm-other"


def test_persistent_errors_end_in_compute_transient(sim: Simulator) -> None:
    client = adapter_for(sim, conf={"retry_deadline": 0.3})
    try:
        client.get_service("compute-1")  # version discovery done before the faults
        sim.inject(type="error", path=r"/os-services", status=503, message="Nova is down")
        with pytest.raises(ComputeTransient, match="Nova is down"):
            client.get_service("compute-1")
    finally:
        client.close()


def test_5xx_on_evacuate_post_is_reposted_once(sim: Simulator, compute: OpenStackCompute) -> None:
    fence(sim, compute, "compute-1")
    server_id = server_named(sim, "vm-3")
    # The sim answers 502 without processing: the adapter re-reads, sees nothing
    # happened, and posts again.
    sim.inject(type="error", method="POST", action="evacuate", status=502, count=2)
    compute.evacuate_server(server_id, host="compute-2")
    wait_until(lambda: compute.get_server(server_id).host == "compute-2")
    assert len(evacuations_of(sim, server_id)) == 1
    assert sim.state()["violations"] == []


def test_lost_answer_to_evacuate_is_not_reposted(sim: Simulator) -> None:
    # The sim takes the evacuate after 0.6 s; the client gives up after 0.2 s and
    # re-reads after at least 1.5 s: the server shows the evacuation, no second POST.
    client = adapter_for(sim, conf={"api_timeout": 0.2}, initial_backoff=1.5, max_backoff=3.0)
    try:
        client.force_down_service("compute-1")
        sim.kill_host("compute-1")
        server_id = server_named(sim, "vm-4")
        before = client.get_server(server_id)
        sim.inject(type="latency", method="POST", action="evacuate", seconds=0.6)
        client.evacuate_server(server_id, host="compute-2")
        sim.clear_faults()
        assert before.host == "compute-1"
        wait_until(lambda: client.get_server(server_id).host == "compute-2")
        assert len(evacuations_of(sim, server_id)) == 1
        assert sim.state()["violations"] == []
    finally:
        client.close()


def test_every_call_sends_the_pinned_microversion(
    sim: Simulator, compute: OpenStackCompute, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK caps services at 2.69 and servers at 2.100 unless a default is pinned.
    sent: list[tuple[str, str, str | None]] = []
    http = compute._conn.session.session  # the requests.Session under keystoneauth
    real_request = http.request

    def spy(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or {}
        sent.append((method, url, headers.get("OpenStack-API-Version")))
        return real_request(method, url, *args, **kwargs)

    monkeypatch.setattr(http, "request", spy)
    fence(sim, compute, "compute-1")
    compute.disable_service("compute-1", "fenced")
    compute.enable_service("spare-1")
    servers = compute.list_servers_on_host("compute-1")
    compute.lock_server(servers[0].id)
    compute.evacuate_server(servers[0].id, host="spare-1")
    compute.list_aggregates()
    api_calls = [c for c in sent if "/v2.1/" in c[1] and not c[1].endswith("/v2.1/")]
    assert len(api_calls) >= 8
    assert {version for _, _, version in api_calls} == {"compute 2.94"}, api_calls


# --- aggregates ------------------------------------------------------------------------


def test_aggregates(sim: Simulator, compute: OpenStackCompute) -> None:
    aggregates = {a.name: a for a in compute.list_aggregates()}
    assert sorted(aggregates["agg1"].hosts) == ["compute-1", "compute-2"]
    assert aggregates["spares"].hosts == ["spare-1"]
    agg1 = aggregates["agg1"].id
    compute.add_host_to_aggregate(agg1, "spare-1")
    compute.add_host_to_aggregate(agg1, "spare-1")  # already there: fine
    state = next(a for a in sim.state()["aggregates"] if a["name"] == "agg1")
    assert sorted(state["hosts"]) == ["compute-1", "compute-2", "spare-1"]
    with pytest.raises(ComputeNotFound):
        compute.add_host_to_aggregate("999999", "spare-1")


# --- configuration ---------------------------------------------------------------------


def test_from_clouds_yaml(sim: Simulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n"
        "  simcloud:\n"
        "    auth_type: none\n"
        f"    compute_endpoint_override: {sim.compute_url}\n"
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    client = OpenStackCompute.from_conf(compute_conf_with(cloud="simcloud"))
    try:
        assert client.get_service("compute-1").host == "compute-1"
    finally:
        client.close()


def test_password_auth_through_keystone(sim: Simulator) -> None:
    conf = compute_conf_with(
        auth_type="password",
        auth_url=sim.identity_url,
        username="admin",
        password="admin",
        project_name="admin",
        region_name="RegionOne",
    )
    client = OpenStackCompute.from_conf(conf)
    try:
        assert len(client.list_servers_on_host("compute-1")) == SOURCE_SERVERS
    finally:
        client.close()
