"""The real-Nova tier: Nova 34 in its own virtualenv (skipped on a laptop without it,
required under CI=true)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.conftest import require


@pytest.fixture(scope="session")
def realnova_ready() -> None:
    """Builds (once, cached) or finds the Nova virtualenv; skips/fails when it cannot."""
    from rhworker.testing.realnova import realnova_available

    reason = realnova_available()
    if reason is not None:
        require(f"real Nova unavailable: {reason}")


@pytest.fixture
def realnova(realnova_ready: None) -> Iterator[Callable[..., AbstractContextManager[Any]]]:
    """``running_realnova``, after the tier's availability was checked:
    ``with realnova(spec, **options) as cloud: ...``."""
    from rhworker.testing.realnova import running_realnova

    yield running_realnova
