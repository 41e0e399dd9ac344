"""``[instance_failure]``, ``[process_failure]`` and ``[external]`` options, parsed once at
the edge."""

from __future__ import annotations

import dataclasses
from typing import Any

from rhworker.conf.external import DEFAULT_POST_TIMEOUT, DEFAULT_WORKFLOW_TIMEOUT


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


@dataclasses.dataclass(frozen=True)
class ExternalOptions:
    """``[external]`` options, parsed once at the edge."""

    endpoint: str = ""
    api_url: str = ""
    workflow_timeout: float = DEFAULT_WORKFLOW_TIMEOUT
    post_timeout: float = DEFAULT_POST_TIMEOUT
    auth_token: str = dataclasses.field(default="", repr=False)
    verify_tls: bool = True

    @classmethod
    def from_conf(cls, conf: Any) -> ExternalOptions:
        g = conf.external
        return cls(
            endpoint=g.endpoint,
            api_url=g.api_url,
            workflow_timeout=float(g.workflow_timeout),
            post_timeout=float(g.post_timeout),
            auth_token=g.auth_token,
            verify_tls=g.verify_tls,
        )

    def callback_url(self, notification_id: str) -> str:
        return f"{self.api_url.rstrip('/')}/v1/notifications/{notification_id}"
