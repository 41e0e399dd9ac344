"""Child process for the coordination contract tests.

``python -m tests.contract.coord_child hold URL GROUP PREFIX HOST`` joins GROUP,
takes the lock of HOST, prints ``READY <member id>`` and sleeps until killed.

``python -m tests.contract.coord_child race URL PREFIX MARKDIR ITERATIONS SEED``
prints ``READY``, waits for a line on stdin, then races for 20 host locks. While it
holds a host it owns the marker file MARKDIR/<host> (created with O_EXCL): finding
it already there means two processes held the same lock at once. Prints a JSON
summary on its last line.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

from rhworker.coordination import Coordinator, new_member_id

HOSTS = [f"host-{i:02d}" for i in range(20)]


def hold(url: str, group: str, prefix: str, host: str) -> int:
    coordinator = Coordinator(url, new_member_id(), group=group, lock_prefix=prefix)
    coordinator.start()
    coordinator.join({"role": "child", "pid": os.getpid()})
    if coordinator.try_lock(host) is None:
        print("BUSY", flush=True)
        return 1
    print(f"READY {coordinator.member_id}", flush=True)
    while True:
        time.sleep(60)


def race(url: str, prefix: str, markdir: str, iterations: int, seed: int) -> int:
    rng = random.Random(seed)
    stats = {"acquired": 0, "busy": 0, "violations": 0}
    with Coordinator(url, new_member_id(), lock_prefix=prefix) as coordinator:
        print("READY", flush=True)
        sys.stdin.readline()
        for _ in range(iterations):
            host = rng.choice(HOSTS)
            lock = coordinator.try_lock(host)
            if lock is None:
                stats["busy"] += 1
                continue
            stats["acquired"] += 1
            marker = os.path.join(markdir, host)
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                stats["violations"] += 1
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                time.sleep(rng.uniform(0, 0.005))
                os.unlink(marker)
            coordinator.release(lock)
    print(json.dumps(stats), flush=True)
    return 0


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
    if mode == "hold":
        return hold(*args)
    if mode == "race":
        return race(args[0], args[1], args[2], int(args[3]), int(args[4]))
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
