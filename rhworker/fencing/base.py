"""The fencing seam: make sure a failed host is really down before its instances
are rebuilt elsewhere.

A driver is loaded by name from the ``rhworker.fencing`` entry-point group
(``[fencing] driver``). :meth:`FencingDriver.fence` either returns a
:class:`FenceResult` or raises a :class:`~rhworker.errors.FencingError`; the
host-failure driver never evacuates after a failed fence. Drivers whose
``confirms_power_off`` is true guarantee that a returned result means the host is
powered off (so ``host_status`` UNKNOWN may be recovered, see
``[fencing] recover_unknown_host_status``).
"""

from __future__ import annotations

import abc
import dataclasses
import json
import shlex
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, Any

from rhworker.conf import fencing as fencing_conf
from rhworker.conf.mirror import from_group
from rhworker.errors import FencingDriverNotFound, FencingError

if TYPE_CHECKING:
    from rhworker.compute.base import ComputeClient, Service
    from rhworker.models import Host

ENTRY_POINT_GROUP = "rhworker.fencing"


@dataclasses.dataclass(frozen=True)
class FencingOptions:
    """``[fencing]`` options, parsed once at the edge."""

    driver: str = fencing_conf.DEFAULT_DRIVER
    timeout: float = fencing_conf.DEFAULT_TIMEOUT
    poll_interval: float = fencing_conf.DEFAULT_POLL_INTERVAL
    recover_unknown_host_status: bool = fencing_conf.DEFAULT_RECOVER_UNKNOWN_HOST_STATUS
    command: str = fencing_conf.DEFAULT_COMMAND
    redfish_url: str = fencing_conf.DEFAULT_REDFISH_URL
    redfish_username: str = fencing_conf.DEFAULT_REDFISH_USERNAME
    redfish_password: str = dataclasses.field(
        default=fencing_conf.DEFAULT_REDFISH_PASSWORD, repr=False
    )
    redfish_verify_tls: bool = fencing_conf.DEFAULT_REDFISH_VERIFY_TLS

    @classmethod
    def from_conf(cls, conf: Any) -> FencingOptions:
        return from_group(cls, conf.fencing)


@dataclasses.dataclass(frozen=True)
class FenceResult:
    """A successful fence. ``powered_off``: the driver confirmed the host is off;
    ``forced_down``: it already forced the compute service down in Nova."""

    host: str
    driver: str
    powered_off: bool
    message: str
    forced_down: bool = False


@dataclasses.dataclass
class FenceRequest:
    """What a driver may use to fence one host.

    ``guard`` raises when the delivery's lease is no longer ours: call it before
    every action and between polls. ``sleep`` and ``monotonic`` are injectable.
    """

    host: Host
    compute: ComputeClient
    service: Service | None  # Nova's compute service on the host (None: Nova has none)
    guard: Callable[[], None]
    sleep: Callable[[float], None]
    monotonic: Callable[[], float]


class FencingDriver(abc.ABC):
    """One instance serves every notification of a worker, possibly concurrently."""

    #: The name it is registered under (set by :func:`load_fencing_driver`).
    name: str = ""
    #: A returned :class:`FenceResult` means the host is confirmed powered off.
    confirms_power_off: bool = False

    def __init__(self, options: FencingOptions) -> None:
        self.options = options

    def check(self) -> None:
        """Raise :class:`~rhworker.errors.ConfigError` if the configuration cannot
        work (run by the preflight, before any notification is taken). The
        default accepts any configuration."""
        return None

    @abc.abstractmethod
    def fence(self, request: FenceRequest) -> FenceResult:
        """Fence ``request.host``; raise a :class:`FencingError` when it cannot be
        confirmed. Must be idempotent (a retried notification fences again) and
        bounded by ``options.timeout``."""


def parse_control_attributes(text: str) -> dict[str, str]:
    """A host's free-form ``control_attributes`` as a mapping.

    Two forms are read: a JSON object (``{"redfish_url": "https://...", ...}``) or
    ``key=value`` pairs separated by spaces, commas or semicolons, values quoted
    like a shell line when they hold spaces (``redfish_url=https://10.0.0.5
    system_id=1 username=admin password='s3 cret'``). Anything else is an error.
    """
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise FencingError(f"control_attributes is not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise FencingError("control_attributes JSON is not an object")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace += ",;"
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as e:
        raise FencingError(f"control_attributes cannot be parsed: {e}") from e
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise FencingError(
                f"control_attributes item {token!r} is not key=value (or use a JSON object)"
            )
        out[key.strip()] = value
    return out


def load_fencing_driver(name: str, options: FencingOptions) -> FencingDriver:
    """Instantiate the driver registered as ``name`` in ``rhworker.fencing``."""
    entries = metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry in entries:
        if entry.name == name:
            cls = entry.load()
            if not (isinstance(cls, type) and issubclass(cls, FencingDriver)):
                raise FencingDriverNotFound(f"{name!r} ({entry.value}) is not a FencingDriver")
            driver = cls(options)
            driver.name = name
            return driver
    known = sorted({e.name for e in entries})
    raise FencingDriverNotFound(
        f"no fencing driver named {name!r} (known: {', '.join(known) or 'none'})"
    )


def check_fencing(options: FencingOptions) -> str:
    """The preflight's view of ``[fencing]``: the driver loads and accepts its options."""
    driver = load_fencing_driver(options.driver, options)
    driver.check()
    off = "confirms power off" if driver.confirms_power_off else "Nova force-down only"
    return f"fencing {options.driver} ({off})"
