"""Presence watching: a session names users and hears when each comes online or goes.

What IRC's MONITOR needs, without IRC: a session's watch list (names, at most
``MAX_WATCHED``), and a ``PresenceChanged`` event, addressed to the watching session, when a
watched name comes online (a login, a rename to it) or goes (a logout, a rename away). The
registry calls ``changed`` where a user is tracked and untracked, so every way of coming and
going is heard, a cluster's remote users too. The list goes with the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatd.kernel.errors import TooManyWatched
from chatd.kernel.events import PresenceChanged
from chatd.kernel.names import MAX_WATCHED, fold

if TYPE_CHECKING:
    from chatd.core.registry import Registry, SessionState


class Presence:
    """Every session's watch list, and who watches each name."""

    __slots__ = ("_lists", "_watchers")

    def __init__(self) -> None:
        # watched key -> the sessions watching it, by session id
        self._watchers: dict[str, dict[str, SessionState]] = {}
        # session id -> its list: watched key -> the name as the session gave it
        self._lists: dict[str, dict[str, str]] = {}

    def changed(self, server: Registry, name: str, online: bool) -> None:
        """``name`` came online (``online``) or went: tell each session watching it."""
        watchers = self._watchers.get(fold(name))
        if not watchers:
            return
        at = server.clock.seconds()
        for session_id, session in watchers.items():
            server.bus.to_user(session.user.key, PresenceChanged(
                name, online, session_id, id=server.next_id(), at=at))

    def watchers(self, name: str) -> set[str]:
        """The user keys of the sessions watching ``name``: what it tells about itself
        (away, a new real name) reaches them too (IRC's extended-monitor)."""
        return {session.user.key for session in self._watchers.get(fold(name), {}).values()}

    def watch(self, session: SessionState, names: list[str]) -> None:
        mine = self._lists.setdefault(session.id, {})
        added = {fold(name): name for name in names if fold(name) not in mine}
        if len(mine) + len(added) > MAX_WATCHED:
            raise TooManyWatched(f"at most {MAX_WATCHED} names are watched at once")
        mine.update(added)
        for key in added:
            self._watchers.setdefault(key, {})[session.id] = session

    def unwatch(self, session: SessionState, names: list[str] | None) -> None:
        """Stop watching ``names`` (None: all of them)."""
        mine = self._lists.get(session.id, {})
        for key in list(mine) if names is None else map(fold, names):
            if mine.pop(key, None) is None:
                continue
            watchers = self._watchers[key]
            del watchers[session.id]
            if not watchers:
                del self._watchers[key]
        if not mine:
            self._lists.pop(session.id, None)

    def listed(self, session: SessionState) -> list[str]:
        return list(self._lists.get(session.id, {}).values())


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
