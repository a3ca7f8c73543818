"""Room tokens: what lets a datagram speak in a room as a session.

A token is issued to one session for one room it is in (``Session.token``), is unguessable
(``secrets``), and ends at the first of: its expiry, the user leaving the room (for whatever
reason: ``ChatServer.remove`` is the one place a member leaves a room), or the session
ending. Whoever uses a token (the UDP frontend, through the realm's ``ITokenSeat``) is told
when it ends, so that it stops at once rather than at its next datagram.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer

from chatd.kernel.interfaces import ITokenSeat

if TYPE_CHECKING:
    from chatd.core.rooms import Room, Seat

# 18 random bytes: 24 URL-safe characters. Longer than the 22-character cookie (and its
# marker byte) that answers a datagram, so a challenge is never larger than what caused it.
TOKEN_BYTES = 18


@implementer(ITokenSeat)
class Grant:
    """One token: its session, its room, its expiry, and who to tell when it ends."""

    __slots__ = ("_expiry", "_watchers", "ended", "expires", "room_obj", "session", "token")

    def __init__(self, token: str, session: Seat, room: Room, expires: float) -> None:
        self.token = token
        self.session = session
        self.room_obj = room
        self.expires = expires
        self.ended = False
        self._watchers: list[Callable[[str], None]] = []
        self._expiry: IDelayedCall | None = None

    @property
    def room(self) -> str:
        return self.room_obj.name

    @property
    def room_key(self) -> str:
        return self.room_obj.key

    def watch(self, ended: Callable[[str], None]) -> None:
        if self.ended:
            ended("the token has ended")
            return
        self._watchers.append(ended)


class Tokens:
    """Every live token, by token, by session and by (user, room)."""

    __slots__ = ("_by_session", "_by_token", "clock")

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._by_token: dict[str, Grant] = {}
        self._by_session: dict[str, list[Grant]] = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def issue(self, session: Seat, room: Room, lifetime: float) -> Grant:
        """A new token for ``session`` in ``room``. Earlier tokens of the session for the
        room stay valid until they end on their own."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        grant = Grant(token, session, room, self.clock.seconds() + lifetime)
        grant._expiry = self.clock.callLater(lifetime, self._end, grant, "the token expired")
        self._by_token[token] = grant
        self._by_session.setdefault(session.id, []).append(grant)
        return grant

    def find(self, token: str) -> Grant | None:
        """The live grant of ``token``, or None (unknown, expired or ended)."""
        grant = self._by_token.get(token)
        if grant is None or grant.expires <= self.clock.seconds():
            return None
        return grant

    def end_member(self, session_ids: Iterable[str], room_key: str, why: str) -> None:
        """The user (with these sessions) left the room: their tokens for it end."""
        for session_id in session_ids:
            for grant in list(self._by_session.get(session_id, ())):
                if grant.room_obj.key == room_key:
                    self._end(grant, why)

    def end_session(self, session_id: str, why: str) -> None:
        """The session ended: its tokens end."""
        for grant in list(self._by_session.get(session_id, ())):
            self._end(grant, why)

    def _end(self, grant: Grant, why: str) -> None:
        if grant.ended:
            return
        grant.ended = True
        expiry, grant._expiry = grant._expiry, None
        if expiry is not None and expiry.active():
            expiry.cancel()
        self._by_token.pop(grant.token, None)
        session_id = grant.session.id
        grants = self._by_session.get(session_id, [])
        if grant in grants:
            grants.remove(grant)
        if not grants:
            self._by_session.pop(session_id, None)
        watchers, grant._watchers = grant._watchers, []
        for ended in watchers:
            ended(why)
