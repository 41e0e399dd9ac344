"""Keystone 30 runs here (SQLite, fernet tokens), and both masakari-api 22 and
``rhworker api`` run behind keystonemiddleware's auth_token against it: Masakari's real
clients log in with a password and find the instance-ha endpoint in Keystone's
catalog; a member who is not an admin is refused (Masakari's admin-only policy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rhworker.testing.masakari import openstack_cli, run_host_monitor

pytestmark = [pytest.mark.masakari, pytest.mark.integration]


@pytest.fixture(scope="module")
def keystone(keystone_ready: None) -> Iterator[Any]:
    from rhworker.testing.keystone import running_keystone

    with running_keystone() as ks:
        yield ks


def _authtoken(keystone: Any) -> dict[str, str]:
    """keystonemiddleware's [keystone_authtoken] for a service in front of ``keystone``."""
    service = keystone.service
    return {
        "www_authenticate_uri": keystone.auth_url,
        "auth_url": keystone.auth_url,
        "auth_type": "password",
        "username": service["username"],
        "password": service["password"],
        "project_name": service["project_name"],
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


@pytest.fixture(scope="module")
def masakari_keystone(masakari_ready: None, masakari_sim: Any, keystone: Any) -> Iterator[Any]:
    from rhworker.testing.masakari import running_masakari_api

    authtoken = _authtoken(keystone)
    with running_masakari_api(
        nova_auth_url=masakari_sim.identity_url,
        auth_strategy="keystone",
        keystone_authtoken=authtoken,
    ) as api:
        keystone.add_endpoint("instance-ha", "masakari", api.endpoint)
        yield api


def test_keystone_issues_and_validates_tokens(keystone: Any) -> None:
    admin = keystone.token(keystone.admin)
    user = keystone.token(keystone.user)
    answer = requests.get(
        f"{keystone.auth_url}/auth/tokens",
        headers={"X-Auth-Token": admin, "X-Subject-Token": user},
        timeout=30,
    )
    assert answer.status_code == 200
    token = answer.json()["token"]
    assert token["user"]["name"] == "demo"
    roles = {r["name"] for r in token["roles"]}
    assert "member" in roles and "admin" not in roles


def test_masakari_api_behind_auth_token(keystone: Any, masakari_keystone: Any) -> None:
    url = f"{masakari_keystone.endpoint}/segments"
    assert requests.get(url, timeout=30).status_code == 401
    bad = requests.get(url, headers={"X-Auth-Token": "not-a-token"}, timeout=30)
    assert bad.status_code == 401
    admin = requests.get(url, headers={"X-Auth-Token": keystone.token(keystone.admin)}, timeout=30)
    assert admin.status_code == 200 and "segments" in admin.json()
    # Masakari's policy: every instance-ha call is admin only.
    member = requests.get(url, headers={"X-Auth-Token": keystone.token(keystone.user)}, timeout=30)
    assert member.status_code == 403
    assert member.json()["forbidden"]["code"] == 403


def test_real_clients_log_in_through_keystone(keystone: Any, masakari_keystone: Any) -> None:
    admin = keystone.admin
    seg = openstack_cli(
        None, "segment", "create", "seg-ks", "auto", "COMPUTE", "-f", "json", auth=admin
    ).json()
    host = openstack_cli(
        None, "segment", "host", "create", "compute-1", "COMPUTE", "SSH", seg["uuid"],
        "-f", "json", auth=admin,
    ).json()  # fmt: skip
    assert host["failover_segment_id"] == seg["uuid"]
    refused = openstack_cli(None, "segment", "list", auth=keystone.user)
    assert refused.returncode != 0 and "403" in refused.stderr

    run = run_host_monitor(None, "compute-1", auth=admin)
    assert run.statuses == [202], run.stderr[-2000:]
    assert run.calls[0]["url"].startswith(masakari_keystone.endpoint)


def test_rhworker_api_behind_auth_token(keystone: Any, masakari_ready: None, tmp_path: Any) -> None:
    """The same with ``rhworker api`` (``[api] auth_strategy = keystone``): the catalog
    points at it, and the CLI and the host monitor log in as they would to Masakari."""
    from rhworker.api.process import running_api
    from rhworker.deployment import Deployment
    from rhworker.testing.sim_fixture import running_simulator

    with running_simulator() as sim:
        d = Deployment(
            sim.compute_url,
            state_dir=str(tmp_path / "state"),
            options={
                "api": {"auth_strategy": "keystone"},
                "keystone_authtoken": _authtoken(keystone),
            },
        )
        try:
            with running_api(d.conf_path, log_path=str(tmp_path / "api.log")) as url:
                _rhworker_behind_keystone(keystone, url)
        finally:
            d.close()


def _rhworker_behind_keystone(keystone: Any, url: str) -> None:
    segments = f"{url}/segments"
    assert requests.get(segments, timeout=30).status_code == 401
    user = keystone.token(keystone.user)
    member = requests.get(segments, headers={"X-Auth-Token": user}, timeout=30)
    assert member.status_code == 403 and member.json()["forbidden"]["code"] == 403
    # masakari-api holds RegionOne's instance-ha endpoint: rhworker is RegionTwo's.
    keystone.add_endpoint("instance-ha", "rhworker", url, region="RegionTwo")
    admin = {**keystone.admin, "region_name": "RegionTwo"}
    seg = openstack_cli(
        None, "segment", "create", "seg-rh", "auto", "COMPUTE", "-f", "json", auth=admin
    ).json()
    host = openstack_cli(
        None, "segment", "host", "create", "compute-1", "COMPUTE", "SSH", seg["uuid"],
        "-f", "json", auth=admin,
    ).json()  # fmt: skip
    assert host["failover_segment_id"] == seg["uuid"]
    refused = openstack_cli(
        None, "segment", "list", auth={**keystone.user, "region_name": "RegionTwo"}
    )
    assert refused.returncode != 0 and "403" in refused.stderr

    run = run_host_monitor(None, "compute-1", auth=keystone.admin, region="RegionTwo")
    assert run.statuses == [202], run.stderr[-2000:]
    assert run.calls[0]["url"].startswith(url)
