"""Coordination: a thin layer over tooz (locks and group membership).

One :class:`Coordinator` per worker process. It owns one tooz driver, a heartbeat
thread and a few daemon threads that run every tooz call under a deadline
(``call_timeout``): during a Redis or ZooKeeper outage a tooz call can block for
tens of seconds, and a worker must be able to give up and decide (docs/design.md §7).

Facts this module relies on (tooz 9.1):

- lock names are ``bytes`` and are built by :func:`lock_name` only;
- only ``acquire(blocking=False)`` behaves the same on every driver, so
  :meth:`Coordinator.try_lock` never blocks; locks are not reentrant;
- a Redis lock expires after ``lock_timeout`` unless heartbeats renew it, and its
  holder is not told (``lock.acquired`` stays True): only ``is_still_owner()`` tells
  the truth, so :meth:`Coordinator.still_owner` answers False on any doubt;
- membership expiry: Redis ``membership_timeout`` (URL option, defaults to
  ``timeout``), ZooKeeper session ``timeout`` (ephemeral znodes), file ``timeout``
  (a member file's mtime older than it is ignored);
- the file driver lacks ``update_capabilities``;
- the ZooKeeper driver keeps its ``KazooClient`` in ``_coord``: its connection-state
  listener tells at once when the connection is suspended or the session lost.

The heartbeat is ours, not tooz's ``start_heart=True``: it beats every
``heartbeat_interval`` (or half the driver's own hint, when shorter), logs failures
and keeps going.

"Held by another worker" and "the lock service is unavailable" are two different
answers (:meth:`Coordinator.ask_lock`): the first means skip the host, the second that
nobody can be asked — recovery then goes on with the store's claim alone, which is
what keeps a reserved host from being used twice (DESIGN §4). Unavailable is a
backend error or no answer within ``call_timeout``. After a timeout or an outage
error (connection lost, session expired, refused), every call fails at once for
``unavailable_backoff`` seconds instead of making each caller (each reserved host of
each recovery, the worker's membership updates) wait out the deadline again. With
ZooKeeper, the client's own connection state says it even sooner: while it is not
connected, calls fail at once, without a first deadline to wait out.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import tooz
import tooz.coordination
import tooz.locking
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError as KazooConnectionClosed
from kazoo.exceptions import ConnectionLoss as KazooConnectionLoss
from kazoo.exceptions import KazooException
from kazoo.exceptions import SessionExpiredError as KazooSessionExpired
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from rhworker.callrunner import CallRunner, after_late, quietly
from rhworker.conf import coordination as coordination_conf
from rhworker.errors import ConfigError, CoordinationError, CoordinationTimeout
from rhworker.masking import mask_text, mask_url

LOG = logging.getLogger(__name__)

T = TypeVar("T")

# Deadline in seconds for any single tooz call.
DEFAULT_CALL_TIMEOUT = coordination_conf.DEFAULT_CALL_TIMEOUT
# Seconds between heartbeats (shortened to half the driver's own hint if smaller).
DEFAULT_HEARTBEAT_INTERVAL = coordination_conf.DEFAULT_HEARTBEAT_INTERVAL
# Seconds during which, after a call found the backend out of reach, calls fail at
# once instead of asking (and waiting call_timeout) again.
DEFAULT_UNAVAILABLE_BACKOFF = coordination_conf.DEFAULT_UNAVAILABLE_BACKOFF
# Every this many heartbeats, check that we are still in the group and join again if
# not (a ZooKeeper session expired, or our Redis beat key lapsed during a pause).
MEMBERSHIP_CHECK_BEATS = 5
# File backend policies (``[coordination] file_backend_policy``).
BACKEND_POLICIES = ("warn", "refuse", "allow")

# Everything a backend may raise; translated into CoordinationError.
_BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    tooz.ToozError,
    KazooException,
    KazooTimeoutError,
    RedisError,
    OSError,
)
# Backend errors that mean "no answer in time": translated into CoordinationTimeout.
_BACKEND_TIMEOUTS: tuple[type[BaseException], ...] = (
    tooz.coordination.OperationTimedOut,
    KazooTimeoutError,
    RedisTimeoutError,
    TimeoutError,
)

# Backend errors that mean the service is out of reach (not a refusal of one call).
_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    tooz.coordination.ToozConnectionError,
    KazooConnectionLoss,
    KazooSessionExpired,
    KazooConnectionClosed,
    RedisConnectionError,
    OSError,
)

_UNSAFE_MEMBER_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def new_member_id() -> str:
    """``<hostname>-<pid>-<6 random hex>``: unique per process start, ASCII only
    (ZooKeeper uses it as a znode name)."""
    host = _UNSAFE_MEMBER_CHARS.sub("_", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}-{random.getrandbits(24):06x}"


# Kinds of lock (what a lock name is about): a reserved host, or an instance that a VM
# notification recovers (two reports of one instance never act at once).
LOCK_RESERVED_HOST = "reserved-host"
LOCK_INSTANCE = "instance"
LOCK_KINDS = (LOCK_RESERVED_HOST, LOCK_INSTANCE)


def lock_name(prefix: str, host: str, kind: str = LOCK_RESERVED_HOST) -> bytes:
    """The tooz lock name of a reserved host (or, with ``kind=LOCK_INSTANCE``, of an
    instance) — the only place lock names are built.

    The name is percent-encoded so that it is safe as a file name (file driver), a
    znode name (ZooKeeper) and a key (Redis)."""
    if kind not in LOCK_KINDS:
        raise ValueError(f"unknown lock kind {kind!r}")
    return f"{prefix}-{kind}-{urllib.parse.quote(host, safe='')}".encode()


def check_backend_policy(coordination_url: str, store_url: str, policy: str) -> None:
    """Warn about (or refuse) file:// locks with a store other machines can reach:
    workers on another machine would not see those locks."""
    if policy not in BACKEND_POLICIES:
        raise ConfigError(f"unknown file_backend_policy {policy!r}: use one of {BACKEND_POLICIES}")
    is_file = urllib.parse.urlsplit(coordination_url).scheme == "file"
    is_local_store = urllib.parse.urlsplit(store_url).scheme.startswith("sqlite")
    if not is_file or is_local_store or policy == "allow":
        return
    message = (
        f"the file lock backend ({coordination_url}) only coordinates workers on this "
        f"machine, but the store ({mask_url(store_url)}) can be shared by other machines; "
        "use a redis:// or zookeeper:// coordination backend_url"
    )
    if policy == "refuse":
        raise ConfigError(message)
    LOG.warning("%s", message)


@dataclass(eq=False)
class HeldLock:
    """A lock this coordinator acquired; give it back to :meth:`Coordinator.release`."""

    host: str
    name: bytes
    tooz_lock: tooz.locking.Lock = field(repr=False)
    acquired_at: float = field(default_factory=time.monotonic)


class LockState(str, enum.Enum):
    """What :meth:`Coordinator.ask_lock` found."""

    TAKEN = "taken"  # this coordinator now holds the lock
    HELD = "held"  # another holder has it (or this coordinator already does)
    UNAVAILABLE = "unavailable"  # the lock service could not be asked


@dataclass(frozen=True)
class LockAnswer:
    state: LockState
    lock: HeldLock | None = None
    reason: str = ""


class Coordinator:
    """One tooz coordinator for one worker process; every call has a deadline."""

    def __init__(
        self,
        url: str,
        member_id: str,
        *,
        group: str = coordination_conf.DEFAULT_GROUP,
        lock_prefix: str = coordination_conf.DEFAULT_LOCK_PREFIX,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        heartbeat: bool = True,
        unavailable_backoff: float = DEFAULT_UNAVAILABLE_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``heartbeat=False`` starts without the heartbeat thread (tests use it to
        let a Redis lock expire)."""
        if call_timeout <= 0 or heartbeat_interval <= 0:
            raise ConfigError("call_timeout and heartbeat_interval must be positive")
        if unavailable_backoff < 0:
            raise ConfigError("unavailable_backoff must not be negative")
        self.unavailable_backoff = unavailable_backoff
        self._clock = clock
        # (monotonic time until which lock calls answer "unavailable", why)
        self._down: tuple[float, str] | None = None
        # why the ZooKeeper client is not connected (its state listener), or None
        self._session_down: str | None = None
        self.url = url
        self.member_id = member_id
        self.group = group
        self.lock_prefix = lock_prefix
        self.call_timeout = call_timeout
        self.heartbeat_interval = heartbeat_interval
        self._heartbeat_enabled = heartbeat
        self._mutex = threading.Lock()
        self._driver: tooz.coordination.CoordinationDriver | None = None
        self._runner: CallRunner | None = None
        self._held: dict[bytes, HeldLock] = {}  # by lock name
        self._stopping = threading.Event()
        self._heart: threading.Thread | None = None
        # Capabilities we joined the group with; None while not a member.
        self._membership: dict | None = None

    @classmethod
    def from_conf(cls, conf: Any, member_id: str) -> Coordinator:
        """Build from parsed oslo.config options. The caller applies
        :func:`check_backend_policy` (it knows the store URL in use)."""
        from rhworker import conf as rconf

        opts = conf.coordination
        return cls(
            rconf.coordination_url(conf),
            member_id,
            group=opts.group,
            lock_prefix=opts.lock_prefix,
            call_timeout=opts.call_timeout,
            heartbeat_interval=opts.heartbeat_interval,
            unavailable_backoff=opts.unavailable_backoff,
        )

    def __repr__(self) -> str:
        return f"<Coordinator {self.member_id} {mask_url(self.url)}>"

    # --- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        """Connect (bounded by ``call_timeout``) and start heartbeats. Idempotent."""
        if self._driver is not None:
            return
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == "file":
            try:
                os.makedirs(parts.path, mode=0o700, exist_ok=True)
            except OSError as e:
                raise CoordinationError(f"cannot create lock directory {parts.path}: {e}") from e
        try:
            driver = tooz.coordination.get_coordinator(self.url, self.member_id.encode())
        except (RuntimeError, ValueError, ImportError, tooz.ToozError) as e:
            raise ConfigError(
                f"unusable coordination URL {mask_url(self.url)}: {mask_text(str(e))}"
            ) from e
        runner = CallRunner(f"coord-{self.member_id}")
        future = runner.submit(lambda: driver.start(start_heart=False))
        try:
            self._wait(future, "start", on_late=lambda: quietly(driver.stop, "late stop"))
        except CoordinationError:
            runner.shutdown()
            raise
        self._stopping = threading.Event()  # a fresh one: an old heart may still be stuck
        self._session_down = None
        client = getattr(driver, "_coord", None)
        if isinstance(client, KazooClient):
            client.add_listener(self._on_session_state)
        with self._mutex:
            self._driver, self._runner = driver, runner
        if self._heartbeat_enabled:
            self._heart = threading.Thread(
                target=self._beat_forever,
                args=(driver, self._stopping),
                name=f"coord-heart-{self.member_id}",
                daemon=True,
            )
            self._heart.start()
        LOG.info("coordinator %s started on %s", self.member_id, mask_url(self.url))

    def stop(self) -> None:
        """Release held locks, leave the group, disconnect. Idempotent; never raises;
        each step bounded by ``call_timeout``."""
        with self._mutex:
            driver, runner, self._driver, self._runner = self._driver, self._runner, None, None
            held, self._held = list(self._held.values()), {}
        if driver is None or runner is None:
            return
        self._stopping.set()
        for lock in held:
            self._bounded_quietly(runner, lock.tooz_lock.release, f"release {lock.name!r}")
        # tooz's stop() leaves the joined groups (and releases Redis locks) itself.
        self._bounded_quietly(runner, driver.stop, "stop")
        runner.shutdown()
        if self._heart is not None:
            self._heart.join(timeout=1.0)
            self._heart = None
        LOG.info("coordinator %s stopped", self.member_id)

    def __enter__(self) -> Coordinator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- locks --------------------------------------------------------------------

    def try_lock(self, host: str, *, kind: str = LOCK_RESERVED_HOST) -> HeldLock | None:
        """Take the lock of ``host`` (of an instance id, with ``kind=LOCK_INSTANCE``)
        without blocking: a :class:`HeldLock`, or None when someone else (or this very
        coordinator) holds it. Raises CoordinationTimeout / CoordinationError; a late
        success is released."""
        name = lock_name(self.lock_prefix, host, kind)
        with self._mutex:
            if name in self._held:
                return None
        driver = self._require_driver()

        def acquire() -> tuple[tooz.locking.Lock, bool]:
            lock = driver.get_lock(name)
            return lock, bool(lock.acquire(blocking=False))

        def release_late(result: tuple[tooz.locking.Lock, bool]) -> None:
            if result[1]:
                LOG.warning("lock %r acquired after its deadline: releasing it", name)
                quietly(result[0].release, f"late release {name!r}")

        lock, acquired = self._call(acquire, f"acquire {name!r}", on_late_result=release_late)
        if not acquired:
            return None
        held = HeldLock(host=host, name=name, tooz_lock=lock)
        with self._mutex:
            if self._driver is driver:
                self._held[name] = held
                return held
        LOG.info("coordinator stopped while acquiring %r: releasing it", name)
        quietly(lock.release, f"release {name!r}")
        return None

    def ask_lock(self, host: str) -> LockAnswer:
        """:meth:`try_lock` that tells "held by another" from "cannot ask" and never
        raises: TAKEN (with the lock), HELD, or UNAVAILABLE with the reason — a
        backend error or no answer within ``call_timeout``, or an earlier such answer
        less than ``unavailable_backoff`` seconds ago (then nothing is asked)."""
        try:
            lock = self.try_lock(host)
        except CoordinationError as e:
            return LockAnswer(LockState.UNAVAILABLE, reason=str(e))
        if lock is None:
            return LockAnswer(LockState.HELD)
        return LockAnswer(LockState.TAKEN, lock=lock)

    def unavailable(self) -> str | None:
        """Why the lock service is taken as unavailable right now, or None."""
        if self._session_down is not None:
            return self._session_down
        down = self._down
        if down is None or self._clock() >= down[0]:
            return None
        return down[1]

    def _on_session_state(self, state: str) -> None:
        """Kazoo's connection-state listener (runs in its thread: no calls here)."""
        if state == KazooState.CONNECTED:
            if self._session_down is not None:
                LOG.info("coordinator %s: ZooKeeper connection back", self.member_id)
            self._session_down = None
            return
        self._session_down = f"ZooKeeper connection {str(state).lower()}"
        LOG.warning("coordinator %s: %s", self.member_id, self._session_down)

    def _mark_down(self, reason: str) -> None:
        """Answer "unavailable" without asking for ``unavailable_backoff`` seconds."""
        log = LOG.warning if self.unavailable() is None else LOG.debug
        log(
            "coordinator %s: lock service unavailable (%s); not asked again for %gs",
            self.member_id,
            reason,
            self.unavailable_backoff,
        )
        self._down = (self._clock() + self.unavailable_backoff, reason)

    def still_owner(self, lock: HeldLock) -> bool:
        """True only if the backend confirms this coordinator still holds ``lock``.
        False on any error or timeout, and for a lock already released. When the
        backend says the lock is lost, it is forgotten (and its remains cleaned up),
        so that :meth:`try_lock` may take the host again. While the lock service is
        taken as unavailable (:meth:`unavailable`), False at once: the lock is
        forgotten and its release left to run in the background."""
        with self._mutex:
            if self._held.get(lock.name) is not lock:
                return False

        def check() -> bool:
            try:
                return bool(lock.tooz_lock.is_still_owner())
            except tooz.NotImplemented:
                # The driver cannot tell: trust its local state, if it keeps one.
                return bool(getattr(lock.tooz_lock, "acquired", True))

        try:
            owned = self._call(check, f"is_still_owner {lock.name!r}")
        except CoordinationError as e:
            LOG.warning("cannot confirm lock %r, assuming it lost: %s", lock.name, e)
            self._forget(lock, wait_release=False)
            return False
        if not owned:
            LOG.warning("lock %r was lost (expired or session ended)", lock.name)
            self._forget(lock)
        return owned

    def release(self, lock: HeldLock) -> None:
        """Release ``lock``; never raises. A lock already released or known to be
        lost is left alone; a failed release is logged (the lock will expire)."""
        if not self._forget(lock):
            LOG.debug("lock %r is not held by %s: nothing to release", lock.name, self.member_id)

    def _forget(self, lock: HeldLock, *, wait_release: bool = True) -> bool:
        """Drop ``lock`` from the held ones and release it in the backend (which, for
        a lost lock, only clears this client's state: tooz never deletes a lock that
        another holder owns). False if it was not held. ``wait_release=False`` hands
        the release to a call thread without waiting for it (the backend is down: it
        may answer late, or the lock expires with the session)."""
        with self._mutex:
            if self._held.get(lock.name) is not lock:
                return False
            del self._held[lock.name]
            runner = self._runner
        if not wait_release or self.unavailable() is not None:
            if runner is not None:
                runner.submit(lambda: quietly(lock.tooz_lock.release, f"release {lock.name!r}"))
            return True
        try:
            if not self._call(lock.tooz_lock.release, f"release {lock.name!r}"):
                LOG.info("lock %r was no longer held when released", lock.name)
        except CoordinationError as e:
            LOG.warning("releasing lock %r failed (it will expire): %s", lock.name, e)
        return True

    # --- membership ---------------------------------------------------------------

    def join(self, capabilities: dict | None = None) -> None:
        """Create the group if missing and join it; joining again updates the
        capabilities where the driver can."""
        driver = self._require_driver()
        group = self.group.encode()
        timeout = self.call_timeout

        def do_join() -> bool:
            try:
                driver.create_group(group).get(timeout=timeout)
            except tooz.coordination.GroupAlreadyExist:
                pass
            try:
                driver.join_group(group, capabilities).get(timeout=timeout)
            except tooz.coordination.MemberAlreadyExist:
                return False
            return True

        if not self._call(do_join, f"join {self.group!r}") and capabilities is not None:
            self.update_capabilities(capabilities)
        self._membership = dict(capabilities or {})

    def update_capabilities(self, capabilities: dict) -> None:
        driver = self._require_driver()
        group = self.group.encode()

        def update() -> None:
            try:
                driver.update_capabilities(group, capabilities).get(timeout=self.call_timeout)
            except tooz.NotImplemented:
                LOG.debug("%s cannot update capabilities; ignored", type(driver).__name__)

        self._call(update, f"update capabilities in {self.group!r}")
        if self._membership is not None:
            self._membership = dict(capabilities)

    def members(self) -> dict[str, dict]:
        """Live member ids → capabilities ({} where the driver has none)."""
        driver = self._require_driver()
        group = self.group.encode()

        def get() -> dict[str, dict]:
            try:
                try:
                    raw = driver.get_members_with_capabilities(group).get(timeout=self.call_timeout)
                except tooz.NotImplemented:
                    raw = {m: None for m in driver.get_members(group).get(self.call_timeout)}
            except tooz.coordination.GroupNotCreated:
                return {}
            return {_text(m): dict(c) if isinstance(c, dict) else {} for m, c in raw.items()}

        return self._call(get, f"members of {self.group!r}")

    def leave(self) -> None:
        driver = self._require_driver()
        group = self.group.encode()

        def do_leave() -> None:
            try:
                driver.leave_group(group).get(timeout=self.call_timeout)
            except (tooz.coordination.MemberNotJoined, tooz.coordination.GroupNotCreated):
                pass

        self._membership = None
        self._call(do_leave, f"leave {self.group!r}")

    def heartbeat(self) -> float | None:
        """One heartbeat now (the heartbeat thread does this on its own); returns the
        driver's hint of seconds until the next one is due."""
        driver = self._require_driver()
        return self._call(driver.heartbeat, "heartbeat")

    # --- internals ----------------------------------------------------------------

    def _beat_forever(
        self, driver: tooz.coordination.CoordinationDriver, stopping: threading.Event
    ) -> None:
        interval = self.heartbeat_interval
        beats = 0
        while not stopping.wait(interval):
            beats += 1
            try:
                hint = driver.heartbeat()
                if beats % MEMBERSHIP_CHECK_BEATS == 0:
                    self._ensure_member(driver)
            except Exception:
                LOG.warning("coordinator %s: heartbeat failed", self.member_id, exc_info=True)
                hint = None
            interval = self.heartbeat_interval
            if hint:
                interval = max(0.05, min(interval, float(hint) / 2.0))

    def _ensure_member(self, driver: tooz.coordination.CoordinationDriver) -> None:
        """Join again if we joined but the group no longer lists us."""
        capabilities = self._membership
        if capabilities is None:
            return
        group = self.group.encode()
        try:
            members = {_text(m) for m in driver.get_members(group).get(timeout=self.call_timeout)}
        except tooz.coordination.GroupNotCreated:
            members = set()
            try:
                driver.create_group(group).get(timeout=self.call_timeout)
            except tooz.coordination.GroupAlreadyExist:
                pass
        if self.member_id in members or self._membership is None:
            return
        LOG.warning(
            "coordinator %s fell out of group %r: joining again", self.member_id, self.group
        )
        try:
            driver.join_group(group, capabilities).get(timeout=self.call_timeout)
        except tooz.coordination.MemberAlreadyExist:
            pass

    def _require_driver(self) -> tooz.coordination.CoordinationDriver:
        driver = self._driver
        if driver is None:
            raise CoordinationError(f"{self!r} is not started")
        return driver

    def _call(
        self,
        fn: Callable[[], T],
        what: str,
        on_late_result: Callable[[T], None] | None = None,
    ) -> T:
        runner = self._runner
        if runner is None:
            raise CoordinationError(f"{self!r} is not started")
        down = self.unavailable()
        if down is not None:
            raise CoordinationError(f"{what}: not asked, lock service unavailable: {down}")
        on_late = None
        future = runner.submit(fn)
        if on_late_result is not None:
            on_late = lambda: on_late_result(future.result())  # noqa: E731
        return self._wait(future, what, on_late)

    def _wait(self, future: Future[T], what: str, on_late: Callable[[], None] | None = None) -> T:
        """The call's result within ``call_timeout``. A timeout or an outage error
        starts the back-off (:meth:`unavailable`); an answer ends it."""
        done, _ = wait([future], timeout=self.call_timeout)
        if not done:
            if not future.cancel() and on_late is not None:
                future.add_done_callback(lambda f: after_late(f, on_late, what))
            message = f"{what}: no answer within {self.call_timeout:g}s"
            self._mark_down(message)
            raise CoordinationTimeout(message)
        try:
            result = future.result()
        except _BACKEND_TIMEOUTS as e:
            message = f"{what}: backend timed out: {e}"
            self._mark_down(message)
            raise CoordinationTimeout(message) from e
        except _BACKEND_ERRORS as e:
            message = f"{what} failed: {e}"
            if isinstance(e, _OUTAGE_ERRORS):
                self._mark_down(message)
            raise CoordinationError(message) from e
        self._down = None
        return result

    def _bounded_quietly(self, runner: CallRunner, fn: Callable[[], Any], what: str) -> None:
        future = runner.submit(lambda: quietly(fn, what))
        if not wait([future], timeout=self.call_timeout)[0]:
            LOG.warning("%s: no answer within %gs, given up", what, self.call_timeout)


def _text(member_id: bytes | str) -> str:
    return member_id.decode() if isinstance(member_id, bytes) else member_id
