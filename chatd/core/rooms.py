"""Rooms and the users in them: who is in which room, and delivery of a room's events.

Membership is by user, not by connection: an account logged in on a phone and a laptop is one
member, and both sessions receive the room's events. The join and leave notices therefore
speak of users, and a member limit counts users.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chatd.kernel.events import Event, Said
from chatd.kernel.records import RoomRecord

if TYPE_CHECKING:
    from chatd.core.service import Session

Render = Callable[[Event], bytes]
Write = Callable[[bytes], None]


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
        "_echo",
        "_no_echo",
        "_plain",
        "_targets",
        "key",
        "limit",
        "members",
        "name",
        "owner",
        "password_hash",
        "topic",
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
        # Every member session's deliver, flattened, for events; and for room messages, the
        # sessions' writes grouped by wire format (see IChatMind). Rebuilt after a membership
        # change, so a message costs one render per format and one call per recipient.
        self._targets: list[Callable[[Event], None]] | None = None
        self._echo: dict[Render, list[Write]] = {}
        self._no_echo: dict[Render, list[tuple[int, Write]]] = {}
        self._plain: list[Callable[[Event], None]] = []  # minds without a render

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

    def _rebuild(self) -> list[Callable[[Event], None]]:
        targets: list[Callable[[Event], None]] = []
        self._echo, self._no_echo, self._plain = {}, {}, []
        for user in self.members.values():
            for session in user.sessions:
                mind = session.mind
                targets.append(mind.deliver)
                if mind.render is None:
                    self._plain.append(mind.deliver)
                    continue
                if mind.echo:
                    self._echo.setdefault(mind.render, []).append(mind.write)
                else:
                    self._no_echo.setdefault(mind.render, []).append((session.id, mind.write))
        self._targets = targets
        return targets

    def fanout(self, event: Event) -> None:
        """Hand ``event`` to every member's sessions. No per-recipient work but the call."""
        targets = self._targets
        if targets is None:
            targets = self._rebuild()
        for deliver in targets:
            deliver(event)

    def say(self, event: Said) -> None:
        """A room message: rendered once per format, written to each session."""
        if self._targets is None:
            self._rebuild()
        for render, writes in self._echo.items():
            data = event.encoded(render)
            for write in writes:
                write(data)
        origin = event.origin
        for render, pairs in self._no_echo.items():
            data = event.encoded(render)
            for session_id, write in pairs:
                if session_id != origin:
                    write(data)
        for deliver in self._plain:
            deliver(event)


class LocalBus:
    """Where a room's events go before delivery.

    In one process this is a direct call. It is the seam where several chatd nodes would
    share rooms through a broker: publish there, and deliver locally what arrives.
    """

    __slots__ = ()

    def publish(self, room: Room, event: Event) -> None:
        if type(event) is Said:
            room.say(event)
        else:
            room.fanout(event)
