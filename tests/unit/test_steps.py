"""The history protocol: step names are one enum, stored as the strings they always were."""

from __future__ import annotations

import ast
import json
import pathlib
import sqlite3

from rhworker import codec
from rhworker.models import Host, NotificationType, Segment, Step, StepName
from rhworker.store import from_url

# The stored values: records written by any version carry these strings. A change here
# is a change of the protocol that status, metrics and the benchmarks read.
STORED = {
    "aggregate", "already_recovered", "capacity_split", "capacity_unknown", "claim_lost",
    "claimed", "confirmed", "control", "correlation_window", "delivered", "disabled",
    "enabled", "evacuation_in_progress", "evacuation_slow", "failed", "fallback", "fence",
    "fence_first",
    "fenced", "force_up", "full", "gate", "ignored", "instances", "inventory", "lock_busy",
    "lock_skipped", "lock_unavailable", "locked", "maintenance", "method", "next_share",
    "no_reserved_host", "re_evacuate", "reset_state", "restore_refused", "resumed",
    "spare_in_use", "spare_kept", "spare_returned", "start", "stop", "stranded",
    "stranded_reset", "too_small",
    "handoff", "handoff_timeout", "callback",
}  # fmt: skip

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "rhworker"


def test_the_stored_values_are_pinned() -> None:
    assert {m.value for m in StepName} == STORED


def test_a_member_is_its_string() -> None:
    assert StepName.GATE == "gate" and hash(StepName.GATE) == hash("gate")
    assert f"{StepName.LOCK_SKIPPED}" == str(StepName.LOCK_SKIPPED) == "lock_skipped"
    assert {"claimed": 1}[StepName.CLAIMED] == 1
    assert json.loads(codec.dumps(Step(at=1.0, name=StepName.FENCE)))["name"] == "fence"


def test_records_written_before_the_enum_still_parse() -> None:
    old = codec.step_from_dict({"at": 2.0, "name": "claimed", "worker": "w1", "detail": {}})
    assert old.name is StepName.CLAIMED
    # a name this version does not know (another driver, a newer worker) is kept as is
    other = codec.step_from_dict({"at": 3.0, "name": "evacuated"})
    assert other.name == "evacuated" and not isinstance(other.name, StepName)


def test_an_old_sqlite_row_reads_back_as_the_enum(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "rh.db"
    store = from_url(f"sqlite:///{path}")
    try:
        store.create_segment(Segment(name="s"))
        store.create_host(Host(name="c1", segment="s"))
        n = store.create_notification(NotificationType.COMPUTE_HOST, "c1", {"event": "STOPPED"})
        store.add_step(n.id, Step(at=5.0, name=StepName.CONTROL, worker="op"))
    finally:
        store.close()
    with sqlite3.connect(path) as conn:  # the row as an older rhworker wrote it
        conn.execute(
            "INSERT INTO steps (notification_id, data) VALUES (?, ?)",
            (n.id, '{"at": 6.0, "detail": {}, "message": "", "name": "gate", "worker": "w"}'),
        )
        stored = [json.loads(r[0])["name"] for r in conn.execute("SELECT data FROM steps")]
    assert stored == ["control", "gate"]
    store = from_url(f"sqlite:///{path}")
    try:
        names = [s.name for s in store.get_notification(n.id).progress.steps]
    finally:
        store.close()
    assert names == [StepName.CONTROL, StepName.GATE]


def _recorded_names(tree: ast.AST) -> list[ast.expr]:
    """First argument of every ``….step(…)`` call and ``name=`` of every ``Step(…)``."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "step" and node.args:
            found.append(node.args[0])
        if isinstance(node.func, ast.Name) and node.func.id == "Step":
            found += [k.value for k in node.keywords if k.arg == "name"]
    return found


def _compared_names(tree: ast.AST) -> list[ast.Constant]:
    """String constants that are step names, compared with some ``….name``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute):
            if node.left.attr == "name":
                found += [
                    c for c in node.comparators if isinstance(c, ast.Constant) and c.value in STORED
                ]
    return found


def test_the_package_reads_steps_only_by_their_enum() -> None:
    bare = [
        f"{path.relative_to(PACKAGE.parent)}:{c.lineno} {c.value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for c in _compared_names(ast.parse(path.read_text(), str(path)))
    ]
    assert not bare, "step names compared as bare strings: " + ", ".join(bare)


def test_the_package_records_steps_only_by_their_enum() -> None:
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for arg in _recorded_names(ast.parse(path.read_text(), str(path))):
            if isinstance(arg, ast.Constant):
                bare.append(f"{path.relative_to(PACKAGE.parent)}:{arg.lineno} {arg.value!r}")
    assert not bare, "step names written as bare strings: " + ", ".join(bare)
