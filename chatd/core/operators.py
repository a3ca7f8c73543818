"""Server operators: who is one, and what only they may do, on every protocol.

An operator is declared in the settings, never made in band: an ``oper`` block (a name and
an argon2 hash of its password) or an account named in ``operators`` (its own password,
while logged in to it). ``oper`` checks the password off the reactor thread and marks the
user (``User.operator``: the name it opered as) until it leaves, says ``-o``, or a reload
drops its declaration (``Operators.configure``). Then, bound to the session as its methods
(``IServerOperator``): ending a user's sessions (``kill``), WALLOPS, a notice to every
connected user (``announce``), closing a room, and address bans kept by the
``IAddressBans`` the tap hands in (the core knows no connection; a ban's watcher, outside
the core, closes the connections it matches).

Every operator action is logged with the operator's name and counted by kind in
``Stats.operator_actions`` (the metrics' ``chatd_operator_actions``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatd.core.access import reason_text
from chatd.kernel.addresses import address_mask
from chatd.kernel.errors import BadName, BadSyntax, NotAllowed, WrongCredentials
from chatd.kernel.events import Announcement, LeaveReason, Wallops
from chatd.kernel.interfaces import IAddressBans
from chatd.kernel.names import fold
from chatd.kernel.records import AddressBan
from chatd.kernel.text import clean_text

if TYPE_CHECKING:
    from chatd.core.registry import Registry, SessionState

log = Logger()


def _acted(session: SessionState, action: str) -> None:
    session.server.stats.operator_actions[action] += 1


def _operator(session: SessionState, action: str) -> Registry:
    """The server, if this session is an operator; else NotAllowed (counted as refused)."""
    if not session.user.operator:
        session.server.stats.operator_actions[f"{action}-refused"] += 1
        raise NotAllowed("only server operators may do that (/oper NAME PASSWORD)")
    return session.server


def is_operator(session: SessionState) -> bool:
    """Whether this session's user is a server operator now."""
    return bool(session.user.operator)


def wallops_mode(session: SessionState) -> bool:
    """Whether this session's user gets WALLOPS (IRC's user mode w)."""
    return session.user.wallops


def oper(session: SessionState, name: str, password: str) -> Deferred[None]:
    """Become an operator as ``name`` (an oper block, or one's own listed account)."""
    server = session.server
    operators = server.operators
    hashed = operators.blocks.get(name)
    checked: Deferred[bool]
    if hashed is not None:
        checked = server.hasher.verify(hashed, password)
    else:
        try:
            key = fold(name)
        except BadName:
            key = ""
        if key not in operators.accounts:
            # The time of a real check, so an unknown name is not told apart by its speed.
            server.stats.operator_actions["oper-refused"] += 1
            log.info("{user} asked to be operator {name}, which is not declared",
                     user=session.name, name=name[:64])
            return server.hasher.verify_nobody(password).addCallback(lambda _: _no_such(name))
        if session.user.guest or key != session.key:
            server.stats.operator_actions["oper-refused"] += 1
            return fail(NotAllowed(f"{name} is an account: log in to it to become an operator "
                                   "with its password"))
        checked = server.directory.authenticate(session.name, password, "oper").addCallbacks(
            lambda _: True, _wrong)
        name = key

    def done(right: bool) -> None:
        if not right:
            server.stats.operator_actions["oper-refused"] += 1
            log.info("{user} gave a wrong password for operator {name}", user=session.name,
                     name=name)
            raise WrongCredentials("wrong operator name or password")
        session.user.operator = name
        _acted(session, "oper")
        log.info("{user} is now a server operator (as {name})", user=session.name, name=name)

    return checked.addCallback(done)


def _no_such(name: str) -> None:
    raise NotAllowed(f"no server operator is called {name[:64]}")


def _wrong(failure: Failure) -> bool:
    failure.trap(WrongCredentials)
    return False


def deoper(session: SessionState) -> None:
    """Stop being an operator."""
    if session.user.operator:
        session.user.operator = ""
        _acted(session, "deoper")
        log.info("{user} is no longer a server operator (by choice)", user=session.name)


