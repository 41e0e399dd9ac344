"""The mass-failure brake: hold new host failures once too many come at once.

A partition of the monitoring network, a top-of-rack switch or a monitor gone mad
makes many hosts look dead together; evacuating them all could run their servers
twice and empty the cloud's spare capacity. Past a threshold rhworker stops starting
recoveries and asks an operator (docs/brake.md):

* ``segment_max_failed_fraction`` — more than this fraction of a segment's hosts have
  open failures (COMPUTE_HOST ``STOPPED`` notifications not ended), counted from
  ``segment_min_failed_hosts`` failed hosts on: that segment is paused;
* ``cloud_max_failures_per_window`` — more than this many hosts were reported failed
  within ``window`` seconds, whatever became of the reports: every segment is paused.

**Where it runs.** In the store's hand-out (:meth:`rhworker.store.base.Store.consume`),
inside the same transaction (SQLite ``BEGIN IMMEDIATE``) or script (Redis Lua) that
picks the notification: the counts, the decision, the pause and the history steps are
one atomic step, serialised with every other hand-out and with intake. However many
workers race, the first hand-out that sees a threshold passed pauses the scope, and no
later hand-out can start a recovery there. Only the first hand-out of a failure report
(no attempt spent yet) is checked; retries and takeovers of a recovery already started
are not (they go on, as running ones finish).

**Held** is the operator pause of :mod:`rhworker.interventions`: the pause's ``by`` is
``brake:<threshold>`` and its reason gives the counts; every open notification of the
scope gets a ``brake`` step in its history. ``rhworker resume`` releases it; a resume
also releases for good every report accepted before it (the operator has seen them):
only reports accepted after the resume are checked again.

This module holds the arithmetic and the texts (the SQLite store calls it; the Redis
script mirrors it, tested against the same cases).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rhworker.conf import brake as brake_conf
from rhworker.conf.mirror import from_group
from rhworker.models import PauseInfo, Step

SEGMENT = "segment_max_failed_fraction"
CLOUD = "cloud_max_failures_per_window"
# ``by`` of a pause set by the brake: ``brake:<threshold>``.
BY = "brake"
# Name of the history step written into every notification a trip holds.
STEP = "brake"


@dataclasses.dataclass(frozen=True)
class BrakeLimits:
    """``[brake]`` options (docs/brake.md for the defaults)."""

    enabled: bool = brake_conf.DEFAULT_ENABLED
    segment_max_failed_fraction: float = brake_conf.DEFAULT_SEGMENT_MAX_FAILED_FRACTION
    segment_min_failed_hosts: int = brake_conf.DEFAULT_SEGMENT_MIN_FAILED_HOSTS
    cloud_max_failures_per_window: int = brake_conf.DEFAULT_CLOUD_MAX_FAILURES_PER_WINDOW
    window: float = brake_conf.DEFAULT_WINDOW

    @classmethod
    def from_conf(cls, conf: Any) -> BrakeLimits:
        return from_group(cls, conf.brake)


@dataclasses.dataclass(frozen=True)
class Trip:
    """A threshold passed: pause ``scope`` (a segment, or None for all) with ``reason``."""

    scope: str | None
    threshold: str
    reason: str

    @property
    def by(self) -> str:
        return f"{BY}:{self.threshold}"


def segment_passed(limits: BrakeLimits, failed: int, hosts: int) -> bool:
    """More than the fraction of a segment's ``hosts`` failed, and at least the minimum."""
    return (
        hosts > 0
        and failed >= limits.segment_min_failed_hosts
        and failed > limits.segment_max_failed_fraction * hosts
    )


def cloud_passed(limits: BrakeLimits, recent: int) -> bool:
    """More failure reports within the window than allowed (0: never)."""
    return (
        limits.cloud_max_failures_per_window > 0 and recent > limits.cloud_max_failures_per_window
    )


def segment_reason(limits: BrakeLimits, segment: str, failed: int, hosts: int) -> str:
    # Mirrored by the Redis hand-out script (rhworker/store/redis/lua/brake.lua): same text.
    return (
        f"mass-failure brake: {failed} of {hosts} hosts of segment {segment} have open "
        f"failures ({100.0 * failed / hosts:.0f}% > {SEGMENT} "
        f"{100.0 * limits.segment_max_failed_fraction:.0f}%)"
    )


def cloud_reason(limits: BrakeLimits, recent: int) -> str:
    return (
        f"mass-failure brake: {recent} hosts reported failed within {limits.window:g}s "
        f"(more than {CLOUD} {limits.cloud_max_failures_per_window})"
    )


def decide(
    limits: BrakeLimits,
    *,
    segment: str | None,
    failed: int,
    hosts: int,
    recent: int,
    check_segment: bool = True,
    check_cloud: bool = True,
) -> Trip | None:
    """The trip a first hand-out causes, if any: the cloud threshold first (the wider
    scope), then the segment's. ``failed``/``hosts``: the candidate's segment, the
    candidate included; ``recent``: failure reports within the window, it included.
    ``check_*`` False: released by an operator's resume of that scope."""
    if not limits.enabled:
        return None
    if check_cloud and cloud_passed(limits, recent):
        return Trip(None, CLOUD, cloud_reason(limits, recent))
    if check_segment and segment is not None and segment_passed(limits, failed, hosts):
        return Trip(segment, SEGMENT, segment_reason(limits, segment, failed, hosts))
    return None


def is_failure_report(type_: str, payload: dict[str, Any]) -> bool:
    """What the brake counts and checks: a COMPUTE_HOST ``STOPPED`` report."""
    return type_ == "COMPUTE_HOST" and str(payload.get("event", "")).upper() == "STOPPED"


def threshold_of(pause: PauseInfo) -> str | None:
    """The threshold a pause was set by, or None for an operator's pause."""
    prefix = f"{BY}:"
    return pause.by[len(prefix) :] if pause.by.startswith(prefix) else None


def held_message(scope: str | None, reason: str) -> str:
    where = f"segment {scope}" if scope else "all segments"
    return f"held ({where} paused): {reason}; 'rhworker resume' releases it"


def step_message(trip: Trip) -> str:
    return held_message(trip.scope, trip.reason)


def held_step(pause: PauseInfo, at: float) -> Step:
    """The step an intake records when a pause holds the new notification: ``brake``
    (with the threshold) for a brake's pause, ``held`` for an operator's."""
    threshold = threshold_of(pause)
    return Step(
        at=at,
        name=STEP if threshold else "held",
        worker=pause.by,
        message=held_message(pause.segment, pause.reason or f"paused by {pause.by}"),
        detail={"threshold": threshold, "segment": pause.segment},
    )


def holding(pauses: dict[str | None, PauseInfo], segment: str | None) -> PauseInfo | None:
    """The pause that holds a notification of a host in ``segment``, if any."""
    return pauses.get(None) or (pauses.get(segment) if segment is not None else None)
