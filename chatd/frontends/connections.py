"""The live connections of one frontend, so that the daemon can close them all at shutdown.

Each connection has a ``close(why)`` that tells its client, in its own wire format, why it
is being closed, and closes once what was queued for it is sent. The set holds the
connections alone (a dict, for its order): a closure or bound method apiece would cost each
idle connection 64 bytes more.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime


class Closable(Protocol):
    def close(self, why: str) -> None: ...


class Connections:
    __slots__ = ("_clock", "_drained", "_live")

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._live: dict[Closable, None] = {}
        self._drained: Deferred[None] | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._live))

    def __len__(self) -> int:
        return len(self._live)

    def add(self, connection: Closable) -> None:
        self._live[connection] = None

    def remove(self, connection: Closable) -> None:
        self._live.pop(connection, None)
        drained = self._drained
        if not self._live and drained is not None and not drained.called:
            drained.callback(None)

    def shutdown(self, why: str, grace: float = 3.0) -> Deferred[None]:
        """Close every connection with ``why``; fire once all are gone, or after ``grace``
        seconds for clients that keep theirs open."""
        drained: Deferred[None] = Deferred()
        self._drained = drained
        if not self._live:
            drained.callback(None)
        for connection in list(self._live):
            connection.close(why)
        return drained.addTimeout(grace, self._clock).addErrback(lambda _: None)
