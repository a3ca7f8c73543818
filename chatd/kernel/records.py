"""Plain records that cross the seams: what a store keeps and a directory answers."""

from dataclasses import dataclass

# A room's ``owner_id`` when its owner's account was already gone as the room was given
# account ids: no account id is ever this (they are hex), so nobody owns the room.
NO_OWNER = "-"


@dataclass(frozen=True, slots=True)
class Account:
    """A registered account as the chat side sees it (the hash never leaves the directory).

    ``id`` is given at signup and never changes nor returns: what owns rooms, so whoever
    registers a deleted account's name gets the name and nothing else. Empty from a member
    service that predates account ids; such an account owns nothing."""

    name: str
    key: str
    id: str


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A persistent room's definition; ``key`` is the folded name, ``owner`` the owner's
    display name (for show), ``owner_id`` the owning account's id (empty in a room stored
    before account ids, until the start-up resolves it; NO_OWNER if that account was gone)."""

    key: str
    name: str
    owner: str
    limit: int
    password_hash: str | None
    topic: str
    owner_id: str = ""
    # Ban masks (a name, or a pattern with * and ?) and the mode letters set ("i", "m", "t").
    bans: tuple[str, ...] = ()
    modes: str = "t"
    # The room's identity, made when it was created: what its history and files are kept
    # under, so a later room of the same name starts empty. Empty in a room stored before
    # room ids, which keeps what is stored under its name (``room_conversation``).
    id: str = ""


@dataclass(frozen=True, slots=True)
class AddressBan:
    """A server ban on client addresses (IRC's KLINE, the line protocol's /kline): ``mask``
    is an address, a network (CIDR) or a pattern with ``*`` and ``?``; ``expires`` is when
    it ends (the clock's seconds), 0 for never; ``by`` the operator who set it, ``at`` when."""

    mask: str
    reason: str
    by: str
    at: float
    expires: float = 0.0
