"""What the core publishes: immutable events, each rendered once per wire format.

The core makes one event per change and publishes it on the bus; delivery hands it to every
member's sink. ``encoded`` keeps the bytes each wire format made of it, so a 1,000-member
room costs one render per protocol, not one per recipient.

Every event has an ``id``, unique across processes and restarts (a ULID, chatd.core.ids), and
``at``, the time it happened (from the core's injected clock), so that history and other
nodes can name and order it. ``to_dict``/``from_dict`` are its serialisation for a bus that
crosses processes: a JSON object with ``type`` (the class name) and the fields, never the
rendering cache. ``docs/design.md`` shows an example.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform

_E = TypeVar("_E")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def event(cls: type[_E]) -> type[_E]:
    """An event class: a slotted dataclass, frozen for the type checker (no code may assign
    to an event's fields) but not at run time, where a frozen dataclass's ``__init__`` sets
    each field through ``object.__setattr__``, several times the cost, paid once per message
    said (docs/performance.md)."""
    return dataclass(slots=True, eq=False)(cls)


class LeaveReason(enum.Enum):
    """Why someone left a room; shown to the members who stay."""

    LEFT = "left"
    QUIT = "quit"
    LOST = "connection lost"
    TIMEOUT = "timed out"
    DELETED = "room deleted"
    SLOW = "dropped: not reading"
    FLOOD = "disconnected for flooding"
    KICKED = "kicked"
    # A server operator ended the user's sessions (KILL, /kill): ``message`` is "OPER
    # (reason)", so IRC shows the QUIT as ``Killed (OPER (reason))``.
    KILLED = "killed"
    # A server operator closed the room (/close): ``by`` the operator, ``message`` why.
    CLOSED = "room closed"


@event
class Event:
    """Base of all events; holds the per-format encoding cache."""

    id: str = field(default="", kw_only=True)
    at: float = field(default=0.0, kw_only=True)
    wire: dict[Callable[[Event], bytes], bytes] = field(
        default_factory=dict, kw_only=True, repr=False, compare=False
    )

    def encoded(self, render: Callable[[Event], bytes]) -> bytes:
        """``render(self)``, computed once per renderer."""
        try:
            return self.wire[render]
        except KeyError:
            data = self.wire[render] = render(self)
            return data


@event
class Said(Event):
    """A message (or, with ``action``, an emote) in a room. ``origin`` is the id of the
    session that sent it: protocols whose clients don't expect their own messages back
    (IRC) skip it; a string unique across nodes, so the event can cross a broker."""

    room: str
    sender: str
    text: str
    action: bool = False
    origin: str = ""
    # A notice (IRC NOTICE): shown as one, never answered automatically.
    notice: bool = False
    # The sender is logged in to the account of its name (False: a guest); IRC's account-tag.
    account: bool = False
    # The id of the room it was said in (chatd.kernel.history.room_conversation): history
    # keeps it under this room, not under its name.
    room_id: str = ""
    # Client-only tags the sender attached (IRCv3 ``+draft/reply``, ``+draft/react``): opaque
    # to the core, relayed as they came to the frontends that show them; None: none.
    tags: Mapping[str, str] | None = None
    # The sender marked itself a bot (IRC's user mode +B and ``bot`` tag).
    bot: bool = False


@event
class Private(Event):
    """A private message to one user (all of that user's sessions). ``sender_id`` and
    ``recipient_id`` are the parties' account ids (empty for a guest): history keeps a
    private message only under an account id, so a guest who later takes a name reads none
    of its past conversations."""

    sender: str
    recipient: str
    text: str
    sender_id: str = ""
    recipient_id: str = ""
    notice: bool = False
    # Client-only tags and the bot mark, as on ``Said``.
    tags: Mapping[str, str] | None = None
    bot: bool = False


@event
class Joined(Event):
    """Someone joined a room: ``account`` if logged in to the account of that name (not a
    guest), and ``away``, the away message it had on joining ("" if none), which IRC's
    extended-join and away-notify show with the JOIN. ``members``: how many the room has
    with the newcomer (0 where unknown), which the line protocol's 103 shows."""

    room: str
    who: str
    account: bool = False
    away: str = ""
    members: int = 0


@event
class Left(Event):
    """Someone left a room, and why (a part or quit carries the user's message; a kick, the
    operator's reason, and ``by``, the operator)."""

    room: str
    who: str
    reason: LeaveReason
    message: str = ""
    by: str = ""


@event
class TopicSet(Event):
    """A room's topic changed."""

    room: str
    who: str
    topic: str


@event
class ModeChanged(Event):
    """An operator changed one of a room's modes: ``mode`` is a sign and an IRC mode letter
    (``+o``, ``-b``, ``+i``, ``+l``, ...) and ``arg`` its argument (a name, a mask, a limit),
    empty for a flag and for a key (``+k``): the room's password is never in an event."""

    room: str
    who: str
    mode: str
    arg: str = ""


@event
class Invited(Event):
    """``by`` invited ``who`` to ``room``; published to ``who``."""

    room: str
    who: str
    by: str
    account: bool = False  # whether ``by`` is logged in to an account (IRC's account-tag)


@event
class NickChanged(Event):
    """A guest is now called ``new``; published to every user who shares a room with it,
    and to itself. With ``account``, it logged in to the account ``new`` while connected
    (a guest that signed up its name, where ``old`` is ``new``, or logged in; IRC's
    account-notify)."""

    old: str
    new: str
    account: bool = False


@event
class AwayChanged(Event):
    """``who`` is away with the message ``away``, or back (``away`` empty); published to
    every other user who shares a room with it (IRC's away-notify, the line protocol's 120)."""

    who: str
    away: str = ""
    # A seat held or resumed (chatd.core.seats): the rooms hear it as Inactive or Returned,
    # which the line protocol shows; IRC shows this AWAY instead.
    seat: bool = False


@event
class Inactive(Event):
    """``who``'s last connection dropped without /quit and its seat is kept (``seat-grace``):
    still a member of ``room``, shown inactive; ``why`` says how it dropped."""

    room: str
    who: str
    why: str


@event
class Returned(Event):
    """``who`` logged in again within its seat's grace: back in ``room`` (not a join)."""

    room: str
    who: str


@event
class Notice(Event):
    """A message from the server itself."""

    text: str


@event
class Wallops(Event):
    """A server operator's WALLOPS: published to every user with the ``w`` mode and to
    every operator (chatd.core.operators)."""

    sender: str
    text: str


@event
class Announcement(Event):
    """A server operator's notice to every connected user, on every protocol (IRC's
    ``NOTICE $$*``, the line protocol's /announce)."""

    sender: str
    text: str


@event
class SessionEnded(Event):
    """The server ended every session of ``user`` (its account was deleted or locked): each
    of its connections should say ``why`` and close. Published on the user's key after the
    sessions left their rooms. (Not ``reason``: from_dict reads that field as a LeaveReason.)"""

    user: str
    why: str


@event
class ReadMoved(Event):
    """An account's read marker (chatd.kernel.markers) of ``target`` moved forward to
    ``marker``: published on its user key so that every session of the account, on every
    device, stops showing what was read; ``origin`` (the session that read) was answered
    already. ``target`` is a room's name, or with ``private`` the other party's name."""

    target: str
    marker: str
    private: bool = False
    origin: str = ""


@event
class FileShared(Event):
    """A member shared a file with a room: its members may fetch it by ``file_id`` (the
    line protocol's ``/get``) while they stay members. ``name`` is already sanitised."""

    room: str
    sender: str
    name: str
    size: int
    file_id: str


@event
class Redacted(Event):
    """``who`` redacted (deleted) the message ``message_id``: history forgets it and every
    protocol tells its clients to hide it (IRC's ``draft/message-redaction`` REDACT). A room
    message's ``room`` names its room (``room_id`` its conversation, as ``Said``'s); a
    private message's ``room`` is empty and ``sender``/``recipient`` (with their account ids)
    name the conversation each party keeps. ``why`` is the optional reason. (Not ``reason``:
    from_dict reads that field as a LeaveReason.)"""

    message_id: str
    who: str
    room: str = ""
    room_id: str = ""
    sender: str = ""
    recipient: str = ""
    sender_id: str = ""
    recipient_id: str = ""
    why: str = ""


@event
class Tagged(Event):
    """Client-only tags with no text (IRC's TAGMSG: typing notifications, reactions), to a
    ``room`` the sender is in or (room "") to the user ``recipient``. The core relays
    ``tags`` untouched and keeps none of it; frontends without a way to show them skip it.
    ``origin`` is the sending session's id, ``account`` as on ``Said``."""

    sender: str
    tags: Mapping[str, str]
    room: str = ""
    recipient: str = ""
    origin: str = ""
    account: bool = False
    bot: bool = False


@event
class RealNameChanged(Event):
    """``who`` gave a new real name (IRC's SETNAME), told to it and to everyone who shares a
    room with it; the frontends that show real names keep them (the core keeps none)."""

    who: str
    real_name: str


@event
class PresenceChanged(Event):
    """A name the session ``watcher`` watches came online (``online``) or went: told to
    that session's user, for that session alone (chatd.core.presence)."""

    who: str
    online: bool
    watcher: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (Said, Private, Joined, Left, TopicSet, ModeChanged, Invited, NickChanged,
                AwayChanged, Notice, SessionEnded, FileShared, Redacted,
                Wallops, Announcement, ReadMoved,
                Inactive, Returned, Tagged, PresenceChanged, RealNameChanged)
}


def to_dict(event: Event) -> dict[str, Any]:
    """``event`` as a JSON-ready object (what a bus between processes sends)."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in fields(event):
        if f.name != "wire":
            value = getattr(event, f.name)
            out[f.name] = value.value if isinstance(value, LeaveReason) else value
    return out


def from_dict(data: dict[str, Any]) -> Event:
    """The event ``to_dict`` made; ValueError if ``data`` is not one."""
    try:
        cls = EVENT_TYPES[data["type"]]
        values = {f.name: data[f.name] for f in fields(cls) if f.name != "wire" and f.name in data}
        if "reason" in values:
            values["reason"] = LeaveReason(values["reason"])
        return cls(**values)
    except (KeyError, TypeError) as error:
        raise ValueError(f"not an event: {error}") from None
