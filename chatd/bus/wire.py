"""What a node accepts from Redis: each message checked, field by field, before any of it is used.

Redis is trusted by design (a node refuses one without a password unless told otherwise), yet
what comes out of it is read like a client's input: another node's bug, a PUBLISH typed by
hand or a forged one must neither stop a node's subscriber nor put bytes on its clients'
screens that no client could have sent. ``decode`` turns one message (an envelope of
chatd.bus.redis, from pub/sub or from a history stream) into an ``Envelope`` or raises
``Malformed`` saying which field is wrong: JSON of the expected shape; names by the
rules of chatd.kernel.names, text by those of chatd.kernel.text (control characters refused,
lengths capped); ids and tokens one printable word; times finite numbers; only the event kinds
a node publishes (``Notice`` is never one: a node makes its own). ``Drops`` counts what was
dropped and logs it, at most once per ``LOG_EVERY`` seconds, so a flood of bad messages
costs one log line a minute.

The envelope (``WIRE_VERSION`` 2) is a JSON array, positional so that neither end builds or
reads an object per message (``encode_event``, ``encode_note``)::

    [2, NODE, "r", ROOM_KEY, EXTRA or null, KIND, ID, AT, FIELD, ...]   an event for a room
    [2, NODE, "u", USER_KEY, null, KIND, ID, AT, FIELD, ...]            an event for a user
    [2, NODE, "p", NOTE]                                                a presence note

where the fields of each kind of event come in the order ``_SPECS`` lists them (``ROWS``).
A message of another version (wire format 1 was a JSON object) is dropped and counted like
any malformed one, its version named in the log line: nodes of two versions never share a
cluster, and one that tried would see its messages refused, not misread.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from operator import attrgetter
from typing import Any

from twisted.logger import Logger

from chatd.kernel.errors import BadName, BadText
from chatd.kernel.events import (
    AwayChanged,
    Event,
    FileShared,
    Invited,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    NickChanged,
    PresenceChanged,
    Private,
    ReadMoved,
    RealNameChanged,
    Redacted,
    Said,
    SessionEnded,
    Tagged,
    TopicSet,
)
from chatd.kernel.keys import NODE_NAME
from chatd.kernel.names import (
    MAX_FILE_NAME_LENGTH,
    MAX_NAME_LENGTH,
    check_room_name,
    check_user_name,
    clean_file_name,
    fold,
)
from chatd.kernel.text import MAX_TEXT_LENGTH, MAX_TOPIC_LENGTH, clean_text, for_log

log = Logger()

# The longest word a message carries: an event, session or room id (a ULID, or an older
# node's name, a dash and a counter), a token, an account id, a room password or a ban mask.
MAX_WORD = 128
# A room's password hash (``$argon2id$v=19$m=...$salt$digest``) and its list of bans.
MAX_HASH = 512
MAX_LIST = 10_000
# Seconds between two log lines about dropped messages.
LOG_EVERY = 60.0


class Malformed(ValueError):
    """A message from Redis that is not one a node sends; the text says what is wrong."""


@dataclass(slots=True)
class Envelope:
    """One checked message: ``node`` published it; it carries ``event`` for the room
    ``room`` (with ``extra``) or the user ``user``, or else a presence ``note``. (Not
    frozen: a frozen dataclass sets each field through ``object.__setattr__``, paid per
    message; nothing assigns to it.)"""

    node: str
    event: Event | None = None
    room: str = ""
    user: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    note: dict[str, Any] | None = None


Check = Callable[[Any], Any]


# -- fields ----------------------------------------------------------------------------------


def _string(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise Malformed(f"expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise Malformed(f"a string of {len(value)} characters (at most {limit})")
    return value


# How many names of each kind are remembered as valid (``_remembered``).
KNOWN_NAMES = 4096


def _remembered(check: Callable[[Any], str]) -> Callable[[Any], str]:
    """``check``, run once per name: what it accepts is the name itself, and is remembered
    (at most ``KNOWN_NAMES``, then forgotten all at once), so a room's or a sender's name
    that comes back message after message is looked up, not checked again."""
    known: set[str] = set()

    def checked(value: Any) -> str:
        if type(value) is str and value in known:
            return value
        found = check(value)
        if len(known) >= KNOWN_NAMES:
            known.clear()
        known.add(found)
        return found

    checked.__doc__ = check.__doc__
    return checked


@_remembered
def user_name(value: Any) -> str:
    """A user's display name, by the rules a login's name is checked by."""
    name = _string(value, MAX_NAME_LENGTH)
    try:
        check_user_name(name)
    except BadName as error:
        raise Malformed(str(error)) from None
    return name


@_remembered
def room_name(value: Any) -> str:
    """A room's display name (``#room`` accepted, as from a client)."""
    name = _string(value, MAX_NAME_LENGTH + 1)
    try:
        check_room_name(name)
    except BadName as error:
        raise Malformed(str(error)) from None
    return name


