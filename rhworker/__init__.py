"""rhworker: distributed host-failure recovery workers for OpenStack."""

__version__ = "0.1.0"
