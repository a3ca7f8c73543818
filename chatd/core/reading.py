"""Read markers: how far a user has read each room and private conversation, and what it has
not read yet (the replay on join).

A marker (chatd.kernel.markers) is kept per conversation: a room by its key, so that a room
opened again under its name keeps the marker (ids are in time order, so an older room's
marker is before everything the new one says), a private conversation by ``~`` and the other
party's key. An account's markers are loaded from the member directory at its first login on
this node and written through it, durably, as they move, so every session of the account,
on every node, sees one marker; each move is published on the user's key (``ReadMoved``) so
its other sessions are told. A guest's markers live only while it is online: guests have no
stored markers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from chatd.core.access import check_open
from chatd.core.rooms import NO_MARKERS, User
from chatd.core.talk import _readable_room
from chatd.kernel.errors import BadSyntax
from chatd.kernel.events import Event, ReadMoved
from chatd.kernel.history import HistoryQuery, private_key
from chatd.kernel.markers import is_marker, later, marker_ms, unread
from chatd.kernel.names import check_user_name, fold

if TYPE_CHECKING:
    from chatd.core.registry import Registry, SessionState

log = Logger()

# The most kept messages one unread count looks through.
_SCAN = 100_000


def load_markers(server: Registry, user: User) -> Deferred[None]:
    """An account's markers into ``user``, unless they are loaded; a directory that can't
    answer leaves none (the account then replays the last messages, as before markers)."""
    if user.guest or not user.account_id or user.markers is not NO_MARKERS:
        return succeed(None)

    def loaded(markers: dict[str, str]) -> None:
        # What was read here while the directory answered is kept too: the further of each.
        mine = dict(user.markers)
        for key, marker in markers.items():
            mine[key] = later(mine.get(key), marker) or marker
        if mine:
            user.markers = mine

    def failed(failure: object) -> None:
        log.warn("could not read the read markers of {user}: {why}", user=user.key,
                 why=getattr(failure, "value", failure))

    return server.directory.read_markers(user.key, user.account_id).addCallbacks(loaded, failed)


def _conversation(session: SessionState, name: str, private: bool
                  ) -> tuple[str, str, str]:
    """The marker key, the name shown, and the history key of a conversation."""
    user = session.user
    if private:
        peer = check_user_name(name)
        key = fold(peer)
        return f"~{key}", peer, private_key(user.account_id, key)
    room = _readable_room(session, name)
    return room.key, room.name, room.conversation


def _events(session: SessionState, history_key: str, marker: str | None, limit: int,
            private: bool) -> list[Event]:
    store = session.server.history
    if store is None or (private and (session.user.guest or not session.user.account_id)):
        return []
    if marker is None:
        return store.query(history_key, HistoryQuery("latest", limit))
    # By time first (a millisecond early, as ids of one millisecond share it), then by id.
    since = HistoryQuery("after", _SCAN, (marker_ms(marker) - 1) / 1000)
    return unread(store.query(history_key, since), marker)


def read_marker(session: SessionState, name: str, private: bool = False) -> str | None:
    """This user's marker of a room it is in, or of its private conversation with ``name``;
    None if nothing was read there."""
    key, _, _ = _conversation(session, name, private)
    return session.user.markers.get(key)


def mark_read(session: SessionState, name: str, marker: str | None = None,
              private: bool = False) -> Deferred[str | None]:
    """Read up to ``marker`` (a message id, or chatd.kernel.markers.marker_at; None: the
    newest message). Markers only move forward: the answer is the marker kept, once
    durable (None: nothing is read there). A move is told to the account's other sessions."""
    check_open(session)
    key, shown, history_key = _conversation(session, name, private)
    user, server = session.user, session.server
    if marker is None:
        newest = _events(session, history_key, None, 1, private)
        if not newest:
            return succeed(user.markers.get(key))
        marker = newest[-1].id
    elif not is_marker(marker):
        raise BadSyntax(f"{marker[:40]!r} is not a message id")
    kept = user.markers.get(key)
    moved = later(kept, marker)
    if moved == kept:
        return succeed(kept)
    if user.markers is NO_MARKERS:
        user.markers = {}
    cast(dict[str, str], user.markers)[key] = marker
    server.bus.to_user(user.key, ReadMoved(shown, marker, private, session.id,
                                           id=server.next_id(), at=server.clock.seconds()))
    if user.guest or not user.account_id:
        return succeed(marker)
    written = server.directory.mark_read(user.key, user.account_id, key, marker)
    return cast("Deferred[str | None]", written)


def unread_messages(session: SessionState, name: str, limit: int, private: bool = False
                    ) -> tuple[list[Event], int]:
    """What this user has not read of a conversation: the first ``limit`` messages after its
    marker and how many more there are; with no marker, the last ``limit`` and 0."""
    key, _, history_key = _conversation(session, name, private)
    marker = session.user.markers.get(key)
    if marker is None:
        return (_events(session, history_key, None, limit, private) if limit else []), 0
    events = _events(session, history_key, marker, limit, private)
    return events[:limit], max(0, len(events) - limit)
