"""Presence watching: a session names users and hears when each comes online or goes.

What IRC's MONITOR needs, without IRC: a session's watch list (names, at most
``MAX_WATCHED``), and a ``PresenceChanged`` event, addressed to the watching session, when a
watched name comes online (a login, a rename to it) or goes (a logout, a rename away). The
registry calls ``changed`` where a user is tracked and untracked, so every way of coming and
going is heard, a cluster's remote users too. The list goes with the session. The session's
operations (``watch``, ``unwatch``, ``watching``) are ``chatd.core.listing``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chatd.kernel.errors import TooManyWatched
from chatd.kernel.events import Event, PresenceChanged
from chatd.kernel.names import MAX_WATCHED, fold


class _User(Protocol):
    @property
    def key(self) -> str: ...


class Watcher(Protocol):
    """What presence keeps of a watching session: its id and its user (whose key may
    change with a rename, so it is read when telling)."""

    @property
    def id(self) -> str: ...

    @property
    def user(self) -> _User: ...


class Presence:
    """Every session's watch list, and who watches each name."""

    __slots__ = ("_lists", "_watchers")

    def __init__(self) -> None:
        # watched key -> the sessions watching it, by session id
        self._watchers: dict[str, dict[str, Watcher]] = {}
        # session id -> its list: watched key -> the name as the session gave it
        self._lists: dict[str, dict[str, str]] = {}

    def changed(self, name: str, online: bool, at: float, next_id: Callable[[], str],
                tell: Callable[[str, Event], None]) -> None:
        """``name`` came online (``online``) or went at ``at``: ``tell`` (a user key, the
        event) each session watching it, each event with an id from ``next_id``."""
        for session_id, session in self._watchers.get(fold(name), {}).items():
            tell(session.user.key, PresenceChanged(name, online, session_id, id=next_id(),
                                                   at=at))

    def watchers(self, name: str) -> set[str]:
        """The user keys of the sessions watching ``name``: what it tells about itself
        (away, a new real name) reaches them too (IRC's extended-monitor)."""
        return {session.user.key for session in self._watchers.get(fold(name), {}).values()}

    def watch(self, session: Watcher, names: list[str]) -> None:
        mine = self._lists.setdefault(session.id, {})
        added = {fold(name): name for name in names if fold(name) not in mine}
        if len(mine) + len(added) > MAX_WATCHED:
            raise TooManyWatched(f"at most {MAX_WATCHED} names are watched at once")
        mine.update(added)
        for key in added:
            self._watchers.setdefault(key, {})[session.id] = session

    def unwatch(self, session: Watcher, names: list[str] | None) -> None:
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

    def listed(self, session: Watcher) -> list[str]:
        return list(self._lists.get(session.id, {}).values())
