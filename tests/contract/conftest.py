"""Fixtures of the store contract suite: one ``store`` per backend.

``store_url`` gives the URL (for tests that open the store in child processes);
``store`` opens it in this process. The Redis backend needs the real server of
``tests/conftest.py`` (skipped on a laptop without it, required under CI) and gets a
unique key prefix per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rhworker.store import Store, from_url

STORE_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.integration),
]


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/rhworker.db"
    redis_url = request.getfixturevalue("redis_url")
    return f"{redis_url.rstrip('/')}/0?prefix=rhwtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = from_url(store_url)
    yield opened
    opened.close()