@_remembered
def user_key(value: Any) -> str:
    """A user's key: a valid name, already folded."""
    name = user_name(value)
    if fold(name) != name:
        raise Malformed("a user key that is not folded")
    return name


@_remembered
def room_key(value: Any) -> str:
    """A room's key: a valid name, already folded, without ``#``."""
    name = room_name(value)
    if name.startswith("#") or fold(name) != name:
        raise Malformed("a room key that is not folded")
    return name


def text(value: Any) -> str:
    """A message, as chatd.kernel.text lets one be relayed (tabs made spaces)."""
    try:
        return clean_text(_string(value, MAX_TEXT_LENGTH))
    except BadText as error:
        raise Malformed(str(error)) from None


def optional_text(limit: int) -> Check:
    """Text that may be empty (an away message, a part reason, a topic)."""

    def check(value: Any) -> str:
        return text(value) if _string(value, limit) else ""

    return check


# A white space character, as ``str.isspace`` has it (what ``\s`` matches in a str pattern).
_SPACE = re.compile(r"\s")


def word(limit: int, empty: bool = True) -> Check:
    """One word of printable characters (an id, a token, a mask, a mode's argument)."""

    def check(value: Any) -> str:
        found = _string(value, limit)
        if not found and not empty:
            raise Malformed("an empty word")
        # An id is letters and digits: checked at C speed, where a character at a time in
        # Python was half of what reading a message from Redis cost.
        if not (found.isascii() and found.isalnum()) and (
                not found.isprintable() or _SPACE.search(found) is not None):
            raise Malformed("a word with spaces or control characters")
        return found

    return check


