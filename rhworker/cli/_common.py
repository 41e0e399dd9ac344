"""Helpers shared by the operator commands: opening the store, argument types, printing
(the text itself is rendered by :mod:`rhworker.text`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from oslo_config import cfg

from rhworker.cli import load_conf
from rhworker.codec import to_dict
from rhworker.store import Store
from rhworker.text import cell, format_table
from rhworker.validation import parse_bool
from rhworker.wiring import configured_store


@contextlib.contextmanager
def open_store(
    args: argparse.Namespace, *, create: bool = False, conf: cfg.ConfigOpts | None = None
) -> Iterator[Store]:
    """The configured store, closed on the way out; see :func:`configured_store`.
    ``conf``: the configuration the command has already parsed (else parsed here)."""
    store = configured_store(conf or load_conf(args), create=create)
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


def print_json(obj: Any) -> None:
    print(json.dumps(to_dict(obj), indent=2, sort_keys=False, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(format_table(headers, rows))


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``key: value`` lines, keys aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        print(f"{key + ':':<{width + 1}} {cell(value)}")
