"""What the core tells sessions: immutable events, each rendered once per wire format.

A room's event is created once and handed to every member's mind. ``encoded`` keeps the bytes
each wire format made of it, so a 1,000-member room costs one render per protocol, not one per
recipient.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field


class LeaveReason(enum.Enum):
    """Why someone left a room; shown to the members who stay."""

    LEFT = "left"
    QUIT = "quit"
    LOST = "connection lost"
    TIMEOUT = "timed out"
    DELETED = "room deleted"
    SLOW = "dropped: not reading"
    FLOOD = "disconnected for flooding"


@dataclass(frozen=True, slots=True, eq=False)
class Event:
    """Base of all events; holds the per-format encoding cache."""

    wire: dict[Callable[[Event], bytes], bytes] = field(
        default_factory=dict, kw_only=True, repr=False, compare=False
    )

    def encoded(self, render: Callable[[Event], bytes]) -> bytes:
        """``render(self)``, computed once per renderer."""
        try:
            return self.wire[render]
        except KeyError:
            data = self.wire[render] = render(self)
            return data


@dataclass(frozen=True, slots=True, eq=False)
class Said(Event):
    """A message (or, with ``action``, an emote) in a room. ``origin`` is the id of the
    session that sent it: protocols whose clients don't expect their own messages back
    (IRC) skip it; a plain number, so the event can cross a broker between nodes."""

    room: str
    sender: str
    text: str
    action: bool = False
    origin: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class Private(Event):
    """A private message to one user (all of that user's sessions)."""

    sender: str
    recipient: str
    text: str


@dataclass(frozen=True, slots=True, eq=False)
class Joined(Event):
    """Someone joined a room."""

    room: str
    who: str


@dataclass(frozen=True, slots=True, eq=False)
class Left(Event):
    """Someone left a room, and why (a quit carries the user's message)."""

    room: str
    who: str
    reason: LeaveReason
    message: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class TopicSet(Event):
    """A room's topic changed."""

    room: str
    who: str
    topic: str


@dataclass(frozen=True, slots=True, eq=False)
class RoomChanged(Event):
    """The owner changed a room's settings; ``change`` is a short human phrase."""

    room: str
    who: str
    change: str


@dataclass(frozen=True, slots=True, eq=False)
class Notice(Event):
    """A message from the server itself."""

    text: str
