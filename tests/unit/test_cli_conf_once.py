"""Configuration is parsed once per command (issue 14, item 5): ``notify``,
``notification prune`` and ``host restore`` used to parse it a second time to open
the store."""

from __future__ import annotations

import pathlib

import pytest

from rhworker import conf as rconf
from rhworker.cli import EXIT_OK, main

INVENTORY = """
segments:
  - name: seg1
    recovery_method: auto
    hosts:
      - {name: compute-1}
"""


@pytest.mark.parametrize(
    "command",
    [
        ["notify", "compute-1"],
        ["notification", "prune"],
        ["notification", "prune", "--older-than", "1d"],
        ["host", "restore", "compute-1", "--no-wait"],
    ],
)
def test_the_command_parses_its_configuration_once(
    command: list[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    base = ["--state-dir", str(tmp_path)]
    assert main([*base, "inventory", "load", str(inventory)]) == EXIT_OK
    parsed = []
    real_load = rconf.load

    def counting_load(*args, **kwargs):
        parsed.append(args or kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(rconf, "load", counting_load)
    assert main([*base, *command]) == EXIT_OK
    assert len(parsed) == 1, parsed
