"""What rhworker's API answers differently from masakari-api 22, on purpose."""

from __future__ import annotations

from rhworker.testing.masakari.compare import Difference

EXPECTED_STATUS: dict[str, int] = {}
DIFFERENCES: list[Difference] = []
