"""Rooms and the users in them: who is in which room, and delivery of a room's events.

Membership is by user, not by connection: an account logged in on a phone and a laptop is one
member, and both sessions receive the room's events. The join and leave notices therefore
speak of users, and a member limit counts users.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chatd.core.records import RoomRecord

if TYPE_CHECKING:
    from chatd.core.events import Event
    from chatd.core.service import Session


class User:
    """Someone online: a guest nick (one session) or an account (one or more sessions)."""

    __slots__ = ("guest", "key", "name", "rooms", "sessions")

    def __init__(self, name: str, key: str, guest: bool) -> None:
        self.name = name
        self.key = key
        self.guest = guest
        self.sessions: list[Session] = []
        self.rooms: dict[str, Room] = {}

    def deliver(self, event: Event) -> None:
        for session in self.sessions:
            session.mind.deliver(event)


class Room:
    """A room: temporary (no owner; gone when empty) or persistent (owned by an account)."""

    __slots__ = (
        "_targets", "key", "limit", "members", "name", "owner", "password_hash", "topic"
    )

    def __init__(
        self,
        name: str,
        key: str,
        limit: int,
        owner: str | None = None,
        password_hash: str | None = None,
        topic: str = "",
    ) -> None:
        self.name = name
        self.key = key
        self.limit = limit
        self.owner = owner
        self.password_hash = password_hash
        self.topic = topic
        self.members: dict[str, User] = {}
        # Every member session's deliver, flattened: rebuilt after a membership change, so a
        # message costs one call per recipient and nothing more.
        self._targets: list[Callable[[Event], None]] | None = None

    def add(self, user: User) -> None:
        self.members[user.key] = user
        self._targets = None

    def discard(self, user: User) -> None:
        del self.members[user.key]
        self._targets = None

    def sessions_changed(self) -> None:
        """A member logged in or out on one of several devices."""
        self._targets = None

    @classmethod
    def from_record(cls, record: RoomRecord) -> Room:
        return cls(
            record.name,
            record.key,
            record.limit,
            record.owner,
            record.password_hash,
            record.topic,
        )

    @property
    def persistent(self) -> bool:
        return self.owner is not None

    @property
    def locked(self) -> bool:
        return self.password_hash is not None

    def record(self) -> RoomRecord:
        """The durable part of this room (a persistent room only)."""
        assert self.owner is not None
        return RoomRecord(
            self.key, self.name, self.owner, self.limit, self.password_hash, self.topic
        )

    def fanout(self, event: Event) -> None:
        """Hand ``event`` to every member's sessions. No per-recipient work but the call."""
        targets = self._targets
        if targets is None:
            targets = self._targets = [
                session.mind.deliver for user in self.members.values() for session in user.sessions
            ]
        for deliver in targets:
            deliver(event)


class LocalBus:
    """Where a room's events go before delivery.

    In one process this is a direct call. It is the seam where several chatd nodes would
    share rooms through a broker: publish there, and deliver locally what arrives.
    """

    __slots__ = ()

    def publish(self, room: Room, event: Event) -> None:
        room.fanout(event)
