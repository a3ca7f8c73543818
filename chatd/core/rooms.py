"""Rooms and the users in them: who is in which room.

Membership is by user, not by connection: an account logged in on a phone and a laptop is one
member, and the room's events reach both sessions (delivery, outside the core, sees to that).
The join and leave notices therefore speak of users, and a member limit counts users.
"""

from __future__ import annotations

from typing import Protocol

from chatd.kernel.events import LeaveReason
from chatd.kernel.records import RoomRecord


class Seat(Protocol):
    """What the core needs of a user's session: which room it talks in, and ending it. (A
    Session; named by its shape so that this module does not import the one that uses it.)"""

    current_room: Room | None
    id: str

    @property
    def key(self) -> str: ...

    def quit(self, reason: LeaveReason = LeaveReason.LOST, message: str = "") -> None: ...


class User:
    """Someone online: a guest nick (one session) or an account (one or more sessions)."""

    __slots__ = ("account_id", "away", "guest", "key", "name", "rooms", "sessions")

    def __init__(self, name: str, key: str, guest: bool, account_id: str = "") -> None:
        self.name = name
        self.key = key
        self.guest = guest
        # The account's id (empty for a guest): what owns rooms, never the name.
        self.account_id = account_id
        self.sessions: list[Seat] = []
        self.rooms: dict[str, Room] = {}
        # Why the user is away ("" if not): one status for every session and protocol, gone
        # with the user's last session.
        self.away = ""


class Room:
    """A room: temporary (no owner; gone when empty) or persistent (owned by an account).

    ``owner`` is the owner's display name, kept for show and for rooms stored before account
    ids; ``owner_id`` is what owns it. Empty (a room not yet resolved, see
    ChatServer.resolve_owners) or an id no account has (the account was deleted), it is owned
    by nobody until an operator gives it to an account.
    """

    __slots__ = ("key", "limit", "members", "name", "owner", "owner_id", "password_hash",
                 "topic")

    def __init__(
        self,
        name: str,
        key: str,
        limit: int,
        owner: str | None = None,
        password_hash: str | None = None,
        topic: str = "",
        owner_id: str = "",
    ) -> None:
        self.name = name
        self.key = key
        self.limit = limit
        self.owner = owner
        self.owner_id = owner_id
        self.password_hash = password_hash
        self.topic = topic
        self.members: dict[str, User] = {}

    @classmethod
    def from_record(cls, record: RoomRecord) -> Room:
        return cls(
            record.name,
            record.key,
            record.limit,
            record.owner,
            record.password_hash,
            record.topic,
            record.owner_id,
        )

    @property
    def persistent(self) -> bool:
        return self.owner is not None

    @property
    def locked(self) -> bool:
        return self.password_hash is not None

    def owned_by(self, user: User) -> bool:
        """The ownership rule, in one place: the account whose id the room holds (never a
        name: a deleted account's name registered again owns nothing of the old one's)."""
        return bool(self.owner_id) and not user.guest and user.account_id == self.owner_id

    def record(self) -> RoomRecord:
        """The durable part of this room (a persistent room only)."""
        assert self.owner is not None
        return RoomRecord(
            self.key, self.name, self.owner, self.limit, self.password_hash, self.topic,
            self.owner_id,
        )
