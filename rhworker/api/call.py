"""One API call as the handlers see it: the request, its caller, its version, the store."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from werkzeug import Request

from rhworker.api import auth
from rhworker.api.errors import ApiError, bad_request, not_found
from rhworker.api.versions import Version
from rhworker.conf.worker import DEFAULT_RETRY_INTERVAL
from rhworker.models import Host, Segment
from rhworker.store.base import Store

# Masakari's [oslo_middleware] max_request_body_size (112 KiB): larger bodies get 413.
MAX_BODY_BYTES = 114688

Reply = tuple[int, Any]


@dataclasses.dataclass
class Call:
    request: Request
    store: Store
    version: Version
    context: auth.Context
    policy: auth.Policy
    dedup_interval: float
    # After an external workflow reports ``error``: seconds before it is handed off again.
    callback_retry_delay: float = DEFAULT_RETRY_INTERVAL

    def authorize(self, rule: str) -> None:
        self.policy.authorize(rule, self.context)

    def body(self) -> Any:
        """The JSON body; 400 when it is not JSON, 413 when it is too large."""
        length = self.request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise ApiError(413, "Request is too large.")
        raw = self.request.get_data(cache=True)
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "Request is too large.")
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise bad_request("Malformed request body") from None

    def args(self) -> Any:
        return self.request.args


def find_segment(store: Store, segment_id: str) -> Segment:
    """The segment of that uuid; 404 as Masakari words it."""
    for segment in store.list_segments():
        if segment.uuid == segment_id:
            return segment
    raise not_found(f"No failover segment with id {segment_id[:64]}.")


def find_host(store: Store, segment: Segment, host_id: str) -> Host:
    """The host of that uuid in ``segment``; 404 as Masakari words it."""
    for host in store.list_hosts(segment=segment.name):
        if host.uuid == host_id:
            return host
    raise not_found(
        f"Host '{host_id[:64]}' under failover_segment '{segment.uuid}' could not be found."
    )
