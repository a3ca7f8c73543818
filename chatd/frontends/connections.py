"""The live connections of one frontend, so that the daemon can close them all at shutdown.

Each connection registers a ``close(why)`` that tells its client, in its own wire format,
why it is being closed, and closes once what was queued for it is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

Closer = Callable[[str], None]


class Connections:
    __slots__ = ("_clock", "_drained", "_live")

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._live: dict[object, Closer] = {}
        self._drained: Deferred[None] | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._live))

    def add(self, connection: object, close: Closer) -> None:
        self._live[connection] = close

    def remove(self, connection: object) -> None:
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
        for close in list(self._live.values()):
            close(why)
        return drained.addTimeout(grace, self._clock).addErrback(lambda _: None)
