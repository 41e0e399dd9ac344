"""Real Nova 34 in one process, served on a loopback port (run by the Nova virtualenv).

This script runs under the Nova virtualenv's python (``rhworker.testing.realnova.venv``)
and must not import rhworker. It starts Nova's own functional-test harness, the one
Nova's functional tests use (``nova.test.TestCase`` + the fixtures of
``integrated_helpers.ProviderUsageBaseTestCase``): the real API (paste pipeline,
schemas, microversions, policy; keystonemiddleware stubbed), conductor, scheduler,
Placement through wsgi-intercept, one nova-compute with the fake virt driver per host,
in-memory SQLite and the ``fake`` messaging transport. Then it serves on one free
127.0.0.1 port:

- the Compute API under ``/v2.1`` (and ``/``), for openstacksdk with ``auth_type: none``
  and ``compute_endpoint_override``: requests without identity headers act as the
  harness's admin user;
- Nova's Placement (the harness's, otherwise reached through wsgi-intercept only) under
  ``/placement``, for ``placement_endpoint_override``;
- a JSON control API under ``/_rhworker/``:
  ``POST build`` (a cloud spec), ``POST hosts/<h>/crash``, ``POST hosts/<h>/restart``,
  ``POST spawn_delay`` ``{"seconds": s}``, ``GET servers|migrations|services``.

When ready it prints one line ``RHWORKER-REALNOVA-READY {"port": ...}`` on stdout.

    python server.py [--spec FILE] [--service-down-time 60] [--rpc-timeout 60] ...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import traceback
from typing import Any
from unittest import mock

os.environ.pop("OS_TEST_TIMEOUT", None)
os.environ["OS_STDOUT_CAPTURE"] = "0"
os.environ["OS_STDERR_CAPTURE"] = "0"

# Importing the functional package applies eventlet monkey patching, as in Nova's tests.
# isort: off
from nova.tests import functional  # noqa: E402,F401

# isort: on
import eventlet  # noqa: E402
import eventlet.wsgi  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import (
    objects,  # noqa: E402
    servicegroup,  # noqa: E402
    test,  # noqa: E402
)
from nova.api.openstack import common as api_common  # noqa: E402
from nova.compute import power_state as nova_power_state  # noqa: E402
from nova.tests import fixtures as nova_fixtures  # noqa: E402
from nova.tests.functional import fixtures as func_fixtures  # noqa: E402
from nova.tests.functional import integrated_helpers  # noqa: E402
from nova.virt import fake as fake_virt  # noqa: E402
from placement import deploy as placement_deploy  # noqa: E402

READY = "RHWORKER-REALNOVA-READY"
PREFIX = "/_rhworker/"
PLACEMENT = "/placement"
IMAGE = nova_fixtures.GlanceFixture.image1["id"]
DEFAULT_VCPUS = 16
DEFAULT_MEMORY_MB = 32768
DEFAULT_FLAVORS: list[dict[str, Any]] = [
    {"name": "tiny", "vcpus": 1, "ram": 512, "disk": 1},
    {"name": "small", "vcpus": 1, "ram": 2048, "disk": 20},
    {"name": "medium", "vcpus": 2, "ram": 4096, "disk": 40},
]

LOG = logging.getLogger("rhworker-realnova")

# Per-host sizes for the fake driver, read when each nova-compute starts.
HOST_SIZES: dict[str, dict[str, int]] = {}
SPAWN_DELAY = [0.0]
# Crashes per host so far: a spawn under way when its host crashed never finishes
# (the rebuild died with the host), even once the host is restarted.
CRASHES: dict[str, int] = {}


class SizedFakeDriver(fake_virt.FakeDriver):
    """The fake virt driver with the spec's host size and an optional slow spawn."""

    def __init__(self, virtapi, read_only=False):
        size = HOST_SIZES.get(nova_fixtures.CONF.host, {})
        self.vcpus = size.get("vcpus", DEFAULT_VCPUS)
        self.memory_mb = size.get("memory_mb", DEFAULT_MEMORY_MB)
        self.local_gb = size.get("local_gb", 100000)
        self.host_name = nova_fixtures.CONF.host
        super().__init__(virtapi, read_only)

    def spawn(self, *args, **kwargs):
        crashes = CRASHES.get(self.host_name, 0)
        if SPAWN_DELAY[0] > 0:
            time.sleep(SPAWN_DELAY[0])  # eventlet-patched: yields to other work
        while CRASHES.get(self.host_name, 0) != crashes:
            time.sleep(3600)  # the host died under this spawn: it never ends
        return super().spawn(*args, **kwargs)


