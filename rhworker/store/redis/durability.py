"""The durability read of a Redis server: what a crash or a failover could lose, from
its settings (docs/safety.md)."""

from __future__ import annotations

import logging
from typing import Any, cast

import redis

from rhworker.store.base import DurabilityRisk

LOG = logging.getLogger(__name__)

# Milliseconds a claim waits for a replica to acknowledge it (WAIT) when the server
# has replicas; past it the claim stands but a failover could lose it (logged).
CLAIM_WAIT_MS = 1000


def settings(client: redis.Redis, where: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The server's ``CONFIG GET *`` and ``INFO``. ``CONFIG GET`` when allowed; where
    it is disabled (managed Redis, renamed command, ACL), ``INFO`` tells whether AOF
    is on and how many replicas there are but not ``appendfsync`` nor
    ``min-replicas-to-write``: those become "unknown" risks (warned, never refused)."""
    info = cast(dict[str, Any], client.info())
    try:
        config = cast(dict[str, str], client.config_get("*"))
    except redis.exceptions.RedisError as e:
        LOG.info("redis store %s: CONFIG GET unavailable (%s); using INFO", where, e)
        config = {}
    return config, info


def wait_for_replica(client: redis.Redis, where: str, host: str) -> None:
    """WAIT until a replica has the claim on ``host``, so that a failover keeps it. Not
    a guarantee (Redis replication is asynchronous; a replica can still be promoted
    without it), hence only a warning when it does not come."""
    acked = int(cast(int, client.execute_command("WAIT", 1, CLAIM_WAIT_MS)))
    if acked < 1:
        LOG.warning(
            "redis store %s: no replica acknowledged the claim on %s within %d ms; a "
            "failover now could lose it",
            where,
            host,
            CLAIM_WAIT_MS,
        )


def durability_risks_of(
    config: dict[str, str], info: dict[str, Any], where: str
) -> list[DurabilityRisk]:
    """The risks of a server from its ``CONFIG GET *`` (may be empty) and ``INFO``."""
    risks: list[DurabilityRisk] = []
    aof = config.get("appendonly", "yes" if info.get("aof_enabled") else "no")
    if aof != "yes":
        risks.append(
            DurabilityRisk(
                f"redis store {where}: appendonly is off; a crash loses every write since "
                "the last RDB snapshot (set appendonly yes, appendfsync always)"
            )
        )
    else:
        fsync = config.get("appendfsync")
        if fsync is None:
            risks.append(
                DurabilityRisk(
                    f"redis store {where}: appendfsync unknown (CONFIG GET disabled); "
                    "with anything but 'always' a crash of the machine loses the last "
                    "acknowledged writes",
                    known=False,
                )
            )
        elif fsync != "always":
            lost = "about 1 s" if fsync == "everysec" else "up to 30 s"
            risks.append(
                DurabilityRisk(
                    f"redis store {where}: appendfsync {fsync}; a crash of the machine loses "
                    f"{lost} of acknowledged writes (claims, hand-outs, progress). Claims stay "
                    "fenced by holder and epoch, but work may be redone (appendfsync always "
                    "to avoid it)"
                )
            )
    replicas = int(info.get("connected_slaves", 0) or 0)
    if replicas:
        min_replicas = config.get("min-replicas-to-write", config.get("min-slaves-to-write"))
        if min_replicas is None:
            risks.append(
                DurabilityRisk(
                    f"redis store {where}: {replicas} replica(s), min-replicas-to-write "
                    "unknown (CONFIG GET disabled); a failover may lose acknowledged writes",
                    known=False,
                )
            )
        elif int(min_replicas) < 1:
            risks.append(
                DurabilityRisk(
                    f"redis store {where}: {replicas} replica(s) but min-replicas-to-write "
                    "0; a failover to a replica loses the writes it had not received (set "
                    "min-replicas-to-write 1; claims also WAIT for a replica)"
                )
            )
    policy = config.get("maxmemory-policy", str(info.get("maxmemory_policy", "noeviction")))
    maxmemory = config.get("maxmemory", str(info.get("maxmemory", 0)))
    if policy != "noeviction" and maxmemory not in ("0", ""):
        risks.append(
            DurabilityRisk(
                f"redis store {where}: maxmemory-policy {policy}; evicted keys lose "
                "notifications and claims (use noeviction)"
            )
        )
    return risks
