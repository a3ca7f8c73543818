"""Server address bans (KLINE, /kline) in ``bans.journal`` under the data directory.

A ban is one record of a ``KeyedFile`` keyed by its mask, so it is crash-safe the way
accounts and rooms are (checksummed appends, fsync before the operator is told, compaction
by rename). The bans in force are kept in memory too, in order of setting, so that admission
asks ``match`` of every new connection without touching the disk; an expired ban is dropped
the first time it is looked at (and from the file at its next write).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from chatd.kernel.addresses import mask_matches
from chatd.kernel.interfaces import IAddressBans
from chatd.kernel.records import AddressBan
from chatd.storage.keyed import Fields, KeyedFile, fields_problem

log = Logger()

_REQUIRED: Fields = {"reason": (str,), "by": (str,), "at": (int, float),
                     "expires": (int, float)}


def ban_problem(value: dict[str, Any]) -> str | None:
    """What makes a stored ban unusable (a missing or mistyped field), or None."""
    return fields_problem(value, "ban", _REQUIRED)


@implementer(IAddressBans)
class FileAddressBans:
    def __init__(self, file: KeyedFile, clock: IReactorTime) -> None:
        self._file = file
        self._clock = clock
        self._bans: dict[str, AddressBan] = {}
        self._watchers: list[Callable[[AddressBan], None]] = []

    def load(self) -> None:
        """Read the journal (at start-up)."""
        self._file.load(ban_problem)
        bans = [AddressBan(key, value["reason"], value["by"], float(value["at"]),
                           float(value["expires"]))
                for key, value in self._file.live.items()]
        self._bans = {ban.mask: ban for ban in sorted(bans, key=lambda ban: ban.at)}

    def add(self, ban: AddressBan) -> Deferred[None]:
        self._bans.pop(ban.mask, None)
        self._bans[ban.mask] = ban
        for added in self._watchers:
            added(ban)
        return self._file.put(ban.mask, {"reason": ban.reason, "by": ban.by, "at": ban.at,
                                         "expires": ban.expires})

    def remove(self, mask: str) -> Deferred[bool]:
        if self._bans.pop(mask, None) is None:
            return succeed(False)
        return self._file.delete(mask).addCallback(lambda _: True)

    def active(self) -> list[AddressBan]:
        now = self._clock.seconds()
        expired = [ban for ban in self._bans.values() if ban.expires and ban.expires <= now]
        for ban in expired:
            log.info("the ban on {mask} expired", mask=ban.mask)
            del self._bans[ban.mask]
            self._file.delete(ban.mask).addErrback(
                lambda failure: log.failure("forgetting an expired ban failed", failure))
        return list(self._bans.values())

    def match(self, host: str) -> AddressBan | None:
        if not self._bans:  # nearly always: a connection pays one test
            return None
        for ban in self.active():
            if mask_matches(ban.mask, host):
                return ban
        return None

    def watch(self, added: Callable[[AddressBan], None]) -> None:
        self._watchers.append(added)
