"""A Masakari-compatible REST API (the v1 "instance-ha" API, microversions 1.0–1.3).

masakari-monitors, the ``openstack segment|host|notification`` commands and
openstacksdk's ``instance_ha`` proxy drive rhworker through it unchanged. It works on
the same store as the CLI and the workers: a notification posted here takes the same
intake as ``rhworker notify`` (:mod:`rhworker.intake`); segments and hosts the same
path as the YAML inventory (:mod:`rhworker.inventory_changes`). docs/api.md lists
what it does differently from Masakari, on purpose.

Modules: :mod:`~rhworker.api.app` (WSGI app, routing, errors, :func:`create_app`),
:mod:`~rhworker.api.versions`, :mod:`~rhworker.api.auth` (contexts, oslo.policy),
one module per resource, :mod:`~rhworker.api.views` (Masakari's field names),
:mod:`~rhworker.api.server` (``rhworker api``), :mod:`~rhworker.api.wsgi`.
"""

from __future__ import annotations

from rhworker.api.app import ApiApp, create_app

__all__ = ["ApiApp", "create_app"]
