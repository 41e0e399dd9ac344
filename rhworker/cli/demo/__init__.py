"""``rhworker demo``: run the whole thing on this machine and print a verdict.

The command; its cloud and scenario are planned in :mod:`.scenario`, followed live on
the terminal by :mod:`.view`."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from rhworker import conf as rconf
from rhworker.cli import load_conf
from rhworker.cli._common import int_in, seconds
from rhworker.errors import ConfigError, RhworkerError, ValidationError
from rhworker.supervisor import rhworker_command

# Worker settings of the demo: short leases so a killed worker's work moves on fast.
DEMO_WORKER = {
    "lease_timeout": 5.0,
    "retry_interval": 1.0,
    "retry_max_interval": 4.0,
    "poll_interval": 0.1,
    "shutdown_timeout": 5.0,
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run a simulated cloud, workers and host, VM and process failures; "
        "check the invariants",
        description="Start a Nova simulator and N workers (embedded store and file locks "
        "unless --store/--coordination say otherwise), fail some hosts, crash one "
        "instance and stop one nova-compute, follow the recovery live and check the "
        "invariants of docs/design.md §4. Exit 0 only if they hold.",
    )
    p.add_argument(
        "-n", "--workers", type=int_in(0), default=3, help="worker processes (default 3)"
    )
    p.add_argument(
        "--failures",
        type=int_in(1),
        default=6,
        help="hosts to fail (default 6; at most the cloud's hosts that run servers). "
        "The VM and PROCESS failures are extra (see --no-extra)",
    )
    p.add_argument(
        "--no-extra",
        action="store_true",
        help="host failures only: no crashed instance (VM notification) and no stopped "
        "nova-compute (PROCESS STOPPED, then STARTED) on hosts that do not fail",
    )
    p.add_argument("--seed", type=int, default=1, help="scenario seed (default 1)")
    p.add_argument("--cloud", help="cloud spec YAML (default: a built-in 3-segment cloud)")
    p.add_argument("--sim-url", help="use this running simulator instead of starting one")
    p.add_argument(
        "--external-workers",
        action="store_true",
        help="do not start workers: they run elsewhere on the configured store and locks",
    )
    p.add_argument(
        "--evacuation-time",
        type=seconds,
        default=0.5,
        help="seconds the started simulator takes per evacuation (default 0.5)",
    )
    p.add_argument(
        "--via-api",
        action="store_true",
        help="post the host failures through the REST API (starts `rhworker api`, noauth "
        "on loopback) with openstacksdk, as masakari-monitors would",
    )
    p.add_argument(
        "--api-url",
        metavar="URL",
        help="post the host failures through this running REST API (…/v1, noauth)",
    )
    p.add_argument("--timeout", type=seconds, default=120.0, help="give up after (default 120 s)")
    p.add_argument("--plain", action="store_true", help="plain lines, even on a terminal")
    p.add_argument("--keep", action="store_true", help="keep the temporary state directory")
    p.set_defaults(func=_demo)


def _start_simulator(evacuation_time: float, log_path: str) -> tuple[subprocess.Popen, str]:
    cmd = [
        *rhworker_command(),
        "sim",
        "serve",
        "--port",
        "0",
        "--evacuation-time",
        str(evacuation_time),
        "--disable-rpc-delay",
        "5",
    ]
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http"):
        proc.kill()
        raise RhworkerError(f"the simulator did not start (see {log_path})")
    return proc, line.split()[-1]


def _check_args(args: argparse.Namespace) -> None:
    if args.workers < 1 and not args.external_workers:
        raise ConfigError("--workers must be at least 1")
    if args.external_workers and not args.sim_url:
        raise ConfigError("--external-workers needs --sim-url (the simulator the workers use)")
    if args.via_api and (args.external_workers or args.api_url):
        raise ConfigError("--via-api starts its own API: not with --external-workers or --api-url")


def _demo(args: argparse.Namespace) -> int:
    from rhworker.cli.demo.scenario import demo_cloud, failable_hosts

    _check_args(args)
    if args.cloud:
        from rhworker.sim.spec import load_file

        spec = load_file(args.cloud)
    else:
        spec = demo_cloud()
    most = len(failable_hosts(spec))
    if args.failures > most:
        raise ValidationError(
            f"--failures {args.failures}: this cloud has {most} hosts that can fail "
            f"(allowed: 1..{most})"
        )
    own_state = not args.state_dir
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="rhworker-demo-")
    os.makedirs(state_dir, exist_ok=True)
    started = time.monotonic()
    sim_proc = None
    deployment = None
    api = contextlib.ExitStack()
    try:
        sim_url = args.sim_url
        if not sim_url:
            sim_proc, sim_url = _start_simulator(
                args.evacuation_time, os.path.join(state_dir, "simulator.log")
            )
        from rhworker.sim.control import SimControl

        control = SimControl(sim_url)
        control.load_cloud(spec)
        conf = None
        if args.external_workers:
            from rhworker.store import from_url

            conf = load_conf(args)
            store = from_url(rconf.store_url(conf))
        else:
            from rhworker.deployment import Deployment

            deployment = Deployment(
                control.compute_url,
                store_url=args.store_url,
                coordination_url=args.coordination_url,
                state_dir=state_dir,
                options={"worker": dict(DEMO_WORKER), "api": {"auth_strategy": "noauth"}},
            )
            store = deployment.store
            deployment.start_worker_process(pool=args.workers)
            if args.via_api:
                from rhworker.api.process import running_api

                log = os.path.join(state_dir, "api.log")
                args.api_url = api.enter_context(running_api(deployment.conf_path, log_path=log))
        return _run(args, spec, store, control, started, state_dir, _disable_reason(conf))
    finally:
        api.close()
        if deployment is not None:
            deployment.close()
        if sim_proc is not None:
            sim_proc.terminate()
            try:
                sim_proc.wait(10)
            except subprocess.TimeoutExpired:
                sim_proc.kill()
        if own_state and not args.keep:
            shutil.rmtree(state_dir, ignore_errors=True)
        elif args.keep:
            print(f"state kept in {state_dir}")


def _report_failures(store: Any, hosts: list[str], api_url: str | None) -> list[str]:
    """One COMPUTE_HOST notification per failed host, into the store or through the API."""
    post = _api_poster(api_url) if api_url else None
    ids = []
    for host in hosts:
        payload = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
        if post is not None:
            ids.append(post(host, payload))
        else:
            ids.append(
                store.create_notification("COMPUTE_HOST", host, payload, dedup_interval=0).id
            )
    return ids


def _api_poster(url: str) -> Callable[[str, dict[str, str]], str]:
    """Posts a COMPUTE_HOST notification through the REST API at ``url`` with
    openstacksdk's ``instance_ha`` proxy (noauth); returns its id."""
    import datetime as dt

    import openstack

    conn = openstack.connect(auth_type="none", instance_ha_endpoint_override=url)

    def post(host: str, payload: dict[str, str]) -> str:
        n = conn.instance_ha.create_notification(
            type="COMPUTE_HOST",
            hostname=host,
            generated_time=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            payload=payload,
        )
        return str(n.notification_uuid)

    return post


