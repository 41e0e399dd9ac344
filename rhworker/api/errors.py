"""Masakari's error bodies, and rhworker's errors translated into them.

Every refusal leaves the API as Masakari's fault document::

    {"badRequest": {"code": 400, "message": "..."}}

keyed by the fault name of its status (``masakari/api/openstack/wsgi.py``, ``Fault``).
Handlers raise :class:`ApiError`; :func:`from_rhworker` is the one place where
rhworker's own errors (``rhworker.errors``) become HTTP statuses.
"""

from __future__ import annotations

from rhworker.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    RhworkerError,
    StoreUnavailable,
    ValidationError,
)

# Masakari's fault names by status; any other status is a "masakariFault".
FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
DEFAULT_FAULT = "masakariFault"


class ApiError(RhworkerError):
    """An HTTP refusal with Masakari's fault body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, dict[str, object]]:
        name = FAULT_NAMES.get(self.status, DEFAULT_FAULT)
        return {name: {"code": self.status, "message": self.message}}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def from_rhworker(error: RhworkerError) -> ApiError:
    """The status Masakari answers for the same refusal."""
    if isinstance(error, ApiError):
        return error
    message = str(error)
    if isinstance(error, ValidationError):
        return bad_request(message)
    if isinstance(error, NotFound):
        return not_found(message)
    if isinstance(error, AlreadyExists | Conflict):
        # Conflict covers InUse, DuplicateNotification and HostOnMaintenance.
        return conflict(message)
    if isinstance(error, StoreUnavailable):
        return ApiError(503, f"the store is unavailable: {message}")
    return ApiError(500, f"Unexpected API Error: {message}")
