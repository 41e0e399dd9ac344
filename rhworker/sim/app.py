"""The simulator's WSGI application: Werkzeug routing, auth, microversions, faults.

Routes come from :mod:`compute` (Nova), :mod:`identity` (Keystone) and :mod:`control`
(``/sim/``). Every Nova/Keystone call passes through the injected request faults
(latency, errors) first; every Nova call then pays its cost (``request_cost``,
``write_request_cost``) on the shared capacity; control calls never do either.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from werkzeug import Request, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from rhworker.errors import ValidationError
from rhworker.sim import compute, control, identity, placement, views
from rhworker.sim.model import ApiError, Caller
from rhworker.sim.requestlog import LoggedRequest, RequestLog, worker_of
from rhworker.sim.state import Cloud

LOG = logging.getLogger(__name__)

_MV_RE = re.compile(r"^(\d+)\.(\d+)$")
_MIN = (2, 1)
_MAX = tuple(int(x) for x in views.MAX_VERSION.split("."))


def _parse_mv(request: Request) -> tuple[int, int]:
    raw = None
    header = request.headers.get("OpenStack-API-Version", "")
    for part in header.split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() == "compute":
            raw = words[1]
    raw = raw or request.headers.get("X-OpenStack-Nova-API-Version")
    if not raw:
        return _MIN
    if raw.lower() == "latest":
        return (_MAX[0], _MAX[1])
    m = _MV_RE.match(raw.strip())
    if not m:
        raise ApiError(
            400,
            f"API Version String {raw} is of invalid format. Must be of format MajorNum.MinorNum.",
        )
    mv = (int(m.group(1)), int(m.group(2)))
    if not _MIN <= mv <= _MAX:
        raise ApiError(
            406,
            f"Version {raw} is not supported by the API. Minimum is {views.MIN_VERSION} "
            f"and maximum is {views.MAX_VERSION}.",
        )
    return mv


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        return Response(status=status, headers=headers)
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


class SimApp:
    """WSGI callable over one :class:`Cloud`."""

    def __init__(self, cloud: Cloud, admin_token: str | None = None, anonymous_admin: bool = True):
        self.cloud = cloud
        self.admin_token = admin_token
        self.anonymous_admin = anonymous_admin
        self.request_log = RequestLog()
        self.url_map = Map(
            [
                Rule("/", methods=["GET"], endpoint=("root", "versions")),
                Rule("/v2.1", methods=["GET"], endpoint=("root", "v21")),
                Rule("/v2.1/", methods=["GET"], endpoint=("root", "v21")),
                *compute.rules(),
                *identity.rules(),
                *placement.rules(),
                *control.rules(),
                Rule("/sim/requests", methods=["GET"], endpoint=("requests", "list")),
                Rule("/sim/requests", methods=["DELETE"], endpoint=("requests", "clear")),
            ],
            strict_slashes=False,
            redirect_defaults=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def base_url(self, request: Request) -> str:
        return request.host_url.rstrip("/")

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/sim/"):
            return self._dispatch(request)
        arrived = time.time()
        response = self._dispatch(request)
        self._log_request(request, response, arrived)
        return response

    def _log_request(self, request: Request, response: Response, arrived: float) -> None:
        """Every API request (not the control API) into the request log."""
        action = None
        if request.path.endswith("/action"):
            data = request.get_json(silent=True)
            if isinstance(data, dict) and data:
                action = str(next(iter(data)))
        agent = request.headers.get("User-Agent", "")
        self.request_log.record(
            LoggedRequest(
                at=arrived,
                done=time.time(),
                method=request.method,
                path=request.path,
                action=action,
                status=response.status_code,
                user_agent=agent,
                worker=worker_of(agent),
            )
        )

    def _requests(self, request: Request, target: str) -> Response:
        """``GET /sim/requests`` (filters: worker, since, changes) and ``DELETE``."""
        if target == "clear":
            self.request_log.clear()
            return _json(200, {})
        since = request.args.get("since")
        entries = self.request_log.entries(
            worker=request.args.get("worker") or None,
            since=float(since) if since else None,
            changes=request.args.get("changes", "") in ("1", "true", "yes"),
        )
        return _json(200, {"requests": [e.to_dict() for e in entries]})

    def _dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            (kind, target), args = adapter.match()
            if kind == "control":
                return self._control(request, target, args)
            if kind == "requests":
                return self._requests(request, target)
            return self._api(request, kind, target, args)
        except ApiError as e:
            return self._error(e)
        except ValidationError as e:
            return self._error(ApiError(400, str(e)))
        except NotFound:
            return self._error(ApiError(404, "The resource could not be found."))
        except MethodNotAllowed:
            return self._error(ApiError(405, "The method is not allowed for this resource."))
        except HTTPException as e:
            return self._error(ApiError(e.code or 500, e.description or "error"))
        except Exception:
            LOG.exception("simulator handler failed for %s %s", request.method, request.path)
            return self._error(ApiError(500, "Unexpected API Error."))

    def _error(self, e: ApiError, headers: dict[str, str] | None = None) -> Response:
        if e.status == 401:
            body = {"error": {"code": 401, "title": "Unauthorized", "message": e.message}}
            return _json(401, body, {"WWW-Authenticate": "Keystone uri=''"})
        return _json(e.status, e.body(), headers)

    def _control(self, request: Request, name: str, args: Mapping[str, Any]) -> Response:
        body = request.get_json(silent=True) if request.data else None
        status, out = control.handle(self.cloud, name, body, args)
        return _json(status, out)

    def _inject(self, request: Request) -> None:
        action = None
        if request.path.endswith("/action"):
            data = request.get_json(silent=True)
            if isinstance(data, dict) and data:
                action = next(iter(data))
        latency, error = self.cloud.request_faults.pick(request.method, request.path, action)
        if latency > 0:
            self.cloud.stopping.wait(latency)
        if error is not None:
            raise ApiError(error.status, error.message)

    def _pay(self, request: Request) -> None:
        """The request's cost: seconds of work on Nova's shared capacity (so concurrent
        requests and evacuations slow each other), paid before it is handled."""
        options = self.cloud.options
        write = request.method in ("POST", "PUT", "DELETE", "PATCH")
        cost = options.write_request_cost if write else options.request_cost
        self.cloud.capacity.run(cost, self.cloud.stopping)

    def _caller(self, request: Request) -> Caller:
        """The token's caller. With ``anonymous_admin`` (the default), a request without
        a token or with one Keystone here did not issue (``auth_type: none`` sends
        "notused") is the admin; otherwise only issued tokens and ``admin_token`` pass."""
        token = request.headers.get("X-Auth-Token")
        if token is not None and self.admin_token is not None and token == self.admin_token:
            return self._admin()
        with self.cloud.lock:
            caller = self.cloud.tokens.get(token) if token is not None else None
        if caller is not None:
            return caller
        if self.anonymous_admin:
            return self._admin()
        raise ApiError(401, "The request you have made requires authentication.")

    def _admin(self) -> Caller:
        with self.cloud.lock:
            project = next(
                (p.id for p in self.cloud.projects.values() if p.name == "admin"), "admin"
            )
        return Caller("admin", project, True)

    def _api(self, request: Request, kind: str, target: Any, args: Mapping[str, Any]) -> Response:
        base = self.base_url(request)
        self._inject(request)
        if kind == "root":
            if target == "versions":
                return _json(200, views.versions(base))
            return _json(200, {"version": views.version_v21(base)})
        if kind == "identity":
            return self._identity(request, target, base)
        if kind == "placement":
            if target == "version":
                return _json(200, placement.version_doc(base))
            self._pay(request)
            asked = request.headers.get("OpenStack-API-Version", "placement 1.0")
            headers = {"OpenStack-API-Version": asked, "Vary": "OpenStack-API-Version"}
            body = placement.handle(self.cloud, target, dict(args), request.args, base)
            return _json(200, body, headers)
        self._pay(request)
        mv = _parse_mv(request)
        headers = {
            "OpenStack-API-Version": f"compute {mv[0]}.{mv[1]}",
            "X-OpenStack-Nova-API-Version": f"{mv[0]}.{mv[1]}",
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
        }
        try:
            ctx = compute.Ctx(self.cloud, request, self._caller(request), mv, base)
            self.cloud.raise_if_stopping()
            status, body = target(ctx, **args)
        except ApiError as e:
            return self._error(e, headers)
        return _json(status, body, headers)

    def _identity(self, request: Request, target: str, base: str) -> Response:
        if target == "version":
            return _json(200, {"version": identity.version_doc(base)})
        if target == "validate":
            token = request.headers.get("X-Subject-Token", "")
            if token not in self.cloud.tokens:
                raise ApiError(404, "Could not find token.")
            return _json(
                200, {"token": {"methods": ["password"], "catalog": identity.catalog(base)}}
            )
        token, body = identity.issue_token(self.cloud, request.get_json(silent=True) or {}, base)
        return _json(201, body, {"X-Subject-Token": token})
