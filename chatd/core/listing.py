"""What a session may look up: rooms, who is in them, who is online, the server's counts.

Read-only: every answer is a frozen view (``chatd.kernel.views``), under the rule that a
locked room's members are for its members to see (``access.sees_members``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chatd.core.access import member_room, sees_members
from chatd.core.rooms import Room, User
from chatd.kernel.errors import ChatError, NotAllowed
from chatd.kernel.names import check_room_name, fold
from chatd.kernel.views import (
    DepartureView,
    Membership,
    MemberView,
    RoomView,
    ServerView,
    UserView,
)

if TYPE_CHECKING:
    from chatd.core.registry import SessionState


def _reachable(user: User) -> bool:
    return False


def room_view(room: Room, members: bool = False,
              unreachable: Callable[[User], bool] = _reachable) -> RoomView:
    """``room`` as a frontend sees it, with its members if ``members`` (each marked if
    ``unreachable``: online only on nodes out of reach)."""
    listed: tuple[MemberView, ...] = ()
    if members:
        listed = tuple(
            MemberView(user.name, user.key, user.guest, room.owned_by(user), user.away,
                       room.is_operator(user), room.is_voiced(user), unreachable(user),
                       user.ident, bool(user.operator),
                       not user.sessions and not user.remote, bot=user.bot)
            for user in sorted(room.members.values(), key=lambda user: user.key)
        )
    return RoomView(room.name, room.key, room.limit, len(room.members), room.locked,
                    room.shown_owner, room.topic, listed, room.modes, room.created,
                    room.topic_by, room.topic_at)


def user_view(session: SessionState, user: User) -> UserView:
    """``user`` with the rooms ``session`` may know it is in."""
    rooms = tuple(Membership(room.name, room.owned_by(user), room.is_operator(user),
                             room.is_voiced(user))
                  for room in user.rooms.values() if sees_members(session, room))
    return UserView(user.name, user.key, user.guest, user.session_total, rooms, user.away,
                    session.server.clock.seconds() - user.active, user.signon,
                    session.server.unreachable(user), ident=user.ident,
                    server_operator=bool(user.operator), bot=user.bot)


def _by_key(room: Room) -> str:
    return room.key


def rooms(session: SessionState) -> list[RoomView]:
    """Every room but the secret ones (+s) this user is not in."""
    user = session.user
    return [room_view(room) for room in sorted(session.server.rooms.values(), key=_by_key)
            if not room.hides_from(user)]


def room(session: SessionState, name: str) -> RoomView:
    return room_view(session.server.find_room(name))


def who(session: SessionState, name: str | None = None) -> RoomView:
    """The room with its members: the current one, or any named one whose members this
    session may see (``sees_members``)."""
    found = member_room(session, None) if name is None else session.server.find_room(name)
    if not sees_members(session, found):
        raise NotAllowed(f"{found.name} is {'locked' if found.locked else 'secret'}; only its "
                         "members see who is in it")
    return room_view(found, members=True, unreachable=session.server.unreachable)


def my_rooms(session: SessionState) -> list[str]:
    return [room.name for room in session.user.rooms.values()]


def shares_room(session: SessionState, name: str, besides: str) -> bool:
    key, other = fold(name), fold(besides)
    return any(key in room.members for room in session.user.rooms.values()
               if room.key != other)


def whois(session: SessionState, name: str) -> UserView:
    return user_view(session, session.server.find_user(name))


def whowas(session: SessionState, name: str, count: int = 0) -> list[DepartureView]:
    """Who was online as ``name`` lately, newest first (at most ``count`` if above 0)."""
    return session.server.departures.lookup(name, count)


def server_info(session: SessionState) -> ServerView:
    server = session.server
    return ServerView(server.session_count + server.remote_sessions, len(server.users),
                      len(server.rooms), server.limits.max_room_limit, server.session_count,
                      server.peak, server.local_peak, server.limits.default_room_limit)


def is_room(session: SessionState, name: str) -> bool:
    try:
        return fold(check_room_name(name)) in session.server.rooms
    except ChatError:
        return False


# -- presence watching (IRC's MONITOR; chatd.core.presence keeps the lists) ----------

def _status(session: SessionState, names: list[str]) -> list[tuple[str, str | None]]:
    users = session.server.users
    out: list[tuple[str, str | None]] = []
    for name in names:
        user = users.get(fold(name))
        out.append((name, None if user is None else user.name))
    return out


def watch(session: SessionState, names: list[str]) -> list[tuple[str, str | None]]:
    """Watch ``names`` (TooManyWatched past ``MAX_WATCHED``): each, and the name it is
    online under now (None: offline)."""
    session.server.presence.watch(session, names)
    return _status(session, names)


def unwatch(session: SessionState, names: list[str] | None = None) -> None:
    session.server.presence.unwatch(session, names)


def watching(session: SessionState) -> list[tuple[str, str | None]]:
    """The names watched, each with the name it is online under now (None: offline)."""
    return _status(session, session.server.presence.listed(session))
