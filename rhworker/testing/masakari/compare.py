"""Comparing two instance-ha APIs answer by answer (the conformance suite's engine).

A scenario sends the same requests to each target through an :class:`HttpTarget`; each
answer is recorded as an :class:`Exchange` (status, the headers that matter, JSON body)
and normalised so that what two correct implementations may legitimately disagree on
is replaced by placeholders:

- every uuid becomes ``<uuid:N>``, numbered in order of first appearance in the
  transcript, so a body that refers to the wrong segment still differs;
- integer ``id`` fields become ``<id>``; ``marker=`` values in links become ``<marker>``;
- non-null timestamps (``*_at``, ``*_time``) become ``<time>`` (null stays null);
- the target's base URL becomes ``<base>``;
- fault messages become ``<message>`` (the fault's key and code are compared; the
  wording is each implementation's own).

:func:`diff` then lists every leaf that differs (``step/path``), and
:func:`unexplained` removes those an explicit :class:`Difference` covers.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any

import requests

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
MARKER_RE = re.compile(r"marker=[^&\"]+")
HEADERS = ("OpenStack-API-Version", "Vary", "Content-Type")
FAULT_KEYS = {
    "badRequest",
    "itemNotFound",
    "conflictingRequest",
    "forbidden",
    "notAcceptable",
    "badMethod",
    "computeFault",
    "masakariFault",
}
TIME_KEYS = re.compile(r".*(_at|_time|^updated|generated_since)$")
DEFAULT_TIMEOUT = 30.0  # s, one request


@dataclass
class Exchange:
    """One request and its answer, as recorded."""

    step: str
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: Any


INTENTIONAL = "intentional"  # rhworker differs on purpose; docs/api.md says why
GAP = "gap"  # rhworker should answer as Masakari does and does not yet
REFERENCE = "reference"  # the reference as run here (no masakari-engine) differs


@dataclass(frozen=True)
class Difference:
    """A known difference: rhworker answers ``step``/``path`` (fnmatch patterns over
    :func:`diff`'s keys) otherwise than Masakari, because ``reason``. ``kind`` is
    :data:`INTENTIONAL` (then ``doc`` is the text of its row in docs/api.md),
    :data:`GAP` or :data:`REFERENCE`."""

    step: str
    path: str
    reason: str
    doc: str = ""
    kind: str = INTENTIONAL

    def applies_to(self, scenario: str) -> bool:
        return fnmatch.fnmatchcase(scenario, self.step.split("/", 1)[0])

    def covers(self, key: str) -> bool:
        step, _, path = key.partition(" ")
        return fnmatch.fnmatchcase(step, self.step) and fnmatch.fnmatchcase(path, self.path)


class HttpTarget:
    """Raw HTTP to one instance-ha API (``base``: ``http://127.0.0.1:PORT``)."""

    def __init__(self, name: str, base: str, headers: dict[str, str] | None = None) -> None:
        self.name = name
        self.base = base.rstrip("/")
        self.headers = dict(headers or {})
        self.session = requests.Session()
        self.transcript: list[Exchange] = []

    def call(
        self,
        step: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        version: str | None = None,
        headers: dict[str, str] | None = None,
        raw: str | None = None,
    ) -> Exchange:
        """Send one request; ``version`` sets ``OpenStack-API-Version: instance-ha X``;
        ``raw`` sends a body as is (malformed JSON)."""
        sent = dict(self.headers)
        if version is not None:
            sent["OpenStack-API-Version"] = f"instance-ha {version}"
        sent.update(headers or {})
        data: str | None = raw
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        resp = self.session.request(
            method, self.base + path, data=data, headers=sent, timeout=DEFAULT_TIMEOUT
        )
        try:
            parsed: Any = resp.json()
        except ValueError:
            parsed = resp.text or None
        kept = {h: resp.headers[h] for h in HEADERS if h in resp.headers}
        ex = Exchange(step, method, path, resp.status_code, kept, parsed)
        self.transcript.append(ex)
        return ex

    def close(self) -> None:
        self.session.close()


@dataclass
class _Normaliser:
    base: str
    uuids: dict[str, str] = field(default_factory=dict)

    def text(self, value: str) -> str:
        value = value.replace(self.base, "<base>")
        value = MARKER_RE.sub("marker=<marker>", value)
        return UUID_RE.sub(lambda m: self._uuid(m.group(0)), value)

    def _uuid(self, value: str) -> str:
        key = value.lower()
        if key not in self.uuids:
            self.uuids[key] = f"<uuid:{len(self.uuids) + 1}>"
        return self.uuids[key]

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and next(iter(value)) in FAULT_KEYS:
                return {k: self._fault(v) for k, v in value.items()}
            return {k: self.value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(key, v) for v in value]
        if key == "id" and isinstance(value, int) and not isinstance(value, bool):
            return "<id>"
        if TIME_KEYS.match(key) and value is not None:
            return "<time>"
        if isinstance(value, str):
            return self.text(value)
        return value

    def _fault(self, fault: Any) -> Any:
        if isinstance(fault, dict) and isinstance(fault.get("message"), str):
            return {**fault, "message": "<message>"}
        return fault


def normalise(transcript: list[Exchange], base: str) -> dict[str, Any]:
    """``{step: {"status", "headers", "body"}}`` with placeholders (see the module doc)."""
    n = _Normaliser(base.rstrip("/"))
    out: dict[str, Any] = {}
    for ex in transcript:
        if ex.step in out:
            raise ValueError(f"step {ex.step!r} recorded twice")
        out[ex.step] = {
            "status": ex.status,
            "headers": {k: n.text(v) for k, v in ex.headers.items()},
            "body": n.value("", ex.body),
        }
    return out


_MISSING = "<absent>"


def _leaves(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _leaves(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            _leaves(f"{prefix}[{i}]", v, out)
    else:
        out[prefix] = value


def diff(reference: dict[str, Any], other: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{"<step> <path>": (reference value, other value)}`` for every differing leaf;
    a leaf one side lacks shows as ``"<absent>"``."""
    result: dict[str, tuple[Any, Any]] = {}
    for step in list(reference) + [s for s in other if s not in reference]:
        ref: dict[str, Any] = {}
        got: dict[str, Any] = {}
        _leaves("", reference.get(step, _MISSING), ref)
        _leaves("", other.get(step, _MISSING), got)
        for path in list(ref) + [p for p in got if p not in ref]:
            a, b = ref.get(path, _MISSING), got.get(path, _MISSING)
            if a != b:
                result[f"{step} {path}"] = (a, b)
    return result


def unexplained(
    differences: dict[str, tuple[Any, Any]], allowed: list[Difference]
) -> tuple[dict[str, tuple[Any, Any]], list[Difference]]:
    """(differences no entry covers, entries that explain nothing).

    Each difference is credited to the first entry covering it, so an entry that only
    repeats what an earlier one explains counts as explaining nothing.
    """
    left: dict[str, tuple[Any, Any]] = {}
    used: set[int] = set()
    for key, value in differences.items():
        first = next((i for i, d in enumerate(allowed) if d.covers(key)), None)
        if first is None:
            left[key] = value
        else:
            used.add(first)
    return left, [d for i, d in enumerate(allowed) if i not in used]


def report(differences: dict[str, tuple[Any, Any]]) -> str:
    return "\n".join(
        f"  {key}: masakari={a!r} rhworker={b!r}" for key, (a, b) in sorted(differences.items())
    )
