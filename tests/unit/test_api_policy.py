"""Policy: Masakari's rule names, admin only by default; contexts from headers."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from rhworker.api import auth
from rhworker.api.app import ApiApp
from rhworker.api.errors import ApiError
from rhworker.store import Store
from tests.unit.api_helpers import MEMBER, fault, notification_body

pytest_plugins = ["tests.unit.api_support"]  # the store and client fixtures

SEG = "00000000-0000-0000-0000-00000000000a"
HOST = "00000000-0000-0000-0000-00000000000b"
NOTE = "00000000-0000-0000-0000-00000000000c"
ROUTES = [
    ("get", "/v1/segments", "os_masakari_api:segments:index"),
    ("post", "/v1/segments", "os_masakari_api:segments:create"),
    ("get", f"/v1/segments/{SEG}", "os_masakari_api:segments:detail"),
    ("put", f"/v1/segments/{SEG}", "os_masakari_api:segments:update"),
    ("delete", f"/v1/segments/{SEG}", "os_masakari_api:segments:delete"),
    ("get", f"/v1/segments/{SEG}/hosts", "os_masakari_api:os-hosts:index"),
    ("post", f"/v1/segments/{SEG}/hosts", "os_masakari_api:os-hosts:create"),
    ("get", f"/v1/segments/{SEG}/hosts/{HOST}", "os_masakari_api:os-hosts:detail"),
    ("put", f"/v1/segments/{SEG}/hosts/{HOST}", "os_masakari_api:os-hosts:update"),
    ("delete", f"/v1/segments/{SEG}/hosts/{HOST}", "os_masakari_api:os-hosts:delete"),
    ("get", "/v1/notifications", "os_masakari_api:notifications:index"),
    ("post", "/v1/notifications", "os_masakari_api:notifications:create"),
    ("get", f"/v1/notifications/{NOTE}", "os_masakari_api:notifications:detail"),
    ("get", f"/v1/notifications/{NOTE}/vmoves", "os_masakari_api:vmoves:index"),
    ("get", f"/v1/notifications/{NOTE}/vmoves/{HOST}", "os_masakari_api:vmoves:detail"),
]
# Valid bodies, so that the policy (judged after the schema, as Masakari) is reached.
BODIES = {
    "/v1/segments": {"segment": {"name": "s", "recovery_method": "auto", "service_type": "C"}},
    f"/v1/segments/{SEG}": {"segment": {"description": "d"}},
    f"/v1/segments/{SEG}/hosts": {"host": {"name": "h", "type": "C", "control_attributes": ""}},
    f"/v1/segments/{SEG}/hosts/{HOST}": {"host": {"reserved": True}},
    "/v1/notifications": notification_body("h"),
}


@pytest.mark.parametrize(("method", "path", "rule"), ROUTES)
def test_member_is_refused_everywhere(
    client: Client, store: Store, method: str, path: str, rule: str
) -> None:
    body = BODIES.get(path) if method in ("post", "put") else None
    r = getattr(client, method)(path, json=body, headers=MEMBER)
    assert fault(r, 403) == f"Policy doesn't allow {rule} to be performed."
    assert r.get_json().keys() == {"forbidden"}
    assert store.list_segments() == [] and store.list_notifications() == []


def test_versions_are_public_to_members(client: Client) -> None:
    assert client.get("/", headers=MEMBER).status_code == 200
    assert client.get("/v1", headers=MEMBER).status_code == 200


def test_admin_role_is_admin_whatever_the_user(client: Client) -> None:
    headers = {"X-Roles": "reader,admin", "X-User-Id": "u9", "X-Project-Id": "p9"}
    assert client.get("/v1/segments", headers=headers).status_code == 200


def test_schema_errors_come_before_policy(client: Client) -> None:
    assert fault(client.post("/v1/segments", json={}, headers=MEMBER), 400)


def test_policy_file_overrides_a_default(tmp_path, store: Store) -> None:  # type: ignore[no-untyped-def]
    from oslo_config import cfg

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"os_masakari_api:segments:index": "role:member"\n')
    conf_file = tmp_path / "rhworker.conf"
    conf_file.write_text(f"[oslo_policy]\npolicy_file = {policy_file}\n")
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[str(conf_file)])
    c = Client(ApiApp(store, policy=auth.Policy(conf)))
    assert c.get("/v1/segments", headers=MEMBER).status_code == 200
    assert fault(c.post("/v1/segments", json=BODIES["/v1/segments"], headers=MEMBER), 403)


def test_keystone_context_needs_a_confirmed_identity() -> None:
    policy = auth.Policy()
    with pytest.raises(ApiError) as e:
        auth.keystone_context({"HTTP_X_IDENTITY_STATUS": "Invalid"}, policy)
    assert e.value.status == 401
    with pytest.raises(ApiError):
        auth.keystone_context({}, policy)
    ctx = auth.keystone_context(
        {"HTTP_X_USER_ID": "u", "HTTP_X_PROJECT_ID": "p", "HTTP_X_ROLES": "member"}, policy
    )
    assert (ctx.user_id, ctx.project_id, ctx.roles, ctx.is_admin) == ("u", "p", ("member",), False)
    admin = auth.keystone_context({"HTTP_X_USER_ID": "u", "HTTP_X_ROLES": "admin"}, policy)
    assert admin.is_admin


def test_keystone_strategy_ignores_noauth_defaults(store: Store) -> None:
    """With keystone, a request without auth_token's headers is not an admin."""
    c = Client(ApiApp(store, auth_strategy="keystone"))
    assert fault(c.get("/v1/segments"), 401)
    headers = {"X-User-Id": "u", "X-Project-Id": "p", "X-Roles": "admin"}
    assert c.get("/v1/segments", headers=headers).status_code == 200
