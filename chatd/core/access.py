"""Which room a session's operation acts on, and whether it may: the checks every concern
module (membership, moderation, talk, sharing) shares, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatd.core.rooms import Room, User
from chatd.kernel.errors import BadText, NotAllowed, NotInRoom
from chatd.kernel.events import Event
from chatd.kernel.text import clean_text

if TYPE_CHECKING:
    from chatd.core.registry import SessionState


def check_open(session: SessionState) -> None:
    """What changes something (join, create, a room's settings, talking) refuses a session
    that has ended, such as one the server ended (SessionEnded) whose connection has not
    closed yet."""
    if session.closed:
        raise NotAllowed("this session has ended; log in again")


def member_room(session: SessionState, name: str | None) -> Room:
    """The named room, or the current one, provided the user is in it."""
    if name is None:
        if session.current_room is None:
            raise NotInRoom("you are not in a room; /join one first")
        return session.current_room
    room = session.server.find_room(name)
    if room.key not in session.user.rooms:
        raise NotInRoom(f"you are not in {room.name}")
    return room


def operated_room(session: SessionState, name: str) -> Room:
    """A room this user is an operator of (the owner is one)."""
    check_open(session)
    room = session.server.find_room(name)
    if not room.is_operator(session.user):
        raise NotAllowed(f"only an operator of {room.name} can do that")
    return room


def owned_room(session: SessionState, name: str) -> Room:
    """A persistent room this user's account owns."""
    check_open(session)
    room = session.server.find_room(name)
    if room.owner is None:
        raise NotAllowed(
            f"{room.name} is a temporary room without settings; /create makes one that has"
        )
    if not room.owned_by(session.user):
        raise NotAllowed(f"only the owner of {room.name} can do that")
    return room


def member(session: SessionState, room: Room, name: str) -> User:
    """The online user ``name``, provided it is in ``room``."""
    user = session.server.find_user(name)
    if user.key not in room.members:
        raise NotInRoom(f"{user.name} is not in {room.name}")
    return user


def sees_members(session: SessionState, room: Room) -> bool:
    """The one rule for every protocol: a locked or secret (+s) room's members are for its
    members to see; anyone may see who is in an open room."""
    return not (room.locked or "s" in room.flags) or room.key in session.user.rooms


def publish(session: SessionState, room: Room, event: Event) -> None:
    """Tell the room of a change; an operator who made it from outside the room (an owner
    who is not in it) hears it too, as an IRC server answers a MODE or TOPIC."""
    bus = session.server.bus
    bus.to_room(room.key, event)
    if session.user.key not in room.members:
        bus.to_user(session.user.key, event)


def reason_text(text: str) -> str:
    """A part, kick or quit reason as the room hears it: clean one-line text, or none."""
    try:
        return clean_text(text).strip() if text.strip() else ""
    except BadText:
        return ""
