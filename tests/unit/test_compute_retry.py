"""The compute adapter's retry and translation layer, with a stand-in SDK connection.

The stand-in is a plain class whose methods raise the exceptions the real SDK raises
(``openstack.exceptions.HttpException`` with a status, keystoneauth ``ConnectFailure``,
an ``SDKException`` wrapping one...). The real SDK against the simulator is covered by
``tests/integration/test_compute_openstack.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc
from openstack.compute.v2 import aggregate as sdk_aggregate
from openstack.compute.v2 import server as sdk_server
from openstack.compute.v2 import service as sdk_service

from rhworker.compute.base import ComputeClient
from rhworker.compute.openstack import OpenStackCompute, connection_kwargs
from rhworker.errors import (
    ComputeBadRequest,
    ComputeError,
    ComputeNotFound,
    ComputeTransient,
    ConfigError,
)
from tests.confs import compute_conf_with


class FakeClock:
    """A clock that only moves when the adapter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def http_error(status: int, details: str = "boom") -> os_exc.HttpException:
    """The exception the SDK raises for a Nova error answer (JSON body with a message)."""
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps({"error": {"code": status, "message": details}}).encode()
    response.url = "http://127.0.0.1:1/v2.1/servers"
    try:
        os_exc.raise_from_response(response)
    except os_exc.HttpException as e:
        return e
    raise AssertionError("raise_from_response did not raise")


def sdk_wrapped_connect_failure() -> os_exc.SDKException:
    try:
        raise ks_exc.ConnectFailure("Unable to establish connection to http://127.0.0.1:1")
    except ks_exc.ConnectFailure as inner:
        try:
            raise os_exc.SDKException("request failed") from inner
        except os_exc.SDKException as outer:
            return outer


def make_server(server_id: str = "s1", host: str = "h1", **overrides: Any) -> sdk_server.Server:
    attrs: dict[str, Any] = {
        "id": server_id,
        "name": f"vm-{server_id}",
        "compute_host": host,
        "status": "ACTIVE",
        "vm_state": "active",
        "task_state": None,
        "power_state": 1,
        "is_locked": False,
        "metadata": {"HA_Enabled": "True"},
        "project_id": "p1",
        "flavor": {"vcpus": 1, "ram": 512, "original_name": "m1.tiny"},
    }
    attrs.update(overrides)
    return sdk_server.Server(**attrs)


