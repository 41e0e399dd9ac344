"""Translation of openstacksdk / keystoneauth exceptions, and retries of transient ones.

Every SDK call of the compute adapter goes through :class:`Retrier`. A failure is
classified once, here:

- connection errors (keystoneauth ``ConnectFailure``/``ConnectTimeout``..., requests
  ``ConnectionError``/``Timeout``, an ``SDKException`` wrapping one), HTTP 5xx and 429
  → :class:`ComputeTransient`, retried with exponential back-off and jitter until the
  deadline;
- HTTP 404 → :class:`ComputeNotFound`; any other 4xx → :class:`ComputeBadRequest`
  (never retried), with Nova's message;
- anything else the SDK raises → :class:`ComputeError` (not retried).

Fenced calls (DESIGN §4, "Fencing reaches Nova"). A call that changes something in
Nova is given a :class:`Fence` — the delivery's lease. Before *every* attempt, not only
the first, the Retrier asks the fence for its window (which proves ownership, renewing
the lease if it runs low, and raises ``LeaseLost`` when it cannot); that attempt's HTTP
timeout is cut to the window, so no attempt may run past what is left of the lease
minus the fence's margin; the back-off between attempts is slept on the fence, which
ends it at once when the lease is lost. The retry deadline thus never reaches beyond
the lease as known at the last attempt: going on past it takes a fresh proof of
ownership. Reads take no fence and keep the plain deadline and timeout.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import requests
import tenacity
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc

from rhworker.conf import compute as compute_conf
from rhworker.errors import (
    ComputeBadRequest,
    ComputeError,
    ComputeNotFound,
    ComputeTransient,
    ConfigError,
)

LOG = logging.getLogger(__name__)

T = TypeVar("T")

# First back-off between two attempts, in seconds (doubles each time, plus jitter).
DEFAULT_INITIAL_BACKOFF = 0.5
# Longest single back-off, in seconds.
DEFAULT_MAX_BACKOFF = 8.0
# Total seconds spent retrying one call before giving up with ComputeTransient.
DEFAULT_RETRY_DEADLINE = compute_conf.DEFAULT_RETRY_DEADLINE


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of an SDK or keystoneauth HTTP error, else None."""
    if isinstance(exc, os_exc.HttpException):
        return exc.status_code
    if isinstance(exc, ks_exc.HttpError):
        return exc.http_status
    return None


def _nova_message(exc: BaseException) -> str:
    if isinstance(exc, os_exc.HttpException) and exc.details:
        return str(exc.details)
    if isinstance(exc, ks_exc.HttpError) and exc.details:
        return str(exc.details)
    return str(exc) or type(exc).__name__


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, ks_exc.SSLError):
        return False  # a certificate problem does not heal by waiting
    if isinstance(exc, os_exc.HttpException):
        return False  # also a requests.RequestException: check it first
    return isinstance(
        exc,
        (
            ks_exc.ConnectionError,  # ConnectFailure, ConnectTimeout, UnknownConnectionError
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            ConnectionError,  # the builtin: reset, refused, aborted
            TimeoutError,
        ),
    )


def _wrapped_connection_error(exc: BaseException) -> BaseException | None:
    """The connection error ``exc`` is, or wraps (``__cause__``/``__context__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _is_connection_error(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def translate(exc: BaseException, what: str) -> ComputeError | ConfigError:
    """The rhworker error for an exception raised by the SDK during ``what``.

    The caller raises it ``from exc``.
    """
    if isinstance(exc, (ComputeError, ConfigError)):
        return exc
    status = http_status(exc)
    if status is not None:
        message = f"{what}: HTTP {status}: {_nova_message(exc)}"
        if status == 404:
            return ComputeNotFound(message)
        if status == 429 or status >= 500:
            return ComputeTransient(message)
        if 400 <= status < 500:
            return ComputeBadRequest(message)
        return ComputeError(message)
    if _wrapped_connection_error(exc) is not None:
        return ComputeTransient(f"{what}: cannot reach Nova: {exc}")
    if isinstance(exc, ks_exc.DiscoveryFailure):
        # Raised for an unreachable endpoint too (no cause attached): may heal.
        return ComputeTransient(f"{what}: cannot reach Nova: {exc}")
    if isinstance(exc, os_exc.ConfigException):
        return ConfigError(f"{what}: {exc}")
    if isinstance(exc, os_exc.ResourceNotFound):
        return ComputeNotFound(f"{what}: {exc}")
    return ComputeError(f"{what}: {type(exc).__name__}: {exc}")


def status_of(error: BaseException) -> int | None:
    """The HTTP status behind a translated error (its ``__cause__``), if any."""
    cause = error.__cause__
    return http_status(cause) if cause is not None else None


class _Deadline:
    """Elapsed time of one call, on an injectable clock."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self._clock = clock
        self._start = clock()

    def remaining(self) -> float:
        return max(0.0, self.seconds - (self._clock() - self._start))

    def passed(self) -> bool:
        return self.remaining() <= 0.0