def set_wallops(session: SessionState, on: bool) -> None:
    session.user.wallops = on


def kill(session: SessionState, name: str, reason: str) -> None:
    """End every session of ``name``; its rooms hear ``Killed (OPER (reason))``."""
    server = _operator(session, "kill")
    user = server.find_user(name)
    reason = reason_text(reason) or "no reason given"
    _acted(session, "kill")
    log.info("server operator {oper} killed {user}: {reason}", oper=session.name,
             user=user.name, reason=reason)
    server.end_user(user, f"Killed by {session.name}: {reason}", LeaveReason.KILLED,
                    f"{session.name} ({reason})")


def wallops(session: SessionState, text: str) -> None:
    """``text`` to every user with the w mode and every operator (the sender included)."""
    server = _operator(session, "wallops")
    text = clean_text(text)
    event = Wallops(session.name, text, id=server.next_id(), at=server.clock.seconds())
    _acted(session, "wallops")
    log.info("server operator {oper} sent WALLOPS: {text}", oper=session.name, text=text)
    for user in list(server.users.values()):
        if user.wallops or user.operator:
            server.bus.to_user(user.key, event)


def announce(session: SessionState, text: str) -> None:
    """``text`` to every user online, on every protocol."""
    server = _operator(session, "announce")
    text = clean_text(text)
    event = Announcement(session.name, text, id=server.next_id(), at=server.clock.seconds())
    _acted(session, "announce")
    log.info("server operator {oper} announced to {count} users: {text}", oper=session.name,
             count=len(server.users), text=text)
    for key in list(server.users):
        server.bus.to_user(key, event)


def close_room(session: SessionState, name: str, reason: str = "") -> Deferred[None]:
    """End the room ``name``: its members are put out (told who closed it and why); a
    persistent room's definition is deleted, durably first."""
    server = _operator(session, "close")
    room = server.find_room(name)
    reason = reason_text(reason)

    def apply() -> None:
        for user in list(room.members.values()):
            server.remove(user, room, LeaveReason.CLOSED, reason, session.name)
        if server.rooms.get(room.key) is room:  # a temporary room ended with its last member
            server.end_room(room)
        _acted(session, "close")
        log.info("server operator {oper} closed room {room}: {reason}", oper=session.name,
                 room=room.name, reason=reason or "no reason given")

    if room.persistent:
        return server.changes.change(room, lambda _: None, apply)
    apply()
    return succeed(None)


def _bans(server: Registry) -> IAddressBans:
    bans = server.operators.bans
    if bans is None:
        raise NotAllowed("this server keeps no address bans")
    return bans


def kline(session: SessionState, mask: str, seconds: float, reason: str
          ) -> Deferred[AddressBan]:
    """Ban the addresses ``mask`` matches for ``seconds`` (0: until lifted)."""
    server = _operator(session, "kline")
    bans = _bans(server)
    if seconds < 0:
        raise BadSyntax("a ban lasts 0 (until lifted) or more seconds")
    now = server.clock.seconds()
    ban = AddressBan(address_mask(mask), reason_text(reason) or "banned", session.name, now,
                     now + seconds if seconds else 0.0)
    _acted(session, "kline")
    log.info("server operator {oper} banned {mask} ({lasting}): {reason}", oper=session.name,
             mask=ban.mask, lasting=f"{seconds:g} seconds" if seconds else "until lifted",
             reason=ban.reason)
    return bans.add(ban).addCallback(lambda _: ban)


def unkline(session: SessionState, mask: str) -> Deferred[None]:
    """Lift the ban on ``mask``."""
    server = _operator(session, "unkline")
    bans = _bans(server)
    stored = address_mask(mask)

    def removed(found: bool) -> None:
        if not found:
            raise BadSyntax(f"no ban on {stored}; /klines lists them")
        _acted(session, "unkline")
        log.info("server operator {oper} lifted the ban on {mask}", oper=session.name,
                 mask=stored)

    return bans.remove(stored).addCallback(removed)


def klines(session: SessionState) -> list[AddressBan]:
    """The bans in force."""
    server = _operator(session, "klines")
    return [] if server.operators.bans is None else server.operators.bans.active()
