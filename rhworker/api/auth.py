"""Who is calling, and may they: request contexts and Masakari's policy.

Two strategies (``[api] auth_strategy``):

* ``keystone`` — keystonemiddleware's ``auth_token`` validates the token against
  Keystone (its own ``[keystone_authtoken]`` options) and sets the ``X-User-Id``,
  ``X-Project-Id`` and ``X-Roles`` headers, after removing any the client sent; the
  context is read from them (:func:`keystone_context`).
* ``noauth`` — no token is checked (the embedded demo and the tests; loopback only
  unless ``allow_noauth_on_non_loopback``). Like Masakari's ``noauth2`` the caller is
  an admin — unless the request names its roles in ``X-Roles`` (tests use it to act
  as a member), see :func:`noauth_context`.

Authorisation is oslo.policy with Masakari's rule names and defaults
(``masakari/policies``): every rule is ``rule:admin_api`` (``is_admin:True``), and
``is_admin`` is ``context_is_admin`` (``role:admin``) judged on the caller's roles.
An operator's policy file (``[oslo_policy] policy_file``) overrides them as for
Masakari.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from oslo_config import cfg
from oslo_policy import policy

from rhworker.api.errors import ApiError

ADMIN_OR_OWNER = "rule:admin_or_owner"
ADMIN_API = "rule:admin_api"
ANY = "@"

SEGMENTS = "os_masakari_api:segments:%s"
HOSTS = "os_masakari_api:os-hosts:%s"
NOTIFICATIONS = "os_masakari_api:notifications:%s"
VMOVES = "os_masakari_api:vmoves:%s"
VERSIONS = "os_masakari_api:versions:%s"
EXTENSIONS = "os_masakari_api:extensions:%s"


def _rules() -> list[policy.RuleDefault]:
    rules = [
        policy.RuleDefault("context_is_admin", "role:admin", "Who counts as an admin."),
        policy.RuleDefault(
            "admin_or_owner", "is_admin:True or project_id:%(project_id)s", "Admin or owner."
        ),
        policy.RuleDefault("admin_api", "is_admin:True", "Default rule for admin APIs."),
        policy.RuleDefault(VERSIONS % "index", ANY, "List all versions."),
        policy.RuleDefault(VERSIONS % "discoverable", ANY, "Version API extensions."),
        policy.RuleDefault(EXTENSIONS % "index", ADMIN_API, "List extensions."),
        policy.RuleDefault(EXTENSIONS % "detail", ADMIN_API, "Show an extension."),
        policy.RuleDefault(EXTENSIONS % "discoverable", ADMIN_API, "Extension info."),
    ]
    crud = ("index", "detail", "create", "update", "delete", "discoverable")
    for template, actions in (
        (SEGMENTS, crud),
        (HOSTS, crud),
        # "update": rhworker's own, the external workflow's callback (admin only).
        (NOTIFICATIONS, ("index", "detail", "create", "update", "discoverable")),
        (VMOVES, ("index", "detail", "discoverable")),
    ):
        for action in actions:
            rules.append(policy.RuleDefault(template % action, ADMIN_API, f"{template % action}"))
    return rules


RULES = _rules()


@dataclasses.dataclass(frozen=True)
class Context:
    """The caller of one request."""

    user_id: str | None
    project_id: str | None
    roles: tuple[str, ...]
    is_admin: bool = False

    def credentials(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "project_id": self.project_id,
            "roles": list(self.roles),
            "is_admin": self.is_admin,
        }

    def target(self) -> dict[str, Any]:
        """Masakari's default target: the caller's own project and user."""
        return {"project_id": self.project_id, "user_id": self.user_id}


class Policy:
    """oslo.policy's enforcer, loaded with Masakari's rules."""

    def __init__(self, conf: cfg.ConfigOpts | None = None) -> None:
        if conf is None:
            conf = cfg.ConfigOpts()
            conf([])
        self.enforcer = policy.Enforcer(conf)
        self.enforcer.register_defaults(RULES)

    def is_admin(self, roles: tuple[str, ...], user_id: str | None, project_id: str | None) -> bool:
        creds = {"roles": list(roles), "user_id": user_id, "project_id": project_id}
        return bool(self.enforcer.authorize("context_is_admin", {}, creds, do_raise=False))

    def authorize(self, rule: str, context: Context) -> None:
        """``ApiError`` 403 unless the policy allows ``rule`` to ``context``."""
        allowed = self.enforcer.authorize(
            rule, context.target(), context.credentials(), do_raise=False
        )
        if not allowed:
            raise ApiError(403, f"Policy doesn't allow {rule} to be performed.")


def _roles(header: str | None) -> tuple[str, ...]:
    if not header:
        return ()
    return tuple(r.strip() for r in header.split(",") if r.strip())


def keystone_context(environ: Mapping[str, Any], policy_: Policy) -> Context:
    """The context auth_token left in the WSGI environ; 401 if the token was not valid."""
    if environ.get("HTTP_X_IDENTITY_STATUS", "Confirmed") != "Confirmed":
        raise ApiError(401, "The request you have made requires authentication.")
    user = environ.get("HTTP_X_USER_ID")
    if not user:
        raise ApiError(401, "The request you have made requires authentication.")
    project = environ.get("HTTP_X_PROJECT_ID")
    roles = _roles(environ.get("HTTP_X_ROLES"))
    return Context(user, project, roles, policy_.is_admin(roles, user, project))


# The caller noauth assumes when the request says nothing (Masakari's noauth2: admin).
NOAUTH_USER = "admin"
NOAUTH_PROJECT = "admin"
NOAUTH_ROLES = ("admin",)


def noauth_context(environ: Mapping[str, Any], policy_: Policy) -> Context:
    """An admin, unless the request names other roles in ``X-Roles``."""
    user = environ.get("HTTP_X_USER_ID") or NOAUTH_USER
    project = environ.get("HTTP_X_PROJECT_ID") or NOAUTH_PROJECT
    header = environ.get("HTTP_X_ROLES")
    roles = _roles(header) if header is not None else NOAUTH_ROLES
    return Context(user, project, roles, policy_.is_admin(roles, user, project))
