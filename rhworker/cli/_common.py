"""Helpers shared by the operator commands: opening the store, tables, JSON, times."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import enum
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from oslo_config import cfg

from rhworker import conf as rconf
from rhworker.cli import load_conf
from rhworker.codec import to_dict
from rhworker.errors import StoreUnavailable
from rhworker.store import Store, from_url
from rhworker.validation import parse_bool


def configured_store(conf: cfg.ConfigOpts, *, create: bool) -> Store:
    """The configured store. ``create=False`` (commands that only read, or that make
    no sense on an empty store) raises :class:`~rhworker.errors.StoreMissing` when the
    SQLite file does not exist. ``create=True`` makes the state directory of the
    embedded mode when the store lives there (mode 0700; its parents only for the
    default state directory); the directory of an explicit ``[store] url`` must
    exist."""
    if create and rconf.store_is_embedded_default(conf):
        make_state_dir(conf)
    return from_url(rconf.store_url(conf), create=create)


def make_state_dir(conf: cfg.ConfigOpts) -> str:
    """Create the state directory if missing (see :func:`configured_store`)."""
    path = rconf.state_dir(conf)
    if os.path.isdir(path):
        return path
    try:
        if conf.state_dir:
            os.mkdir(path, 0o700)
        else:
            os.makedirs(path, 0o700, exist_ok=True)
    except FileExistsError:
        pass
    except OSError as e:
        raise StoreUnavailable(f"cannot create the state directory {path}: {e}") from e
    return path


@contextlib.contextmanager
def open_store(args: argparse.Namespace, *, create: bool = False) -> Iterator[Store]:
    """The configured store, closed on the way out; see :func:`configured_store`."""
    conf = load_conf(args)
    store = configured_store(conf, create=create)
    try:
        yield store
    finally:
        store.close()


def yes_no(text: str) -> bool:
    """argparse ``type=`` for ``yes|no`` (and y/n, true/false, t/f, 1/0, on/off)."""
    parsed = parse_bool(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"expected yes or no, not {text!r}")
    return parsed


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse ``type=``: an integer in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
        if value < low or (high is not None and value > high):
            allowed = f"{low}..{high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {allowed})")
        return value

    return parse


def port(text: str) -> int:
    """argparse ``type=``: a TCP port, 0 (any free port) to 65535."""
    return int_in(0, 65535)(text)


def seconds(text: str) -> float:
    """argparse ``type=``: a finite, non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is out of range (allowed: 0 or more seconds)")
    return value


def iso(epoch: float | None) -> str:
    """UTC ISO 8601 with seconds, or '-' for no time."""
    if epoch is None:
        return "-"
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def print_json(obj: Any) -> None:
    print(json.dumps(to_dict(obj), indent=2, sort_keys=False, default=str))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    text = str(value)
    return " ".join(text.split()) if text else ""


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain columns aligned with spaces; the last column is not padded."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = []
    for row in [list(headers), *cells]:
        padded = [text.ljust(widths[i]) for i, text in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(format_table(headers, rows))


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``key: value`` lines, keys aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        print(f"{key + ':':<{width + 1}} {cell(value)}")
