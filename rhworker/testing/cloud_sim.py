"""The in-process simulator as a :class:`~rhworker.testing.cloud.CloudUnderTest`.

``running_sim_cloud(spec, **sim_options)`` starts a simulator on a free loopback
port (fast test timings unless overridden) and yields a :class:`SimCloud`: a crash
is ``kill_host``, a restart ``revive_host``, and the reports are the simulator's own
records under Nova's field names, so scenario code reads both clouds the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from rhworker.errors import RhworkerError
from rhworker.sim import Simulator
from rhworker.sim.model import iso
from rhworker.sim.state import Options
from rhworker.testing.sim_fixture import running_simulator

# The task states Nova shows while it rebuilds an evacuated server, in order.
REBUILD_TASK_STATES = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")

# Simulator options that time each rebuild phase, by the task state shown meanwhile.
# A simulator that times the whole rebuild with one option shows only ``rebuilding``.
PHASE_OPTIONS: dict[str, tuple[str, ...]] = {
    "rebuilding": ("rebuilding_time", "evacuation_time"),
    "rebuild_block_device_mapping": ("block_device_mapping_time",),
    "rebuild_spawning": ("spawning_time",),
}


class SimCloud:
    """A started simulator, read and driven as a cloud under test."""

    kind = "sim"

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._defaults = dataclasses.asdict(sim.cloud.options)

    @property
    def compute_url(self) -> str:
        return self.sim.compute_url

    # -- faults ------------------------------------------------------------------------
    def crash_host(self, host: str) -> None:
        self.sim.kill_host(host)

    def crash_server(self, server_id: str) -> None:
        self.sim.crash_server(server_id, "active")

    def restart_host(self, host: str) -> None:
        self.sim.revive_host(host)

    def set_spawn_delay(self, seconds: float) -> None:
        """Slow the spawn; a simulator without per-phase timings slows the whole
        rebuild instead (it then shows ``rebuilding`` all along)."""
        option = self.phase_option("rebuild_spawning") or self.phase_option("rebuilding")
        self._set(option, seconds)

    def phase_option(self, task_state: str) -> str | None:
        """The simulator option that times ``task_state``, or None if it never shows."""
        names = {f.name for f in dataclasses.fields(Options)}
        return next((o for o in PHASE_OPTIONS.get(task_state, ()) if o in names), None)

    def can_hold(self, task_state: str) -> bool:
        """Whether this simulator can keep evacuated servers in ``task_state``."""
        return self.phase_option(task_state) is not None

    def hold_task_state(self, task_state: str, seconds: float) -> None:
        """Evacuations stay ``seconds`` in ``task_state`` (0: back to the default).

        Raises if this simulator never shows ``task_state`` (one that times the whole
        rebuild with one option shows only ``rebuilding``)."""
        option = self.phase_option(task_state)
        if option is None:
            raise RhworkerError(
                f"this simulator cannot hold an evacuation in {task_state}: it has none of "
                f"the options {', '.join(PHASE_OPTIONS.get(task_state, ()))}"
            )
        self._set(option, seconds)

    def _set(self, option: str | None, seconds: float) -> None:
        if option is None:
            raise RhworkerError("this simulator has no rebuild timing option")
        value = seconds if seconds > 0 else self._defaults[option]
        self.sim.set_options(**{option: value})

    # -- reports -----------------------------------------------------------------------
    def servers(self) -> list[dict[str, Any]]:
        return [
            {
                "id": s["id"],
                "name": s["name"],
                "host": s["host"],
                "status": s["status"],
                "vm_state": s["vm_state"],
                "task_state": s["task_state"],
                "power_state": s["power_state"],
                "locked": s["locked"],
                "metadata": dict(s["metadata"]),
                "fault": (s["fault"] or {}).get("message"),
            }
            for s in self.sim.state()["servers"]
        ]

    def migrations(self) -> list[dict[str, Any]]:
        return [
            {
                "id": m["id"],
                "uuid": m["uuid"],
                "instance_uuid": m["instance_uuid"],
                "source_compute": m["source_compute"],
                "dest_compute": m["dest_compute"],
                "status": m["status"],
                "migration_type": m["migration_type"],
                "created_at": iso(m["created"]),
                "updated_at": iso(m["updated"]),
            }
            for m in sorted(self.sim.state()["migrations"], key=lambda m: m["id"])
        ]

    def services(self) -> list[dict[str, Any]]:
        return [
            {
                "id": h["service"]["id"],
                "host": h["name"],
                "binary": "nova-compute",
                "status": h["service"]["status"],
                "disabled_reason": h["service"]["disabled_reason"],
                "state": h["service"]["state"],
                "forced_down": h["service"]["forced_down"],
                "crashed": not h["alive"],
            }
            for h in self.sim.state()["hosts"]
        ]

    def events(self) -> list[dict[str, Any]]:
        """Everything the simulator did or was asked to change, in order (locks,
        evacuation phases, service changes...)."""
        return list(self.sim.state()["events"])

    def violations(self) -> list[dict[str, Any]]:
        """What the simulator itself saw go wrong (e.g. a server evacuated twice)."""
        return list(self.sim.state()["violations"])

    def close(self) -> None:
        self.sim.stop()


@contextlib.contextmanager
def running_sim_cloud(spec: dict[str, Any], **sim_options: Any) -> Iterator[SimCloud]:
    """A :class:`SimCloud` on a started simulator built from ``spec``; stopped on exit."""
    with running_simulator(spec, **sim_options) as sim:
        yield SimCloud(sim)
