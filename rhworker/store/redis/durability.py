"""The durability read of a Redis server: what a crash or a failover could lose, from
its settings (docs/safety.md)."""

from __future__ import annotations

from typing import Any

from rhworker.store.base import DurabilityRisk


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
