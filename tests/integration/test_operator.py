"""What an operator sees and controls (issue 9): ``rhworker status``, ``notification
list|show|retry|resolve``, ``pause``/``resume``, the workers' Prometheus endpoint and
the per-step log lines — against every store and lock backend of the integration
``make_deployment`` fixture, with the real CLI in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from rhworker.coordination import Coordinator
from rhworker.deployment import WorkerThreads
from rhworker.models import NotificationStatus, Step, StepName
from rhworker.status import collect, read_members, render
from rhworker.testing.servers import free_port
from tests.integration.clouds import outsider_holding, segment_cloud

pytestmark = pytest.mark.integration

S = NotificationStatus


def cli(d: Any, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "rhworker", *d.cli_args(), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def two_segments() -> dict[str, Any]:
    spec = segment_cloud(computes=2, spares=1)
    spec["segments"].append(
        {
            "name": "seg2",
            "recovery_method": "reserved_host",
            "hosts": [
                {"name": "compute-b1", "vcpus": 16, "memory_mb": 32768},
                {"name": "spare-b1", "vcpus": 16, "memory_mb": 32768, "reserved": True},
            ],
        }
    )
    spec["servers"].append({"name": "vm-b", "count": 2, "host": "compute-b1", "flavor": "small"})
    return spec


def scrape(address: str) -> dict[str, float]:
    """``name{labels}`` → value of every rhworker sample of a /metrics page."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("rhworker_"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


class InProcessWorker(WorkerThreads):
    """One worker in a thread, its metrics served on a free port."""

    def __init__(self, d: Any, **overrides: Any) -> None:
        self.worker = d.build_worker(**overrides)
        assert self.worker.metrics is not None  # [metrics] port set by the deployment
        port = self.worker.metrics.start(self.worker.store, port=0, refresh_interval=0.1)
        self.address = f"127.0.0.1:{port}"
        self.worker.metrics_address = self.address
        super().__init__([self.worker])


METRICS = {"metrics": {"port": 1}}  # non-zero: workers get a WorkerMetrics (tests bind port 0)


# -- status -------------------------------------------------------------------------------
def test_status_shows_workers_queue_segments_and_failures(make_deployment, backend):
    d, sim = make_deployment(two_segments(), options=METRICS)
    sim.kill_host("compute-1")
    sim.kill_host("compute-2")
    first, second = d.notify("compute-1"), d.notify("compute-2")
    with InProcessWorker(d, max_attempts=1) as w:
        d.wait_terminal([first, second])
        members = lambda: read_members(lambda mid: Coordinator(d.coordination_url, mid))  # noqa: E731
        d.wait_for(
            lambda: w.worker.worker_id in {x.id for x in collect(d.store, members=members).workers},
            what="the worker in the group",
        )
        proc = cli(d, "status", "--json")
        snap = json.loads(proc.stdout)
        text = cli(d, "status").stdout
    ids = {w_["id"]: w_ for w_ in snap["workers"]}
    assert w.worker.worker_id in ids and not any(i.startswith("status-") for i in ids)
    me = ids[w.worker.worker_id]
    assert me["pid"] > 0 and me["host"] and me["started"] > 0 and me["metrics"] == w.address
    segments = {s["name"]: s for s in snap["segments"]}
    assert segments["seg1"]["reserved_left"] == 0 and segments["seg2"]["reserved_left"] == 1
    assert snap["dead_letters"] == 1 and snap["depth"] == 0 and snap["in_flight"] == []
    failed = [f for f in snap["failures"] if f["status"] == "failed"]
    assert len(failed) == 1 and "no reserved host" in failed[0]["reason"]
    assert "NONE LEFT" in text and w.worker.worker_id in text and "recent failures: 1" in text
    assert "PAUSED" not in text


