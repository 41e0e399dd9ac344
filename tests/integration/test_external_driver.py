"""The ``external`` driver end to end: a real worker process hands a host failure to an
outside workflow and lets go; the workflow (here: a small HTTP service that evacuates
with openstacksdk against the simulator) reports back with ``PUT
/v1/notifications/{id}`` on a real ``rhworker api`` process. Judged from Nova's view
(the simulator's servers) and the store."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug import Request, Response
from werkzeug.serving import make_server

from rhworker.api.process import running_api
from rhworker.deployment import Deployment, wait_until
from rhworker.models import NotificationStatus, StepName
from rhworker.testing.servers import free_port
from rhworker.testing.sim_fixture import SMALL_CLOUD, running_simulator, sdk_connection

pytestmark = pytest.mark.integration

INVENTORY = {
    "segments": [
        {
            "name": "seg1",
            "recovery_method": "reserved_host",
            "hosts": [
                {"name": "compute-1"},
                {"name": "compute-2"},
                {"name": "spare-1", "reserved": True},
            ],
        }
    ]
}


class Workflow:
    """The outside workflow: takes each hand-off (202 at once) and, unless told to stay
    silent, evacuates the failed host's servers onto the first reserved host offered
    with openstacksdk, waits for them to be ACTIVE there, then calls back."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.received: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.errors: list[str] = []
        self.silent = False
        self.release = threading.Event()  # the callbacks wait for it
        self.release.set()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/recover"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @Request.application  # type: ignore[misc]
    def _app(self, request: Request) -> Response:
        doc = json.loads(request.get_data())
        self.received.append(doc)
        if not self.silent:
            threading.Thread(target=self._recover, args=(doc,), daemon=True).start()
        return Response("{}", status=202, content_type="application/json")

    def _recover(self, doc: dict[str, Any]) -> None:
        try:
            self._evacuate_and_report(doc)
        except Exception as e:  # the test reads them
            self.errors.append(f"{type(e).__name__}: {e}")

    def _evacuate_and_report(self, doc: dict[str, Any]) -> None:
        failed, spare = doc["host"]["name"], doc["reserved_hosts"][0]
        conn = sdk_connection(self.sim)
        conn.compute.enable_service(None, host=spare, binary="nova-compute")
        servers = list(conn.compute.servers(all_projects=True, compute_host=failed))
        for server in servers:
            conn.compute.evacuate_server(server, host=spare)
        wait_until(
            lambda: all(
                (s := conn.compute.get_server(server.id)).compute_host == spare
                and s.status in ("ACTIVE", "SHUTOFF")
                and not s.task_state
                for server in servers
            ),
            timeout=60.0,
            what="the workflow's evacuations",
        )
        self.release.wait(60.0)
        # Report in the order the hand-offs came (the test judges the first, then the
        # second).
        turn = next(i for i, d in enumerate(self.received) if d is doc)
        wait_until(lambda: len(self.answers) >= turn, timeout=60.0, what="the earlier reports")
        answer = requests.put(
            doc["callback"]["url"],
            json={"notification": {"status": "finished", "used_reserved_hosts": [spare]}},
            headers={"OpenStack-API-Version": "instance-ha 1.1"},
            timeout=10.0,
        )
        self.answers.append((answer.status_code, answer.json()))

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture
def workflow_timeout() -> float:
    return 60.0


@pytest.fixture
def cloud(
    tmp_path: Any, workflow_timeout: float
) -> Iterator[tuple[Deployment, Any, Workflow, str]]:
    with running_simulator(SMALL_CLOUD) as sim:
        workflow = Workflow(sim)
        api_port = free_port()
        d = Deployment(
            sim.compute_url,
            state_dir=str(tmp_path / "state"),
            options={
                "host_failure": {"driver": "external"},
                "external": {
                    "endpoint": workflow.url,
                    "api_url": f"http://127.0.0.1:{api_port}",
                    "workflow_timeout": workflow_timeout,
                },
                "worker": {"concurrency": 1},
                "api": {"auth_strategy": "noauth"},
            },
        )
        d.load_inventory(INVENTORY)
        try:
            with running_api(d.conf_path, "--port", str(api_port)) as api_url:
                yield d, sim, workflow, api_url
        finally:
            d.close()
            workflow.close()


def _status(d: Deployment, nid: str) -> NotificationStatus:
    return d.store.get_notification(nid).status


