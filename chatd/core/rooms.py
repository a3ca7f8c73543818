"""Rooms and the users in them: who is in which room.

Membership is by user, not by connection: an account logged in on a phone and a laptop is one
member, and the room's events reach both sessions (delivery, outside the core, sees to that).
The join and leave notices therefore speak of users, and a member limit counts users.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Protocol, cast

from chatd.kernel.events import LeaveReason
from chatd.kernel.history import room_conversation
from chatd.kernel.names import fold
from chatd.kernel.records import NO_OWNER, RoomRecord
from chatd.kernel.views import NO_IDENT

# The mode letters a room can have set: invite-only, moderated, no messages from outside (a
# non-member may talk to a room without it), secret (hidden from those not in it: room lists,
# who is in it, which rooms a user is in), topic locked to operators.
FLAGS = "imnst"


@lru_cache(maxsize=1024)
def _pattern(mask: str) -> re.Pattern[str]:
    """A ban mask (folded; ``*`` any run, ``?`` any one character) as a regular expression."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in mask), re.DOTALL)


def ban_mask(mask: str) -> str:
    """How a ban is kept and compared: folded, so ``Ann`` bans ``ann``."""
    return fold(mask)


class Seat(Protocol):
    """What the core needs of a user's session: which room it talks in, and ending it. (A
    Session; named by its shape so that this module does not import the one that uses it.)"""

    current_room: Room | None
    id: str
    user: User

    @property
    def key(self) -> str: ...

    def quit(self, reason: LeaveReason = LeaveReason.LOST, message: str = "") -> None: ...


# What a user in no room, or on no other node, has: one shared empty mapping, read-only, so
# that thousands of idle users do not each keep two empty dicts (docs/performance.md).
NO_ROOMS: Mapping[str, Room] = MappingProxyType({})
NO_NODES: Mapping[str, int] = MappingProxyType({})
# A user's read markers before it reads anything (chatd.core.reading).
NO_MARKERS: Mapping[str, str] = MappingProxyType({})


class User:
    """Someone online: a guest nick (one session) or an account (one or more sessions).

    ``rooms`` and ``remote`` are read-only mappings to everyone else; ``enter``/``exit`` and
    ``count_remote`` change them."""

    __slots__ = ("account_id", "active", "always_on", "away", "bot", "guest", "ident", "key",
                 "markers",
                 "name", "operator", "remote", "rooms", "sessions", "signon", "wallops")

    def __init__(self, name: str, key: str, guest: bool, account_id: str = "",
                 now: float = 0.0) -> None:
        self.name = name
        self.key = key
        self.guest = guest
        # The account's id (empty for a guest): what owns rooms, never the name.
        self.account_id = account_id
        # A tuple, made anew at each login and logout: most users have one session, and a
        # list for it costs more on each idle connection (docs/performance.md).
        self.sessions: tuple[Seat, ...] = ()
        # In a cluster, the user's sessions on other nodes: node name -> how many (kept by
        # chatd.core.replica from what those nodes publish; empty on a single node).
        self.remote = NO_NODES
        self.rooms = NO_ROOMS
        # Why the user is away ("" if not): one status for every session and protocol, gone
        # with the user's last session.
        self.away = ""
        # Marked a bot by itself (IRC's user mode +B): its messages say so.
        self.bot = False
        # When it logged in and last talked (WHOIS shows the idle time).
        self.signon = self.active = now
        # The name it became a server operator as ("": not one; chatd.core.operators), and
        # whether it gets WALLOPS (IRC's user mode w): gone with its last session.
        self.operator = ""
        self.wallops = False
        # How its latest session described it (IRC's USER), shared until one does.
        self.ident = NO_IDENT
        # Read markers (chatd.core.reading): an account's, loaded at its first login here
        # and kept by the member directory; a guest's, only while it is online.
        self.markers = NO_MARKERS
        # An account's own ``/set always-on`` (kept by the member directory, loaded at
        # login); None: the server's ``always-on`` decides (chatd.core.seats).
        self.always_on: bool | None = None

    @property
    def session_total(self) -> int:
        """Its sessions here and on every other node."""
        return len(self.sessions) + sum(self.remote.values())

    def enter(self, room: Room) -> None:
        if self.rooms is NO_ROOMS:
            self.rooms = {room.key: room}
        else:
            cast(dict[str, Room], self.rooms)[room.key] = room

    def exit(self, room_key: str) -> None:
        """Out of the room (if it was in it)."""
        rooms = self.rooms
        if room_key in rooms:
            if len(rooms) == 1:
                self.rooms = NO_ROOMS
            else:
                del cast(dict[str, Room], rooms)[room_key]

    def count_remote(self, node: str, count: int) -> None:
        """``node`` has ``count`` sessions of this user (0: none)."""
        remote = self.remote
        if count:
            if remote is NO_NODES:
                self.remote = {node: count}
            else:
                cast(dict[str, int], remote)[node] = count
        elif node in remote:
            if len(remote) == 1:
                self.remote = NO_NODES
            else:
                del cast(dict[str, int], remote)[node]


