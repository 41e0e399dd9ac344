"""The compute seam: the Nova operations recovery needs."""

from rhworker.compute.base import Aggregate, ComputeClient, Server, Service

__all__ = ["Aggregate", "ComputeClient", "Server", "Service"]
