"""The one Realm every frontend logs in through: an Identity becomes a core Session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.cred.portal import IRealm, Portal
from zope.interface import implementer

from chatd.auth.checkers import AccountChecker, GuestChecker, SignupChecker
from chatd.auth.credentials import Identity
from chatd.core.service import ChatServer
from chatd.interfaces import IChatMind, IChatSession, IMemberDirectory


@implementer(IRealm)
class ChatRealm:
    def __init__(self, server: ChatServer) -> None:
        self._server = server

    # The Portal passes our checkers' Identity and the frontend's mind through untouched;
    # IRealm's stub types are narrower than twisted.cred's contract.
    def requestAvatar(  # type: ignore[override]
        self, avatarId: Identity, mind: IChatMind, *interfaces: Any
    ) -> tuple[Any, Any, Callable[[], None]]:
        if IChatSession not in interfaces:
            raise ValueError("chatd only hands out IChatSession avatars")
        session = self._server.connect(avatarId.name, avatarId.guest, mind)
        return IChatSession, session, session.quit


def make_portal(server: ChatServer, directory: IMemberDirectory, guests: bool) -> Portal:
    """The Portal with the three ways in: login, signup, and (if allowed) a guest nick."""
    return Portal(
        ChatRealm(server),
        [
            AccountChecker(directory),
            SignupChecker(directory, server.is_online, server.check_capacity),
            GuestChecker(directory, server.is_online, guests),
        ],
    )
