"""The one Realm every frontend logs in through: an Identity becomes a core Session, and the
frontend's mind is attached to delivery until the session logs out.

A session's logout is its ``quit``: the core tells the realm (``ChatServer.watch_sessions``)
when any session has quit, and the realm detaches its mind then. So a login makes no logout
closure, which each of thousands of idle connections would keep (its size: see
docs/performance.md, "Figures behind the code")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred, gatherResults
from zope.interface import implementer

from chatd.auth.checkers import AccountChecker, GuestChecker, SignupChecker, SignupLimits
from chatd.auth.tokens import ResumeChecker, TokenChecker
from chatd.core.account import load_always_on
from chatd.core.reading import load_markers
from chatd.core.service import ChatServer
from chatd.core.tokens import Grant
from chatd.kernel.credentials import Identity
from chatd.kernel.errors import NotAllowed
from chatd.kernel.interfaces import (
    IChatMind,
    IChatSession,
    IDelivery,
    IMemberDirectory,
    ITokenSeat,
)
from chatd.kernel.names import ReservedNames, fold
from chatd.kernel.ratelimit import FailureLimiter, LoginThrottle
from chatd.kernel.records import Account


@implementer(IRealm)
class ChatRealm:
    def __init__(
        self, server: ChatServer, delivery: IDelivery, exempt: Callable[[str], bool]
    ) -> None:
        self._server = server
        self._delivery = delivery
        self._exempt = exempt
        self._seats = 0
        server.watch_sessions(delivery.detach)

    # The Portal passes our checkers' Identity and the frontend's mind through untouched;
    # IRealm's stub types are narrower than twisted.cred's contract.
    def requestAvatar(  # type: ignore[override]
        self, avatarId: Identity, mind: IChatMind, *interfaces: Any
    ) -> tuple[Any, Any, Callable[[], None]] | Deferred[tuple[Any, Any, Callable[[], None]]]:
        if ITokenSeat in interfaces and isinstance(avatarId, Grant):
            return self._seat(avatarId, mind)
        if IChatSession not in interfaces or not isinstance(avatarId, Identity):
            raise ValueError("chatd only hands out IChatSession and ITokenSeat avatars")
        gate = self._server.gate
        if avatarId.claimant:
            return self._claimed(avatarId, gate is not None)
        if gate is None:
            return self._session(avatarId, mind)

        key, guest = fold(avatarId.name), avatarId.guest

        def reserved(_: object) -> Any:
            try:
                return self._session(avatarId, mind)
            except BaseException:
                gate.release_session(key, guest)
                raise

        # In a cluster, max-users and guest names are held across nodes: a place (and a
        # guest's name) first, then the session.
        return gate.reserve_session(key, guest, self._server.limits.max_users).addCallback(
            reserved)

    def _session(self, avatarId: Identity, mind: IChatMind
                 ) -> tuple[Any, Any, Callable[[], None]] | Deferred[
                     tuple[Any, Any, Callable[[], None]]]:
        session = self._server.connect(
            avatarId.name, avatarId.guest, limited=not self._exempt(avatarId.peer),
            account_id=avatarId.account_id, resume=avatarId.resume,
        )
        self._delivery.attach(session.key, session.id, mind)
        avatar = (IChatSession, session, session.quit)
        # An account's read markers before its first join replays what it has not read;
        # its always-on choice before it can drop.
        loading = [load_markers(self._server, session.user),
                   load_always_on(self._server, session.user)]
        if all(step.called for step in loading):
            return avatar
        return gatherResults(loading).addCallback(lambda _: avatar)

    def _claimed(self, avatarId: Identity, cluster: bool
                 ) -> tuple[Any, Any, Callable[[], None]]:
        """A guest signed up the name it holds, or logged in to an account, while connected:
        its session, the same one (already attached and with its logout), is now the
        account's."""
        if cluster:
            # Other nodes know the user as a guest and hold its name as one.
            raise NotAllowed(f"the account {avatarId.name} is there; in a cluster a guest "
                             "can't become it while connected: reconnect and log in")
        session = self._server.claim(avatarId.name, avatarId.account_id, avatarId.claimant,
                                     avatarId.holder)
        return IChatSession, session, session.quit

    def _seat(self, grant: Grant, mind: IChatMind | None) -> tuple[Any, Any, Callable[[], None]]:
        """A token's seat. With a mind, the mind gets the user's events (under an id of its
        own, beside the session's) until the logout; without, the seat is only looked at."""
        if mind is None:
            return ITokenSeat, grant, lambda: None
        self._seats += 1
        key, seat_id = grant.session.key, f"{grant.session.id}/seat-{self._seats:x}"
        self._delivery.attach(key, seat_id, mind)
        detached = False

        def logout() -> None:
            nonlocal detached
            if not detached:
                detached = True
                self._delivery.detach(key, seat_id)

        return ITokenSeat, grant, logout


def make_portal(
    server: ChatServer,
    delivery: IDelivery,
    directory: IMemberDirectory,
    guests: Callable[[], bool],
    signups: SignupLimits,
    exempt: Callable[[str], bool] = lambda peer: False,
    name_probes: FailureLimiter | None = None,
    reserved: ReservedNames | None = None,
    registered: Callable[[str], Account | None] | None = None,
    signup_on_login: Callable[[], bool] = lambda: False,
) -> Portal:
    """The Portal with the three ways in: login, signup, and (while ``guests()`` says so) a
    guest nick. ``exempt`` says which addresses skip the per-address and rate limits;
    ``name_probes`` counts guest nicks that hit a registered name, per address (by default
    with the failed logins' default limits); ``reserved`` are names no guest or new account
    may take; ``registered`` is the directory's answer at once, where it is in this process
    (``GuestChecker``); ``signup_on_login`` whether a /login of an unknown name makes the
    account (``signup-on-login``)."""
    reserved = reserved or ReservedNames()
    if name_probes is None:
        throttle = LoginThrottle()
        name_probes = FailureLimiter(
            signups.clock, throttle.address_burst, throttle.address_interval
        )
    signup = SignupChecker(directory, server.guest_online, server.check_capacity, signups,
                           exempt, reserved)
    # The Portal asks each checker's interface in this order: guests, the most frequent and
    # the cheapest logins, first.
    return Portal(
        ChatRealm(server, delivery, exempt),
        [
            GuestChecker(directory, server.guest_online, guests, name_probes, exempt, reserved,
                         registered),
            AccountChecker(directory, signup_on_login, signup),
            TokenChecker(server.tokens),
            ResumeChecker(server.seats),
            signup,
        ],
    )
