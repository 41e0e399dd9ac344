"""Store contract: many processes race for reserved hosts.

8 processes each take 25 deliveries and make 25 claims at once over 50 reserved
hosts: every host is claimed at most once, every claim a process was told it won is
durable (host and notification agree), and no host is claimed without a winner.
"""

from __future__ import annotations

import collections

from rhworker.store import from_url
from tests.contract.store_cases import STOPPED, claim_child, make_hosts, make_segment, run_children

PROCESSES = 8
CLAIMS_EACH = 25
SPARES = 50


def test_concurrent_claims_over_processes(store_url: str) -> None:
    setup = from_url(store_url)
    make_segment(setup, "spares")
    make_segment(setup, "computes")
    spares = [f"r{i:02d}" for i in range(SPARES)]
    make_hosts(setup, "spares", spares, reserved=True)
    failed = [f"c{i:03d}" for i in range(PROCESSES * CLAIMS_EACH)]
    make_hosts(setup, "computes", failed)
    for name in failed:
        setup.create_notification("COMPUTE_HOST", name, dict(STOPPED))

    results = run_children(
        claim_child,
        [(store_url, f"w{i}", CLAIMS_EACH, spares, i) for i in range(PROCESSES)],
    )

    handed = [r[2] for r in results if r[0] == "delivery"]
    assert len(handed) == PROCESSES * CLAIMS_EACH
    assert len(set(handed)) == len(handed), "a live delivery was handed out twice"

    claims = [r for r in results if r[0] == "claim"]
    assert len(claims) >= SPARES // 2, f"too few claims won to prove anything: {len(claims)}"
    per_host = collections.Counter(host for _, _, _, host, _ in claims)
    assert per_host and max(per_host.values()) == 1, per_host.most_common(3)
    epochs = [epoch for *_, epoch in claims]
    assert len(set(epochs)) == len(epochs)

    for _, _, nid, host, epoch in claims:  # every claim won is durable
        stored = setup.get_host(host)
        assert (stored.reserved, stored.claimed_by, stored.claim_epoch) == (False, nid, epoch)
        assert [(c.host, c.epoch) for c in setup.get_notification(nid).progress.claims] == [
            (host, epoch)
        ]
        assert setup.check_claim(host, epoch, nid)
    won = {host for *_, host, _ in claims}
    for host in setup.list_hosts(segment="spares"):  # and none is claimed without a winner
        if host.name in won:
            continue
        assert (host.reserved, host.claimed_by, host.claim_epoch) == (True, None, None)
    assert setup.reserved_left()["spares"] == SPARES - len(won)
    setup.close()
