"""The WSGI application: routing, microversions, auth, errors (Werkzeug).

:func:`create_app` builds it from a parsed configuration (``[api]``, ``[store]``,
``[notification]``, ``[keystone_authtoken]``, ``[oslo_policy]``);
:class:`ApiApp` is the application itself, over one store.

Every ``/v1`` answer carries ``OpenStack-API-Version: instance-ha X.Y`` and
``Vary: OpenStack-API-Version`` (a 406 only the ``Vary``, a malformed version
neither), as Masakari's ``ResourceV1``. ``GET /`` answers without authentication.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from oslo_config import cfg
from werkzeug import Request, Response
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule

from rhworker import intake
from rhworker.api import auth, hosts, notifications, segments, versions
from rhworker.api.call import Call, Reply
from rhworker.api.errors import ApiError, from_rhworker
from rhworker.conf.worker import DEFAULT_RETRY_INTERVAL
from rhworker.errors import ConfigError, RhworkerError
from rhworker.store import Store
from rhworker.store.base import DEFAULT_DUPLICATE_INTERVAL
from rhworker.wiring import configured_store

LOG = logging.getLogger(__name__)

AUTH_STRATEGIES = ("keystone", "noauth")
# ``/v1/{project_id}/...``: Masakari's project_id_regex (hex and dashes) before a collection.
_PROJECT_PATH = re.compile(r"^/v1/([0-9a-f\-]+)/((?:segments|notifications)(?:/.*)?)$")
JSON = "application/json"
FAULT_CONTENT_TYPE = "application/json; charset=UTF-8"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ContextMaker = Callable[[dict[str, Any], auth.Policy], auth.Context]


def _root(call: Call) -> Reply:
    return 200, versions.version_document(call.request.url_root.rstrip("/"))


def _is_loopback_address(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with Masakari's content types: ``application/json`` (a 204 too),
    and ``application/json; charset=UTF-8`` for a fault."""
    content_type = JSON if status < 400 else FAULT_CONTENT_TYPE
    text = "" if body is None else json.dumps(body)
    return Response(text, status=status, headers=headers, content_type=content_type)


