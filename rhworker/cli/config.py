"""``rhworker config show``: the effective configuration."""

from __future__ import annotations

import argparse

from rhworker import conf as rconf
from rhworker.cli import load_conf


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help="show the effective configuration")
    parser.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    conf = load_conf(args)
    print(f"state_dir = {rconf.state_dir(conf)}")
    print(f"store url = {rconf.store_url(conf)}")
    print(f"coordination url = {rconf.coordination_url(conf)}")
    return 0