def _run(
    args: argparse.Namespace,
    spec: dict[str, Any],
    store: Any,
    control: Any,
    started: float,
    state_dir: str,
    disable_reason: str,
) -> int:
    from rhworker.cli.demo.scenario import Extras, plan_extras, plan_scenario, status_counts, watch
    from rhworker.cli.demo.view import LiveView, print_summary
    from rhworker.inventory import apply_inventory, load_inventory
    from rhworker.verify import verify

    apply_inventory(store, load_inventory(spec))
    scenario = plan_scenario(spec, args.failures, args.seed)
    extras = (
        Extras(None, None, None, None)
        if args.no_extra
        else plan_extras(spec, control.state()["servers"], scenario.failed_hosts, args.seed)
    )
    extra = _ExtraFailures(store, control, extras, disable_reason)
    fail_once = None
    if scenario.fail_once_host:
        on_host = sorted(
            (s for s in control.state()["servers"] if s["host"] == scenario.fail_once_host),
            key=lambda s: s["name"],
        )
        if on_host:
            fail_once = on_host[0]
            control.inject(type="fail_evacuation", server=fail_once["id"])
    ids: list[str] = []
    segment_of = {h["name"]: s["name"] for s in spec["segments"] for h in s.get("hosts", [])}
    method_of = {s["name"]: s.get("recovery_method", "auto") for s in spec["segments"]}
    for host in scenario.failed_hosts:
        control.kill_host(host)
    ids += _report_failures(store, scenario.failed_hosts, args.api_url)
    host_ids = list(ids)
    ids += extra.start()
    view = LiveView(
        plain=args.plain or not sys.stdout.isatty(),
        methods={h: method_of[segment_of[h]] for h in scenario.failed_hosts},
    )
    workers = "external" if args.external_workers else str(args.workers)
    print(f"rhworker demo: {len(host_ids)} host failures, {workers} workers, state in {state_dir}")
    print("".join(f"  extra: {line}\n" for line in extra.describe()), end="")
    if fail_once:
        print(
            f"  fault: the first evacuation of {fail_once['name']} on "
            f"{scenario.fail_once_host} will fail"
        )
    cleared = False
    told: set[str | None] = set()

    def on_tick(notifications: list[Any]) -> None:
        nonlocal cleared
        _release_brake(store, view.note, release=not args.external_workers, told=told)
        extra.on_tick(notifications, ids, view.note)
        if fail_once and not cleared:
            for n in notifications:
                if n.hostname == scenario.fail_once_host and n.status.value in ("error", "failed"):
                    control.clear_faults()
                    cleared = True
                    view.note(f"fault cleared after {n.hostname} went to {n.status.value}")

    with view:
        done = watch(
            store, ids, timeout=args.timeout, on_tick=on_tick, render=view.render, names=extra.names
        )
    sim_state = control.state()
    report = verify(store, sim_state, accepted_ids=ids)
    report.violations += extra.violations(sim_state)
    wall = time.monotonic() - started
    print_summary(store, ids, report, method_of, segment_of, extra.names)
    counts = status_counts(store, ids)
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    if not done:
        print(
            f"VERDICT: FAIL — not every notification ended within {args.timeout:.0f}s ({summary})"
        )
        return 1
    if not report.ok:
        print(
            f"VERDICT: FAIL — {len(report.violations)} invariant violation(s) ({summary}); "
            f"wall time {wall:.1f}s"
        )
        return 1
    print(f"VERDICT: PASS — invariants hold; {summary}; wall time {wall:.1f}s")
    return 0


