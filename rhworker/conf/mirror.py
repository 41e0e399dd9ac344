"""Dataclasses that mirror an option group, built from a parsed configuration.

Defaults live once, in the group's module (``DEFAULT_*`` constants that its ``OPTS``
declare); a mirroring dataclass takes its field defaults from those constants and is
built by :func:`from_group`, field by field from the same-named options.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def from_group(cls: type[T], group: Any, **given: Any) -> T:
    """``cls`` with every field read from the same-named option of ``group`` (a parsed
    option group), except those ``given``. A ``float`` field takes an ``IntOpt``'s
    value as a float."""
    values = dict(given)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.init and field.name not in values:
            value = getattr(group, field.name)
            values[field.name] = float(value) if field.type in ("float", float) else value
    return cls(**values)
