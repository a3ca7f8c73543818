"""Read markers: how far an account has read one conversation, as one comparable string.

A marker is the id of the last message read (a ULID, chatd.core.ids) or, where a client
names a time rather than a message (IRC's ``MARKREAD timestamp=``), the greatest id that
time's millisecond can hold. Ids sort in the order they were made and their first ten
characters are the millisecond, so "read up to here" is a string comparison: a message is
unread when its id sorts after the marker, and a marker moves only to a greater one (never
back, as IRCv3 read-marker asks). One rule, here, for the core, every frontend and the store.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatd.kernel.events import Event

# Crockford base32 in ASCII order, so comparing two ids as strings compares their values.
_DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {char: value for value, char in enumerate(_DIGITS)}
_TIME = 10
LENGTH = 26
# The random part of the last id a millisecond can hold.
_LAST = _DIGITS[-1] * (LENGTH - _TIME)


def is_marker(text: str) -> bool:
    """Whether ``text`` has a marker's shape (26 Crockford characters, a time under 2**48)."""
    return len(text) == LENGTH and text[0] <= "7" and all(char in _VALUE for char in text)


def marker_at(ms: int) -> str:
    """The marker of everything said up to and including millisecond ``ms`` (since 1970)."""
    ms = max(0, min(ms, 2**48 - 1))
    return "".join(_DIGITS[(ms >> shift) & 31] for shift in range(45, -5, -5)) + _LAST


def marker_ms(marker: str) -> int:
    """The millisecond a marker stands at (what IRC shows of it)."""
    value = 0
    for char in marker[:_TIME]:
        value = value * 32 + _VALUE.get(char, 0)
    return value


def later(marker: str | None, other: str | None) -> str | None:
    """The further of two markers (None: nothing read)."""
    if marker is None:
        return other
    if other is None:
        return marker
    return max(marker, other)


def unread(events: Sequence[Event], marker: str | None) -> list[Event]:
    """The events of ``events`` (oldest first) after ``marker``; all of them without one."""
    if marker is None:
        return list(events)
    return [event for event in events if event.id > marker]
