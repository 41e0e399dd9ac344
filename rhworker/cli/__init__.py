"""The ``rhworker`` command.

Every module in this package that defines ``register(subparsers)`` adds its
sub-commands; each sub-command sets ``func(args) -> int``. Configuration is parsed
here, once, with :func:`load_conf`, and passed inward as plain values. This is the
only place that calls ``sys.exit``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from oslo_config import cfg

import rhworker
from rhworker import conf as rconf
from rhworker.errors import (
    AlreadyExists,
    Conflict,
    DuplicateNotification,
    HostOnMaintenance,
    NotFound,
    PreflightFailed,
    RhworkerError,
    StoreMissing,
    ValidationError,
)
from rhworker.logs import setup_logging

EXIT_OK = 0
EXIT_ERROR = 1  # an operation failed
EXIT_USAGE = 2  # bad arguments or input (argparse uses 2 as well)
EXIT_DUPLICATE = 3  # notification refused as a duplicate
EXIT_NOT_FOUND = 4  # the named object does not exist
EXIT_CONFLICT = 5  # already exists / in another state
EXIT_NO_STORE = 6  # no store where the configuration points (nothing created)
EXIT_PREFLIGHT = 7  # preflight failed: bad configuration or a service not usable
EXIT_ON_MAINTENANCE = 8  # notification refused: its host is on maintenance

LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rhworker",
        description="Distributed host-failure recovery workers for OpenStack.",
    )
    parser.add_argument("--version", action="version", version=f"rhworker {rhworker.__version__}")
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="oslo.config file (repeatable); default: /etc/rhworker/rhworker.conf if present",
    )
    parser.add_argument(
        "--state-dir",
        help="state directory of the embedded mode (default /var/lib/rhworker as root "
        "or when writable, else $XDG_STATE_HOME/rhworker, i.e. ~/.local/state/rhworker)",
    )
    parser.add_argument("--store", dest="store_url", help="store URL (overrides [store] url)")
    parser.add_argument(
        "--coordination",
        dest="coordination_url",
        help="tooz backend URL (overrides [coordination] backend_url)",
    )
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _command_modules():
        module.register(sub)
    return parser


def _command_modules() -> list:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return modules


def load_conf(args: argparse.Namespace, *, validate: bool = True) -> cfg.ConfigOpts:
    """Parse the configuration files, then apply command-line overrides; with
    ``validate``, an option whose value does not parse is refused here, naming it
    (:func:`rhworker.preflight.validate_values`)."""
    files = list(args.config_file)
    if not files:
        import os

        if os.path.exists("/etc/rhworker/rhworker.conf"):
            files = ["/etc/rhworker/rhworker.conf"]
    conf = rconf.load(
        config_files=files,
        overrides={
            "DEFAULT": {"state_dir": getattr(args, "state_dir", None)},
            "store": {"url": getattr(args, "store_url", None)},
            "coordination": {"backend_url": getattr(args, "coordination_url", None)},
        },
    )
    if validate:
        from rhworker.preflight import validate_values

        validate_values(conf)
    return conf


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(debug=args.debug, fmt=args.log_format)
    try:
        code = args.func(args)
    except StoreMissing as e:
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_NO_STORE
    except PreflightFailed as e:
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_PREFLIGHT
    except DuplicateNotification as e:
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_DUPLICATE
    except HostOnMaintenance as e:
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_ON_MAINTENANCE
    except NotFound as e:
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_NOT_FOUND
    except (AlreadyExists, Conflict) as e:
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_CONFLICT
    except ValidationError as e:
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_USAGE
    except (RhworkerError, cfg.Error) as e:
        LOG.debug("command failed", exc_info=True)
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        code = 130
    return int(code or 0)


def run() -> None:
    sys.exit(main())