class FakeCompute:
    """Stand-in for ``connection.compute``: scripted failures per method name."""

    def __init__(self) -> None:
        self.failures: dict[str, list[BaseException]] = {}
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.servers_by_id: dict[str, sdk_server.Server] = {"s1": make_server()}
        self.on_evacuate: Callable[[str, str | None], None] | None = None

    def fail(self, method: str, *errors: BaseException) -> None:
        self.failures.setdefault(method, []).extend(errors)

    def _enter(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((method, args, kwargs))
        pending = self.failures.get(method)
        if pending:
            raise pending.pop(0)

    def count(self, method: str) -> int:
        return sum(1 for name, _, _ in self.calls if name == method)

    # services
    def services(self, **query: Any) -> Iterator[sdk_service.Service]:
        self._enter("services", **query)
        yield sdk_service.Service(
            id="uuid-h1",
            host="h1",
            binary="nova-compute",
            status="enabled",
            state="up",
            is_forced_down=False,
        )

    def update_service_forced_down(self, service: Any, forced: bool = True) -> None:
        self._enter("update_service_forced_down", service, forced=forced)

    def disable_service(self, service: Any, disabled_reason: str | None = None) -> None:
        self._enter("disable_service", service, disabled_reason=disabled_reason)

    def enable_service(self, service: Any) -> None:
        self._enter("enable_service", service)

    # servers
    def servers(self, **query: Any) -> Iterator[sdk_server.Server]:
        self._enter("servers", **query)
        yield from self.servers_by_id.values()

    def get_server(self, server_id: str) -> sdk_server.Server:
        self._enter("get_server", server_id)
        if server_id not in self.servers_by_id:
            raise http_error(404, "Instance could not be found")
        return self.servers_by_id[server_id]

    def lock_server(self, server_id: str) -> None:
        self._enter("lock_server", server_id)

    def unlock_server(self, server_id: str) -> None:
        self._enter("unlock_server", server_id)

    def stop_server(self, server_id: str) -> None:
        self._enter("stop_server", server_id)
        self.servers_by_id[server_id] = make_server(server_id, vm_state="stopped")

    def start_server(self, server_id: str) -> None:
        self._enter("start_server", server_id)

    def reset_server_state(self, server_id: str, state: str) -> None:
        self._enter("reset_server_state", server_id, state)

    def evacuate_server(self, server_id: str, host: str | None = None, **kwargs: Any) -> None:
        self._enter("evacuate_server", server_id, host=host, **kwargs)
        if self.on_evacuate:
            self.on_evacuate(server_id, host)

    # aggregates
    def aggregates(self) -> Iterator[sdk_aggregate.Aggregate]:
        self._enter("aggregates")
        yield sdk_aggregate.Aggregate(id=1, name="agg1", hosts=["h1"])

    def add_host_to_aggregate(self, aggregate: Any, host: str) -> None:
        self._enter("add_host_to_aggregate", aggregate, host)

    def get_aggregate(self, aggregate: Any) -> sdk_aggregate.Aggregate:
        self._enter("get_aggregate", aggregate)
        return sdk_aggregate.Aggregate(id=1, name="agg1", hosts=["h1", "h2"])


class FakeConnection:
    def __init__(self) -> None:
        self.compute = FakeCompute()
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def conn() -> FakeConnection:
    return FakeConnection()


@pytest.fixture
def compute(conn: FakeConnection, clock: FakeClock) -> OpenStackCompute:
    return OpenStackCompute(
        conn,  # type: ignore[arg-type]
        retry_deadline=30.0,
        sleep=clock.sleep,
        clock=clock,
    )


def test_satisfies_the_protocol(compute: OpenStackCompute) -> None:
    client: ComputeClient = compute
    assert client is compute


@pytest.mark.parametrize(
    "error",
    [
        http_error(500),
        http_error(502),
        http_error(503),
        http_error(429, "Rate limit exceeded"),
        ks_exc.ConnectFailure("refused"),
        ks_exc.ConnectTimeout("timed out"),
        requests.exceptions.ConnectionError("reset"),
        sdk_wrapped_connect_failure(),
        ks_exc.DiscoveryFailure("Unable to find a version discovery document"),
    ],
    ids=[
        "500",
        "502",
        "503",
        "429",
        "connect-failure",
        "connect-timeout",
        "requests",
        "wrapped",
        "discovery",
    ],
)
def test_transient_errors_are_retried_then_succeed(
    compute: OpenStackCompute, conn: FakeConnection, clock: FakeClock, error: BaseException
) -> None:
    conn.compute.fail("get_server", error, error)
    server = compute.get_server("s1")
    assert server.id == "s1"
    assert conn.compute.count("get_server") == 3
    assert len(clock.sleeps) == 2
    assert clock.sleeps[1] > 0


def test_backoff_grows_and_stays_capped(compute: OpenStackCompute) -> None:
    waits = [compute._retry.backoff(n) for n in range(1, 12)]
    assert waits[0] < 1.0 + 1e-9
    assert waits[3] >= 4.0  # 0.5 * 2**3
    assert max(waits) <= 8.0


def test_transient_past_deadline_raises_compute_transient(
    compute: OpenStackCompute, conn: FakeConnection, clock: FakeClock
) -> None:
    conn.compute.fail("get_server", *[http_error(503, "Service Unavailable")] * 1000)
    with pytest.raises(ComputeTransient, match="Service Unavailable") as info:
        compute.get_server("s1")
    assert isinstance(info.value.__cause__, os_exc.HttpException)
    assert clock.now == pytest.approx(30.0)  # the whole deadline, not beyond it
    assert conn.compute.count("get_server") > 3


def test_zero_deadline_means_one_attempt(conn: FakeConnection, clock: FakeClock) -> None:
    compute = OpenStackCompute(
        conn,  # type: ignore[arg-type]
        retry_deadline=0.0,
        sleep=clock.sleep,
        clock=clock,
    )
    conn.compute.fail("lock_server", ks_exc.ConnectFailure("refused"))
    with pytest.raises(ComputeTransient, match="cannot reach Nova"):
        compute.lock_server("s1")
    assert conn.compute.count("lock_server") == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [400, 403, 409])
