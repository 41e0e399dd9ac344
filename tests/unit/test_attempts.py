"""The give-up policy (rhworker.store.attempts): when, and how it reads."""

from __future__ import annotations

from rhworker.store.attempts import GAVE_UP, NO_REASON, exhausted, gave_up_reason


def test_exhausted_once_the_attempts_made_reach_the_maximum() -> None:
    assert [exhausted(made, 3) for made in (0, 1, 2, 3, 4)] == [False, False, False, True, True]


def test_the_reason_names_the_attempts_and_the_last_reason() -> None:
    assert gave_up_reason(3, "nova unreachable") == "gave up after 3 attempts: nova unreachable"
    assert (
        gave_up_reason(2, None) == gave_up_reason(2, "") == f"gave up after 2 attempts: {NO_REASON}"
    )
    # the Redis hand-out script formats GAVE_UP with string.format: only %d and %s
    assert GAVE_UP.count("%") == 2 and "%d" in GAVE_UP and "%s" in GAVE_UP
