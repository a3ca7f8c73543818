"""A room's operators at work: topic, member limit, key, flags, operators, voice, kicks,
bans and invitations.

Every change is told to the room as one event (``ModeChanged``, ``TopicSet``). A persistent
room's stored settings change durably first (``RoomChanges.change``); a temporary room's,
and the in-memory ones (operators, voice), at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from chatd.core.access import (
    check_open,
    member,
    member_room,
    operated_room,
    publish,
    reason_text,
    sees_members,
)
from chatd.core.listing import user_view
from chatd.core.membership import check_limit, check_room_password
from chatd.core.rooms import FLAGS, Room, ban_mask
from chatd.kernel.errors import AlreadyInRoom, BadSyntax, NotAllowed, NotInRoom
from chatd.kernel.events import Invited, LeaveReason, ModeChanged, TopicSet
from chatd.kernel.records import RoomRecord
from chatd.kernel.text import MAX_TOPIC_LENGTH, clean_text
from chatd.kernel.views import UserView

if TYPE_CHECKING:
    from chatd.core.registry import SessionState

log = Logger()

# Bans per room, and the longest ban mask.
MAX_BANS = 100
MAX_BAN_LENGTH = 64


def _check_mask(mask: str) -> str:
    """A ban mask: one word of at most MAX_BAN_LENGTH printable characters."""
    if not 1 <= len(mask) <= MAX_BAN_LENGTH or any(
            c.isspace() or not c.isprintable() for c in mask):
        raise BadSyntax(f"a ban is a name or a pattern (* and ?) of 1 to {MAX_BAN_LENGTH} "
                        "characters without spaces")
    return mask


def set_topic(session: SessionState, name: str, topic: str) -> Deferred[None]:
    check_open(session)
    server = session.server
    room = server.find_room(name)
    if not room.may_set_topic(session.user):
        if room.key not in session.user.rooms and not room.persistent:
            raise NotInRoom(f"join {room.name} to set its topic")
        raise NotAllowed(f"only an operator of {room.name} can set its topic")
    topic = clean_text(topic).strip() if topic.strip() else ""
    if len(topic) > MAX_TOPIC_LENGTH:
        raise BadSyntax(f"a topic has at most {MAX_TOPIC_LENGTH} characters")
    if not topic and not room.topic:
        return succeed(None)  # no topic to clear: nothing changes, nobody is told

    def apply() -> None:
        room.topic = topic
        room.topic_by, room.topic_at = session.name, server.clock.seconds()
        publish(session, room, TopicSet(room.name, session.name, topic, id=server.next_id(),
                                        at=server.clock.seconds()))
        log.info("{user} {what} the topic of {room}", user=session.name, room=room.name,
                 what="set" if topic else "cleared")

    if not room.persistent:
        apply()
        return succeed(None)
    return server.changes.change(room, lambda r: replace(r, topic=topic), apply)


def _settings(session: SessionState, room: Room, mode: str, arg: str, update: Callable[[], None],
              record: Callable[[RoomRecord], RoomRecord] | None = None) -> Deferred[None]:
    """Apply an operator's change (``update``) and tell the room (ModeChanged): a
    persistent room's stored part (``record``) durably first, a temporary room's or an
    in-memory one (operators, voice) at once."""
    server = session.server

    def apply() -> None:
        update()
        publish(session, room, ModeChanged(room.name, session.name, mode, arg,
                                           id=server.next_id(), at=server.clock.seconds()))
        log.info("{user} changed room {room}: {mode} {arg}", user=session.name,
                 room=room.name, mode=mode, arg=arg)

    if record is None or not room.persistent:
        apply()
        return succeed(None)
    return server.changes.change(room, record, apply)


def set_limit(session: SessionState, name: str, limit: int | None) -> Deferred[None]:
    """Set the room's member limit; None: back to the server's default-room-limit (IRC's
    ``-l``, told as ``-l``)."""
    room = operated_room(session, name)
    if limit is None:
        limit = session.server.limits.default_room_limit
        mode, arg = "-l", ""
    else:
        limit = check_limit(session.server, limit)
        mode, arg = "+l", str(limit)
    return _settings(session, room, mode, arg, lambda: setattr(room, "limit", limit),
                     lambda r: replace(r, limit=limit))


def lock(session: SessionState, name: str, password: str) -> Deferred[None]:
    """Set (or change) the room's key; no one joins without it from now on, while it is
    hashed and saved too (``RoomChanges.keying``)."""
    room = operated_room(session, name)
    server = session.server

    def hashed(value: str) -> Deferred[None]:
        # The event never carries the password: every renderer, the bus and the other
        # nodes get it as it is kept (the hash, which presence adds for the other nodes).
        return _settings(session, room, "+k", "",
                         lambda: setattr(room, "password_hash", value),
                         lambda r: replace(r, password_hash=value))

    return server.changes.keying(room.key, server.hasher.hash(
        check_room_password(password)).addCallback(hashed))


def unlock(session: SessionState, name: str) -> Deferred[None]:
    room = operated_room(session, name)
    return _settings(session, room, "-k", "", lambda: setattr(room, "password_hash", None),
                     lambda r: replace(r, password_hash=None))


def op(session: SessionState, name: str, who: str, on: bool = True) -> None:
    """Operator: make a member an operator, or (``on`` False) no longer one."""
    room = operated_room(session, name)
    user = member(session, room, who)
    if not on and room.owned_by(user):
        raise NotAllowed(f"{user.name} owns {room.name} and is always its operator")
    if on == (user.key in room.operators or room.owned_by(user)):
        return
    keys = room.operators
    _settings(session, room, "+o" if on else "-o", user.name,
              lambda: keys.add(user.key) if on else keys.discard(user.key))


def voice(session: SessionState, name: str, who: str, on: bool = True) -> None:
    """Operator: let a member talk in a moderated room, or (``on`` False) no longer."""
    room = operated_room(session, name)
    user = member(session, room, who)
    if on == (user.key in room.voiced):
        return
    keys = room.voiced
    _settings(session, room, "+v" if on else "-v", user.name,
              lambda: keys.add(user.key) if on else keys.discard(user.key))


def set_flag(session: SessionState, name: str, flag: str, on: bool) -> Deferred[None]:
    """Operator: set or clear one flag or several (``int``): ``i`` invite-only, ``m``
    moderated, ``n`` no messages from outside, ``s`` secret, ``t`` topic locked to operators.
    The room is told once, of the flags that changed (``-int``)."""
    if not flag or any(letter not in FLAGS for letter in flag):
        raise BadSyntax(f"a room's flags are {', '.join(FLAGS)}")
    room = operated_room(session, name)
    changed = "".join(f for f in FLAGS if f in flag and on != (f in room.flags))
    if not changed:
        return succeed(None)

    def flagged(flags: str) -> str:
        kept = set(flags) | set(changed) if on else set(flags) - set(changed)
        return "".join(f for f in FLAGS if f in kept)

    return _settings(session, room, ("+" if on else "-") + changed, "",
                     lambda: setattr(room, "flags", set(flagged(room.modes))),
                     lambda r: replace(r, modes=flagged(r.modes)))


def kick(session: SessionState, name: str, who: str, reason: str = "") -> None:
    """Operator: put a member out of the room, telling the room why."""
    room = operated_room(session, name)
    user = member(session, room, who)
    if room.owned_by(user) and not room.owned_by(session.user):
        raise NotAllowed(f"{user.name} owns {room.name} and can't be kicked")
    session.server.remove(user, room, LeaveReason.KICKED, reason_text(reason), session.name)
    log.info("{op} kicked {user} from {room}", op=session.name, user=user.name,
             room=room.name)


def ban(session: SessionState, name: str, mask: str) -> Deferred[None]:
    """Operator: keep out whoever's name matches ``mask`` (a name, or ``*`` and ``?``)."""
    room = operated_room(session, name)
    mask = ban_mask(_check_mask(mask))
    if mask in room.bans:
        return succeed(None)
    if len(room.bans) >= MAX_BANS:
        raise NotAllowed(f"{room.name} has {MAX_BANS} bans, the most allowed")

    def banned(bans: Sequence[str]) -> list[str]:
        return list(bans) if mask in bans else [*bans, mask]

    return _settings(session, room, "+b", mask,
                     lambda: setattr(room, "bans", banned(room.bans)),
                     lambda r: replace(r, bans=tuple(banned(r.bans))))