class Fence(Protocol):
    """The lease a mutating Nova call runs under (see the module doc)."""

    def window(self) -> float:
        """Prove ownership now and return the seconds one attempt may take (> 0);
        ``LeaseLost`` when ownership cannot be proved."""
        ...

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; ``LeaseLost`` at once if the lease is lost."""
        ...


# Sets the HTTP timeout of the requests that follow (None: back to the default).
TimeoutHook = Callable[[float | None], None]


class Retrier:
    """Runs one SDK call, translating errors and retrying transient ones."""

    def __init__(
        self,
        *,
        deadline: float = DEFAULT_RETRY_DEADLINE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        initial_backoff: float = DEFAULT_INITIAL_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        request_timeout: float | None = None,
        set_timeout: TimeoutHook | None = None,
    ) -> None:
        self.deadline = deadline
        self.sleep = sleep
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        # The per-request HTTP timeout of unfenced calls (the session's own).
        self.request_timeout = request_timeout
        self._set_timeout = set_timeout

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based):
        exponential, capped, plus up to ``initial_backoff`` of jitter."""
        exp = self.initial_backoff * 2.0 ** max(0, attempt - 1)
        return min(self.max_backoff, exp + random.uniform(0.0, self.initial_backoff))

    def start_deadline(self) -> _Deadline:
        return _Deadline(self.deadline, self.clock)

    def attempt_timeout(self, fence: Fence | None) -> float | None:
        """Before one attempt: prove ownership (``LeaseLost`` if not) and return the
        HTTP timeout of that attempt — the fence's window, or less when the
        session's own timeout is shorter. None: no fence, the session's timeout."""
        if fence is None:
            return None
        window = fence.window()
        if self.request_timeout is not None:
            return min(self.request_timeout, window)
        return window

    def run_attempt(self, what: str, fn: Callable[[], T], fence: Fence | None) -> T:
        """One attempt of ``fn``, fenced; errors translated (the fence's own
        ``LeaseLost`` passes untranslated: it is raised before the request)."""
        timeout = self.attempt_timeout(fence)
        if timeout is not None and self._set_timeout is not None:
            self._set_timeout(timeout)
        try:
            return fn()
        except Exception as e:
            raise translate(e, what) from e
        finally:
            if timeout is not None and self._set_timeout is not None:
                self._set_timeout(None)

    def pause(self, seconds: float, fence: Fence | None) -> None:
        """The back-off between two attempts: on the fence when there is one."""
        if fence is not None:
            fence.wait(seconds)
        else:
            self.sleep(seconds)

    def call(self, what: str, fn: Callable[[], T], *, fence: Fence | None = None) -> T:
        """``fn()``; transient failures retried until the deadline.

        Raises ``ComputeNotFound`` / ``ComputeBadRequest`` / ``ComputeError`` at once,
        ``ComputeTransient`` once the deadline has passed. With a ``fence``: ownership
        is proved before every attempt and each attempt is bounded by the lease
        (``LeaseLost`` stops the call at once, before or between attempts).
        """
        deadline = self.start_deadline()

        def wait(state: tenacity.RetryCallState) -> float:
            # The last wait is cut so that one more attempt lands at the deadline.
            return min(self.backoff(state.attempt_number), deadline.remaining())

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(ComputeTransient),
            stop=lambda _state: deadline.passed(),
            wait=wait,
            sleep=lambda seconds: self.pause(seconds, fence),
            before_sleep=self._log_retry(what),
            reraise=True,
        )
        return retrying(lambda: self.run_attempt(what, fn, fence))

    @staticmethod
    def _log_retry(what: str) -> Callable[[tenacity.RetryCallState], None]:
        def log(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            LOG.warning(
                "%s: transient failure (attempt %d), retrying in %.2fs: %s",
                what,
                state.attempt_number,
                state.upcoming_sleep,
                exc,
            )

        return log
