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
import os
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
from rhworker.logs import setup_from_conf, setup_logging
from rhworker.masking import mask_text

EXIT_OK = 0
EXIT_ERROR = 1  # an operation failed
EXIT_USAGE = 2  # bad arguments or input (argparse uses 2 as well)
EXIT_DUPLICATE = 3  # notification refused as a duplicate
EXIT_NOT_FOUND = 4  # the named object does not exist
EXIT_CONFLICT = 5  # already exists / in another state
EXIT_NO_STORE = 6  # no store where the configuration points (nothing created)
EXIT_PREFLIGHT = 7  # preflight failed: bad configuration or a service not usable
EXIT_ON_MAINTENANCE = 8  # notification refused: its host is on maintenance
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_PIPE_CLOSED = 141  # the reader of our output went away (128 + SIGPIPE), e.g. `| head`

# The table printed by ``rhworker --help`` (the README has the same one).
EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK:<4} success (demo/verify: the invariants hold)
  {EXIT_ERROR:<4} the operation failed (store, locks, Nova, configuration; demo/verify:
       an invariant is violated or work did not end in time; pool: a worker kept
       failing at start and the pool gave up)
  {EXIT_USAGE:<4} bad arguments or invalid input (argparse uses 2 as well)
  {EXIT_DUPLICATE:<4} notify: refused as a duplicate of a recent notification
  {EXIT_NOT_FOUND:<4} the named object (segment, host, notification) does not exist
  {EXIT_CONFLICT:<4} already exists, or in a state that does not allow it
  {EXIT_NO_STORE:<4} no store where the configuration points (a read-only command creates none)
  {EXIT_PREFLIGHT:<4} preflight failed (check, worker, pool): bad configuration, or the store,
       locks or Nova not usable
  {EXIT_ON_MAINTENANCE:<4} notify: refused, the host is on maintenance
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C)
  {EXIT_PIPE_CLOSED:<4} the output was closed early (e.g. piped into head); nothing else is wrong
"""

LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rhworker",
        description="Distributed host-failure recovery workers for OpenStack.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    setup_from_conf(
        conf, debug=getattr(args, "debug", False), fmt=getattr(args, "log_format", "text")
    )
    return conf


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(debug=args.debug, fmt=args.log_format)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        return _pipe_closed()
    except StoreMissing as e:
        code = _error(e, EXIT_NO_STORE)
    except PreflightFailed as e:
        code = _error(e, EXIT_PREFLIGHT)
    except DuplicateNotification as e:
        code = _error(e, EXIT_DUPLICATE)
    except HostOnMaintenance as e:
        code = _error(e, EXIT_ON_MAINTENANCE)
    except NotFound as e:
        code = _error(e, EXIT_NOT_FOUND)
    except (AlreadyExists, Conflict) as e:
        code = _error(e, EXIT_CONFLICT)
    except ValidationError as e:
        code = _error(e, EXIT_USAGE)
    except (RhworkerError, cfg.Error) as e:
        LOG.debug("command failed", exc_info=True)
        code = _error(e, EXIT_ERROR)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    return int(code or 0)


def _error(error: BaseException, code: int) -> int:
    """One line on stderr, credentials in any URL it names masked."""
    print(f"error: {mask_text(str(error))}", file=sys.stderr)
    return code


def _pipe_closed() -> int:
    """The reader went away (``| head``): end quietly. As the Python documentation
    advises, point stdout at devnull so the interpreter's final flush cannot raise."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests capture it)
        pass
    return EXIT_PIPE_CLOSED


def run() -> None:
    # Files rhworker creates (SQLite database, lock files, logs) are for its own user.
    os.umask(0o077)
    code: int | str | None
    try:
        try:
            code = main()
        except SystemExit as e:  # argparse: --help, --version, usage errors
            code = e.code
        sys.stdout.flush()
    except BrokenPipeError:
        code = _pipe_closed()
    sys.exit(code)
