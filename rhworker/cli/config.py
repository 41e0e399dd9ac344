"""``rhworker config show``: the effective configuration."""

from __future__ import annotations

import argparse

from rhworker import conf as rconf
from rhworker.cli import load_conf
from rhworker.masking import mask_url


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help="show the effective configuration")
    parser.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    conf = load_conf(args)
    print(f"state_dir = {rconf.state_dir(conf)}")
    print(f"store url = {mask_url(rconf.store_url(conf))}")
    print(f"coordination url = {mask_url(rconf.coordination_url(conf))}")
    return 0
