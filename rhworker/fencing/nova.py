"""``nova``: fence by forcing the failed host's compute service down in Nova only
(the default, and what rhworker always did). The host itself is not touched, so
this driver does not confirm power off."""

from __future__ import annotations

from collections.abc import Callable

from rhworker.compute.base import ComputeClient, Service
from rhworker.fencing.base import FenceRequest, FenceResult, FencingDriver


def force_down(
    compute: ComputeClient, hostname: str, service: Service, guard: Callable[[], None]
) -> bool:
    """Force the compute service down unless it already is; True if it was called."""
    if service.forced_down:
        return False
    guard()
    compute.force_down_service(hostname, True, service=service)
    return True


class NovaFencing(FencingDriver):
    confirms_power_off = False

    def fence(self, request: FenceRequest) -> FenceResult:
        name = request.host.name
        if request.service is None:
            return FenceResult(name, self.name, False, "Nova has no compute service")
        force_down(request.compute, name, request.service, request.guard)
        return FenceResult(
            name, self.name, False, "compute service forced down in Nova", forced_down=True
        )
