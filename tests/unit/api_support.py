"""Fixtures of the REST API unit tests (loaded with ``pytest_plugins``): an app over a
fresh SQLite store. Helpers are in :mod:`tests.unit.api_helpers`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import Client

from rhworker.api.app import ApiApp
from rhworker.store import Store, from_url


@pytest.fixture
def store(tmp_path: Any) -> Iterator[Store]:
    s = from_url(f"sqlite:///{tmp_path}/api.db")
    yield s
    s.close()


@pytest.fixture
def client(store: Store) -> Client:
    return Client(ApiApp(store, dedup_interval=180.0))
