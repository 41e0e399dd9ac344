"""The Lua scripts of the Redis store: every multi-key change that must be atomic.

The sources are ``.lua`` files in ``lua/`` beside this module (package data, read
with :mod:`importlib.resources` as dramatiq reads its broker scripts), one per script
and named after it, plus two preludes: ``common.lua`` (keys, errors, the clock, the
shared steps: tokens, release, dead letters, the status index) goes first in every
script, after the lines of :func:`names_from_python` (the group, the statuses);
``guard.lua`` (the in-use check) goes next in the guarded scripts of
:data:`rhworker.store.redis.guards.GUARDED`, ``brake.lua`` (the mass-failure brake,
:mod:`rhworker.store.redis.brake`) in ``consume``. :func:`load` joins them once per
process.

Key layout (``P`` is the deployment prefix, default ``rhworker``):

====================  ======  ===========================================================
``P:segments``        zset    segment names (score 0: listed by name)
``P:segment:NAME``    hash    name, recovery_method, enabled, service_type, description,
                              uuid, id (Masakari's identifiers; see assign_ids.lua)
``P:segment_id``      string  the last segment id handed out (``P:host_id``: hosts')
``P:seghosts:SEG``    zset    host names of a segment, score = position (ties by name)
``P:host:NAME``       hash    name, segment, type, control_attributes, reserved,
                              on_maintenance, position, claimed_by, claim_epoch, uuid, id
``P:epoch``           string  the last claim epoch handed out (see claim.lua: it only grows)
``P:notif_seq``       string  intake counter (orders notifications created at one time)
``P:notifs``          zset    member ``%012d(seq):id``, score = created_at
``P:notif:ID``        hash    scalar fields of a notification (payload as JSON), plus
                              ``entry`` (its live stream entry id, '' when none) and
                              ``dead_reason``/``dead_at``
``P:steps:ID``        list    step JSON, in order
``P:claims:ID``       list    claim JSON ``{"host":…, "epoch":…}``, in order
``P:moves:ID``        hash    instance id → move JSON
``P:moveorder:ID``    list    instance ids in creation order
``P:bystatus:STATUS`` zset    the ``P:notifs`` members of the notifications in STATUS
                              (kept by ``index_status`` in every script that writes
                              a status; ``P:bystatus`` = '1' once existing data is in)
``P:hostnotifs:HOST`` zset    ids of the notifications about HOST, score = created_at
                              (read by ``guard.lua``)
``P:dedup:SHA``       zset    ids of notifications with that (type, host, payload)
                              fingerprint, score = created_at; TTL ≈ the interval
``P:stream``          stream  one entry (field ``nid``) per pending hand-out
``P:leases``          zset    notification ids under a lease, score = lease_until
``P:delayed``         zset    notification ids waiting for a retry, score = due time
``P:dead``            list    dead-lettered notification ids, in order
``P:dropped``         list    stream entries dropped as garbage, ``"ENTRY reason"``,
                              newest first, capped at 100
``P:brake_resumed``   hash    segment ('' = all) → time of the last resume of that pause
                              (the brake does not check reports accepted before it)
====================  ======  ===========================================================

The stream has one consumer group, ``workers``; each worker is a consumer named by its
worker id. A notification has at most one live entry (``entry`` in its hash): entries
that do not match it are stale and are dropped when read. The group's name is
:data:`GROUP`, given to the scripts by :func:`load`.

Every script gets the prefix as ``ARGV[1]``. Floats are formatted in Python and passed
as strings (Lua's number formatting would round epoch times). Errors are returned as
``CODE message`` replies, turned into rhworker errors by the store.

One clock (docs/safety.md, "Claims and epochs"): every time a script compares or
stores — lease deadlines, retry due times, the duplicate window, ``updated_at`` — is
the Redis server's ``TIME``, read inside the script, never a client's ``time.time()``:
workers on machines whose clocks disagree still agree on when a lease ends. A script
takes a time argument only to let tests move time (``now=``); ``''`` means the
server's clock, which is what the store always passes in production. Scripts that read
``TIME`` before writing are fine with Redis >= 5 (effects replication).
"""

from __future__ import annotations

import functools
from importlib import resources

from rhworker.models import NotificationStatus
from rhworker.store.redis.guards import GUARDED

# Consumer group shared by every worker of a deployment.
GROUP = "workers"
# Files of lua/ that are not scripts but go before them.
PRELUDES = ("common", "guard", "brake")

_LUA = resources.files(__package__) / "lua"


def source(name: str) -> str:
    """The text of ``lua/NAME.lua``."""
    return (_LUA / f"{name}.lua").read_text(encoding="utf-8")


def names() -> list[str]:
    """The scripts of ``lua/`` (every file but the preludes), by name."""
    found = [f.name.removesuffix(".lua") for f in _LUA.iterdir() if f.name.endswith(".lua")]
    return sorted(n for n in found if n not in PRELUDES)


def names_from_python() -> str:
    """The Lua lines that name what Python owns: the group and the statuses."""
    statuses = ", ".join(f"'{s.value}'" for s in NotificationStatus)
    terminal = ", ".join(f"{s.value} = true" for s in NotificationStatus if s.terminal)
    return (
        f"local GROUP = '{GROUP}'\n"
        f"local STATUSES = {{{statuses}}}\n"
        f"local TERMINAL = {{{terminal}}}\n"
    )


@functools.cache
def load() -> dict[str, str]:
    """Every script's full source by name: the preludes, then its own file."""
    common = names_from_python() + source("common")
    scripts = {name: common + source(name) for name in names()}
    scripts["consume"] = common + source("brake") + source("consume")
    guard = source("guard")
    for name, (kind, subject, base) in GUARDED.items():
        check = f"local bad = refuse_if_in_use('{kind}', {subject})\nif bad then return bad end\n"
        scripts[name] = common + guard + check + source(base)
    return scripts
