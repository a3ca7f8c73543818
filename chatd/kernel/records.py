"""Plain records that cross the seams: what a store keeps and a directory answers."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    """A registered account as the chat side sees it (the hash never leaves the directory)."""

    name: str
    key: str


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A persistent room's definition; ``key`` is the folded name, ``owner`` the owner's
    display name (compared folded)."""

    key: str
    name: str
    owner: str
    limit: int
    password_hash: str | None
    topic: str
