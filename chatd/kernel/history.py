"""History queries, sans-IO: what a client may ask of a conversation's past, and the one
function that answers it from a list of events.

A query names a *reference* by time (seconds since the epoch, as events' ``at``) or by an
event's ``id`` (IRC's ``msgid``), and a direction, as IRCv3 ``draft/chathistory`` does:
``latest``, ``before``, ``after``, ``around`` and ``between``. References are exclusive
(``before`` an id never includes that event); results are always oldest first. Every store
answers with ``select``, so the line protocol, IRC and every store agree on the meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from chatd.kernel.events import Event

# The most messages one request may ask for (IRC's CHATHISTORY= token says so).
MAX_REQUEST = 100

Kind = Literal["latest", "before", "after", "around", "between"]
# A reference: a time (float seconds) or an event id (str).
Ref = float | str


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """``kind`` and ``limit``; ``ref`` for all but ``latest`` (where it is optional: only
    what came after it), ``ref2`` for ``between``."""

    kind: Kind
    limit: int
    ref: Ref | None = None
    ref2: Ref | None = None


def room_conversation(room_key: str, room_id: str) -> str:
    """The history key (and file key) of one room: its key and its id, made when it was
    created, so that a later room of the same name (a temporary room emptied and opened
    again, a deleted room made again) reads nothing of this one's. A room stored before room
    ids has none and keeps what is stored under its bare key. Names can't contain ``~``."""
    return f"{room_key}~{room_id}" if room_id else room_key


def private_key(account_id: str, peer_key: str) -> str:
    """The history key of one account's private conversation with the user ``peer_key``.
    Names can't contain ``~``, so these never meet a room key. Each party's copy is kept under
    its own account id: nobody else's id can name it."""
    return f"~{account_id}~{peer_key}"


def millis(at: float) -> int:
    """A time to the millisecond, as clients see it (server-time, CHATHISTORY's
    ``timestamp=``, which cut the microseconds off): times compare in these units, so a
    message's own ``time`` tag names that message, not one a few microseconds before it."""
    return round(at * 1_000_000) // 1000


def _position(events: Sequence[Event], ref: Ref, after: bool) -> int | None:
    """Where a reference falls: the index of the first event after it (``after``) or the
    index just past the last event before it. None if an id is not (or no longer) kept."""
    if isinstance(ref, str):
        for index, event in enumerate(events):
            if event.id == ref:
                return index + 1 if after else index
        return None
    moment = millis(ref)
    if after:
        return next((i for i, event in enumerate(events) if millis(event.at) > moment),
                    len(events))
    return next((i for i, event in enumerate(events) if millis(event.at) >= moment),
                len(events))


def select(events: Sequence[Event], query: HistoryQuery) -> list[Event]:
    """What ``query`` asks of ``events`` (oldest first), at most ``query.limit``."""
    limit, count = query.limit, len(events)
    if limit <= 0:
        return []
    kind, ref = query.kind, query.ref
    if kind == "latest":
        low = 0 if ref is None else _position(events, ref, after=True)
        return [] if low is None else list(events[max(low, count - limit):])
    if ref is None:
        return []
    if kind == "before":
        high = _position(events, ref, after=False)
        return [] if high is None else list(events[max(0, high - limit):high])
    if kind == "after":
        low = _position(events, ref, after=True)
        return [] if low is None else list(events[low:low + limit])
    if kind == "around":
        centre = _position(events, ref, after=False)
        if centre is None:
            return []
        start = max(0, centre - limit // 2)
        end = min(count, start + limit)
        return list(events[max(0, end - limit):end])
    if query.ref2 is None:
        return []
    # between: from ref towards ref2, the limit nearest ref, both exclusive.
    first_after, first_before = _position(events, ref, True), _position(events, ref, False)
    second_after = _position(events, query.ref2, True)
    second_before = _position(events, query.ref2, False)
    if None in (first_after, first_before, second_after, second_before):
        return []
    assert first_after is not None and first_before is not None
    assert second_after is not None and second_before is not None
    if first_before <= second_before:
        return list(events[first_after:second_before][:limit])
    return list(events[second_after:first_before][-limit:])