def test_client_errors_are_not_retried(
    compute: OpenStackCompute, conn: FakeConnection, clock: FakeClock, status: int
) -> None:
    conn.compute.fail("reset_server_state", http_error(status, "Nova says no"))
    with pytest.raises(ComputeBadRequest, match="Nova says no") as info:
        compute.reset_state("s1", "active")
    assert info.value.__cause__ is not None
    assert conn.compute.count("reset_server_state") == 1
    assert clock.sleeps == []


def test_404_is_not_found(compute: OpenStackCompute, conn: FakeConnection) -> None:
    with pytest.raises(ComputeNotFound, match="could not be found"):
        compute.get_server("nope")
    assert conn.compute.count("get_server") == 1


def test_other_sdk_errors_are_compute_errors(
    compute: OpenStackCompute, conn: FakeConnection
) -> None:
    conn.compute.fail("unlock_server", os_exc.SDKException("something odd"))
    with pytest.raises(ComputeError, match="something odd") as info:
        compute.unlock_server("s1")
    assert type(info.value) is ComputeError
    assert conn.compute.count("unlock_server") == 1


def test_unsupported_microversion_is_a_config_error(
    compute: OpenStackCompute, conn: FakeConnection
) -> None:
    conn.compute.fail("get_server", os_exc.ConfigException("cloud supports up to 2.60"))
    with pytest.raises(ConfigError):
        compute.get_server("s1")


def test_reset_state_rejects_other_states(compute: OpenStackCompute) -> None:
    with pytest.raises(ValueError):
        compute.reset_state("s1", "stopped")


def test_services_calls(compute: OpenStackCompute, conn: FakeConnection) -> None:
    service = compute.get_service("h1")
    assert (service.id, service.host, service.forced_down) == ("uuid-h1", "h1", False)
    assert conn.compute.calls[0] == ("services", (), {"host": "h1", "binary": "nova-compute"})
    compute.force_down_service("h1")
    compute.disable_service("h1", "x" * 300)
    compute.enable_service("h1")
    by_name = {name: (args, kwargs) for name, args, kwargs in conn.compute.calls}
    assert by_name["update_service_forced_down"][1] == {"forced": True}
    reason = by_name["disable_service"][1]["disabled_reason"]
    assert reason == "x" * 255
    assert by_name["enable_service"][0][0].id == "uuid-h1"


def test_unknown_service_host_is_not_found(compute: OpenStackCompute) -> None:
    with pytest.raises(ComputeNotFound, match="h9"):
        compute.get_service("h9")


def test_service_update_retried_after_5xx(compute: OpenStackCompute, conn: FakeConnection) -> None:
    conn.compute.fail("update_service_forced_down", http_error(500))
    compute.force_down_service("h1", forced=True)
    assert conn.compute.count("update_service_forced_down") == 2


def test_list_servers_uses_compute_host_all_projects(
    conn: FakeConnection, clock: FakeClock
) -> None:
    compute = OpenStackCompute(
        conn,  # type: ignore[arg-type]
        sleep=clock.sleep,
        clock=clock,
        page_size=2,
    )
    conn.compute.servers_by_id["s2"] = make_server("s2", host="h2")
    conn.compute.fail("servers", http_error(503))
    servers = compute.list_servers_on_host("h1")
    assert [s.id for s in servers] == ["s1"]
    query = conn.compute.calls[-1][2]
    assert query == {"all_projects": True, "compute_host": "h1", "details": True, "limit": 2}
    assert "host" not in query
    s1 = servers[0]
    assert (s1.host, s1.vm_state, s1.power_state, s1.locked) == ("h1", "active", 1, False)
    assert s1.metadata == {"HA_Enabled": "True"}
    assert s1.project_id == "p1"
    assert s1.flavor["vcpus"] == 1