def test_a_workflow_recovers_the_host_and_reports_back(
    cloud: tuple[Deployment, Any, Workflow, str],
) -> None:
    d, sim, workflow, api_url = cloud
    workflow.release.clear()  # hold the first callback until the second hand-off
    conn = sdk_connection(sim)
    on_failed = {s.id for s in conn.compute.servers(all_projects=True, compute_host="compute-1")}
    sim.kill_host("compute-1")
    sim.kill_host("compute-2")
    first = d.notify("compute-1")
    d.start_worker_process()
    wait_until(lambda: len(workflow.received) >= 1, timeout=60.0, what="the first hand-off")
    # The worker (one delivery at a time) let go: it hands the next failure off while
    # the first is still with the workflow.
    second = d.notify("compute-2")
    wait_until(lambda: len(workflow.received) >= 2, timeout=60.0, what="the second hand-off")
    assert _status(d, first) == NotificationStatus.RUNNING
    doc = workflow.received[0]
    assert doc["notification"]["notification_uuid"] == first
    assert doc["reserved_hosts"] == ["spare-1"]
    assert doc["callback"]["url"].endswith(f"/v1/notifications/{first}")
    workflow.release.set()
    wait_until(lambda: workflow.answers or workflow.errors, timeout=90.0, what="the first callback")
    assert not workflow.errors, workflow.errors
    (n1,) = d.wait_terminal([first], timeout=30.0)
    assert n1.status == NotificationStatus.FINISHED, n1.progress
    # Nova's view: every server of compute-1 on spare-1, none left on the failed host.
    moved = {s.id: s for s in conn.compute.servers(all_projects=True) if s.id in on_failed}
    assert {s.compute_host for s in moved.values()} == {"spare-1"}
    # The spare is used up, by this notification; the failed host was fenced first.
    spare = d.store.get_host("spare-1")
    assert (spare.reserved, spare.claimed_by) == (False, first)
    assert d.store.get_host("compute-1").on_maintenance
    names = [s.name for s in n1.progress.steps]
    assert (
        names.index(StepName.FENCE) < names.index(StepName.HANDOFF) < names.index(StepName.CALLBACK)
    )
    wait_until(lambda: workflow.answers, timeout=30.0, what="the first callback's answer")
    status, body = workflow.answers[0]
    assert status == 200 and body["notification"]["status"] == "finished"
    # The second workflow offered spare-1 too, and its callback is refused: the spare
    # is not used twice.
    wait_until(lambda: len(workflow.answers) >= 2, timeout=90.0, what="the second callback")
    status, body = workflow.answers[1]
    assert status == 409 and "claimed by" in body["conflictingRequest"]["message"]
    assert _status(d, second) == NotificationStatus.RUNNING
    assert d.store.get_host("spare-1").claimed_by == first


@pytest.mark.parametrize("workflow_timeout", [2.0])
def test_without_callback_the_hand_off_times_out_and_is_made_again(
    cloud: tuple[Deployment, Any, Workflow, str],
) -> None:
    d, sim, workflow, api_url = cloud
    workflow.silent = True
    sim.kill_host("compute-2")
    nid = d.notify("compute-2")
    d.start_worker_process()
    wait_until(lambda: len(workflow.received) >= 2, timeout=90.0, what="a second hand-off")
    d.stop_processes()
    n = d.store.get_notification(nid)
    timeouts = [s for s in n.progress.steps if s.name == StepName.HANDOFF_TIMEOUT]
    assert timeouts and "did not call back within 2s" in timeouts[0].message
    assert n.attempts >= 3  # hand-off, taken back, handed off again
    # Nobody has taken the pending hand-off back since: its workflow may still report.
    late = requests.put(
        f"{api_url}/notifications/{nid}",
        json={"notification": {"status": "finished", "used_reserved_hosts": []}},
        timeout=10.0,
    )
    assert late.status_code == 200, late.text
    assert _status(d, nid) == NotificationStatus.FINISHED
    # A notification never handed off is not the workflow's to end.
    other = d.notify("compute-1")
    refused = requests.put(
        f"{api_url}/notifications/{other}",
        json={"notification": {"status": "finished"}},
        timeout=10.0,
    )
    assert refused.status_code == 409 and "not waiting" in refused.text
    assert _status(d, other) == NotificationStatus.NEW