def unban(session: SessionState, name: str, mask: str) -> Deferred[None]:
    room = operated_room(session, name)
    mask = ban_mask(mask)
    if mask not in room.bans:
        return succeed(None)

    def lifted(bans: Sequence[str]) -> list[str]:
        return [ban for ban in bans if ban != mask]

    return _settings(session, room, "-b", mask,
                     lambda: setattr(room, "bans", lifted(room.bans)),
                     lambda r: replace(r, bans=tuple(lifted(r.bans))))


def bans(session: SessionState, name: str) -> list[str]:
    """A room's ban masks; anyone who may see its members may see them."""
    room = session.server.find_room(name)
    if not sees_members(session, room):
        raise NotAllowed(f"{room.name} is locked; only its members see its bans")
    return list(room.bans)


def invite(session: SessionState, name: str, who: str) -> UserView:
    """Let someone into the room past invite-only, a ban and the password, and tell them.
    A member may invite; in an invite-only room, operators only."""
    check_open(session)
    room = member_room(session, name)
    if "i" in room.flags and not room.is_operator(session.user):
        raise NotAllowed(f"only an operator of {room.name} can invite to it")
    server = session.server
    user = server.find_user(who)
    if user.key in room.members:
        raise AlreadyInRoom(f"{user.name} is in {room.name} already")
    room.invited.add(user.key)
    event = Invited(room.name, user.name, session.name, account=not session.user.guest,
                    id=server.next_id(), at=server.clock.seconds())
    server.bus.to_user(user.key, event)
    # The room's other operators hear of it too (IRC's invite-notify; other protocols skip
    # an invitation that is not theirs).
    for other in room.members.values():
        if other is not user and other is not session.user and room.is_operator(other):
            server.bus.to_user(other.key, event)
    return user_view(session, user)
