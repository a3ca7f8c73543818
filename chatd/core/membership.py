"""Entering and leaving rooms, and making and deleting persistent ones.

A join checks, in this order: already in (the room becomes current), being created (not
yet), a key being set (wait for it), the rooms-per-user limit, then for an existing room a
ban, invite-only and its password. The room's owner and operators, like someone invited,
need no password; a wrong one is rate-limited per user and room. In a cluster the gate
reserves the place before the room is entered, so member limits hold across nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from chatd.core.access import check_open, member_room, owned_room, reason_text
from chatd.core.listing import room_view
from chatd.core.rooms import Room
from chatd.kernel.errors import (
    BadSyntax,
    Banned,
    InviteOnly,
    NameTaken,
    NoSuchRoom,
    NotAllowed,
    RateLimited,
    TooManyRooms,
    WrongRoomPassword,
)
from chatd.kernel.events import LeaveReason
from chatd.kernel.names import check_room_name, fold
from chatd.kernel.views import RoomView, TokenView

if TYPE_CHECKING:
    from chatd.core.registry import Registry, SessionState

log = Logger()

MAX_ROOM_PASSWORD_LENGTH = 128


def check_limit(server: Registry, limit: int) -> int:
    """A room's member limit, within the server's maximum."""
    maximum = server.limits.max_room_limit
    if not 1 <= limit <= maximum:
        raise BadSyntax(f"a room's member limit must be between 1 and {maximum}")
    return limit


def check_room_password(password: str) -> str:
    """A room password is one word of printable characters: every protocol can send it, and
    no protocol splits it differently (a space, NBSP or U+2028 would)."""
    if not 1 <= len(password) <= MAX_ROOM_PASSWORD_LENGTH:
        raise BadSyntax(f"a room password has 1 to {MAX_ROOM_PASSWORD_LENGTH} characters")
    if any(char.isspace() or not char.isprintable() for char in password):
        raise BadSyntax("a room password can't contain spaces or control characters")
    return password


def join(session: SessionState, name: str, password: str | None = None) -> Deferred[RoomView]:
    """Join (or, if it does not exist, create a temporary) room and make it current."""
    check_open(session)
    server, user = session.server, session.user
    display = check_room_name(name)
    key = fold(display)
    room = server.rooms.get(key)
    if room is not None and room.key in user.rooms:
        session.current_room = room
        return succeed(room_view(room))
    if server.changes.creating(key):
        raise NoSuchRoom(f"{display} is being created right now; try again in a moment")
    settled = server.changes.key_settled(key)
    if settled is not None:
        return settled.addCallback(lambda _: join(session, name, password))
    if len(user.rooms) >= server.limits.max_rooms_per_user:
        raise TooManyRooms(
            f"you are in {len(user.rooms)} rooms, the most allowed; /leave one first"
        )
    if room is None:
        # No messages from outside (+n) unless an operator allows them, as on IRC servers.
        room = server.rooms[key] = Room(display, key, server.limits.default_room_limit,
                                        flags="n", id=server.next_id(),
                                        created=server.clock.seconds())
        log.info("{user} opened temporary room {room}", user=session.name, room=display)
    elif room.banned(user) is not None:
        raise Banned(f"you are banned from {room.name}")
    elif room.shuts_out(user):
        raise InviteOnly(f"{room.name} is invite-only; ask an operator to /invite you")
    elif room.password_hash is not None and not room.passes_key(user):
        if not password:
            raise WrongRoomPassword(f"{room.name} is locked; /join {room.name} PASSWORD")
        wait = server.wrong_room_passwords.wait(_attempt_key(session, room))
        if wait:
            raise RateLimited(
                f"too many wrong passwords for {room.name}; try again in {wait:.0f} seconds"
            )
        return server.hasher.verify(room.password_hash, password).addCallback(
            _admit_verified, session, room, room.password_hash, password
        )
    return _admit(session, room)


def _attempt_key(session: SessionState, room: Room) -> str:
    return f"{session.user.key}\0{room.key}"


def _admit_verified(ok: bool, session: SessionState, room: Room, checked: str | None,
                    password: str) -> RoomView | Deferred[RoomView]:
    server = session.server
    if ok and (room.password_hash != checked or server.changes.is_keying(room.key)):
        # The key changed (or is changing) while the old one was checked: the password
        # must open the room as it is now.
        return join(session, room.name, password)
    if not ok:
        server.wrong_room_passwords.failed(_attempt_key(session, room))
        raise WrongRoomPassword(f"wrong password for {room.name}")
    if room.key in session.user.rooms:
        session.current_room = room
        return room_view(room)
    return _admit(session, room)


def _admit(session: SessionState, room: Room) -> Deferred[RoomView]:
    """Enter ``room`` once the cluster's gate (if any) has reserved this user's place in it,
    so that a member limit holds across nodes; the place is given back if entering fails
    after all."""
    gate = session.server.gate
    if gate is None:
        return succeed(_enter(session, room))
    user = session.user

    def reserved(_: object) -> RoomView:
        if room.key in user.rooms:
            session.current_room = room
            return room_view(room)
        try:
            return _enter(session, room)
        except BaseException:
            gate.release(room.key, user.key)
            raise

    return gate.reserve(room.key, user.key, room.limit).addCallback(reserved)


def _enter(session: SessionState, room: Room) -> RoomView:
    check_open(session)  # it may have ended while its room password was checked
    session.server.admit(session.user, room)
    room.invited.discard(session.user.key)  # an invitation is good for one join
    session.current_room = room
    return room_view(room)


def leave(session: SessionState, name: str | None = None, reason: LeaveReason = LeaveReason.LEFT,
          message: str = "") -> RoomView:
    room = member_room(session, name)
    session.server.remove(session.user, room, reason, reason_text(message))
    return room_view(room)


def token(session: SessionState, name: str) -> TokenView:
    """A new token for a room this session is in, for the UDP channel."""
    check_open(session)
    room = member_room(session, name)
    server = session.server
    lifetime = server.limits.token_lifetime
    grant = server.tokens.issue(session, room, lifetime)
    log.info("{user} got a token for {room}", user=session.name, room=room.name)
    return TokenView(grant.token, room.name, grant.expires, lifetime)


def create(session: SessionState, name: str, limit: int | None, password: str | None
           ) -> Deferred[RoomView]:
    """Create a persistent room owned by this account, and join it."""
    server, user = session.server, session.user
    check_open(session)
    if user.guest:
        raise NotAllowed("guests can't own rooms; /signup for an account first")
    owner_id = user.account_id
    if not owner_id:
        raise NotAllowed("rooms can't be owned: the member service is older than account "
                         "ids; ask an operator to upgrade it")
    display = check_room_name(name)
    key = fold(display)
    if key in server.rooms or server.changes.creating(key):
        raise NameTaken(f"a room called {display} already exists")
    limit = check_limit(server, server.limits.default_room_limit if limit is None else limit)
    if password:
        check_room_password(password)

    def save(password_hash: str | None) -> Deferred[Room]:
        # A persistent room's topic is its owner's unless an operator unlocks it (-t); no
        # messages from outside (+n) unless an operator allows them.
        room = Room(display, key, limit, user.name, password_hash, owner_id=owner_id,
                    flags="nt", id=server.next_id(), created=server.clock.seconds())
        return server.store.create(room.record()).addCallback(lambda _: room)

    def register(room: Room) -> Deferred[RoomView]:
        server.rooms[key] = room
        log.info("{user} created room {room}", user=session.name, room=display)
        if not session.closed:
            return _admit(session, room)
        return succeed(room_view(room))

    def start() -> Deferred[RoomView]:
        saved = server.hasher.hash(password).addCallback(save) if password else save(None)
        return saved.addCallback(register)

    return server.changes.create(key, start)


def delete(session: SessionState, name: str) -> Deferred[None]:
    """Owner: delete the room; its members leave it (deleted)."""
    server = session.server
    room = owned_room(session, name)

    def apply() -> None:
        for user in list(room.members.values()):
            server.remove(user, room, LeaveReason.DELETED)
        server.end_room(room)  # a resync may have closed it meanwhile
        log.info("{user} deleted room {room}", user=session.name, room=room.name)

    return server.changes.change(room, lambda _: None, apply)
