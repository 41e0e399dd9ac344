"""Domain types shared by every seam.

Times are UTC seconds since the epoch (``float``) everywhere inside rhworker; they
are turned into ISO 8601 only for display and for the REST/CLI edge.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class RecoveryMethod(str, enum.Enum):
    AUTO = "auto"
    RESERVED_HOST = "reserved_host"
    AUTO_PRIORITY = "auto_priority"
    RH_PRIORITY = "rh_priority"


class NotificationType(str, enum.Enum):
    COMPUTE_HOST = "COMPUTE_HOST"
    VM = "VM"
    PROCESS = "PROCESS"


class NotificationStatus(str, enum.Enum):
    NEW = "new"
    RUNNING = "running"
    FINISHED = "finished"
    IGNORED = "ignored"
    ERROR = "error"  # will be retried after a back-off
    FAILED = "failed"  # gave up (max attempts, dead letter, or resolved by hand)

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {NotificationStatus.FINISHED, NotificationStatus.IGNORED, NotificationStatus.FAILED}
)


class MoveState(str, enum.Enum):
    PENDING = "pending"
    ONGOING = "ongoing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    GONE = "gone"  # the server was deleted during recovery (Nova answers 404)

    @property
    def done(self) -> bool:
        return self in (MoveState.SUCCEEDED, MoveState.SKIPPED, MoveState.GONE)


@dataclasses.dataclass
class Segment:
    name: str
    recovery_method: RecoveryMethod = RecoveryMethod.AUTO
    enabled: bool = True
    service_type: str = "COMPUTE"
    description: str = ""
    # Masakari's identifiers, set by the store at creation (API and YAML alike).
    uuid: str = dataclasses.field(default="", compare=False)
    id: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass
class Host:
    name: str  # the nova-compute service host
    segment: str
    type: str = "COMPUTE"
    control_attributes: str = ""
    reserved: bool = False
    on_maintenance: bool = False
    position: int = 0  # order within the segment; reserved hosts are tried in this order
    claimed_by: str | None = None  # notification id that consumed this reserved host
    claim_epoch: int | None = None  # fencing token of that claim
    # Masakari's identifiers, set by the store at creation (API and YAML alike).
    uuid: str = dataclasses.field(default="", compare=False)
    id: int = dataclasses.field(default=0, compare=False)


class StepName(enum.StrEnum):
    """The name of a history step: the protocol that status, metrics and benchmarks read.

    A ``StrEnum``: a member equals, hashes, prints and stores as its value, so records
    written before it existed read the same. ``Step.name`` stays a ``str``: a record may
    hold a name this version does not know (a driver shipped elsewhere, a newer worker).
    """

    # A worker's own notes on a delivery.
    DELIVERED = "delivered"  # handed to a worker (attempt N)
    FENCED = "fenced"  # the worker stopped acting: lease lost
    CONTROL = "control"  # an operator's pause, resume, cancel... (rhworker.controls)
    # Gate and fencing of a failed host.
    GATE = "gate"
    IGNORED = "ignored"
    MAINTENANCE = "maintenance"
    FENCE = "fence"
    FENCE_FIRST = "fence_first"  # forced down with correlated failures, before evacuating
    CORRELATION_WINDOW = "correlation_window"
    # Evacuation of a failed host's instances.
    INSTANCES = "instances"
    METHOD = "method"
    FALLBACK = "fallback"
    FULL = "full"
    NEXT_SHARE = "next_share"
    NO_RESERVED_HOST = "no_reserved_host"
    EVACUATION_IN_PROGRESS = "evacuation_in_progress"
    STRANDED = "stranded"  # an evacuation whose destination failed: cannot end
    STRANDED_RESET = "stranded_reset"  # ... its server reset to error, to evacuate again
    RE_EVACUATE = "re_evacuate"  # stranded servers evacuated again through the scheduler
    EVACUATION_SLOW = "evacuation_slow"  # not settled in evacuation_stall_timeout; waited
    # What came of a reserved host tried (rhworker.status reads these).
    LOCK_SKIPPED = "lock_skipped"
    LOCK_UNAVAILABLE = "lock_unavailable"  # tried on its claim alone: lock service down
    CLAIM_LOST = "claim_lost"
    CLAIMED = "claimed"
    RESUMED = "resumed"
    SPARE_IN_USE = "spare_in_use"
    TOO_SMALL = "too_small"
    CAPACITY_UNKNOWN = "capacity_unknown"
    CAPACITY_SPLIT = "capacity_split"
    SPARE_RETURNED = "spare_returned"
    SPARE_KEPT = "spare_kept"
    AGGREGATE = "aggregate"
    # Compute services (host restore, process failure, reserved host enabled).
    ENABLED = "enabled"
    DISABLED = "disabled"
    FORCE_UP = "force_up"
    RESTORE_REFUSED = "restore_refused"
    INVENTORY = "inventory"
    # Instance failure (VM notifications).
    LOCK_BUSY = "lock_busy"
    LOCKED = "locked"
    ALREADY_RECOVERED = "already_recovered"
    CONFIRMED = "confirmed"
    STOP = "stop"
    START = "start"
    RESET_STATE = "reset_state"
    FAILED = "failed"
    # The external driver's hand-off to an outside workflow (rhworker.recovery.external).
    HANDOFF = "handoff"
    HANDOFF_TIMEOUT = "handoff_timeout"
    CALLBACK = "callback"


@dataclasses.dataclass
class Step:
    """One entry of a notification's history."""

    at: float
    name: str  # a StepName when rhworker wrote it; any str read back from a record
    worker: str | None = None
    message: str = ""
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ClaimRecord:
    host: str
    epoch: int


