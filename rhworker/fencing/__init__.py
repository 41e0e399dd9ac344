"""Fencing drivers (entry-point group ``rhworker.fencing``): nova, redfish, command."""

from rhworker.fencing.base import (
    ENTRY_POINT_GROUP,
    FenceRequest,
    FenceResult,
    FencingDriver,
    FencingOptions,
    load_fencing_driver,
    parse_control_attributes,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FenceRequest",
    "FenceResult",
    "FencingDriver",
    "FencingOptions",
    "load_fencing_driver",
    "parse_control_attributes",
]