fake_virt.RhworkerSizedFakeDriver = SizedFakeDriver


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RealNova(test.TestCase, integrated_helpers.PlacementInstanceHelperMixin):
    """Nova's functional harness, set up once and kept running (never "run" as a test)."""

    compute_driver = "fake.RhworkerSizedFakeDriver"
    microversion = "latest"

    def __init__(self, options: argparse.Namespace) -> None:
        super().__init__("serve")
        self.options = options
        self.crashed: set[str] = set()
        self.flavor_ids: dict[str, str] = {}

    def serve(self) -> None:  # the "test method" testtools wants to exist
        raise NotImplementedError

    def setUp(self) -> None:
        o = self.options
        self.flags(compute_driver=self.compute_driver)
        self.flags(service_down_time=o.service_down_time, report_interval=o.report_interval)
        self.flags(instances=-1, cores=-1, ram=-1, group="quota")
        super().setUp()
        # The fake transport does not time out a call to a dead compute the way
        # RabbitMQ does with call_monitor_timeout: cap the long timeout too.
        self.flags(rpc_response_timeout=o.rpc_timeout, long_rpc_timeout=o.rpc_timeout)
        # The wheel installs api-paste.ini under <venv>/etc/nova.
        self.flags(
            api_paste_config=os.path.join(sys.prefix, "etc", "nova", "api-paste.ini"),
            group="wsgi",
        )
        # What ProviderUsageBaseTestCase.setUp does.
        self.policy = self.useFixture(nova_fixtures.RealPolicyFixture())
        self.neutron = self.useFixture(nova_fixtures.NeutronFixture(self))
        self.glance = self.useFixture(nova_fixtures.GlanceFixture(self))
        self.useFixture(nova_fixtures.CinderFixture(self))
        # Keep the Placement WSGI app the fixture intercepts, to serve it on our port too.
        loaded: list = []
        real_loadapp = placement_deploy.loadapp

        def loadapp(*args, **kwargs):
            loaded.append(real_loadapp(*args, **kwargs))
            return loaded[-1]

        with mock.patch.object(placement_deploy, "loadapp", loadapp):
            self.placement = self.useFixture(func_fixtures.PlacementFixture()).api
        self.placement_app = loaded[-1] if loaded else None
        self.useFixture(nova_fixtures.AllServicesCurrent())
        self.notifier = self.useFixture(nova_fixtures.NotificationFixture(self))
        self.api_fixture = self.useFixture(nova_fixtures.OSAPIFixture(api_version="v2.1"))
        self.admin_api = self.api_fixture.admin_api
        self.admin_api.microversion = self.microversion
        self.api = self.admin_api
        self.start_service("conductor")
        self.scheduler_service = self.start_service("scheduler")
        self.servicegroup = servicegroup.API()
        self.cell = self.cell_mappings["cell1"]

    # -- building a cloud from a spec -----------------------------------------------

    def build(self, spec: dict) -> dict:
        hosts = []
        for seg in spec.get("segments") or []:
            for h in seg.get("hosts") or []:
                hosts.append((h, h.get("aggregates") or seg.get("aggregates") or []))
        for h in spec.get("hosts") or []:
            hosts.append((h, h.get("aggregates") or []))
        for h, _ in hosts:
            name = str(h["name"])
            if name in self.computes:
                raise ControlError(409, f"host {name} exists")
            HOST_SIZES[name] = {
                "vcpus": int(h.get("vcpus", DEFAULT_VCPUS)),
                "memory_mb": int(h.get("memory_mb", DEFAULT_MEMORY_MB)),
            }
            self._start_compute(name)
        self._build_aggregates(spec, hosts)
        flavors = spec.get("flavors") or ([] if self.flavor_ids else DEFAULT_FLAVORS)
        for f in flavors:
            body: dict[str, Any] = {
                "name": str(f["name"]),
                "vcpus": int(f.get("vcpus", 1)),
                "ram": int(f.get("ram", 512)),
                "disk": int(f.get("disk", 1)),
            }
            if f.get("id"):
                body["id"] = str(f["id"])
            made = self.api.post_flavor({"flavor": body})
            self.flavor_ids[body["name"]] = made["id"]
        servers = self._build_servers(spec, [h for h, _ in hosts])
        for h, _ in hosts:
            if h.get("reserved"):
                self._disable(str(h["name"]), "reserved")
        return {"hosts": len(hosts), "servers": len(servers)}

    def _build_aggregates(self, spec: dict, hosts: list) -> None:
        wanted: dict[str, dict] = {}
        for agg in spec.get("aggregates") or []:
            wanted[str(agg["name"])] = dict(agg)
        members: dict[str, list[str]] = {}
        for h, aggs in hosts:
            for a in aggs:
                wanted.setdefault(str(a), {"name": str(a)})
                members.setdefault(str(a), []).append(str(h["name"]))
        for name, agg in wanted.items():
            body = {"name": name}
            if agg.get("availability_zone"):
                body["availability_zone"] = str(agg["availability_zone"])
            made = self.api.post_aggregate({"aggregate": body})
            if agg.get("metadata"):
                self.api.post_aggregate_action(
                    made["id"], {"set_metadata": {"metadata": dict(agg["metadata"])}}
                )
            for host in members.get(name, []):
                self.api.add_host_to_aggregate(made["id"], host)

    def _server_items(self, spec: dict, hosts: list) -> list[dict]:
        """The servers of a spec, one item per server (``count`` expanded)."""
        items = []
        per_host = int(spec.get("servers_per_host", 0))
        for h in hosts:
            if not h.get("reserved"):
                for i in range(per_host):
                    items.append(
                        {
                            "name": f"{h['name']}-vm-{i + 1}",
                            "host": str(h["name"]),
                            "metadata": {"HA_Enabled": "True"},
                        }
                    )
        for s in spec.get("servers") or []:
            count = int(s.get("count", 1))
            base = str(s.get("name", f"{s.get('host')}-vm"))
            for i in range(count):
                items.append({**s, "name": base if count == 1 else f"{base}-{i + 1}"})
        return items

    def _build_servers(self, spec: dict, hosts: list) -> list[dict]:
        default_flavor = next(iter(self.flavor_ids))
        made = []
        for item in self._server_items(spec, hosts):
            flavor = str(item.get("flavor") or default_flavor)
            if flavor not in self.flavor_ids:
                raise ControlError(400, f"server {item['name']}: unknown flavor {flavor}")
            if str(item.get("host")) not in self.computes:
                raise ControlError(400, f"server {item['name']}: unknown host {item.get('host')}")
            body = {
                "name": item["name"],
                "imageRef": IMAGE,
                "flavorRef": self.flavor_ids[flavor],
                "networks": "none",
                "availability_zone": f"nova:{item['host']}",
                "metadata": {str(k): str(v) for k, v in (item.get("metadata") or {}).items()},
            }
            server = self.api.post_server({"server": body})
            status = str(item.get("status", "")).upper()
            power = item.get("power", "on")
            if not status:
                status = "ACTIVE" if power in (True, "on", "ON") else "SHUTOFF"
            made.append((server["id"], status, item["name"]))
        self._wait_servers({sid: "ACTIVE" for sid, _, _ in made}, "build")
        for sid, status, _ in made:
            if status == "SHUTOFF":
                self.api.post_server_action(sid, {"os-stop": None})
            elif status == "ERROR":
                self.api.post_server_action(sid, {"os-resetState": {"state": "error"}})
        self._wait_servers({sid: status for sid, status, _ in made}, "power/state")
        return [{"id": sid, "name": name} for sid, _, name in made]

    def _wait_servers(self, want: dict[str, str], what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            have = {s["id"]: s for s in self.servers()}
            pending = [
                sid
                for sid, status in want.items()
                if have.get(sid, {}).get("status") != status or have[sid]["task_state"]
            ]
            bad = [sid for sid in pending if have.get(sid, {}).get("status") == "ERROR"]
            if bad and want[bad[0]] != "ERROR":
                raise ControlError(500, f"{what}: server {have[bad[0]]['name']} went to ERROR")
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ControlError(500, f"{what}: {len(pending)} servers not ready in {timeout}s")
            time.sleep(0.05)

    def _service(self, host: str) -> dict:
        found = self.api.get_services(binary="nova-compute", host=host)
        if not found:
            raise ControlError(404, f"no nova-compute on {host}")
        return found[0]

    def _disable(self, host: str, reason: str) -> None:
        svc = self._service(host)
        self.api.put_service(svc["id"], {"status": "disabled", "disabled_reason": reason})

    # -- faults -------------------------------------------------------------------------

    def crash(self, host: str) -> None:
        compute = self.computes.get(host)
        if compute is None:
            raise ControlError(404, f"no such host {host}")
        if host in self.crashed:
            return
        # The host dies at once: no more heartbeats (nor periodic tasks), no RPC
        # server; what it was doing dies with it (a spawn under way never ends, see
        # SizedFakeDriver) instead of the graceful stop's wait for it to finish. Its
        # database record stays, so Nova counts it down after service_down_time (or
        # once forced down).
        CRASHES[host] = CRASHES.get(host, 0) + 1
        compute.tg.stop_timers()
        for server in (compute.rpcserver, getattr(compute, "rpcserver_alt", None)):
            if server is not None:
                server.stop()
        self.crashed.add(host)

    def crash_server(self, server_id: str) -> dict:
        """The guest dies under a running nova-compute: the fake hypervisor shows it
        shut down, Nova's database still says ACTIVE/running (until a power-state sync,
        which the harness does not run) — what Masakari's instance monitor reports."""
        for host, compute in self.computes.items():
            guest = compute.manager.driver.instances.get(server_id)
            if guest is not None:
                guest.state = nova_power_state.SHUTDOWN
                return {"server": server_id, "host": host, "crashed": True}
        raise ControlError(404, f"no guest {server_id} on any fake hypervisor")

    def restart(self, host: str) -> None:
        compute = self.computes.get(host)
        if compute is None:
            raise ControlError(404, f"no such host {host}")
        if host not in self.crashed:
            compute.stop()
        # A new ComputeManager on the same fake hypervisor (its guests survive), as
        # TestCase.restart_compute_service does: init_host then destroys the guests
        # that were evacuated away and completes their migrations.
        old_driver = compute.manager.driver
        cell_name = self.host_mappings[host].cell_mapping.name
        with mock.patch("nova.virt.driver.load_compute_driver") as load_driver:
            load_driver.return_value = old_driver
            self.computes[host] = self.start_service("compute", host=host, cell_name=cell_name)
        self.crashed.discard(host)

    # -- reports (read from Nova's database) -----------------------------------------

    def _cell_context(self):
        ctx = nova_context.get_admin_context()
        return nova_context.target_cell(ctx, self.cell)

    def servers(self) -> list[dict]:
        with self._cell_context() as cctx:
            instances = objects.InstanceList.get_by_filters(
                cctx, {"deleted": False}, expected_attrs=["metadata"]
            )
            return [
                {
                    "id": i.uuid,
                    "name": i.display_name,
                    "host": i.host,
                    "node": i.node,
                    "status": api_common.status_from_state(i.vm_state, i.task_state),
                    "vm_state": i.vm_state,
                    "task_state": i.task_state,
                    "power_state": i.power_state,
                    "locked": bool(i.locked),
                    "metadata": dict(i.metadata or {}),
                }
                for i in instances
            ]

    def migrations(self) -> list[dict]:
        with self._cell_context() as cctx:
            found = objects.MigrationList.get_by_filters(cctx, {})
            return [
                {
                    "id": m.id,
                    "uuid": m.uuid,
                    "instance_uuid": m.instance_uuid,
                    "source_compute": m.source_compute,
                    "dest_compute": m.dest_compute,
                    "status": m.status,
                    "migration_type": m.migration_type,
                    "created_at": m.created_at.isoformat() if m.created_at else None,
                    "updated_at": m.updated_at.isoformat() if m.updated_at else None,
                }
                for m in sorted(found, key=lambda m: m.id)
            ]

    def services(self) -> list[dict]:
        with self._cell_context() as cctx:
            found = objects.ServiceList.get_by_binary(cctx, "nova-compute", include_disabled=True)
            return [
                {
                    "id": s.uuid,
                    "host": s.host,
                    "binary": s.binary,
                    "status": "disabled" if s.disabled else "enabled",
                    "disabled_reason": s.disabled_reason,
                    "state": "up" if self.servicegroup.service_is_up(s) else "down",
                    "forced_down": bool(s.forced_down),
                    "crashed": s.host in self.crashed,
                }
                for s in found
            ]


def request_kind(path: str, query: str) -> str:
    """``/v2.1/servers/<uuid>/action?x=1&y=2`` -> ``/servers/{id}/action?x&y``."""
    parts = [
        "{id}" if len(p) >= 32 or p.isdigit() else p
        for p in path.split("/")
        if p and p not in ("v2.1", "v2")
    ]
    keys = sorted({kv.split("=", 1)[0] for kv in query.split("&") if kv})
    return "/" + "/".join(parts) + ("?" + "&".join(keys) if keys else "")


class App:
    """One WSGI app: the control API under /_rhworker/, Nova's API for the rest."""

    def __init__(self, nova: RealNova) -> None:
        self.nova = nova
        self.nova_app = nova.api_fixture.app()
        self.requests: dict[str, int] = {}
        # The same, by method and path (ids replaced by {id}, query keys kept).
        self.requests_by_path: dict[str, int] = {}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX):
            return self.control(environ, start_response, path[len(PREFIX) :])
        if path.startswith(PLACEMENT) and self.nova.placement_app is not None:
            # Nova's real Placement (the harness's, in-process). Its noauth middleware
            # makes token "admin" the admin; auth_type none sends "notused".
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PLACEMENT
            environ["PATH_INFO"] = path[len(PLACEMENT) :] or "/"
            environ["HTTP_X_AUTH_TOKEN"] = "admin"
            return self.nova.placement_app(environ, start_response)
        # Nova API requests served, by method (the benchmarks' "Nova calls").
        method = environ.get("REQUEST_METHOD", "")
        self.requests[method] = self.requests.get(method, 0) + 1
        kind = f"{method} {request_kind(path, environ.get('QUERY_STRING', ''))}"
        self.requests_by_path[kind] = self.requests_by_path.get(kind, 0) + 1
        # No Keystone: a request without identity headers is the harness's admin.
        environ.setdefault("HTTP_X_AUTH_USER", "admin")
        environ.setdefault("HTTP_X_AUTH_PROJECT_ID", nova_fixtures.PROJECT_ID)
        environ.setdefault("HTTP_X_ROLES", "reader,member,admin")
        return self.nova_app(environ, start_response)

    def control(self, environ, start_response, path):
        method = environ["REQUEST_METHOD"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
            status, result = 200, self.dispatch(method, path.strip("/").split("/"), body)
        except ControlError as e:
            status, result = e.status, {"error": str(e)}
        except Exception as e:  # report, keep serving
            LOG.error("control %s %s failed:\n%s", method, path, traceback.format_exc())
            status, result = 500, {"error": f"{type(e).__name__}: {e}"}
        data = json.dumps(result).encode()
        start_response(
            f"{status} {'OK' if status == 200 else 'Error'}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    def dispatch(self, method: str, parts: list[str], body: dict):
        n = self.nova
        if method == "GET" and parts == ["ping"]:
            return {"ok": True}
        if method == "GET" and parts == ["servers"]:
            return n.servers()
        if method == "GET" and parts[:1] == ["requests"]:  # requests[/by_path]
            return dict(self.requests_by_path if parts[1:] == ["by_path"] else self.requests)
        if method == "GET" and parts == ["migrations"]:
            return n.migrations()
        if method == "GET" and parts == ["services"]:
            return n.services()
        if method == "POST" and parts == ["build"]:
            return n.build(body)
        if method == "POST" and parts == ["spawn_delay"]:
            SPAWN_DELAY[0] = max(0.0, float(body.get("seconds", 0)))
            return {"seconds": SPAWN_DELAY[0]}
        if method == "POST" and len(parts) == 3 and parts[:1] + parts[2:] == ["servers", "crash"]:
            return n.crash_server(parts[1])
        if method == "POST" and len(parts) == 3 and parts[0] == "hosts":
            if parts[2] == "crash":
                n.crash(parts[1])
                return {"host": parts[1], "crashed": True}
            if parts[2] == "restart":
                n.restart(parts[1])
                return {"host": parts[1], "crashed": False}
        raise ControlError(404, f"no control route {method} /{'/'.join(parts)}")


def _quiet_logging(level: str) -> None:
    """The harness keeps every log line in memory and formats every DEBUG record:
    send WARNING and above (or ``level``) to stderr instead, and nothing else."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))


def _trim_notifications(nova: RealNova, every: float) -> None:
    """The notification fixture keeps every notification: drop them now and then."""
    while True:
        time.sleep(every)
        nova.notifier.reset()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", help="a JSON cloud spec to build before ready")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--service-down-time", type=int, default=60)
    parser.add_argument("--report-interval", type=int, default=10)
    parser.add_argument("--rpc-timeout", type=int, default=60)
    parser.add_argument("--spawn-delay", type=float, default=0.0)
    parser.add_argument("--log-level", default="WARNING")
    options = parser.parse_args()

    start = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    nova = RealNova(options)
    nova.setUp()
    _quiet_logging(options.log_level)
    built = {}
    if options.spec:
        with open(options.spec, encoding="utf-8") as f:
            built = nova.build(json.load(f))
    SPAWN_DELAY[0] = options.spawn_delay
    eventlet.spawn_n(_trim_notifications, nova, 30.0)

    sock = eventlet.listen(("127.0.0.1", options.port))
    port = sock.getsockname()[1]
    ready = {"port": port, "startup_s": round(time.monotonic() - start, 2), **built}
    print(f"{READY} {json.dumps(ready)}", flush=True)
    # Nobody reads stdout after this line: anything printed later goes to the log, so
    # a full pipe can never block Nova.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    eventlet.wsgi.server(sock, App(nova), log_output=False, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
