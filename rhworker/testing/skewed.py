"""Run rhworker with a wrong clock: ``python -m rhworker.testing.skewed OFFSET ARGS...``.

Everything in the process that reads the wall clock (``time.time``: the worker's
clock, the store's default ``now``, step times) is ``OFFSET`` seconds off, as on a
machine whose clock drifted. Used by the clock-skew tests: with the Redis store,
leases, retry due times and the duplicate window must not care (they are on the
Redis server's clock). Monotonic clocks are left alone, as they are on a real machine.
"""

from __future__ import annotations

import runpy
import sys
import time


def skew(offset: float) -> None:
    """Shift ``time.time`` by ``offset`` seconds for the rest of the process; call it
    before importing the code under test (default arguments bind ``time.time``)."""
    real = time.time
    time.time = lambda: real() + offset


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m rhworker.testing.skewed OFFSET [rhworker args...]")
        return 2
    skew(float(args.pop(0)))
    # ``python -m rhworker ARGS`` in this process, as an operator starts it (the
    # front door exits with the command's code).
    sys.argv = ["rhworker", *args]
    runpy.run_module("rhworker", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
