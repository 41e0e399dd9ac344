"""Giving up on a notification: when its attempts have run out, and how that reads.

One policy for the three places that give up: the worker, after a failed attempt
that was the last one it may make; and both store backends at hand-out, for a
notification whose attempts ran out without an outcome being stored (its workers
crashed or lost their leases). The SQLite store calls these functions; the Redis
store's hand-out script (``lua/consume.lua``), which must decide inside the script,
gets :data:`GAVE_UP` and :data:`NO_REASON` as arguments and makes the comparison of
:func:`exhausted` — the contract suite checks that both backends give up alike.
"""

from __future__ import annotations

# The reason of a notification given up on (%d: attempts made, %s: the last reason).
GAVE_UP = "gave up after %d attempts: %s"
# The last reason when none was recorded (e.g. every attempt ended in a crash).
NO_REASON = "no reason recorded"


def exhausted(attempts: int, max_attempts: int) -> bool:
    """Whether a notification that has had ``attempts`` attempts may have no other."""
    return attempts >= max_attempts


def gave_up_reason(attempts: int, last_reason: str | None) -> str:
    """The reason stored (and dead-lettered) when giving up after ``attempts``."""
    return GAVE_UP % (attempts, last_reason or NO_REASON)