def flag(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise Malformed(f"expected true or false, got {type(value).__name__}")


def whole(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Malformed(f"expected a whole number from {low} to {high}")
        return value

    return check


def moment(value: Any) -> float:
    """A time: a finite number of seconds, not negative."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value >= 0):
        raise Malformed("a time that is not a finite number of seconds")
    return float(value)


def file_name(value: Any) -> str:
    """A shared file's name: already what chatd.kernel.names.clean_file_name makes."""
    name = _string(value, MAX_FILE_NAME_LENGTH)
    try:
        if clean_file_name(name) == name:
            return name
    except BadName:
        pass
    raise Malformed("a file name that is not clean")


def reason(value: Any) -> LeaveReason:
    try:
        return LeaveReason(value)
    except (ValueError, TypeError):
        raise Malformed("an unknown reason for leaving") from None


_ID = word(MAX_WORD, empty=False)
_OPTIONAL_ID = word(MAX_WORD)
_MODE = re.compile(r"[+-][A-Za-z]")


def mode(value: Any) -> str:
    if not isinstance(value, str) or _MODE.fullmatch(value) is None:
        raise Malformed("a mode that is not a sign and a letter")
    return value


def _optional(check: Check) -> Check:
    return lambda value: "" if value == "" else check(value)


def _or_none(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _list(check: Check, limit: int = MAX_LIST) -> Check:
    def checked(value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > limit:
            raise Malformed(f"expected a list of at most {limit}")
        return [check(item) for item in value]

    return checked


# Client-only tags (``Said.tags``): IRC allows a client 4094 bytes of them in all.
MAX_CLIENT_TAGS = 4096


def client_tags(value: Any) -> dict[str, str]:
    """A mapping of client-only tag names to values, strings, at most 4 KiB of them."""
    if not isinstance(value, dict) or sum(
            len(key) + len(item) + 2 for key, item in value.items()
            if isinstance(key, str) and isinstance(item, str)) > MAX_CLIENT_TAGS or not all(
            isinstance(key, str) and isinstance(item, str) for key, item in value.items()):
        raise Malformed("client tags that are not a small object of strings")
    return value


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"expected an object, got {type(value).__name__}")
    return value


def _fields(value: Any, spec: Mapping[str, Check], required: frozenset[str]) -> dict[str, Any]:
    """``value`` as an object of the fields ``spec`` names, each checked; others ignored
    (a newer node may add some)."""
    data = _object(value)
    missing = required - data.keys()
    if missing:
        raise Malformed(f"missing {', '.join(sorted(missing))}")
    out = {}
    for name, check in spec.items():
        if name in data:
            try:
                out[name] = check(data[name])
            except Malformed as error:
                raise Malformed(f"{name}: {error}") from None
    return out


# -- events ----------------------------------------------------------------------------------

_AWAY = optional_text(MAX_TEXT_LENGTH)
_OPTIONAL_NAME = _optional(user_name)
_TARGET = word(64, empty=False)

# The events a node publishes, with each field's check (``id`` and ``at`` besides), and the
# fields chatd.kernel.events gives no default, which a message must carry.
_SPECS: tuple[tuple[type[Event], dict[str, Check]], ...] = (
    (Said, {"room": room_name, "sender": user_name, "text": text, "action": flag,
            "origin": _OPTIONAL_ID, "notice": flag, "account": flag,
            "room_id": _OPTIONAL_ID, "tags": _or_none(client_tags), "bot": flag}),
    (Private, {"sender": user_name, "recipient": user_name, "text": text,
               "sender_id": _OPTIONAL_ID, "recipient_id": _OPTIONAL_ID, "notice": flag,
               "tags": _or_none(client_tags), "bot": flag}),
    (PresenceChanged, {"who": user_name, "online": flag, "watcher": word(MAX_WORD)}),
    (Tagged, {"sender": user_name, "tags": client_tags, "room": _optional(room_name),
              "recipient": _OPTIONAL_NAME, "origin": _OPTIONAL_ID, "account": flag,
              "bot": flag}),
    (RealNameChanged, {"who": user_name, "real_name": optional_text(MAX_TEXT_LENGTH)}),
    (Joined, {"room": room_name, "who": user_name, "account": flag, "away": _AWAY,
              "members": whole(0, 1 << 31)}),
    (Left, {"room": room_name, "who": user_name, "reason": reason,
            "message": optional_text(MAX_TEXT_LENGTH), "by": _OPTIONAL_NAME}),
    (TopicSet, {"room": room_name, "who": user_name, "topic": optional_text(MAX_TOPIC_LENGTH)}),
    (ModeChanged, {"room": room_name, "who": user_name, "mode": mode, "arg": _OPTIONAL_ID}),
    (Invited, {"room": room_name, "who": user_name, "by": user_name, "account": flag}),
    (NickChanged, {"old": user_name, "new": user_name, "account": flag}),
    (AwayChanged, {"who": user_name, "away": _AWAY}),
    (SessionEnded, {"user": user_name, "why": optional_text(MAX_TEXT_LENGTH)}),
    (ReadMoved, {"target": _TARGET, "marker": word(26, empty=False), "private": flag,
                 "origin": _OPTIONAL_ID}),
    (FileShared, {"room": room_name, "sender": user_name, "name": file_name,
                  "size": whole(0, 1 << 50), "file_id": word(64, empty=False)}),
    (Redacted, {"message_id": _ID, "who": user_name, "room": _optional(room_name),
                "room_id": _OPTIONAL_ID, "sender": _OPTIONAL_NAME,
                "recipient": _OPTIONAL_NAME, "sender_id": _OPTIONAL_ID,
                "recipient_id": _OPTIONAL_ID, "why": optional_text(MAX_TOPIC_LENGTH)}),
)



class _Row:
    """How one kind of event crosses as a row: its fields in ``_SPECS``' order, each one's
    check, how many a row must carry (up to the last field without a default), and whether
    the row's values are the class's positional arguments (else they are passed by
    name)."""

    __slots__ = ("checks", "cls", "get", "names", "positional", "reason", "required")

    def __init__(self, cls: type[Event], spec: dict[str, Check]) -> None:
        self.cls = cls
        self.names = tuple(spec)
        self.checks = tuple(spec.values())
        defaults = {f.name for f in fields(cls)
                    if f.default is not MISSING or f.default_factory is not MISSING}
        self.required = max((i + 1 for i, name in enumerate(self.names)
                             if name not in defaults), default=0)
        self.positional = self.names == tuple(f.name for f in fields(cls) if not f.kw_only)
        self.reason = "reason" in spec  # a LeaveReason, sent as its value
        getter = attrgetter(*self.names)
        self.get = getter if len(self.names) > 1 else lambda event: (getter(event),)


ROWS: dict[str, _Row] = {cls.__name__: _Row(cls, spec) for cls, spec in _SPECS}
_ROW_OF: dict[type[Event], _Row] = {row.cls: row for row in ROWS.values()}


def event_row(event: Event) -> list[Any]:
    """``event`` as the row an envelope carries: its kind, id, time, then its fields."""
    row = _ROW_OF[type(event)]
    values = row.get(event)
    if row.reason:
        values = tuple(value.value if isinstance(value, LeaveReason) else value
                       for value in values)
    return [row.cls.__name__, event.id, event.at, *values]


def _event_of(data: list[Any], start: int) -> Event:
    """The event of the row at ``data[start:]``, every field checked; fields past those this
    node knows (a newer node's) are ignored, missing ones that have a default take it."""
    if len(data) < start + 3:
        raise Malformed("no event")
    kind = data[start]
    row = ROWS.get(kind) if type(kind) is str else None
    if row is None:
        raise Malformed(f"an unknown kind of event {for_log(str(kind), 32)!r}")
    try:
        found_id = _ID(data[start + 1])
        at = moment(data[start + 2])
    except Malformed as error:
        raise Malformed(f"id or at: {error}") from None
    given = len(data) - start - 3
    if given < row.required:
        raise Malformed(f"missing {', '.join(row.names[given:row.required])}")
    values = []
    for name, check, value in zip(row.names, row.checks, data[start + 3:], strict=False):
        try:
            values.append(check(value))
        except Malformed as error:
            raise Malformed(f"{name}: {error}") from None
    if row.positional:
        return row.cls(*values, id=found_id, at=at)
    return row.cls(**dict(zip(row.names, values, strict=False)), id=found_id, at=at)


# -- what other nodes need besides an event (chatd.core.replica) -------------------------------

_USER = {"name": user_name, "guest": flag, "account_id": _OPTIONAL_ID, "away": _AWAY}
_ROOM = {
    "name": room_name, "limit": whole(1, 1_000_000), "owner": _or_none(word(MAX_WORD)),
    "owner_id": _OPTIONAL_ID, "password_hash": _or_none(word(MAX_HASH)),
    "topic": optional_text(MAX_TOPIC_LENGTH), "bans": _list(word(MAX_WORD, empty=False)),
    "flags": word(8), "operators": _list(user_key), "voiced": _list(user_key),
    "id": _OPTIONAL_ID,
}


def user_state(value: Any) -> dict[str, Any]:
    return _fields(value, _USER, frozenset({"name"}))


def room_state(value: Any) -> dict[str, Any]:
    return _fields(value, _ROOM, frozenset({"name", "limit"}))


def _extra(value: Any) -> dict[str, Any]:
    return _fields(value, {"room": room_state, "user": user_state,
                           "password_hash": _or_none(word(MAX_HASH))}, frozenset())


def _hello_user(value: Any) -> dict[str, Any]:
    return _fields(value, {**_USER, "count": whole(0, 1_000_000), "rooms": _list(room_key)},
                   frozenset({"name"}))


def _rooms(value: Any) -> dict[str, Any]:
    data = _object(value)
    return {room_key(key): room_state(state) for key, state in data.items()}


_NOTES: dict[str, tuple[dict[str, Check], frozenset[str]]] = {
    "sess": ({"u": user_state, "c": whole(0, 1_000_000)}, frozenset({"u", "c"})),
    "hello": ({"t": word(MAX_WORD), "s": lambda value: _fields(
        value, {"users": _list(_hello_user, 1_000_000), "rooms": _rooms}, frozenset())},
        frozenset()),
    "ask": ({}, frozenset()),
}


def note(value: Any) -> dict[str, Any]:
    """A presence note (chatd.cluster.presence): ``sess``, ``hello`` or ``ask``."""
    kind = _object(value).get("k")
    if not isinstance(kind, str) or kind not in _NOTES:
        raise Malformed(f"an unknown kind of note {for_log(str(kind), 32)!r}")
    spec, required = _NOTES[kind]
    return {"k": kind, **_fields(value, spec, required)}


# -- envelopes -----------------------------------------------------------------------------


WIRE_VERSION = 2
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_DECODE = json.JSONDecoder().decode


def encode_event(node: str, kind: str, key: str, event: Event,
                 extra: dict[str, Any] | None = None) -> str:
    """The envelope of ``event`` for the room (``kind`` "r") or user ("u") ``key``."""
    return _ENCODE([WIRE_VERSION, node, kind, key, extra or None, *event_row(event)])


def encode_note(node: str, note: dict[str, Any]) -> str:
    """The envelope of a presence note."""
    return _ENCODE([WIRE_VERSION, node, "p", note])


def decode(data: object) -> Envelope:
    """The envelope ``data`` is, every field checked; Malformed if it is not one."""
    try:
        if type(data) is bytes:
            data = data.decode("utf-8")
        if not isinstance(data, str):
            raise Malformed(f"not JSON text but {type(data).__name__}")
        parsed = _DECODE(data)
    except (ValueError, RecursionError):
        raise Malformed("not JSON in UTF-8") from None
    if type(parsed) is not list:
        if isinstance(parsed, dict) and "n" in parsed:
            raise Malformed(f"wire format 1 (a JSON object); this node reads {WIRE_VERSION}")
        raise Malformed(f"not an envelope but {type(parsed).__name__}")
    if len(parsed) < 4 or parsed[0] != WIRE_VERSION or type(parsed[0]) is not int:
        version = parsed[0] if parsed else None
        raise Malformed(f"wire format {for_log(str(version), 16)}; this node reads "
                        f"{WIRE_VERSION}")
    node = parsed[1]
    if type(node) is not str or NODE_NAME.fullmatch(node) is None:
        raise Malformed("no node name")
    kind = parsed[2]
    try:
        if kind == "p":
            if len(parsed) != 4:
                raise Malformed("a note and more")
            return Envelope(node, note=note(parsed[3]))
        if len(parsed) < 5:
            raise Malformed("no event")
        if kind == "r":
            key = room_key(parsed[3])
            extra = parsed[4]
            return Envelope(node, _event_of(parsed, 5), room=key,
                            extra={} if extra is None else _extra(extra))
        if kind == "u":
            key = user_key(parsed[3])
            if parsed[4] is not None:
                raise Malformed("extra state with a user's event")
            return Envelope(node, _event_of(parsed, 5), user=key)
        raise Malformed(f"an unknown kind of envelope {for_log(str(kind), 8)!r}")
    except Malformed as error:
        raise Malformed(f"from {node}: {error}") from None


class Drops:
    """Messages from Redis dropped as malformed: counted by where they came from (``--metrics``),
    and logged at most once per ``LOG_EVERY`` seconds, with how many since the last line."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.counts: dict[str, int] = {}
        self._unlogged = 0
        self._quiet_until = -math.inf

    def drop(self, where: str, why: object) -> None:
        self.counts[where] = self.counts.get(where, 0) + 1
        self._unlogged += 1
        now = self.clock()
        if now < self._quiet_until:
            return
        log.warn("cluster: dropped {count} malformed message(s) from Redis, the last on "
                 "{where}: {why}", count=self._unlogged, where=where,
                 why=for_log(str(why), 200))
        self._unlogged = 0
        self._quiet_until = now + LOG_EVERY
