"""What a frontend may see of the core: frozen snapshots, made by the core, answered by
``IChatSession``.

A frontend never holds a core object: it gets these views, which the core builds with its
rules already applied (a locked room's members are missing for a non-member; ``owner`` on a
member is the core's ownership rule, written once). So a frontend can't change the core by
accident, nor apply a rule differently from another frontend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from chatd.kernel.events import Event


class Ident(NamedTuple):
    """How a user described itself when it connected (IRC's USER: a username and a real
    name): opaque to the core, which only keeps it for WHO, WHOIS and WHOWAS to show.
    Empty strings: not given (a line or web user)."""

    username: str = ""
    realname: str = ""


NO_IDENT = Ident()


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
    ident: Ident = NO_IDENT
    # A server operator (WHO's ``*``).
    server_operator: bool = False
    # Its seat is held and it has no live session (chatd.core.seats): shown inactive.
    inactive: bool = False
    bot: bool = False  # marked itself a bot (IRC's WHO flag B)


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room. ``members`` is empty unless asked for and visible (sorted by folded name);
    ``count`` is always the number of members; ``modes`` the set flags (``imnst``); ``owner``
    None for a temporary room, "" for a persistent one that nobody owns. ``created`` when it
    was made, ``topic_by`` and ``topic_at`` who set its topic when (0 and "": unknown)."""

    name: str
    key: str
    limit: int
    count: int
    locked: bool
    owner: str | None
    topic: str
    members: tuple[MemberView, ...] = ()
    modes: str = ""
    created: float = 0.0
    topic_by: str = ""
    topic_at: float = 0.0

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
    # ``ITalk.message``'s answer: the id and time of the private message just sent, so a
    # protocol that echoes it to its sender (IRC's echo-message) names it as history does.
    sent_id: str = ""
    sent_at: float = 0.0
    ident: Ident = NO_IDENT
    # A server operator (WHO's ``*``, WHOIS's 313, USERHOST's ``*``).
    server_operator: bool = False
    # The user marked itself a bot (IRC's user mode +B; WHOIS 335 RPL_WHOISBOT).
    bot: bool = False


@dataclass(frozen=True, slots=True)
class DepartureView:
    """Someone who was online under ``name`` (WHOWAS): who it said it was, whether a guest,
    when it logged in and when it left that name (logged out or was renamed)."""

    name: str
    ident: Ident
    guest: bool
    signon: float
    left: float


@dataclass(frozen=True, slots=True)
class ServerView:
    """The server's counts and the limits a client may need to know. ``sessions`` counts
    every node's; ``local`` this node's; ``peak`` and ``local_peak`` the most of each at
    once since the server started."""

    sessions: int
    users: int
    rooms: int
    max_room_limit: int
    local: int = 0
    peak: int = 0
    local_peak: int = 0
    default_room_limit: int = 0


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


@dataclass(frozen=True, slots=True)
class Missed:
    """What a resumed seat missed in one conversation (``chatd.core.seats``): ``target`` is a
    room's name (``room``) or, for private messages, the other party's; ``events`` oldest
    first; ``more``, how many earlier ones were left out (``/history`` reads them)."""

    target: str
    room: bool
    events: tuple[Event, ...]
    more: int = 0