def test_status_shows_in_flight_with_owner_and_lease_age(make_deployment, backend):
    d, sim = make_deployment(segment_cloud(spares=1), options=METRICS)
    nid = d.notify("compute-1")
    delivery = d.store.consume("ghost-worker", lease_timeout=60)
    assert delivery is not None
    d.store.add_step(
        nid, Step(at=delivery.lease_until - 65, name=StepName.DELIVERED, worker="ghost")
    )
    snap = collect(d.store)
    assert snap.workers is None  # not asked
    (flying,) = snap.in_flight
    assert (flying.notification_id, flying.owner, flying.attempts) == (nid, "ghost-worker", 1)
    assert flying.lease_age is not None and flying.lease_age >= 4.0
    assert 0 < flying.lease_left <= 60
    assert "ghost-worker" in render(snap)


# -- pause / resume ---------------------------------------------------------------------------
def test_pause_keeps_notifications_and_resume_processes_them(make_deployment, backend):
    d, sim = make_deployment(two_segments(), options=METRICS)
    sim.kill_host("compute-1")
    sim.kill_host("compute-b1")
    a = d.notify("compute-1")
    out = cli(d, "pause", "--reason", "network partition?", "--user", "ann").stdout
    assert "paused all segments" in out
    b = d.notify("compute-b1")  # accepted while paused
    d.run_burst(max_attempts=1)  # nothing is handed out: the burst ends at once
    for n in d.notifications([a, b]):
        assert (n.status, n.attempts, n.lease_owner) == (S.NEW, 0, None)
    text = cli(d, "status").stdout
    assert "PAUSED (all segments) by operator:ann" in text and "network partition?" in text
    steps = d.store.get_notification(a).progress.steps
    assert [(s.name, s.worker, s.detail["action"]) for s in steps] == [
        ("control", "operator:ann", "pause")
    ]

    # resume all, but pause seg2 alone: seg1 is recovered, seg2 still kept
    cli(d, "pause", "--segment", "seg2", "--user", "ann")
    assert "still paused: seg2" in cli(d, "resume", "--user", "ann").stdout
    d.run_burst(max_attempts=1)
    assert d.store.get_notification(a).status == S.FINISHED
    held = d.store.get_notification(b)
    assert (held.status, held.attempts) == (S.NEW, 0)
    snap = json.loads(cli(d, "status", "--json").stdout)
    seg2 = next(s for s in snap["segments"] if s["name"] == "seg2")
    assert seg2["paused"] is True and seg2["waiting"] == 1 and snap["paused_all"] is None

    cli(d, "resume", "--segment", "seg2", "--user", "bob")
    d.run_burst(max_attempts=1)
    n = d.store.get_notification(b)
    assert n.status == S.FINISHED and n.attempts == 1
    controls = [(s.worker, s.detail["action"]) for s in n.progress.steps if s.name == "control"]
    assert controls == [
        ("operator:ann", "pause"),  # seg2 (b came in after the global pause)
        ("operator:ann", "resume"),
        ("operator:bob", "resume"),
    ]
    assert "PAUSED" not in cli(d, "status").stdout


# -- notification list / show / retry / resolve ----------------------------------------------------
def test_show_lists_steps_tries_and_moves(make_deployment, backend):
    d, sim = make_deployment(segment_cloud(spares=2), options=METRICS)
    with outsider_holding(d, "spare-1"):
        sim.kill_host("compute-1")
        nid = d.notify("compute-1")
        d.run_burst()
    shown = json.loads(cli(d, "notification", "show", nid, "--json").stdout)
    tries = [(t["host"], t["outcome"]) for t in shown["reserved_hosts_tried"]]
    assert tries == [("spare-1", "skipped: locked by another worker"), ("spare-2", "chosen")]
    steps = shown["notification"]["progress"]["steps"]
    assert steps[0]["name"] == "delivered" and all(s["worker"] and s["at"] for s in steps)
    assert {"gate", "fence", "claimed", "enabled"} <= {s["name"] for s in steps}
    assert len(shown["moves"]) == 3
    assert all(m["state"] == "succeeded" and m["target"] == "spare-2" for m in shown["moves"])
    text = cli(d, "notification", "show", nid).stdout
    for needle in ("reserved hosts tried:", "skipped: locked by another worker", "moves:"):
        assert needle in text
    assert "succeeded" in text and "lock_skipped" in text

    listed = json.loads(cli(d, "notification", "list", "--status", "finished", "--json").stdout)
    assert [n["id"] for n in listed] == [nid]
    assert cli(d, "notification", "list", "--host", "compute-2", "--json").stdout.strip() == "[]"
    assert nid in cli(d, "notification", "list", "--host", "compute-1").stdout


