"""The real-Nova test tier: Nova 34 with Placement and fake computes, on loopback.

    with running_realnova(SMALL_CLOUD) as cloud:       # a CloudUnderTest
        conn = sdk_connection(cloud)                    # openstacksdk, auth_type none
        cloud.crash_host("compute-1")
        ...

Nova runs from its own cached virtualenv (:mod:`rhworker.testing.realnova.venv`);
``realnova_available()`` says whether it can (building it on first use).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rhworker.testing.realnova.cloud import RealNovaCloud, RealNovaError
from rhworker.testing.realnova.venv import realnova_available

__all__ = ["RealNovaCloud", "RealNovaError", "realnova_available", "running_realnova"]


@contextlib.contextmanager
def running_realnova(spec: dict[str, Any], **options: Any) -> Iterator[RealNovaCloud]:
    """A started real Nova built from ``spec``, stopped on exit.

    ``options`` are :class:`RealNovaCloud`'s keyword arguments.
    """
    cloud = RealNovaCloud(spec, **options)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.close()