def _release_brake(
    store: Any, note: Callable[[str], None], *, release: bool, told: set[str | None]
) -> None:
    """The demo fails most hosts of its small segments: the mass-failure brake holds
    them (docs/brake.md). With its own workers, play the operator who checked and
    resumes; with external ones (a store that is not only the demo's), say it once."""
    from rhworker import brake, interventions

    for scope, pause in store.pauses().items():
        if brake.threshold_of(pause) is None:
            continue
        command = "rhworker resume" + (f" --segment {scope}" if scope else "")
        if release:
            interventions.resume(store, scope, by="operator:demo")
            note(f"{pause.reason} — the demo resumes it as an operator would ('{command}')")
        elif scope not in told:
            told.add(scope)
            note(f"{pause.reason} — held until an operator runs '{command}'")


class _ExtraFailures:
    """The VM and PROCESS failures beside the host failures: crash the instance and
    report it, report nova-compute STOPPED, then (once that ended) its STARTED; read
    the simulator's service record after each, and check both at the end."""

    def __init__(self, store: Any, control: Any, extras: Any, disable_reason: str) -> None:
        self.store, self.control, self.extras = store, control, extras
        self.disable_reason = disable_reason
        self.vm_id: str | None = None
        self.stopped_id: str | None = None
        self.started_id: str | None = None
        self.service_after: dict[str, dict[str, Any] | None] = {}

    def start(self) -> list[str]:
        x = self.extras
        if x.vm_server_id and x.vm_host:
            self.control.crash_server(x.vm_server_id)
            payload = {
                "event": "LIFECYCLE",
                "instance_uuid": x.vm_server_id,
                "vir_domain_event": "STOPPED_FAILED",
            }
            self.vm_id = self.store.create_notification(
                "VM", x.vm_host, payload, dedup_interval=0
            ).id
        if x.process_host:
            payload = {"event": "STOPPED", "process_name": "nova-compute"}
            self.stopped_id = self.store.create_notification(
                "PROCESS", x.process_host, payload, dedup_interval=0
            ).id
        return [i for i in (self.vm_id, self.stopped_id) if i]

    def describe(self) -> list[str]:
        x, out = self.extras, []
        if self.vm_id:
            out.append(f"instance {x.vm_server_name} on {x.vm_host} crashed (VM)")
        if self.stopped_id:
            out.append(f"nova-compute stopped on {x.process_host} (PROCESS STOPPED, then STARTED)")
        return out

    @property
    def names(self) -> dict[str, str]:
        """Instance names by id, for the view."""
        x = self.extras
        return {x.vm_server_id: x.vm_server_name or ""} if x.vm_server_id else {}

    def on_tick(
        self, notifications: list[Any], ids: list[str], note: Callable[[str], None]
    ) -> None:
        """Once the STOPPED ended, send the STARTED (its id appended to ``ids``)."""
        from rhworker.verify import service_of

        if self.started_id is not None or self.stopped_id is None:
            return
        stopped = next((n for n in notifications if n.id == self.stopped_id), None)
        if stopped is None or not stopped.status.terminal:
            return
        # nova-compute is back: read the service as the STOPPED left it, then report the
        # STARTED that undoes it.
        self.service_after["STOPPED"] = service_of(self.control.state(), stopped.hostname)
        payload = {"event": "STARTED", "process_name": "nova-compute"}
        self.started_id = self.store.create_notification(
            "PROCESS", stopped.hostname, payload, dedup_interval=0
        ).id
        ids.append(self.started_id)
        note(f"nova-compute started again on {stopped.hostname}")

    def violations(self, sim_state: dict[str, Any]) -> list[Any]:
        from rhworker.verify import check_instance_recovered, check_process_recovered, service_of

        x, out = self.extras, []
        if self.vm_id and x.vm_server_id:
            out += check_instance_recovered(sim_state, x.vm_server_id)
        if self.stopped_id and x.process_host:
            if self.started_id:
                self.service_after["STARTED"] = service_of(sim_state, x.process_host)
            out += check_process_recovered(
                x.process_host,
                self.service_after.get("STOPPED"),
                self.service_after.get("STARTED"),
                self.disable_reason,
            )
        return out


def _disable_reason(conf: cfg.ConfigOpts | None) -> str:
    """The reason the workers disable a service with on a PROCESS STOPPED: external
    workers run with the configuration (``conf``), the started ones (None) with the
    defaults."""
    if conf is not None:
        return str(conf.process_failure.service_disable_reason)
    from rhworker.conf.process_failure import DEFAULT_SERVICE_DISABLE_REASON

    return DEFAULT_SERVICE_DISABLE_REASON
