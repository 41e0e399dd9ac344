"""The chaos runner's Nova-reaching partition (issue 13 item 8).

One extra worker process reaches the store (and Redis locks, when locks are on Redis)
only through a :class:`~rhworker.testing.proxy.CuttableProxy`, while it keeps
reaching the simulator. The ``nova_partition`` fault cuts that proxy for a while
and has the simulator answer 503 to changes meanwhile, so the worker sits in its
retry loops when it loses the store. The fence (DESIGN §4, "Fencing reaches Nova")
must stop it: from ``cut + lease_timeout`` until the heal it cannot own any
delivery, so any request that changes something in Nova that it sends in that span
is a violation. The witness is the simulator's request log (the worker is named in
the User-Agent, ``rhworker/<host>-<pid>-<random>``), not the worker's own logs.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from typing import Any

from rhworker.deployment import Deployment
from rhworker.errors import StoreError
from rhworker.store.base import Store
from rhworker.testing.proxy import CuttableProxy

# Mutating requests the simulator answers 503 to during one partition (all workers).
STORM_REQUESTS = 40


@dataclasses.dataclass
class Cut:
    at: float  # time.time() of the cut
    healed: float | None = None


class NovaPartition:
    """The partitionable worker, its proxy, and the spans it was cut off."""

    def __init__(
        self,
        deployment: Deployment,
        proxy: CuttableProxy,
        lease_timeout: float,
    ) -> None:
        self.deployment = deployment
        self.proxy = proxy
        self.lease_timeout = lease_timeout
        self.worker: subprocess.Popen | None = None
        self.cuts: list[Cut] = []
        self.pending = False  # stormed, cut coming

    def start(self) -> None:
        self.worker = self.deployment.start_worker_process()

    @property
    def is_cut(self) -> bool:
        return self.proxy.is_cut

    @property
    def busy(self) -> bool:
        return self.pending or self.proxy.is_cut

    def storm(self, sim: Any) -> None:
        """Nova answers 503 to the next changes (all workers): the worker retries."""
        self.pending = True
        for method in ("POST", "PUT"):
            sim.inject(
                type="error", status=503, method=method, path=r"^/v2\.1/", count=STORM_REQUESTS
            )

    def cut(self) -> None:
        self.pending = False
        self.cuts.append(Cut(at=time.time()))
        self.proxy.cut()

    def heal(self) -> None:
        if not self.proxy.is_cut:
            return
        self.proxy.heal()
        self.cuts[-1].healed = time.time()

    def worker_id_matches(self, worker: str | None) -> bool:
        """Whether a User-Agent's worker id is this process's (``<host>-<pid>-<hex>``)."""
        return bool(worker) and self.worker is not None and f"-{self.worker.pid}-" in str(worker)

    def acting(self, sim: Any, store: Store, within: float = 1.0) -> bool:
        """Whether the worker holds a delivery (read from ``store``, reached directly)
        and sent a change to Nova in the last ``within`` seconds."""
        try:
            owners = [f.owner for f in store.queue_stats().in_flight]
        except StoreError:
            return False
        if not any(self.worker_id_matches(owner) for owner in owners):
            return False
        recent = sim.requests(since=time.time() - within, changes=True)
        return any(self.worker_id_matches(r.get("worker")) for r in recent)

    def violations(self, requests: list[dict[str, Any]]) -> list[str]:
        """Changes the cut-off worker sent to Nova after its lease could have ended."""
        found = []
        for r in requests:
            if not r.get("changes") or not self.worker_id_matches(r.get("worker")):
                continue
            for cut in self.cuts:
                end = cut.healed if cut.healed is not None else float("inf")
                if cut.at + self.lease_timeout <= r["at"] < end:
                    found.append(
                        f"partitioned worker {r['worker']} sent {r['method']} {r['path']}"
                        f" ({r['action'] or '-'}) {r['at'] - cut.at:.2f}s after its store was "
                        f"cut (lease {self.lease_timeout:.1f}s)"
                    )
        return found

    def summary(self, requests: list[dict[str, Any]]) -> str:
        """The partitioned worker's last change in each cut, relative to the cut."""
        parts = []
        for cut in self.cuts:
            end = cut.healed if cut.healed is not None else float("inf")
            inside = [
                r["at"] - cut.at
                for r in requests
                if r.get("changes")
                and self.worker_id_matches(r.get("worker"))
                and cut.at <= r["at"] < end
            ]
            last = f"last change +{max(inside):.2f}s" if inside else "no change"
            parts.append(f"cut for {(end - cut.at):.1f}s: {len(inside)} changes, {last}")
        return "; ".join(parts) or "never cut"
