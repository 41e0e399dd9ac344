"""rhworker's error tree.

Every error that leaves a seam (store, coordination, compute, recovery) is a
``RhworkerError``. Backend exceptions (``redis.*``, ``sqlite3.*``, ``kazoo.*``,
``tooz.*``, ``openstack.exceptions.*``) are translated at the boundary with
``raise ... from e`` and never reach the worker loop.
"""

from __future__ import annotations


class RhworkerError(Exception):
    """Root of every error rhworker raises on purpose."""


class ConfigError(RhworkerError):
    """Configuration is invalid or inconsistent."""


class PreflightFailed(ConfigError):
    """A check run before any work failed: the message is one line naming the cause."""


class ValidationError(RhworkerError):
    """Input (a notification, an inventory item, a file) is malformed."""


# --- store ---------------------------------------------------------------------------


class StoreError(RhworkerError):
    """The store failed or refused an operation."""


class StoreUnavailable(StoreError):
    """The store backend cannot be reached (connection refused, timeout...)."""


class StoreMissing(StoreError):
    """A command that only reads found no store where the configuration points."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"no store at {where} (run `rhworker inventory load` or start a worker to create one)"
        )
        self.where = where


class NotFound(StoreError):
    """The named object does not exist."""


class AlreadyExists(StoreError):
    """An object with that name already exists."""


class Conflict(StoreError):
    """A guarded write found the object in another state than expected."""


class DuplicateNotification(Conflict):
    """The same failure was already reported within the detection interval."""

    def __init__(self, message: str, existing_id: str) -> None:
        super().__init__(message)
        self.existing_id = existing_id


class HostOnMaintenance(Conflict):
    """Intake refused a notification: its host is on maintenance (Masakari answers 409)."""


class InUse(Conflict):
    """An inventory change refused: the host (or a host of the segment) is in use to
    process a notification that has not ended, or holds the claim of one."""


class LeaseLost(Conflict):
    """The delivery's lease now belongs to someone else: stop acting on it."""


class ClaimLost(Conflict):
    """The reserved host could not be claimed, or the claim is no longer ours."""


# --- coordination ----------------------------------------------------------------------


class CoordinationError(RhworkerError):
    """The coordination backend (tooz) failed."""


class CoordinationTimeout(CoordinationError):
    """A coordination call did not finish within its deadline."""


# --- compute ---------------------------------------------------------------------------


class ComputeError(RhworkerError):
    """A Nova call failed."""


class ComputeNotFound(ComputeError):
    """Nova answered 404 (unknown server, host, service...)."""


class ComputeBadRequest(ComputeError):
    """Nova refused the request (4xx other than 404): retrying will not help."""


class ComputeTransient(ComputeError):
    """A transient failure (connection error, 5xx, 429) that outlived its retries."""


# --- recovery --------------------------------------------------------------------------


class RecoveryError(RhworkerError):
    """Recovery could not complete; the message says why."""


class DriverNotFound(RecoveryError):
    """No recovery driver is registered under that name."""


# --- fencing ---------------------------------------------------------------------------


class FencingError(RhworkerError):
    """A failed host could not be fenced (confirmed powered off): do not evacuate it."""


class FencingDriverNotFound(FencingError, ConfigError):
    """No fencing driver is registered under that name."""


class FencingTimeout(FencingError):
    """The fence did not complete within its deadline."""
