"""``[instance_failure]`` and ``[process_failure]`` options, parsed once at the edge."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class InstanceFailureOptions:
    """``[instance_failure]``: VM notifications (Masakari's instance-failure workflow)."""

    process_all_instances: bool = False
    ha_enabled_instance_metadata_key: str = "HA_Enabled"
    ignore_instances_in_error_state: bool = False
    wait_period_after_power_off: float = 60.0
    wait_period_after_power_on: float = 60.0
    verify_interval: float = 1.0

    @classmethod
    def from_conf(cls, conf: Any) -> InstanceFailureOptions:
        group = conf.instance_failure
        return cls(
            process_all_instances=group.process_all_instances,
            ha_enabled_instance_metadata_key=group.ha_enabled_instance_metadata_key,
            ignore_instances_in_error_state=group.ignore_instances_in_error_state,
            wait_period_after_power_off=float(group.wait_period_after_power_off),
            wait_period_after_power_on=float(group.wait_period_after_power_on),
            verify_interval=group.verify_interval,
        )


@dataclasses.dataclass(frozen=True)
class ProcessFailureOptions:
    """``[process_failure]``: PROCESS notifications (Masakari's process-failure workflow)."""

    service_disable_reason: str = "Masakari detected process failed."
    wait_period_after_service_update: float = 180.0
    verify_interval: float = 1.0

    @classmethod
    def from_conf(cls, conf: Any) -> ProcessFailureOptions:
        group = conf.process_failure
        return cls(
            service_disable_reason=group.service_disable_reason,
            wait_period_after_service_update=float(group.wait_period_after_service_update),
            verify_interval=group.verify_interval,
        )
