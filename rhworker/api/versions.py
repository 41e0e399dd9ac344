"""Masakari's API versions: the documents at ``/`` and ``/v1``, and microversions.

A request names its microversion in ``OpenStack-API-Version: instance-ha X.Y`` (or
the legacy ``X-OpenStack-Instance-HA-API-Version: X.Y``); none means 1.0, ``latest``
the newest. As Masakari (``masakari/api/api_version_request.py``): a malformed one
is refused with 400, one outside 1.0–1.3 with 406.

History (Masakari's): 1.1 adds a notification's ``recovery_workflow_details``; 1.2
a segment's ``enabled``; 1.3 the vmoves of a notification.
"""

from __future__ import annotations

import re
from typing import Any

from rhworker.api.errors import ApiError

SERVICE_TYPE = "instance-ha"
HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Instance-HA-API-Version"
MIN_VERSION = (1, 0)
MAX_VERSION = (1, 3)
# Masakari's pattern: no leading zeros in the major number, minor 0 or no leading zero.
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
# The date Masakari's v1.0 document carries.
UPDATED = "2016-07-01T11:33:21Z"
MEDIA_TYPES = [
    {"base": "application/json", "type": "application/vnd.openstack.masakari+json;version=1"}
]

Version = tuple[int, int]


def text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _asked(header: str, legacy: str | None) -> str | None:
    """The version the request names for ``instance-ha``, or None."""
    for value in header.split(","):
        words = value.strip().split()
        if len(words) == 2 and words[0].lower() == SERVICE_TYPE:
            return words[1]
    return legacy.strip() if legacy else None


def negotiate(header: str, legacy: str | None = None) -> Version:
    """The microversion of a request from its ``OpenStack-API-Version`` values (joined
    with commas) and legacy header; ``ApiError`` 400 (malformed) or 406 (unsupported)."""
    asked = _asked(header, legacy)
    if asked is None:
        return MIN_VERSION
    if asked.lower() == "latest":
        return MAX_VERSION
    match = _VERSION_RE.match(asked)
    if not match:
        raise ApiError(
            400,
            f"API Version String {asked[:64]} is of invalid format. Must be of format "
            "MajorNum.MinorNum.",
        )
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ApiError(
            406,
            f"Version {text(version)} is not supported by the API. Minimum is "
            f"{text(MIN_VERSION)} and maximum is {text(MAX_VERSION)}.",
        )
    return version


def _v1(base: str) -> dict[str, Any]:
    return {
        "id": "v1.0",
        "status": "CURRENT",
        "version": text(MAX_VERSION),
        "min_version": text(MIN_VERSION),
        "updated": UPDATED,
    }


def versions_document(base: str) -> dict[str, Any]:
    """``GET /``: every API version (one), with a link to it."""
    entry = _v1(base)
    entry["links"] = [{"rel": "self", "href": f"{base}/v1/"}]
    return {"versions": [entry]}


def version_document(base: str) -> dict[str, Any]:
    """``GET /v1``: the v1 document, as Masakari's ``versionsV1`` shows it."""
    entry = _v1(base)
    entry["links"] = [
        {"rel": "self", "href": f"{base}/v1/"},
        {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
    ]
    entry["media-types"] = MEDIA_TYPES
    return {"version": entry}
