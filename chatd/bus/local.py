"""The bus of one process: publishing is a direct call to each listener.

It is the seam where several nodes would share rooms through a broker: a bus that publishes
there and hands what arrives to the same listeners. Nothing here knows a wire format.
"""

from __future__ import annotations

from zope.interface import implementer

from chatd.kernel.events import Event
from chatd.kernel.interfaces import IBus, IBusListener


@implementer(IBus)
class LocalBus:
    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[IBusListener] = []

    def listen(self, listener: IBusListener) -> None:
        self._listeners.append(listener)

    def to_room(self, room_key: str, event: Event) -> None:
        for listener in self._listeners:
            listener.room_event(room_key, event)

    def to_user(self, user_key: str, event: Event) -> None:
        for listener in self._listeners:
            listener.user_event(user_key, event)