def test_server_fault_message(compute: OpenStackCompute, conn: FakeConnection) -> None:
    conn.compute.servers_by_id["s1"] = make_server(
        status="ERROR", vm_state="error", fault={"code": 500, "message": "No valid host was found"}
    )
    assert compute.get_server("s1").fault == "No valid host was found"


def test_evacuate_never_forces(compute: OpenStackCompute, conn: FakeConnection) -> None:
    compute.evacuate_server("s1", host="h2")
    compute.evacuate_server("s1")
    posts = [kw for name, _, kw in conn.compute.calls if name == "evacuate_server"]
    assert posts == [{"host": "h2"}, {"host": None}]


def test_evacuate_accepted_despite_5xx_is_not_reposted(
    compute: OpenStackCompute, conn: FakeConnection
) -> None:
    # Nova took the evacuate (task_state rebuilding) and then the answer was lost.
    def accept(server_id: str, host: str | None) -> None:
        conn.compute.servers_by_id[server_id] = make_server(
            server_id, status="REBUILD", task_state="rebuilding"
        )
        raise http_error(502, "Bad Gateway")

    conn.compute.on_evacuate = accept
    compute.evacuate_server("s1", host="h2")
    assert conn.compute.count("evacuate_server") == 1


def test_evacuate_accepted_and_already_moved_is_not_reposted(
    compute: OpenStackCompute, conn: FakeConnection
) -> None:
    def accept(server_id: str, host: str | None) -> None:
        conn.compute.servers_by_id[server_id] = make_server(server_id, host="h7")
        raise ks_exc.ConnectFailure("connection reset")

    conn.compute.on_evacuate = accept
    compute.evacuate_server("s1")
    assert conn.compute.count("evacuate_server") == 1


def test_evacuate_rejected_by_5xx_is_reposted_after_reread(
    compute: OpenStackCompute, conn: FakeConnection, clock: FakeClock
) -> None:
    conn.compute.fail("evacuate_server", http_error(503), http_error(500))
    compute.evacuate_server("s1", host="h2")
    names = [name for name, _, _ in conn.compute.calls]
    # baseline read, then POST, re-read, POST, re-read, POST
    assert names == [
        "get_server",
        "evacuate_server",
        "get_server",
        "evacuate_server",
        "get_server",
        "evacuate_server",
    ]
    assert len(clock.sleeps) == 2


def test_evacuate_gives_up_at_deadline(
    compute: OpenStackCompute, conn: FakeConnection, clock: FakeClock
) -> None:
    conn.compute.fail("evacuate_server", *[http_error(500)] * 1000)
    with pytest.raises(ComputeTransient):
        compute.evacuate_server("s1", host="h2")
    assert clock.now == pytest.approx(30.0)


def test_evacuate_4xx_is_raised_at_once(compute: OpenStackCompute, conn: FakeConnection) -> None:
    conn.compute.fail("evacuate_server", http_error(400, "Compute service of h1 is still in use."))
    with pytest.raises(ComputeBadRequest, match="Compute service of h1 is still in use"):
        compute.evacuate_server("s1", host="h2")
    assert conn.compute.count("evacuate_server") == 1


def test_evacuate_unknown_server(compute: OpenStackCompute, conn: FakeConnection) -> None:
    with pytest.raises(ComputeNotFound):
        compute.evacuate_server("nope")
    assert conn.compute.count("evacuate_server") == 0


def test_stop_conflict_after_landed_5xx_is_success(
    compute: OpenStackCompute, conn: FakeConnection
) -> None:
    # The first stop lands but its answer is a 502; the retry meets 409 (already stopped).
    conn.compute.servers_by_id["s1"] = make_server(vm_state="stopped", status="SHUTOFF")
    conn.compute.fail("stop_server", http_error(502), http_error(409, "in vm_state stopped"))
    compute.stop_server("s1")
    assert conn.compute.count("stop_server") == 2