class Room:
    """A room: temporary (no owner; gone when empty) or persistent (owned by an account).

    ``owner`` is the owner's display name, kept for show and for rooms stored before account
    ids; ``owner_id`` is what owns it. Empty (a room not yet resolved, see
    Definitions.resolve_owners) or NO_OWNER (the account was deleted), it is owned by nobody,
    and shown so, until an operator gives it to an account.

    Moderation: the owner is always an operator; ``operators`` and ``voiced`` are the members
    made so (the first member of a temporary room, and whoever an operator names), kept while
    they stay. ``bans`` and ``flags`` (see FLAGS) are stored with a persistent room;
    ``invited`` (user keys an operator invited) lasts as long as the room in memory.

    ``id`` is made when the room is created (stored with a persistent room, carried to the
    other nodes of a cluster): history and shared files are kept under ``conversation``, so
    they end with this room and are never shown to a later room of the same name.
    """

    __slots__ = ("bans", "conversation", "created", "flags", "id", "invited", "key", "limit",
                 "members", "name", "operators", "owner", "owner_id", "password_hash", "topic",
                 "topic_at", "topic_by", "voiced")

    def __init__(
        self,
        name: str,
        key: str,
        limit: int,
        owner: str | None = None,
        password_hash: str | None = None,
        topic: str = "",
        owner_id: str = "",
        bans: tuple[str, ...] = (),
        flags: str = "",
        id: str = "",
        created: float = 0.0,
    ) -> None:
        self.name = name
        self.key = key
        self.id = id
        # Where its history and files are kept: this room's, never its name's.
        self.conversation = room_conversation(key, id)
        self.limit = limit
        self.owner = owner
        self.owner_id = owner_id
        self.password_hash = password_hash
        self.topic = topic
        # When the room was made here (0: unknown, a stored room) and who set the topic when
        # (empty and 0: unknown, a stored topic): shown to IRC clients (329, 333), never saved.
        self.created = created
        self.topic_by = ""
        self.topic_at = 0.0
        self.members: dict[str, User] = {}
        self.bans = list(bans)
        self.flags = set(flags)
        self.operators: set[str] = set()
        self.voiced: set[str] = set()
        self.invited: set[str] = set()

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
            record.bans,
            record.modes,
            record.id,
        )

    def redefine(self, record: RoomRecord) -> None:
        """Take a stored definition made elsewhere; members and who is operator, voiced or
        invited stay as they are here."""
        self.name = record.name
        self.limit = record.limit
        self.owner = record.owner
        self.owner_id = record.owner_id
        self.password_hash = record.password_hash
        self.topic = record.topic
        self.bans = list(record.bans)
        self.flags = set(record.modes)
        self.identify(record.id)

    def identify(self, id: str) -> None:
        """This room is the one ``id`` names (a definition made elsewhere, or another node's
        copy of the same temporary room)."""
        self.id = id
        self.conversation = room_conversation(self.key, id)

    @property
    def persistent(self) -> bool:
        return self.owner is not None

    @property
    def locked(self) -> bool:
        return self.password_hash is not None

    @property
    def shown_owner(self) -> str | None:
        """Whom the room is shown as owned by: None for a temporary room, "" for one owned by
        nobody (never the name of a deleted owner, which someone else may have now)."""
        if self.owner is None or self.owner_id in ("", NO_OWNER):
            return None if self.owner is None else ""
        return self.owner

    def owned_by(self, user: User) -> bool:
        """The ownership rule, in one place: the account whose id the room holds (never a
        name: a deleted account's name registered again owns nothing of the old one's)."""
        return bool(self.owner_id) and not user.guest and user.account_id == self.owner_id

    def is_operator(self, user: User) -> bool:
        """The operator rule, in one place: the owner, and the members made operators."""
        return user.key in self.operators or self.owned_by(user)

    def is_voiced(self, user: User) -> bool:
        return user.key in self.voiced

    def may_speak(self, user: User) -> bool:
        """In a moderated room (+m) only operators and voiced members talk."""
        return "m" not in self.flags or user.key in self.voiced or self.is_operator(user)

    def may_set_topic(self, user: User) -> bool:
        """With the topic locked (+t), operators only; otherwise any member."""
        if "t" in self.flags:
            return self.is_operator(user)
        return user.key in self.members or self.owned_by(user)

    def banned(self, user: User) -> str | None:
        """The ban mask that keeps ``user`` out, or None. The owner is never banned from
        its own room, nor is anyone an operator invited."""
        if self.owned_by(user) or user.key in self.invited:
            return None
        return next((mask for mask in self.bans if _pattern(mask).fullmatch(user.key)), None)

    def hides_from(self, user: User) -> bool:
        """Secret (+s) and ``user`` not in it: the room is not listed to it, nor its
        members shown."""
        return "s" in self.flags and user.key not in self.members

    def takes_from(self, user: User) -> bool:
        """Whether ``user`` may talk to the room from outside it: not with +n (no external
        messages), and never a banned user."""
        return "n" not in self.flags and self.banned(user) is None

    def shuts_out(self, user: User) -> bool:
        """Invite-only (+i) and ``user`` neither invited nor the owner."""
        return "i" in self.flags and user.key not in self.invited and not self.owned_by(user)

    def passes_key(self, user: User) -> bool:
        """Whether ``user`` joins without the room's key (if it has one): its operators (the
        owner always is one) and whoever an operator invited."""
        return user.key in self.invited or self.is_operator(user)

    def forget(self, key: str) -> None:
        """A member left: its operator and voice status go with it (as on IRC)."""
        self.operators.discard(key)
        self.voiced.discard(key)

    def rekey(self, old: str, user: User) -> None:
        """A member was renamed from the key ``old``."""
        if self.members.pop(old, None) is not None:
            self.members[user.key] = user
        for keys in (self.operators, self.voiced, self.invited):
            if old in keys:
                keys.discard(old)
                keys.add(user.key)

    @property
    def modes(self) -> str:
        """The set flags, in order (``imnst``)."""
        return "".join(flag for flag in FLAGS if flag in self.flags)

    def record(self) -> RoomRecord:
        """The durable part of this room (a persistent room only)."""
        assert self.owner is not None
        return RoomRecord(
            self.key, self.name, self.owner, self.limit, self.password_hash, self.topic,
            self.owner_id, tuple(self.bans), self.modes, self.id,
        )
