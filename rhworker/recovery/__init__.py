"""Recovery drivers: what to do with one notification."""

from rhworker.recovery.base import (
    HostFailureOptions,
    RecoveryContext,
    RecoveryDriver,
    RecoveryResult,
    load_driver,
)

__all__ = [
    "HostFailureOptions",
    "RecoveryContext",
    "RecoveryDriver",
    "RecoveryResult",
    "load_driver",
]