def test_stop_conflict_without_retry_is_raised(
    compute: OpenStackCompute, conn: FakeConnection
) -> None:
    conn.compute.fail("stop_server", http_error(409, "Instance is locked"))
    with pytest.raises(ComputeBadRequest, match="locked"):
        compute.stop_server("s1")


def test_start_conflict_on_first_attempt_is_raised(
    compute: OpenStackCompute, conn: FakeConnection
) -> None:
    # Already running, and no earlier attempt of ours: the 409 is the caller's to see.
    conn.compute.fail("start_server", http_error(409, "in vm_state active"))
    with pytest.raises(ComputeBadRequest, match="vm_state active"):
        compute.start_server("s1")


def test_aggregates(compute: OpenStackCompute, conn: FakeConnection) -> None:
    aggregates = compute.list_aggregates()
    assert [(a.id, a.name, a.hosts) for a in aggregates] == [("1", "agg1", ["h1"])]
    compute.add_host_to_aggregate("1", "h2")
    conn.compute.fail("add_host_to_aggregate", http_error(409, "already in aggregate"))
    compute.add_host_to_aggregate("1", "h2")  # already a member: fine
    conn.compute.fail("add_host_to_aggregate", http_error(409, "already in aggregate"))
    with pytest.raises(ComputeBadRequest):
        compute.add_host_to_aggregate("1", "h3")


def test_close(compute: OpenStackCompute, conn: FakeConnection) -> None:
    compute.close()
    assert conn.closed


# --- configuration -------------------------------------------------------------------


def test_conf_none_auth_with_endpoint() -> None:
    kwargs = connection_kwargs(
        compute_conf_with(
            auth_type="none", endpoint_override="http://127.0.0.1:9/v2.1", api_timeout=7.0
        )
    )
    assert kwargs["compute_endpoint_override"] == "http://127.0.0.1:9/v2.1"
    assert kwargs["compute_api_version"] == "2.94"
    assert kwargs["api_timeout"] == 7.0
    assert kwargs["auth_type"] == "none"
    assert kwargs["auth"] == {"endpoint": "http://127.0.0.1:9/v2.1"}


def test_conf_password_auth_passes_only_plugin_options() -> None:
    kwargs = connection_kwargs(
        compute_conf_with(
            auth_url="http://127.0.0.1:9/v3",
            username="admin",
            password="secret",
            project_name="admin",
            token="ignored-by-password",
            microversion="2.60",
        )
    )
    assert kwargs["auth"] == {
        "auth_url": "http://127.0.0.1:9/v3",
        "username": "admin",
        "password": "secret",
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    assert kwargs["compute_api_version"] == "2.60"


def test_conf_admin_token() -> None:
    kwargs = connection_kwargs(
        compute_conf_with(
            auth_type="admin_token", token="t0k", endpoint_override="http://127.0.0.1:9/v2.1"
        )
    )
    assert kwargs["auth"] == {"token": "t0k", "endpoint": "http://127.0.0.1:9/v2.1"}


@pytest.mark.parametrize("version", ["2.95", "2.100", "3.0", "2.10", "latest"])
def test_conf_refuses_microversions(version: str) -> None:
    with pytest.raises(ConfigError):
        connection_kwargs(compute_conf_with(auth_type="none", microversion=version))


def test_conf_unknown_auth_type() -> None:
    with pytest.raises(ConfigError, match="auth_type"):
        connection_kwargs(compute_conf_with(auth_type="no-such-plugin"))


def test_from_conf_builds_a_connection() -> None:
    compute = OpenStackCompute.from_conf(
        compute_conf_with(
            auth_type="none", endpoint_override="http://127.0.0.1:9/v2.1", retry_deadline=3.0
        )
    )
    try:
        assert compute._retry.deadline == 3.0
    finally:
        compute.close()
