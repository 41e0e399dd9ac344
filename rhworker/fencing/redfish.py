"""``redfish``: power the failed host off through its BMC and confirm it is off.

ComputerSystem.Reset with ``ForceOff`` (skipped when the system already reports
Off), then PowerState is polled until ``Off``, all within ``[fencing] timeout``.
Uses ``sushy`` (OpenStack's Redfish library; ``pip install rhworker[redfish]``).

Where the BMC is, per host, from its ``control_attributes`` (a JSON object or
``key=value`` pairs, see :func:`~rhworker.fencing.base.parse_control_attributes`):

- ``redfish_url``: the BMC's base URL (``https://10.0.0.5``); default
  ``[fencing] redfish_url`` with ``{host}`` replaced by the host's name;
- ``system_id``: the ComputerSystem, as an id (``1``) or a path
  (``/redfish/v1/Systems/1``); default: the BMC's only system;
- ``username`` / ``password``: default ``[fencing] redfish_username`` /
  ``redfish_password``;
- ``verify_tls``: ``true``/``false``; default ``[fencing] redfish_verify_tls``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rhworker.errors import ConfigError, FencingError, FencingTimeout
from rhworker.fencing.base import (
    FenceRequest,
    FenceResult,
    FencingDriver,
    parse_control_attributes,
)
from rhworker.validation import parse_bool

ROOT = "/redfish/v1/"


@dataclasses.dataclass(frozen=True)
class Bmc:
    url: str
    system_id: str | None
    username: str
    verify_tls: bool
    password: str = dataclasses.field(repr=False, default="")

    @property
    def system_path(self) -> str | None:
        if not self.system_id:
            return None
        if self.system_id.startswith("/"):
            return self.system_id
        return f"{ROOT}Systems/{self.system_id}"


class RedfishFencing(FencingDriver):
    confirms_power_off = True

    def check(self) -> None:
        try:
            import sushy  # noqa: F401
        except ImportError as e:
            raise ConfigError(
                "[fencing] driver = redfish needs sushy: pip install 'rhworker[redfish]'"
            ) from e

    def bmc(self, hostname: str, control_attributes: str) -> Bmc:
        attrs = parse_control_attributes(control_attributes)
        opts = self.options
        url = attrs.get("redfish_url") or opts.redfish_url.replace("{host}", hostname)
        if not url:
            raise FencingError(
                f"no BMC address for {hostname}: set redfish_url in its control_attributes "
                "or [fencing] redfish_url"
            )
        verify = attrs.get("verify_tls")
        return Bmc(
            url=url.rstrip("/"),
            system_id=attrs.get("system_id") or None,
            username=attrs.get("username") or opts.redfish_username,
            verify_tls=opts.redfish_verify_tls if verify is None else parse_bool(verify) is True,
            password=attrs.get("password") or opts.redfish_password,
        )

    def fence(self, request: FenceRequest) -> FenceResult:
        try:
            import sushy
            from sushy import exceptions as sushy_exc
        except ImportError as e:
            raise FencingError(
                f"the redfish fencing driver needs sushy (pip install 'rhworker[redfish]'): {e}"
            ) from e
        host = request.host
        bmc = self.bmc(host.name, host.control_attributes)
        deadline = request.monotonic() + self.options.timeout
        where = f"BMC {bmc.url}" + (f" system {bmc.system_id}" if bmc.system_id else "")
        try:
            system = self._system(sushy, bmc)
            request.guard()
            was = system.power_state
            if was != sushy.POWER_STATE_OFF:
                request.guard()
                system.reset_system(sushy.RESET_FORCE_OFF)
            while system.power_state != sushy.POWER_STATE_OFF:
                if request.monotonic() >= deadline:
                    raise FencingTimeout(
                        f"{where}: power state still {_state(system.power_state)} "
                        f"{self.options.timeout:g} s after ForceOff"
                    )
                request.sleep(self.options.poll_interval)
                request.guard()
                system.refresh()
        except sushy_exc.AccessError as e:
            raise FencingError(f"{where} refused the credentials: {_short(e)}") from e
        except sushy_exc.SushyError as e:
            raise FencingError(f"{where}: {type(e).__name__}: {_short(e)}") from e
        except (ConfigError, ValueError) as e:
            raise FencingError(f"{where}: {e}") from e
        verb = "was already off" if was == sushy.POWER_STATE_OFF else "ForceOff, now Off"
        return FenceResult(host.name, self.name, True, f"{where}: {verb}")

    def _system(self, sushy: Any, bmc: Bmc) -> Any:
        timeout = max(1.0, min(self.options.timeout, 30.0))
        conn = sushy.Sushy(
            bmc.url,
            verify=bmc.verify_tls,
            auth=sushy.auth.BasicAuth(bmc.username, bmc.password),
            server_side_retries=1,
            server_side_retries_delay=1,
            read_timeout=timeout,
            connect_timeout=timeout,
        )
        return conn.get_system(bmc.system_path)


def _state(state: Any) -> str:
    return str(getattr(state, "value", state))


def _short(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 300 else text[:300] + "…"
