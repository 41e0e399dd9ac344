"""Preflight of the compute seam: can rhworker work with the configured Nova?

Used by :mod:`rhworker.preflight` (``rhworker check``, and every worker before its
first notification). Like the rest of this package it is a boundary: keystoneauth and
openstacksdk exceptions become one-line :class:`~rhworker.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc
from oslo_config import cfg

from rhworker.compute.openstack import build_connection, check_microversion
from rhworker.errors import ConfigError


def _missing_compute_settings(conf: cfg.ConfigOpts) -> str | None:
    group = conf.compute
    if group.cloud:
        return None
    if group.auth_type in ("none", "noauth"):
        if not group.endpoint_override:
            return "[compute] auth_type = none needs endpoint_override (the Nova …/v2.1 URL)"
        return None
    if group.auth_type in ("admin_token", "token") and group.token:
        return None if group.auth_url or group.endpoint_override else "[compute] auth_url unset"
    missing = [
        name
        for name in ("auth_url", "username", "password", "project_name")
        if not getattr(group, name)
    ]
    if len(missing) == 4:
        return (
            "[compute] is not configured: set cloud = NAME (a clouds.yaml entry) or "
            "auth_url, username, password and project_name"
        )
    if missing:
        return f"[compute] {', '.join(missing)} unset (or set cloud = NAME)"
    return None


def _version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = str(text).partition(".")
    return int(major), int(minor or 0)


def _who(conf: cfg.ConfigOpts) -> str:
    if conf.compute.cloud:
        return f"cloud {conf.compute.cloud}"
    return f"user {conf.compute.username}" if conf.compute.username else "the configured auth"


def _ask_nova(conf: cfg.ConfigOpts, conn: Any, pinned: str) -> tuple[str, Any, Any]:
    """``(endpoint, version document response, services list response)``; transport,
    authentication and SDK failures become one-line :class:`ConfigError`."""
    endpoint = "Nova"
    try:
        endpoint = str(conn.compute.get_endpoint())
        version_doc = conn.compute.get("/", microversion=None)
        services = conn.compute.get("/os-services")
    except ks_exc.Unauthorized as e:
        where = conf.compute.auth_url or conf.compute.cloud or "Keystone"
        raise ConfigError(
            f"[compute] authentication as {_who(conf)} refused by {where}: {_short(e)}"
        ) from e
    except ks_exc.EndpointNotFound as e:
        raise ConfigError(f"[compute] no compute endpoint in the catalog: {_short(e)}") from e
    except (ks_exc.ConnectFailure, ks_exc.ConnectTimeout, ks_exc.DiscoveryFailure) as e:
        target = conf.compute.endpoint_override or conf.compute.auth_url or endpoint
        reason = _short(e).split(". Required version range")[0]
        raise ConfigError(f"[compute] Nova unreachable at {target}: {reason}") from e
    except ks_exc.ClientException as e:
        raise ConfigError(f"[compute] {endpoint}: {_short(e)}") from e
    except sdk_exc.ConfigException as e:
        # openstacksdk refuses to build the compute proxy when the pinned version is
        # above the maximum of the version document it discovered.
        found = re.search(r"maximum of ([0-9]+\.[0-9]+)", str(e))
        if found is None:
            raise ConfigError(f"[compute] {_short(e)}") from e
        raise ConfigError(_too_high(pinned, found.group(1), _endpoint_of(conf, conn))) from e
    return endpoint, version_doc, services


def probe_nova(conf: cfg.ConfigOpts) -> str:
    """Check that ``[compute]`` lets rhworker work: settings present, Nova reachable
    with these credentials, the user admin (listing compute services succeeds), the
    pinned microversion at most Nova's highest. Returns a one-line summary; raises
    :class:`~rhworker.errors.ConfigError` with a one-line reason."""
    missing = _missing_compute_settings(conf)
    if missing:
        raise ConfigError(missing)
    pinned = check_microversion(conf.compute.microversion)
    try:
        conn = build_connection(conf)
    except ConfigError as e:
        text = _short(e)
        raise ConfigError(text if text.startswith("[compute]") else f"[compute] {text}") from e
    try:
        endpoint, version_doc, services = _ask_nova(conf, conn, pinned)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    if version_doc.status_code >= 400:
        raise ConfigError(
            f"[compute] {endpoint}: version document answered HTTP {version_doc.status_code}"
        )
    if services.status_code in (401, 403):
        raise ConfigError(
            f"[compute] {_who(conf)} is not admin: Nova refused to list compute services "
            f"(HTTP {services.status_code}); rhworker needs the admin role"
        )
    if services.status_code >= 400:
        raise ConfigError(
            f"[compute] {endpoint}: listing compute services answered HTTP {services.status_code}"
        )
    version = (version_doc.json() or {}).get("version") or {}
    highest = str(version.get("version") or "")
    if not highest:
        raise ConfigError(f"[compute] {endpoint} does not support microversions")
    if _version_tuple(highest) < _version_tuple(pinned):
        raise ConfigError(_too_high(pinned, highest, endpoint))
    return (
        f"{endpoint} as {_who(conf)}: admin, microversion {pinned} supported (Nova max {highest})"
    )


def _too_high(pinned: str, highest: str, endpoint: str) -> str:
    return (
        f"[compute] microversion {pinned} is not supported by Nova at {endpoint} "
        f"(its highest is {highest}); pin a lower [compute] microversion"
    )


def _endpoint_of(conf: cfg.ConfigOpts, conn: Any) -> str:
    """The compute endpoint, for messages: the override, else the catalog's."""
    if conf.compute.endpoint_override:
        return str(conf.compute.endpoint_override)
    with contextlib.suppress(Exception):
        found = conn.endpoint_for("compute")
        if found:
            return str(found)
    return "the catalog's compute endpoint"


def _short(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
