"""Real Keystone for tests: ``running_keystone()`` gives its URL and credentials.

    with running_keystone() as ks:
        ks.auth_url, ks.admin, ks.user, ks.service     # /v3, credential dicts
        token = ks.token(ks.user)

Keystone 30 runs from its own cached virtualenv (:mod:`rhworker.testing.keystone.venv`);
``keystone_available()`` says whether it can (building it on first use).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rhworker.testing.keystone.server import Credentials, KeystoneError, KeystoneServer
from rhworker.testing.keystone.venv import keystone_available

__all__ = [
    "Credentials",
    "KeystoneError",
    "KeystoneServer",
    "keystone_available",
    "running_keystone",
]


@contextlib.contextmanager
def running_keystone(**options: Any) -> Iterator[KeystoneServer]:
    """A started Keystone, stopped on exit (``options``: :class:`KeystoneServer`'s)."""
    server = KeystoneServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.close()
