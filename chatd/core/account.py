"""What a user sets about itself: a guest's name, an account's password, being away."""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatd.core.access import check_open
from chatd.kernel.errors import NameTaken, NotAllowed, WrongCredentials
from chatd.kernel.events import AwayChanged, RealNameChanged
from chatd.kernel.names import check_user_name, fold
from chatd.kernel.records import Account
from chatd.kernel.text import clean_text
from chatd.kernel.views import Ident

if TYPE_CHECKING:
    from chatd.core.registry import Registry, SessionState
    from chatd.core.rooms import User

log = Logger()


def rename(session: SessionState, new: str) -> Deferred[None]:
    """A guest takes another free name; everyone who shares a room with it is told."""
    check_open(session)
    user, server = session.user, session.server
    if not user.guest:
        raise NotAllowed(f"{user.name} is an account's name; accounts keep their name")
    new = check_user_name(new)
    if new == user.name:
        return succeed(None)
    key = fold(new)
    if key != user.key:
        server.reserved.check(new)
        if server.is_online(new):
            raise NameTaken(f"{new}, or a name that looks like it, is in use right now")

    def free(account: Account | None) -> None:
        if account is not None and key != user.key:
            raise NameTaken(f"{new} is the registered name {account.name}; pick another")
        if session.closed or (key != user.key and server.is_online(new)):
            raise NameTaken(f"{new} is in use right now")
        server.rename(user, new)

    return server.directory.lookup(new).addCallback(free)


def change_password(session: SessionState, old: str, new: str) -> Deferred[None]:
    if session.user.guest:
        raise NotAllowed("guests have no password; /signup for an account")

    def wrong_old(failure: Failure) -> None:
        failure.trap(WrongCredentials)
        raise WrongCredentials("that is not your current password; nothing changed")

    return session.server.directory.change_password(session.user.name, old, new).addErrback(
        wrong_old)


def set_away(session: SessionState, text: str) -> None:
    """Away with ``text``, or back with none: the user's, shown to everyone who asks, and
    told (AwayChanged) to every other user who shares a room with it or watches it."""
    check_open(session)
    user, server = session.user, session.server
    away = clean_text(text).strip() if text.strip() else ""
    if away == user.away:
        return
    user.away = away
    told = {key for room in user.rooms.values() for key in room.members}
    told |= server.presence.watchers(user.name)
    told.discard(user.key)
    event = AwayChanged(user.name, away, id=server.next_id(), at=server.clock.seconds())
    for recipient in sorted(told):
        server.bus.to_user(recipient, event)


def set_always_on(session: SessionState, on: bool) -> Deferred[None]:
    """Keep this account's seat forever after a drop (``on``), or for ``seat-grace``: the
    choice is the account's, stored by the member directory, and its seats held now follow
    it at once."""
    check_open(session)
    user, server = session.user, session.server
    if user.guest or not user.account_id:
        raise NotAllowed("guests have no always-on seat; /signup for an account")
    user.always_on = on
    server.seats.retime(user)
    return server.directory.set_always_on(user.key, user.account_id, on)


def always_on(session: SessionState) -> bool:
    """Whether this user's seat outlives a drop for ever (its choice, or the server's)."""
    return session.server.seats.grace(session.user) is None


def load_always_on(server: Registry, user: User) -> Deferred[None]:
    """An account's always-on choice into ``user``; a directory that can't answer leaves the
    server's default."""
    if user.guest or not user.account_id:
        return succeed(None)

    def loaded(on: bool | None) -> None:
        user.always_on = on

    def failed(failure: Failure) -> None:
        log.warn("could not read the always-on choice of {user}: {why}", user=user.key,
                 why=failure.value)

    return server.directory.always_on(user.key, user.account_id).addCallbacks(loaded, failed)


def describe(session: SessionState, username: str, realname: str) -> None:
    """How the user describes itself (IRC's USER), kept opaque for WHO, WHOIS and WHOWAS;
    an account's latest session's description is the one shown."""
    session.user.ident = Ident(username, realname)


def set_real_name(session: SessionState, text: str) -> None:
    """Tell the user's new real name (IRC's SETNAME) to it and to every user who shares a
    room with it or watches it (RealNameChanged). The frontends that show real names keep
    them."""
    check_open(session)
    user, server = session.user, session.server
    told = {key for room in user.rooms.values() for key in room.members} | {user.key}
    told |= server.presence.watchers(user.name)
    real_name = clean_text(text).strip()
    # WHO, WHOIS and WHOWAS show the description the core keeps: it follows.
    user.ident = user.ident._replace(realname=real_name)
    event = RealNameChanged(user.name, real_name, id=server.next_id(),
                            at=server.clock.seconds())
    for recipient in sorted(told):
        server.bus.to_user(recipient, event)


def set_bot(session: SessionState, on: bool) -> None:
    """Mark the user a bot, or no longer one (IRC's user mode +B): its messages from now on
    say so (``Said.bot``), and so does WHOIS (``UserView.bot``)."""
    check_open(session)
    session.user.bot = on
