"""A cloud under test: the same scenario code runs against the simulator and real Nova.

Both sides are built from one spec, the simulator's cloud document (segments with
hosts, flavors, servers with ``host``, ``count``, ``metadata``, ``power``), and are
read from the outside: where Nova says the servers are and what its migration records
say — never from rhworker's own store.

Implementations: :class:`rhworker.testing.cloud_sim.SimCloud` (the in-process
simulator) and :class:`rhworker.testing.realnova.RealNovaCloud` (Nova 34 with fake
computes in a virtualenv of its own).
"""

from __future__ import annotations

from typing import Any, Protocol


class CloudUnderTest(Protocol):
    """What a scenario needs from a cloud. Dicts use Nova's own field names."""

    kind: str  # "sim" or "realnova"

    @property
    def compute_url(self) -> str:
        """The Compute API endpoint (``http://127.0.0.1:PORT/v2.1``), no auth needed."""
        ...

    def crash_host(self, host: str) -> None:
        """The host dies: its nova-compute stops heartbeating (service record kept) and
        what it was doing dies with it (a rebuild under way there never ends)."""
        ...

    def restart_host(self, host: str) -> None:
        """The host's nova-compute comes back (it cleans up evacuated guests)."""
        ...

    def crash_server(self, server_id: str) -> None:
        """The guest dies on a live host (libvirt's STOPPED_FAILED); Nova still shows
        it ACTIVE until something stops it."""
        ...

    def set_spawn_delay(self, seconds: float) -> None:
        """Each evacuation's spawn on the target takes this long (0: the default)."""
        ...

    def servers(self) -> list[dict[str, Any]]:
        """Every server: ``id``, ``name``, ``host``, ``status``, ``vm_state``,
        ``task_state``, ``locked``, ``metadata``."""
        ...

    def migrations(self) -> list[dict[str, Any]]:
        """Every migration record: ``instance_uuid``, ``source_compute``,
        ``dest_compute``, ``status``, ``migration_type``."""
        ...

    def services(self) -> list[dict[str, Any]]:
        """Every nova-compute service: ``host``, ``status``, ``state``, ``forced_down``."""
        ...

    def close(self) -> None: ...
