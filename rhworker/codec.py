"""JSON of the domain types, shared by the store backends.

``to_dict(obj)`` turns any model (nested dataclasses, enums as their values) into plain
dicts/lists; ``step_from_dict`` and ``move_from_dict`` rebuild the two that the stores
keep as JSON (steps and moves). Unknown keys are ignored so that older code can read
records written by newer code.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, TypeVar

from rhworker.models import Move, MoveState, Step, StepName

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Plain JSON-able data: dataclasses → dict, enums → value, tuples → lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """Compact JSON of :func:`to_dict` (UTF-8 safe, keys sorted)."""
    return json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"))


def _known(cls: type[T], data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in data.items() if k in names}


def step_from_dict(data: dict[str, Any]) -> Step:
    fields = _known(Step, data)
    fields["detail"] = dict(fields.get("detail") or {})
    fields["name"] = step_name(fields["name"])
    return Step(**fields)


def step_name(name: str) -> str:
    """``name`` as a :class:`StepName` when this version knows it, else as it was stored."""
    try:
        return StepName(name)
    except ValueError:
        return name


def move_from_dict(data: dict[str, Any]) -> Move:
    fields = _known(Move, data)
    fields["state"] = MoveState(fields.get("state", "pending"))
    return Move(**fields)
