"""Masakari's list parameters: ``sort_key``/``sort_dir``, ``limit``/``marker``.

As ``masakari/api/openstack/common.py`` and ``db/sqlalchemy/api.py`` do it: sort keys
are repeatable and must name a field of the listed item; ``created_at`` and ``id``
are appended (descending by default) so the order is total; ``limit`` is an integer
>= 0 capped at ``MAX_LIMIT``; ``marker`` is the ``id`` of the last item of the
previous page (rhworker also accepts its uuid). Sorting and paging happen here, over
the rows the store returned for the filters (the store has no sorted index).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from werkzeug.datastructures import MultiDict

from rhworker.api.errors import bad_request

# Masakari's [DEFAULT] osapi_max_limit.
MAX_LIMIT = 1000
DEFAULT_KEYS = ("created_at", "id")
DIRECTIONS = ("asc", "desc")


def _int_param(args: MultiDict[str, str], name: str) -> int | None:
    if name not in args:
        return None
    raw = args.get(name, "")
    try:
        value = int(raw.strip())
    except ValueError:
        raise bad_request(f"Invalid input received: {name} must be an integer") from None
    if value < 0:
        raise bad_request(f"Invalid input received: {name} must be >= 0")
    return value


def sort_params(args: MultiDict[str, str]) -> tuple[list[str], list[str]]:
    """Sort keys and directions, defaults added (Masakari's ``_process_sort_params``)."""
    keys = [k.strip() for k in args.getlist("sort_key")]
    dirs = [d.strip() for d in args.getlist("sort_dir")]
    for d in dirs:
        if d not in DIRECTIONS:
            raise bad_request(
                "Invalid input received: Unknown sort direction, must be 'asc' or 'desc'"
            )
    default_dir = dirs[0] if dirs else "desc"
    if len(dirs) > len(keys) and keys:
        raise bad_request("Invalid input received: Sort direction size exceeds sort key size")
    if not keys and len(dirs) > 1:
        raise bad_request("Invalid input received: Sort direction size exceeds sort key size")
    dirs = dirs[: len(keys)] + [default_dir] * (len(keys) - len(dirs[: len(keys)]))
    for key in DEFAULT_KEYS:
        if key not in keys:
            keys.append(key)
            dirs.append(default_dir)
    return keys, dirs


def _sorted(items: list[dict[str, Any]], keys: list[str], dirs: list[str]) -> list[dict[str, Any]]:
    out = list(items)
    # Stable sorts from the last key to the first; nulls first ascending (SQL's NULL).
    for key, direction in reversed(list(zip(keys, dirs, strict=True))):
        out.sort(key=_sort_key(key), reverse=direction == "desc")
    return out


def _sort_key(key: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    def of(item: dict[str, Any]) -> tuple[bool, Any]:
        value = item.get(key)
        return (value is not None, _comparable(value))

    return of


def _comparable(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return str(value)
    return value


def page(
    items: Sequence[dict[str, Any]],
    args: MultiDict[str, str],
    *,
    fields: frozenset[str],
    id_keys: tuple[str, ...] = ("id", "uuid"),
) -> list[dict[str, Any]]:
    """``items`` (views) sorted and cut as the query string asks; ``fields`` are the
    valid sort keys. 400 for a bad sort key, direction, limit, or an unknown marker."""
    keys, dirs = sort_params(args)
    for key in keys:
        if key not in fields:
            raise bad_request("Sort key supplied was not valid.")
    limit = _int_param(args, "limit")
    limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
    ordered = _sorted(list(items), keys, dirs)
    marker = args.get("marker")
    if marker is not None:
        index = _find(ordered, marker, id_keys)
        if index is None:
            raise bad_request(f"Marker {marker[:64]} could not be found.")
        ordered = ordered[index + 1 :]
    return ordered[:limit]


def _find(items: list[dict[str, Any]], marker: str, id_keys: tuple[str, ...]) -> int | None:
    for index, item in enumerate(items):
        if any(str(item.get(key)) == marker for key in id_keys):
            return index
    return None
