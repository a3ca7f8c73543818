"""What a frontend may see of the core: frozen snapshots, made by the core, answered by
``IChatSession``.

A frontend never holds a core object: it gets these views, which the core builds with its
rules already applied (a locked room's members are missing for a non-member; ``owner`` on a
member is the core's ownership rule, written once). So a frontend can't change the core by
accident, nor apply a rule differently from another frontend.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MemberView:
    """One member of a room as others see it: ``operator`` (the owner is one) and
    ``voiced`` as the room's Room methods decide; ``unreachable`` while it is on other
    nodes only and this node can't reach them (a cluster cut from Redis)."""

    name: str
    key: str
    guest: bool
    owner: bool
    away: str = ""  # why the member is away; "" if not
    operator: bool = False
    voiced: bool = False
    unreachable: bool = False
    bot: bool = False  # marked itself a bot (IRC's WHO flag B)


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room. ``members`` is empty unless asked for and visible (sorted by folded name);
    ``count`` is always the number of members; ``modes`` the set flags (``imt``); ``owner``
    None for a temporary room, "" for a persistent one that nobody owns."""

    name: str
    key: str
    limit: int
    count: int
    locked: bool
    owner: str | None
    topic: str
    members: tuple[MemberView, ...] = ()
    modes: str = ""

    @property
    def persistent(self) -> bool:
        return self.owner is not None


@dataclass(frozen=True, slots=True)
class Membership:
    """One room a user is in, and whether that user owns it, is an operator, has voice."""

    room: str
    owner: bool
    operator: bool = False
    voiced: bool = False


@dataclass(frozen=True, slots=True)
class UserView:
    """Someone online. ``rooms`` lists only the rooms the asking session may know of;
    ``idle`` is the seconds since the user last talked; ``signon`` when it logged in;
    ``unreachable`` as a MemberView's."""

    name: str
    key: str
    guest: bool
    sessions: int
    rooms: tuple[Membership, ...] = ()
    away: str = ""  # why the user is away; "" if not
    idle: float = 0.0
    signon: float = 0.0
    unreachable: bool = False
    # The id of the message just sent to this user, when the view answers sending one
    # (``message``, ``tag_user``): IRC's echo-message gives the sender the same msgid.
    sent: str = ""
    # The user marked itself a bot (IRC's user mode +B; WHOIS 335 RPL_WHOISBOT).
    bot: bool = False


@dataclass(frozen=True, slots=True)
class ServerView:
    """The server's counts and the limits a client may need to know."""

    sessions: int
    users: int
    rooms: int
    max_room_limit: int


@dataclass(frozen=True, slots=True)
class TokenView:
    """A room token (``IChatSession.token``): what a UDP datagram carries to speak in
    ``room`` as this session, until ``expires`` (the server clock's seconds) or until the
    member leaves the room or logs out. ``lifetime`` is its life in seconds from now."""

    token: str
    room: str
    expires: float
    lifetime: float


@dataclass(frozen=True, slots=True)
class FileView:
    """A shared file's metadata, as the file store keeps it and a member sees it.

    ``name`` is the sanitised display name, never a path: the stored file is named by ``id``.
    ``room_key`` and ``sender_key`` are folded names, what the quotas and the membership rule
    count by; ``at`` is when the upload was acknowledged."""

    id: str
    room: str
    room_key: str
    sender: str
    sender_key: str
    name: str
    size: int
    sha256: str
    at: float
