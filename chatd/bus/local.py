"""The bus of one process: publishing is a direct call to each listener.

Several nodes share rooms through the other implementation of the same seam,
``chatd.bus.redis.RedisBus``, which publishes to Redis and hands what arrives to the same
listeners. Nothing here knows a wire format.
"""

from __future__ import annotations

from collections.abc import Callable

from zope.interface import implementer

from chatd.kernel.events import Event
from chatd.kernel.interfaces import IBus, IBusListener


@implementer(IBus)
class LocalBus:
    # The listeners' methods, bound once: every message said is one call per listener.
    __slots__ = ("_listeners", "_room_events", "_user_events")

    def __init__(self) -> None:
        self._listeners: list[IBusListener] = []
        self._room_events: tuple[Callable[[str, Event], None], ...] = ()
        self._user_events: tuple[Callable[[str, Event], None], ...] = ()

    def listen(self, listener: IBusListener) -> None:
        self._listeners.append(listener)
        self._room_events = tuple(each.room_event for each in self._listeners)
        self._user_events = tuple(each.user_event for each in self._listeners)

    def to_room(self, room_key: str, event: Event) -> None:
        for room_event in self._room_events:
            room_event(room_key, event)

    def to_user(self, user_key: str, event: Event) -> None:
        for user_event in self._user_events:
            user_event(user_key, event)
