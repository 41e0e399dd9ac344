"""A minimal Keystone v3: password auth giving a token and a catalog pointing here.

Enough for a ``clouds.yaml`` with ``auth_type: password`` and ``auth_url`` set to the
simulator's ``/v3``. A user with the ``admin`` role gets an admin token; anyone else
gets Nova's answers for non-admins.
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from werkzeug.routing import Rule

from rhworker.sim.model import ApiError, Caller, User
from rhworker.sim.state import Cloud

REGION = "RegionOne"
TOKEN_LIFETIME = datetime.timedelta(hours=12)


def version_doc(base: str) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def _unauthorized() -> ApiError:
    return ApiError(401, "The request you have made requires authentication.")


def _find_user(cloud: Cloud, ident: dict[str, Any]) -> User:
    pw = (ident.get("password") or {}).get("user") or {}
    name, user_id, password = pw.get("name"), pw.get("id"), pw.get("password")
    for user in cloud.users.values():
        if (user.name == name or user.id == user_id) and user.password == password:
            return user
    raise _unauthorized()


def _project_for(cloud: Cloud, user: User, scope: dict[str, Any]) -> Any:
    wanted = (scope or {}).get("project") or {}
    want_name, want_id = wanted.get("name"), wanted.get("id")
    for project in cloud.projects.values():
        if project.name == user.project:
            if (want_name and want_name != project.name) or (want_id and want_id != project.id):
                raise ApiError(401, f"User {user.name} has no access to the requested project.")
            return project
    raise _unauthorized()


def issue_token(cloud: Cloud, body: dict[str, Any], base: str) -> tuple[str, dict[str, Any]]:
    """``POST /v3/auth/tokens``: (token, body)."""
    auth = (body or {}).get("auth") or {}
    ident = auth.get("identity") or {}
    if "password" not in (ident.get("methods") or []):
        raise _unauthorized()
    with cloud.lock:
        user = _find_user(cloud, ident)
        project = _project_for(cloud, user, auth.get("scope") or {})
        token = secrets.token_hex(16)
        cloud.tokens[token] = Caller(user.id, project.id, user.is_admin)
    now = datetime.datetime.now(datetime.UTC)
    domain = {"id": "default", "name": "Default"}
    return token, {
        "token": {
            "methods": ["password"],
            "issued_at": now.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "expires_at": (now + TOKEN_LIFETIME).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "user": {"id": user.id, "name": user.name, "domain": domain},
            "project": {"id": project.id, "name": project.name, "domain": domain},
            "roles": [{"id": r, "name": r} for r in user.roles],
            "is_domain": False,
            "catalog": catalog(base),
        }
    }


def catalog(base: str) -> list[dict[str, Any]]:
    def endpoints(url: str) -> list[dict[str, Any]]:
        return [
            {
                "id": f"{iface}-{url}",
                "interface": iface,
                "region": REGION,
                "region_id": REGION,
                "url": url,
            }
            for iface in ("public", "internal", "admin")
        ]

    return [
        {
            "type": "compute",
            "name": "nova",
            "id": "compute",
            "endpoints": endpoints(f"{base}/v2.1"),
        },
        {
            "type": "placement",
            "name": "placement",
            "id": "placement",
            "endpoints": endpoints(f"{base}/placement"),
        },
        {
            "type": "identity",
            "name": "keystone",
            "id": "identity",
            "endpoints": endpoints(f"{base}/v3"),
        },
    ]


def rules() -> list[Rule]:
    return [
        Rule("/v3", methods=["GET"], endpoint=("identity", "version")),
        Rule("/v3/", methods=["GET"], endpoint=("identity", "version")),
        Rule("/v3/auth/tokens", methods=["POST"], endpoint=("identity", "tokens")),
        Rule("/v3/auth/tokens", methods=["GET", "HEAD"], endpoint=("identity", "validate")),
    ]
