"""The operator's side of the mass-failure brake, through the CLI on the embedded
store: reports past the threshold are held (``status`` says why), ``resume`` releases
them and says it released the brake."""

from __future__ import annotations

import pathlib

from rhworker.brake import BrakeLimits
from rhworker.cli import EXIT_OK, main
from rhworker.models import NotificationStatus
from rhworker.store import from_url

RACK = """
segments:
  - name: rack
    recovery_method: auto
    hosts:
      - {name: r1}
      - {name: r2}
      - {name: r3}
      - {name: r4}
"""


def test_held_then_status_then_resume(tmp_path: pathlib.Path, capsys) -> None:
    def rh(*args: str) -> tuple[int, str]:
        code = main(["--state-dir", str(tmp_path), *args])
        return code, capsys.readouterr().out

    inventory = tmp_path / "inv.yaml"
    inventory.write_text(RACK)
    assert rh("inventory", "load", str(inventory))[0] == EXIT_OK
    for host in ("r1", "r2", "r3"):
        assert rh("notify", host)[0] == EXIT_OK
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    assert store.consume("w1", brake=BrakeLimits()) is None  # 3 of 4 hosts: held
    code, out = rh("status")
    assert code == EXIT_OK and "HELD segment rack by the mass-failure brake" in out, out
    assert "3 of 4 hosts of segment rack" in out and "3 held by a pause" in out
    code, out = rh("resume", "--segment", "rack", "--user", "ann")
    assert code == EXIT_OK
    assert "resumed segment rack; 3 notification(s) waiting" in out
    assert "released the mass-failure brake (mass-failure brake: 3 of 4 hosts" in out
    taken = [store.consume("w1", brake=BrakeLimits()) for _ in range(3)]
    assert all(d is not None for d in taken)
    for d in taken:
        assert d is not None
        n = store.get_notification(d.notification_id)
        assert n.status == NotificationStatus.NEW and n.attempts == 1
        names = [(s.name, s.worker) for s in n.progress.steps]
        assert names[0] == ("brake", "brake:segment_max_failed_fraction"), names
        assert ("control", "operator:ann") in names
    store.close()
