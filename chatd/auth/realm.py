"""The one Realm every frontend logs in through: an Identity becomes a core Session, and the
frontend's mind is attached to delivery until the session logs out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.cred.portal import IRealm, Portal
from zope.interface import implementer

from chatd.auth.checkers import AccountChecker, GuestChecker, SignupChecker, SignupLimits
from chatd.core.service import ChatServer
from chatd.kernel.credentials import Identity
from chatd.kernel.interfaces import IChatMind, IChatSession, IDelivery, IMemberDirectory
from chatd.kernel.names import ReservedNames
from chatd.kernel.ratelimit import FailureLimiter
from chatd.members.local import LoginThrottle


@implementer(IRealm)
class ChatRealm:
    def __init__(
        self, server: ChatServer, delivery: IDelivery, exempt: Callable[[str], bool]
    ) -> None:
        self._server = server
        self._delivery = delivery
        self._exempt = exempt

    # The Portal passes our checkers' Identity and the frontend's mind through untouched;
    # IRealm's stub types are narrower than twisted.cred's contract.
    def requestAvatar(  # type: ignore[override]
        self, avatarId: Identity, mind: IChatMind, *interfaces: Any
    ) -> tuple[Any, Any, Callable[[], None]]:
        if IChatSession not in interfaces:
            raise ValueError("chatd only hands out IChatSession avatars")
        session = self._server.connect(
            avatarId.name, avatarId.guest, limited=not self._exempt(avatarId.peer),
            account_id=avatarId.account_id,
        )
        self._delivery.attach(session.key, session.id, mind)

        def logout() -> None:
            """Quit (unless the frontend quit with its own reason first), then detach."""
            session.quit()
            self._delivery.detach(session.key, session.id)

        return IChatSession, session, logout


def make_portal(
    server: ChatServer,
    delivery: IDelivery,
    directory: IMemberDirectory,
    guests: bool,
    signups: SignupLimits,
    exempt: Callable[[str], bool] = lambda peer: False,
    name_probes: FailureLimiter | None = None,
    reserved: ReservedNames | None = None,
) -> Portal:
    """The Portal with the three ways in: login, signup, and (if allowed) a guest nick.
    ``exempt`` says which addresses skip the per-address and rate limits; ``name_probes``
    counts guest nicks that hit a registered name, per address (by default with the failed
    logins' default limits); ``reserved`` are names no guest or new account may take."""
    reserved = reserved or ReservedNames()
    if name_probes is None:
        throttle = LoginThrottle()
        name_probes = FailureLimiter(
            signups.clock, throttle.address_burst, throttle.address_interval
        )
    return Portal(
        ChatRealm(server, delivery, exempt),
        [
            AccountChecker(directory),
            SignupChecker(directory, server.guest_online, server.check_capacity, signups, exempt,
                          reserved),
            GuestChecker(directory, server.guest_online, guests, name_probes, exempt, reserved),
        ],
    )
