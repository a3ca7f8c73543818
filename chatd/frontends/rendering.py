"""Events as the line protocol words them, and the time format of kept messages.

The text of an event is the line protocol's (``101 [lobby] <ann> hi``); the web frontend sends
the same text beside an event's fields and the UDP channel words mode changes alike, so the
wording is shared here and the protocols can never disagree. ``timestamp`` is IRCv3's
server-time format, which history lines (110) and IRC's tags and CHATHISTORY both use.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chatd.frontends.codes import Code, reply
from chatd.kernel.events import (
    Announcement,
    AwayChanged,
    Event,
    FileShared,
    Inactive,
    Invited,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    NickChanged,
    Notice,
    Private,
    ReadMoved,
    Redacted,
    Returned,
    Said,
    TopicSet,
    Wallops,
)

_LEFT_WORDS = {
    LeaveReason.LEFT: "left",
    LeaveReason.QUIT: "quit",
    LeaveReason.LOST: "lost connection",
    LeaveReason.TIMEOUT: "timed out",
    LeaveReason.DELETED: "was removed: the room was deleted",
    LeaveReason.SLOW: "was dropped: not reading",
    LeaveReason.FLOOD: "was disconnected for flooding",
    LeaveReason.KICKED: "was kicked",
}

# A mode change as the line protocol says it, after "[room] who: ".
_MODE_WORDS = {
    "+o": "made {arg} an operator",
    "-o": "{arg} is no longer an operator",
    "+v": "gave {arg} voice",
    "-v": "took {arg}'s voice",
    "+b": "banned {arg}",
    "-b": "lifted the ban on {arg}",
    "+i": "made the room invite-only",
    "-i": "opened the room to everyone",
    "+m": "moderated the room: only operators and voiced members talk",
    "-m": "unmoderated the room",
    "+t": "locked the topic: only operators set it",
    "-t": "unlocked the topic: any member sets it",
    "+n": "closed the room to messages from outside",
    "-n": "opened the room to messages from outside",
    "+s": "made the room secret: only its members see it",
    "-s": "made the room visible",
    "+l": "member limit is now {arg}",
    "-l": "member limit is back to the server's default",
    "+k": "locked with a password",
    "-k": "unlocked",
}


def mode_words(mode: str, arg: str) -> str:
    """A ModeChanged as a phrase (never the room password a +k carries); flags changed
    together (``-int``) as one phrase each."""
    if len(mode) > 2 and not arg:
        return "; ".join(mode_words(mode[0] + letter, "") for letter in mode[1:])
    return _MODE_WORDS.get(mode, "changed the mode {mode} {arg}").format(mode=mode, arg=arg)


def render_event(event: Event) -> bytes:
    """An event as one line. Pass this function itself to ``Event.encoded``."""
    match event:
        case Said(room=room, sender=sender, text=text, notice=True):
            return reply(Code.NOTICE_SAID, f"[{room}] -{sender}- {text}")
        case Said(room=room, sender=sender, text=text, action=False):
            return reply(Code.SAID, f"[{room}] <{sender}> {text}")
        case Said(room=room, sender=sender, text=text):
            return reply(Code.ACTION, f"[{room}] * {sender} {text}")
        case Private(sender=sender, text=text, notice=True):
            return reply(Code.NOTICE_SAID, f"-{sender}- {text}")
        case Private(sender=sender, text=text):
            return reply(Code.PRIVATE, f"*{sender}* {text}")
        case Joined(room=room, who=who, members=0):
            return reply(Code.JOINED, f"[{room}] {who} joined")
        case Joined(room=room, who=who, members=members):
            count = "1 member" if members == 1 else f"{members} members"
            return reply(Code.JOINED, f"[{room}] {who} joined ({count})")
        case Left(room=room, who=who, reason=LeaveReason.KICKED, message=message, by=by):
            said = f": {message}" if message else ""
            return reply(Code.LEFT, f"[{room}] {who} was kicked by {by}{said}")
        case Left(room=room, who=who, reason=LeaveReason.KILLED, message=message):
            return reply(Code.LEFT, f"[{room}] {who} was killed by {message}")
        case Left(room=room, who=who, reason=LeaveReason.CLOSED, message=message, by=by):
            said = f": {message}" if message else ""
            return reply(Code.LEFT, f"[{room}] {who} was removed: the room was closed by "
                                    f"{by}{said}")
        case Left(room=room, who=who, reason=reason, message=message):
            said = f": {message}" if message else ""
            return reply(Code.LEFT, f"[{room}] {who} {_LEFT_WORDS[reason]}{said}")
        case ModeChanged(room=room, who=who, mode=mode, arg=arg):
            return reply(Code.ROOM_CHANGED, f"[{room}] {who}: {mode_words(mode, arg)}")
        case Invited(room=room, by=by):
            return reply(Code.INVITED, f"[{room}] {by} invites you; /join {room}")
        case NickChanged(old=old, new=new, account=True):
            return reply(Code.NICK_CHANGED, f"{old} logged in to the account {new}")
        case NickChanged(old=old, new=new):
            return reply(Code.NICK_CHANGED, f"{old} is now called {new}")
        case AwayChanged(who=who, away=away):
            return reply(Code.AWAY, f"{who} is away: {away}" if away else f"{who} is back")
        case TopicSet(room=room, who=who, topic=topic):
            if topic:
                return reply(Code.TOPIC, f"[{room}] {who} set the topic: {topic}")
            return reply(Code.TOPIC, f"[{room}] {who} cleared the topic")
        case FileShared(room=room, sender=sender, name=name, size=size, file_id=file_id):
            return reply(Code.FILE_SHARED, f"[{room}] {sender} shared {file_id} {size} {name}")
        case ReadMoved(target=target, marker=marker, private=False):
            return reply(Code.READ, f"[{target}] read up to {marker}")
        case ReadMoved(target=target, marker=marker):
            return reply(Code.READ, f"*{target}* read up to {marker}")
        case Notice(text=text):
            return reply(Code.NOTICE, text)
        case Redacted(room=room, who=who, message_id=message_id, why=why):
            where = f"[{room}] " if room else ""
            said = f": {why}" if why else ""
            return reply(Code.REDACTED, f"{where}{who} redacted {message_id}{said}")
        case Announcement(sender=sender, text=text):
            return reply(Code.ANNOUNCEMENT, f"{sender}: {text}")
        case Wallops(sender=sender, text=text):
            return reply(Code.WALLOPS, f"{sender}: {text}")
        case Inactive(room=room, who=who, why=why):
            return reply(Code.INACTIVE, f"[{room}] {who} is inactive ({why})")
        case Returned(room=room, who=who):
            return reply(Code.BACK, f"[{room}] {who} is back")
    raise TypeError(f"no line rendering for {event!r}")


def timestamp(at: float) -> str:
    """An event's time as IRCv3 server-time writes it: ``2025-01-02T03:04:05.678Z`` (UTC)."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> float | None:
    """Seconds since the epoch from ``timestamp``'s format (or without fraction or Z, read
    as UTC); None if ``text`` is not such a time."""
    try:
        moment = datetime.fromisoformat(text.removesuffix("Z").removesuffix("z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def render_history(event: Event) -> bytes:
    """A kept message as a ``110`` line: its time, its id, then the text of the live line
    (``[room] <sender> text``, ``[room] * sender text`` or ``*sender* text``, with ``->
    recipient`` after a private message's sender)."""
    if isinstance(event, Private):
        text = f"*{event.sender}* -> {event.recipient} {event.text}"
    else:
        text = render_event(event).decode()[4:].removesuffix("\r\n")
    return reply(Code.HISTORY, f"{timestamp(event.at)} {event.id} {text}")