class ApiApp:
    """Masakari's v1 API over one rhworker store. ``auth_strategy`` ``noauth`` trusts
    the request (see :mod:`rhworker.api.auth`); ``keystone`` expects keystonemiddleware's
    ``auth_token`` in front (:func:`create_app` puts it there)."""

    def __init__(
        self,
        store: Store,
        *,
        auth_strategy: str = "noauth",
        policy: auth.Policy | None = None,
        dedup_interval: float = DEFAULT_DUPLICATE_INTERVAL,
        loopback_clients_only: bool = False,
        callback_retry_delay: float = DEFAULT_RETRY_INTERVAL,
    ) -> None:
        if auth_strategy not in AUTH_STRATEGIES:
            raise ConfigError(
                f"[api] auth_strategy: {auth_strategy!r} is not one of keystone, noauth"
            )
        self.store = store
        self.auth_strategy = auth_strategy
        self.policy = policy or auth.Policy()
        self.dedup_interval = dedup_interval
        self.callback_retry_delay = callback_retry_delay
        self.loopback_clients_only = loopback_clients_only
        self._context: ContextMaker = (
            auth.keystone_context if auth_strategy == "keystone" else auth.noauth_context
        )
        self.url_map = Map(
            [
                Rule("/", methods=["GET"], endpoint="versions"),
                Rule("/v1", methods=["GET"], endpoint=_root),
                Rule("/v1/", methods=["GET"], endpoint=_root),
                *segments.rules(),
                *hosts.rules(),
                *notifications.rules(),
            ],
            strict_slashes=False,
            redirect_defaults=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        if self.loopback_clients_only and not _is_loopback_address(request.remote_addr):
            message = "auth_strategy noauth serves loopback clients only"
            return _json(403, ApiError(403, message).body())
        project_in_path = None
        match = _PROJECT_PATH.match(request.path)
        if match:  # /v1/{project_id}/segments...: the catalog's URL form, as Masakari
            project_in_path = match.group(1)
            request.environ["PATH_INFO"] = f"/v1/{match.group(2)}"
            request = Request(request.environ)
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except RouteNotFound:
            return _json(404, ApiError(404, "The resource could not be found.").body())
        except MethodNotAllowed:
            message = f"The request method: '{request.method}' is not allowed on this resource"
            return _json(405, ApiError(405, message).body())
        if endpoint == "versions":
            return _json(200, versions.versions_document(request.url_root.rstrip("/")))
        return self._v1(request, endpoint, args, project_in_path)

    def _v1(
        self,
        request: Request,
        endpoint: Callable[..., Reply],
        args: Mapping[str, Any],
        project_in_path: str | None = None,
    ) -> Response:
        try:
            version = versions.negotiate(
                ", ".join(request.headers.getlist(versions.HEADER)),
                request.headers.get(versions.LEGACY_HEADER),
            )
        except ApiError as e:
            headers = {"Vary": versions.HEADER} if e.status == 406 else None
            return _json(e.status, e.body(), headers)
        headers = {
            versions.HEADER: f"{versions.SERVICE_TYPE} {versions.text(version)}",
            "Vary": versions.HEADER,
        }
        try:
            context = self._context(request.environ, self.policy)
            if project_in_path is not None and project_in_path != context.project_id:
                raise ApiError(
                    400,
                    f"Malformed request URL: URL's project_id '{project_in_path}' doesn't "
                    f"match Context's project_id '{context.project_id}'",
                )
            call = Call(
                request=request,
                store=self.store,
                version=version,
                context=context,
                policy=self.policy,
                dedup_interval=self.dedup_interval,
                callback_retry_delay=self.callback_retry_delay,
            )
            status, body = endpoint(call, **args)
        except RhworkerError as e:
            error = from_rhworker(e)
            if error.status >= 500:
                LOG.error("%s %s failed: %s", request.method, request.path, e)
            return _json(error.status, error.body(), headers)
        except Exception:
            LOG.exception("%s %s failed", request.method, request.path)
            return _json(500, ApiError(500, "Unexpected API Error.").body(), headers)
        return _json(status, body, headers)


class KeystoneGate:
    """``auth_token`` in front of every path but ``/`` (the version list, public as in
    Masakari's paste pipeline)."""

    def __init__(self, app: ApiApp, conf: cfg.ConfigOpts) -> None:
        from keystonemiddleware import auth_token

        self.app = app
        self.protected = auth_token.AuthProtocol(app, {"oslo_config_config": conf})
        if not conf.keystone_authtoken.auth_type:
            # Without its own credentials auth_token cannot validate any token.
            raise ConfigError(
                "[api] auth_strategy = keystone needs [keystone_authtoken] auth_type (e.g. "
                "password) and its options (auth_url, username, password, project_name, "
                "user_domain_name, project_domain_name), and www_authenticate_uri"
            )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "") in ("", "/"):
            return self.app(environ, start_response)
        return self.protected(environ, start_response)


def create_app(conf: cfg.ConfigOpts, *, store: Store | None = None) -> WsgiApp:
    """The API as configured (with noauth, for loopback clients only unless ``[api]
    allow_noauth_on_non_loopback``): the configured store (``[store] url`` or the embedded
    default; unless ``store`` is given),
    ``[api] auth_strategy``, the duplicate window of ``[notification]``, oslo.policy's
    ``[oslo_policy]``. With ``keystone``, keystonemiddleware reads its own
    ``[keystone_authtoken]`` options from ``conf``. The caller owns ``store``."""
    if store is None:
        store = configured_store(conf, create=True)
    strategy = conf.api.auth_strategy
    app = ApiApp(
        store,
        auth_strategy=strategy,
        policy=auth.Policy(conf),
        dedup_interval=intake.dedup_interval(conf),
        # Under a WSGI server the listening address is not known here: noauth answers
        # loopback clients only, unless allowed beyond.
        loopback_clients_only=strategy == "noauth" and not conf.api.allow_noauth_on_non_loopback,
        # A workflow's "error" is retried after the worker's first back-off.
        callback_retry_delay=float(conf.worker.retry_interval),
    )
    if strategy == "keystone":
        return KeystoneGate(app, conf)
    return app
