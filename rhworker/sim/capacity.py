"""Nova's shared capacity: API requests and evacuation work slow each other down.

Real Nova (API, conductor, scheduler and computes) does a finite amount of work at
once: two host failures take about twice as long as one, and polling harder makes
evacuations slower. :class:`SharedCapacity` models this as *processor sharing*: every
job (an API request's cost, one phase of an evacuation) is some seconds of work; with
``n`` jobs running on ``slots`` workers each progresses at ``min(1, slots / n)``
seconds of work per second. ``slots <= 0`` means unlimited: every job runs at full
speed, exactly as a plain timer would.

One background thread finishes jobs and runs their callbacks (outside the lock);
:meth:`run` blocks the calling thread instead (the request path).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable

LOG = logging.getLogger(__name__)

_EPSILON = 1e-9


@dataclasses.dataclass
class _Job:
    remaining: float
    callback: Callable[[], None] | None = None
    done: threading.Event | None = None


class SharedCapacity:
    def __init__(
        self, slots: Callable[[], float], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._slots = slots
        self._clock = clock
        self._cond = threading.Condition()
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._rate = 1.0
        self._last = clock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sim-capacity", daemon=True)
        self._thread.start()

    # --- the model -------------------------------------------------------------------

    def _rate_for(self, n: int) -> float:
        slots = self._slots()
        if slots <= 0 or n <= slots:
            return 1.0
        return slots / n

    def _advance(self) -> None:
        """Credit the work done since the last change at the rate that held then."""
        now = self._clock()
        done = (now - self._last) * self._rate
        self._last = now
        if done > 0:
            for job in self._jobs.values():
                job.remaining -= done
        self._rate = self._rate_for(len(self._jobs))

    def load(self) -> int:
        """Jobs running now (requests and evacuation phases)."""
        with self._cond:
            return len(self._jobs)

    def rate(self) -> float:
        with self._cond:
            return self._rate_for(len(self._jobs))

    # --- submitting ------------------------------------------------------------------

    def submit(self, work: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the capacity thread once ``work`` seconds of work are done."""
        self._add(_Job(max(0.0, work), callback=callback))

    def run(self, work: float, stopping: threading.Event | None = None) -> None:
        """Block the caller until ``work`` seconds of work are done (or we stop)."""
        if work <= 0:
            return
        done = threading.Event()
        self._add(_Job(work, done=done))
        while not done.wait(0.5):
            if self._stopped or (stopping is not None and stopping.is_set()):
                return

    def _add(self, job: _Job) -> None:
        with self._cond:
            self._advance()
            self._jobs[next(self._ids)] = job
            self._rate = self._rate_for(len(self._jobs))
            self._cond.notify()

    def reconfigure(self) -> None:
        """The number of slots changed: apply it from now on."""
        with self._cond:
            self._advance()
            self._cond.notify()

    def clear(self) -> None:
        """Drop pending callbacks; release blocked callers."""
        with self._cond:
            for job in self._jobs.values():
                if job.done is not None:
                    job.done.set()
            self._jobs.clear()
            self._advance()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self.clear()
        self._thread.join(timeout=5)

    # --- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            finished: list[_Job] = []
            with self._cond:
                if self._stopped:
                    return
                self._advance()
                for key in [k for k, j in self._jobs.items() if j.remaining <= _EPSILON]:
                    finished.append(self._jobs.pop(key))
                if finished:
                    self._rate = self._rate_for(len(self._jobs))
                else:
                    timeout = None
                    if self._jobs:
                        least = min(j.remaining for j in self._jobs.values())
                        timeout = max(least / self._rate, 0.0005)
                    self._cond.wait(timeout)
                    continue
            for job in finished:
                if job.done is not None:
                    job.done.set()
                if job.callback is not None:
                    try:
                        job.callback()
                    except Exception:
                        LOG.exception("simulator capacity callback failed")
