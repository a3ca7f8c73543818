"""Password hashing with argon2id, always in a bounded thread pool.

A hash is the self-describing PHC string argon2-cffi produces (algorithm, version, memory,
time, parallelism, salt, digest), so parameters can be raised later and old hashes recognised
by ``needs_rehash``. At most ``max_queued`` hashes may be waiting or running: past that a login
is refused with ServerBusy instead of growing memory and latency without bound.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from chatd.kernel.errors import ServerBusy
from chatd.kernel.interfaces import IPasswordHasher
from chatd.kernel.keys import DEFAULTS, shared

T = TypeVar("T")


_thread = threading.local()


def _lowered(work: Callable[[], T]) -> Callable[[], T]:
    """``work``, run at a lower CPU priority than the reactor (once per hashing thread).

    On two cores, a storm of logins would otherwise take the core the reactor needs, and
    chat latency would grow with it. On Linux the nice value is per thread, and argon2's
    own lane threads inherit it from the thread that starts them.
    """

    def run() -> T:
        if not getattr(_thread, "lowered", False):
            _thread.lowered = True
            if sys.platform.startswith("linux"):
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        return work()

    return run


@dataclass(frozen=True, slots=True)
class HashParameters:
    """argon2id cost: time (passes), memory in KiB, lanes. Defaults are RFC 9106's second
    recommended option, about 50 ms and 64 MiB per hash on one core here."""

    time_cost: int = shared("hash-time-cost")
    memory_kib: int = shared("hash-memory-kib")
    parallelism: int = shared("hash-parallelism")


@implementer(IPasswordHasher)
class Argon2Hasher:
    """argon2id in a thread pool the caller owns (started and stopped by a service)."""

    def __init__(
        self,
        reactor: IReactorFromThreads,
        pool: ThreadPool,
        parameters: HashParameters,
        max_queued: int = DEFAULTS["hash-queue"],
    ) -> None:
        self._reactor = reactor
        self._pool = pool
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
        )
        self._max_queued = max_queued
        self._queued = 0
        # Verified against for unknown names, so a miss costs what a hit costs.
        self._nobody = self._hasher.hash("chatd: nobody has this password")

    def _run(self, work: Callable[[], T]) -> Deferred[T]:
        if self._queued >= self._max_queued:
            raise ServerBusy("the server is busy checking passwords; retry in a few seconds")
        self._queued += 1

        def done(result: T) -> T:
            self._queued -= 1
            return result

        return deferToThreadPool(self._reactor, self._pool, _lowered(work)).addBoth(done)

    def hash(self, password: str) -> Deferred[str]:
        return self._run(lambda: self._hasher.hash(password))

    def _check(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify(self, hashed: str, password: str) -> Deferred[bool]:
        return self._run(lambda: self._check(hashed, password))

    def verify_nobody(self, password: str) -> Deferred[bool]:
        return self._run(lambda: self._check(self._nobody, password) and False)

    def needs_rehash(self, hashed: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(hashed)
        except InvalidHashError:
            return True
