"""Option dataclasses take their defaults from conf/ and are built from it field by field."""

from __future__ import annotations

import dataclasses

import pytest

from rhworker import conf as rconf
from rhworker.conf.mirror import from_group
from rhworker.fencing.base import FencingOptions
from rhworker.recovery.base import HostFailureOptions
from rhworker.recovery.options import InstanceFailureOptions, ProcessFailureOptions
from rhworker.supervisor import RestartPolicy
from rhworker.worker import WorkerOptions

MIRRORS = [
    (WorkerOptions, "worker"),
    (HostFailureOptions, "host_failure"),
    (FencingOptions, "fencing"),
    (InstanceFailureOptions, "instance_failure"),
    (ProcessFailureOptions, "process_failure"),
    (RestartPolicy, "pool"),
]
# Fields whose default is deliberately not the option's (see the dataclass).
NOT_THE_OPTION_DEFAULT = {(HostFailureOptions, "correlation_window")}


@pytest.mark.parametrize(("cls", "group"), MIRRORS, ids=[g for _, g in MIRRORS])
def test_defaults_are_the_options_defaults(cls: type, group: str) -> None:
    options = {o.name for o in getattr(rconf, group).OPTS}
    built, bare = cls.from_conf(rconf.load()), cls()
    compared = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name in options and (cls, f.name) not in NOT_THE_OPTION_DEFAULT
    ]
    assert compared
    for name in compared:
        assert getattr(bare, name) == getattr(built, name), name


def test_built_from_the_parsed_values_with_floats_as_floats() -> None:
    conf = rconf.load(
        overrides={
            "worker": {"lease_timeout": 7.5, "concurrency": 2},
            "store": {"history_retention": "1h"},
            "host_failure": {"wait_period_after_evacuation": 12, "correlation_window": 2.0},
            "process_failure": {"wait_period_after_service_update": 9},
        }
    )
    worker = WorkerOptions.from_conf(conf)
    assert (worker.lease_timeout, worker.concurrency, worker.history_retention) == (7.5, 2, 3600.0)
    host = HostFailureOptions.from_conf(conf)
    assert host.wait_period_after_evacuation == 12.0
    assert isinstance(host.wait_period_after_evacuation, float)
    assert host.correlation_window == 2.0 and host.fencing == FencingOptions()
    process = ProcessFailureOptions.from_conf(conf)
    assert isinstance(process.wait_period_after_service_update, float)
    # what the caller gives is taken as given, not read from the group
    assert from_group(RestartPolicy, conf.pool, max_quick_failures=1).max_quick_failures == 1