def test_retry_and_resolve_are_recorded(make_deployment, backend):
    d, sim = make_deployment(segment_cloud(spares=0), options=METRICS)
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.run_burst(max_attempts=1)
    assert d.store.get_notification(nid).status == S.FAILED  # no spare: dead letter

    out = cli(d, "notification", "retry", nid, "--user", "ann", "--reason", "spare added").stdout
    assert "back in the queue" in out
    n = d.store.get_notification(nid)
    assert (n.status, n.attempts) == (S.NEW, 0)
    assert d.store.queue_stats().dead_letters == []
    control = n.progress.steps[-1]
    assert (control.name, control.worker, control.detail["action"]) == (
        "control",
        "operator:ann",
        "retry",
    )
    d.run_burst(max_attempts=1)  # processed again (and fails again: still no spare)
    n = d.store.get_notification(nid)
    assert n.status == S.FAILED and n.attempts == 1
    assert n.progress.steps[-1].name != "control"  # a new attempt ran after the retry

    proc = cli(d, "notification", "resolve", nid, "--user", "bob", "--reason", "moved by hand")
    assert "resolved" in proc.stdout
    n = d.store.get_notification(nid)
    assert n.status == S.FAILED and n.progress.reason == "resolved by operator:bob: moved by hand"
    assert (n.progress.steps[-1].worker, n.progress.steps[-1].detail["action"]) == (
        "operator:bob",
        "resolve",
    )
    d.run_burst()
    assert d.store.get_notification(nid).attempts == 1  # never handed out again
    assert cli(d, "notification", "resolve", "nope", "--reason", "x", ok=False).returncode == 4
    cli(d, "pause")
    fresh = d.notify("compute-2")
    assert cli(d, "notification", "retry", fresh, ok=False).returncode == 5  # new: not retryable


# -- metrics --------------------------------------------------------------------------------
def test_metrics_endpoint(make_deployment, backend):
    d, sim = make_deployment(segment_cloud(computes=3, spares=2), options=METRICS)
    outsider = Coordinator(d.coordination_url, "outsider")
    outsider.start()
    try:
        lock = outsider.try_lock("spare-1")
        sim.kill_host("compute-1")
        sim.kill_host("compute-2")
        ids = [d.notify(h) for h in ("compute-1", "compute-2")]
        with InProcessWorker(d, max_attempts=2) as w:
            d.wait_terminal(ids)  # one lands on spare-2; the other finds no spare twice
            m = d.wait_for(
                lambda: (
                    (s := scrape(w.address)).get(
                        'rhworker_reserved_hosts_available{segment="seg1"}'
                    )
                    == 1
                    and s.get("rhworker_dead_letters_stored") == 1
                    and s
                ),
                what="refreshed gauges",
            )
        outsider.release(lock)
    finally:
        outsider.stop()
    assert m['rhworker_notifications_total{status="finished"}'] == 1
    assert m['rhworker_notifications_total{status="error"}'] == 1
    assert m['rhworker_notifications_total{status="failed"}'] == 1
    assert m["rhworker_retries_total"] == 1 and m["rhworker_dead_letters_total"] == 1
    assert m["rhworker_lock_skips_total"] >= 3  # spare-1 held by the outsider, each attempt
    assert m["rhworker_claims_lost_total"] == 0 and m["rhworker_takeovers_total"] == 0
    assert m['rhworker_recovery_duration_seconds_count{status="finished"}'] == 1
    assert m['rhworker_step_duration_seconds_count{step="claimed"}'] == 1
    assert m['rhworker_step_duration_seconds_count{step="fence"}'] >= 3
    assert m["rhworker_queue_depth"] == 0 and m["rhworker_in_flight"] == 0


