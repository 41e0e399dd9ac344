"""The mass-failure brake in the Redis store's hand-out (see :mod:`rhworker.brake`).

``lua/brake.lua`` is a prelude of the hand-out script (``consume.lua``): counting,
deciding, pausing and writing the history steps run in the same script as the
hand-out, so no other hand-out can slip in between. It mirrors
:func:`rhworker.brake.decide` and its texts (the contract tests compare them).

Keys: ``P:brake_resumed`` hash segment ('' = all) → time of the operator's last resume
of that scope (``set_pause.lua``); reports accepted before it are not checked again.
"""

from __future__ import annotations

import json

from rhworker.brake import BrakeLimits, held_step, holding
from rhworker.models import Notification
from rhworker.store.base import Store


def brake_arg(limits: BrakeLimits | None) -> str:
    """The hand-out script's brake argument: the limits, or '' when the brake is off."""
    if limits is None or not limits.enabled:
        return ""
    return json.dumps(
        {
            "fraction": limits.segment_max_failed_fraction,
            "min_failed": limits.segment_min_failed_hosts,
            "cloud": limits.cloud_max_failures_per_window,
            "window": limits.window,
        }
    )


def note_if_held(store: Store, n: Notification) -> None:
    """At intake, when a pause holds the new notification, say so in its history.
    Right after the intake script, not in it: a brake trip in between also writes its
    step into the new notification (then it is said twice)."""
    pauses = store.pauses()
    if not pauses:
        return
    segment = None if None in pauses else store.get_host(n.hostname).segment
    pause = holding(pauses, segment)
    if pause is not None:
        store.add_step(n.id, held_step(pause, n.created_at))
