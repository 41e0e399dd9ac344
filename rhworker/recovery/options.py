"""``[instance_failure]``, ``[process_failure]`` and ``[external]`` options, parsed once at
the edge."""

from __future__ import annotations

import dataclasses
from typing import Any

from rhworker.conf import external
from rhworker.conf import instance_failure as instance
from rhworker.conf import process_failure as process
from rhworker.conf.mirror import from_group


@dataclasses.dataclass(frozen=True)
class InstanceFailureOptions:
    """``[instance_failure]``: VM notifications (Masakari's instance-failure workflow)."""

    process_all_instances: bool = instance.DEFAULT_PROCESS_ALL_INSTANCES
    ha_enabled_instance_metadata_key: str = instance.DEFAULT_HA_ENABLED_INSTANCE_METADATA_KEY
    ignore_instances_in_error_state: bool = instance.DEFAULT_IGNORE_INSTANCES_IN_ERROR_STATE
    wait_period_after_power_off: float = instance.DEFAULT_WAIT_PERIOD_AFTER_POWER_OFF
    wait_period_after_power_on: float = instance.DEFAULT_WAIT_PERIOD_AFTER_POWER_ON
    verify_interval: float = instance.DEFAULT_VERIFY_INTERVAL

    @classmethod
    def from_conf(cls, conf: Any) -> InstanceFailureOptions:
        return from_group(cls, conf.instance_failure)


@dataclasses.dataclass(frozen=True)
class ProcessFailureOptions:
    """``[process_failure]``: PROCESS notifications (Masakari's process-failure workflow)."""

    service_disable_reason: str = process.DEFAULT_SERVICE_DISABLE_REASON
    wait_period_after_service_update: float = process.DEFAULT_WAIT_PERIOD_AFTER_SERVICE_UPDATE
    verify_interval: float = process.DEFAULT_VERIFY_INTERVAL

    @classmethod
    def from_conf(cls, conf: Any) -> ProcessFailureOptions:
        return from_group(cls, conf.process_failure)


@dataclasses.dataclass(frozen=True)
class ExternalOptions:
    """``[external]`` options, parsed once at the edge."""

    endpoint: str = ""
    api_url: str = ""
    workflow_timeout: float = external.DEFAULT_WORKFLOW_TIMEOUT
    post_timeout: float = external.DEFAULT_POST_TIMEOUT
    auth_token: str = dataclasses.field(default="", repr=False)
    verify_tls: bool = True

    @classmethod
    def from_conf(cls, conf: Any) -> ExternalOptions:
        return from_group(cls, conf.external)

    def callback_url(self, notification_id: str) -> str:
        return f"{self.api_url.rstrip('/')}/v1/notifications/{notification_id}"