def test_metrics_count_a_takeover(make_deployment, backend):
    d, sim = make_deployment(segment_cloud(spares=1), options=METRICS)
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    ghost = d.store.consume("ghost-worker", lease_timeout=0.05)  # dies at once
    assert ghost is not None
    d.store.set_status(nid, S.RUNNING, expected=[S.NEW], token=ghost.token)
    d.store.add_step(
        nid, Step(at=0.0, name=StepName.DELIVERED, worker="ghost-worker"), token=ghost.token
    )
    with InProcessWorker(d) as w:
        d.wait_terminal([nid])
        m = d.wait_for(
            lambda: (
                (s := scrape(w.address)).get('rhworker_notifications_total{status="finished"}')
                and s
            )
        )
    assert m["rhworker_takeovers_total"] == 1


# -- logs ---------------------------------------------------------------------------------------
def test_json_log_line_per_step(make_deployment, backend):
    d, sim = make_deployment(segment_cloud(spares=1))
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rhworker",
            *d.cli_args(),
            "--log-format",
            "json",
            "worker",
            "--burst",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(x) for x in proc.stderr.splitlines() if x.startswith("{")]
    step_lines = [
        x for x in lines if x["extra"].get("step") and x["extra"].get("notification") == nid
    ]
    steps = d.store.get_notification(nid).progress.steps
    assert [x["extra"]["step"] for x in step_lines] == [s.name for s in steps]
    assert {x["extra"]["worker"] for x in step_lines} == {steps[0].worker}
    assert all(x["levelname"] == "INFO" and x["asctime"] for x in step_lines)


def _wait_two_workers(d: Any) -> Any:
    return d.wait_for(
        lambda: (
            (s := json.loads(cli(d, "status", "--json").stdout))["workers"]
            and len(s["workers"]) == 2
            and s
        ),
        what="two workers in the group",
    )


def two_free_ports() -> int:
    """A port P such that P and P + 1 are both free now (the pool uses port + index)."""
    for _ in range(50):
        base = free_port()
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", base))
                b.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
            return base
    raise AssertionError("no two consecutive free ports")


def test_status_and_metrics_of_a_process_pool(make_deployment, backend):
    base = two_free_ports()
    d, sim = make_deployment(segment_cloud(spares=2), options={"metrics": {"port": base}})
    d.start_worker_process(pool=2)
    try:
        snap = _wait_two_workers(d)
    except TimeoutError:
        with open(os.path.join(d.state_dir, "worker-0.log"), errors="replace") as f:
            raise AssertionError(f.read()[-3000:]) from None
    assert sorted(w["metrics"] for w in snap["workers"]) == [
        f"127.0.0.1:{base}",
        f"127.0.0.1:{base + 1}",
    ]
    assert len({w["pid"] for w in snap["workers"]}) == 2
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.wait_terminal([nid])
    total = 0.0
    for w in snap["workers"]:
        m = d.wait_for(
            lambda a=w["metrics"]: scrape(a).get("rhworker_queue_depth") == 0 and scrape(a)
        )
        total += m.get('rhworker_notifications_total{status="finished"}', 0.0)
    assert total == 1
    assert "2" in cli(d, "status").stdout.split("workers:")[1].splitlines()[0]


def test_status_watch_refreshes_until_interrupted(make_deployment, backend):
    d, sim = make_deployment(segment_cloud(spares=1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rhworker", *d.cli_args(), "status", "--watch", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        renders = 0
        assert proc.stdout is not None
        for line in proc.stdout:  # ends when the process does; pytest's timeout is the bound
            renders += "rhworker status at" in line
            if renders == 2:
                break
        assert renders == 2, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0