@dataclasses.dataclass
class Progress:
    steps: list[Step] = dataclasses.field(default_factory=list)
    claims: list[ClaimRecord] = dataclasses.field(default_factory=list)
    reason: str | None = None  # last error / ignore reason, human readable


@dataclasses.dataclass
class Notification:
    id: str
    type: NotificationType
    hostname: str
    payload: dict[str, Any]
    generated_time: float
    status: NotificationStatus = NotificationStatus.NEW
    created_at: float = 0.0
    updated_at: float = 0.0
    attempts: int = 0  # deliveries handed out so far
    lease_owner: str | None = None  # worker id holding the current delivery
    lease_until: float | None = None
    lease_token: int = 0  # grows with every hand-out; fences stale writers
    next_attempt_at: float | None = None  # for status ERROR: when it comes back
    progress: Progress = dataclasses.field(default_factory=Progress)
    # Intake order, unique per store (set by the store): Masakari's integer ``id``.
    seq: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass
class Move:
    """One instance's evacuation within one notification, updated in place."""

    notification_id: str
    instance_id: str
    instance_name: str = ""
    source: str = ""
    target: str | None = None  # None: Nova's scheduler chooses
    state: MoveState = MoveState.PENDING
    started_at: float | None = None
    finished_at: float | None = None
    message: str = ""
    original_status: str | None = None  # server status before recovery (ACTIVE/SHUTOFF/ERROR)
    ha_enabled: bool = False  # HA-enabled by metadata: evacuated before the others
    # rhworker locked the server (set after the lock call, cleared before the unlock):
    # a resumed worker unlocks only what this says, never a lock its owner had set.
    locked_by_rhworker: bool = False


@dataclasses.dataclass
class Delivery:
    """One hand-out of a notification to a worker, held under a lease."""

    notification_id: str
    worker_id: str
    token: int  # == Notification.lease_token at hand-out; every write carries it
    attempts: int  # including this one
    lease_until: float
    backend_ref: str = ""  # backend-private (e.g. the Redis stream entry id)


@dataclasses.dataclass
class Claim:
    host: str
    notification_id: str
    epoch: int


@dataclasses.dataclass
class InFlight:
    notification_id: str
    hostname: str
    owner: str
    lease_until: float
    attempts: int


@dataclasses.dataclass
class DeadLetter:
    notification_id: str
    reason: str
    at: float


@dataclasses.dataclass
class QueueStats:
    depth: int  # ready to be handed out now
    delayed: int  # status error, waiting for their back-off
    in_flight: list[InFlight]
    dead_letters: list[DeadLetter]


@dataclasses.dataclass
class PauseInfo:
    """An operator's pause of automatic recovery (``rhworker pause``)."""

    segment: str | None  # None: every segment
    by: str
    reason: str
    at: float
