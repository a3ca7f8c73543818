"""The IRC wire format with no transport: one client line in, reply lines and events out.

What this module owns: decoding a framed line (UTF-8 only), splitting
it into command, parameters and message tags, formatting a server
message within IRC's 512-byte line, and rendering core events as IRC messages. It imports
numerics from Twisted (``twisted.words.protocols.irc``) and defines those Twisted lacks.

A chatd room ``lobby`` is the channel ``#lobby``; a user ``ann`` is ``ann!ann@chatd``, the
same for every recipient, so an event renders once for all IRC connections.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import NamedTuple

from twisted.words.protocols import irc

from chatd.kernel.events import (
    Announcement,
    AwayChanged,
    Event,
    FileShared,
    Invited,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    NickChanged,
    Notice,
    Private,
    RealNameChanged,
    Said,
    Tagged,
    TopicSet,
    Wallops,
)
from chatd.kernel.history import MAX_REQUEST
from chatd.kernel.names import MAX_NAME_LENGTH, MAX_WATCHED
from chatd.kernel.text import MAX_TOPIC_LENGTH

VERSION = "chatd-0.1"
# Every user's host part: chatd does not reveal addresses to other users.
USER_HOST = "chatd"

# IRC's line limit, CRLF included; message tags may add up to MAX_TAGS more.
MAX_LINE = 512
MAX_TAGS = 4096
MAX_BODY = MAX_LINE - 2
# The longest username shown, its ``~`` included (ISUPPORT USERLEN).
USERLEN = 10
_NOT_USERNAME = re.compile(r"[^A-Za-z0-9._-]")
# The longest line the framer takes: made once, not an int per connection.
MAX_FRAME = MAX_TAGS + MAX_BODY
CHANNEL_PREFIX = "#"
# The user mode that marks a bot (ircv3.net bot-mode; ISUPPORT BOT).
BOT_MODE = "B"

# Numerics Twisted's irc module does not define (modern.ircdocs.horse, IRCv3 SASL).
RPL_TOPICWHOTIME = "333"
RPL_CREATIONTIME = "329"
RPL_WHOISACCOUNT = "330"
RPL_WHOISBOT = "335"
ERR_UNKNOWNERROR = "400"
ERR_INPUTTOOLONG = "417"
ERR_INVALIDCAPCMD = "410"
ERR_INVALIDMODEPARAM = "696"
ERR_NICKLOCKED = "902"
RPL_WHOISACTUALLY = "338"
RPL_WHOSPCRPL = "354"
RPL_LOCALUSERS = "265"
RPL_GLOBALUSERS = "266"
RPL_LOGGEDIN = "900"
RPL_SASLSUCCESS = "903"
ERR_SASLFAIL = "904"
ERR_SASLTOOLONG = "905"
ERR_SASLABORTED = "906"
ERR_SASLALREADY = "907"
RPL_SASLMECHS = "908"

ISUPPORT = (
    f"CHANTYPES={CHANNEL_PREFIX}",
    f"CHANNELLEN={MAX_NAME_LENGTH + 1}",
    f"NICKLEN={MAX_NAME_LENGTH}",
    f"TOPICLEN={MAX_TOPIC_LENGTH}",
    # Names compare after NFKC and case folding: PRECIS-like, hence RFC 8265's token.
    "CASEMAPPING=rfc8265",
    f"LINELEN={MAX_LINE}",
    "CHANMODES=b,k,l,imnst",
    "PREFIX=(ov)@+",
    "TARGMAX=JOIN:,PART:,PRIVMSG:4,NOTICE:4,NAMES:1,WHOIS:1",
    f"CHATHISTORY={MAX_REQUEST}",
    "MSGREFTYPES=timestamp,msgid",
    f"USERLEN={USERLEN}",
    "WHOX",
    "UTF8ONLY",
    f"BOT={BOT_MODE}",
    f"MONITOR={MAX_WATCHED}",
)


# The most bytes of tag data (between the ``@`` and the space) a client may send: IRCv3
# message-tags gives clients 4094 (4096 with the ``@`` and the space); more is 417.
MAX_CLIENT_TAGS = 4094
NO_TAGS: Mapping[str, str] = MappingProxyType({})


class Message(NamedTuple):
    """One client line: its command (upper case), parameters and message tags (values
    unescaped); any prefix is ignored."""

    command: str
    params: tuple[str, ...]
    tags: Mapping[str, str] = NO_TAGS


def client_only(tags: Mapping[str, str]) -> dict[str, str] | None:
    """The client-only tags (``+name``) among a line's tags, which are relayed; None if
    none (a server's tags from a client, ``label`` and the like, are never relayed)."""
    kept = {key: value for key, value in tags.items() if key.startswith("+")}
    return kept or None


def tags_too_long(raw: bytes) -> bool:
    """Whether a raw line's tag data is over the client's 4094 bytes (message-tags)."""
    return raw.startswith(b"@") and raw.find(b" ", 0, MAX_CLIENT_TAGS + 2) < 0


_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def _unescape(value: str) -> str:
    """A tag value as the client meant it (message-tags' escaping undone; a lone trailing
    backslash dropped, an unknown escape is the character itself)."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_TAG_UNESCAPES.get(following, following))
    return "".join(out)


def parse_tags(text: str) -> dict[str, str]:
    """The tags of a line's ``@...`` part (without the ``@``); a key given twice keeps its
    last value, as the spec says."""
    tags: dict[str, str] = {}
    for item in text.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags[key] = _unescape(value)
    return tags


def decode_line(raw: bytes) -> str | None:
    """A line as UTF-8, or None if it is not: chatd is UTF8ONLY (ircv3.net utf8-only), so
    such a line is refused (``FAIL <command> INVALID_UTF8``) rather than guessed at."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def too_long(raw: bytes) -> bool:
    """Whether a raw line (no CRLF) is over IRC's limits: 510 bytes without its tags, and
    its tags (``@`` and the space after them included) over 4096 (IRCv3 message-tags)."""
    if raw.startswith(b"@"):
        tags, _, raw = raw.partition(b" ")
        if len(tags) + 1 > MAX_TAGS:
            return True
    return len(raw) > MAX_BODY


def parse_message(line: str) -> Message | None:
    """Split a line into command, parameters and tags; None for a line with no command."""
    tags = NO_TAGS
    if line.startswith("@"):
        head, _, line = line.partition(" ")
        tags = parse_tags(head[1:])
    line = line.lstrip(" ")
    if line.startswith(":"):
        _, _, line = line.partition(" ")
    head, colon, trailing = line.partition(" :")
    # ASCII spaces alone separate parameters (str.split() would also split on CR, VT, NBSP,
    # so "JOIN #r\rx" would join #r with the key x); a word of nothing but white space is
    # dropped, so "\r" alone is a blank line, not a command.
    words = head.split(" ")
    if "" in words or not head.isprintable():  # doubled spaces, or CR/VT/NBSP in a word
        words = [word for word in words if word and not word.isspace()]
        if not words:
            return None
    if colon:
        words.append(trailing)
    return Message(words[0].upper(), tuple(words[1:]), tags)


def _fit(data: bytes, limit: int) -> bytes:
    """Cut ``data`` to ``limit`` bytes without splitting a UTF-8 character."""
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


# Control characters a server line must never carry (CR and LF would forge a line; ESC would
# reach terminals), \x01 excepted: it delimits CTCP ACTION. Relayed text is clean already;
# this guards the parameters that echo what a client sent (a PING token, a bad command).
_UNSAFE = re.compile("[\x00\x02-\x1f\x7f-\x9f]")


# The longest real name kept (USER, SETNAME): what ``printable`` keeps by default.
MAX_REALNAME = 100


def printable(text: str, most: int = MAX_REALNAME) -> str:
    """Text a client gave for show (a real name): formatting and control characters out,
    at most ``most`` characters."""
    return _UNSAFE.sub("", _FORMATTING.sub("", text)).replace("\x01", "")[:most]


def username(given: str) -> str:
    """USER's username as chatd keeps it: the characters a ``user`` part of a hostmask may
    hold (ASCII letters, digits, ``-._``), at most ``USERLEN - 1`` (``~`` goes before it:
    no ident lookup vouched for it); "" if none is left."""
    return _NOT_USERNAME.sub("", given)[:USERLEN - 1]


def shown_username(kept: str, nick: str) -> str:
    """The username WHO, WHOIS and WHOWAS show: ``~`` and USER's (or, for a user who sent
    none, such as a line user, the nick's allowed characters)."""
    return "~" + (kept or username(nick) or "user")


def _middle(word: str) -> str:
    """A parameter that is not the last: one word, not empty, not starting with ``:``, and
    short (an echoed 500-byte command would push the reply's text off the line)."""
    word = _CTCP.sub("", word).replace(" ", "_").lstrip(":")[:64]
    return word or "*"


# \x01 is CTCP's delimiter in a message's text, never part of a middle parameter.
_CTCP = re.compile("\x01")


def message(prefix: str, command: str, *params: str) -> bytes:
    """One server line; the last parameter gets a ``:`` when it needs one."""
    words = [f":{prefix}", command] if prefix else [command]
    if params:
        words.extend(_parameters(params))
    return _fit(" ".join(words).encode("utf-8"), MAX_BODY) + b"\r\n"


def _parameters(params: tuple[str, ...]) -> list[str]:
    """A line's parameters as they go on the wire: control characters out, each middle one
    word, the last with a ``:`` when it needs one."""
    # Most parameters are printable (so hold no control character) and, but for the last,
    # short single words already: they go as they are, without a regex each.
    *middle, last = params
    words = [word if word.isprintable() and 0 < len(word) <= 64 and " " not in word
             and word[0] != ":" else _middle(_UNSAFE.sub("", word)) for word in middle]
    if not last.isprintable():
        last = _UNSAFE.sub("", last)
    needs_colon = not last or " " in last or last[0] == ":"
    words.append(f":{last}" if needs_colon else last)
    return words


class Numerics:
    """Numerics whose parameters after the client's name are the same for every client (the
    welcome's 002-005, the MOTD): rendered once, then only addressed, each line exactly what
    ``numeric`` makes of it."""

    __slots__ = ("_around", "_lines", "_room")

    def __init__(self, server: str, *lines: tuple[str, tuple[str, ...]]) -> None:
        """``lines``: each numeric's code and its parameters after the client's name (at
        least one, so that the name is a middle parameter), from ``server``."""
        head = f":{server} " if server else ""
        self._lines = [(f"{head}{code} ".encode(), f" {' '.join(_parameters(params))}".encode())
                       for code, params in lines]
        # What goes around each name, joined by it: every line at once, for any name short
        # enough (``_room`` bytes) that no line needs cutting.
        heads, tails = zip(*self._lines, strict=True)
        self._around = [heads[0], *(tail + b"\r\n" + head
                                    for tail, head in zip(tails, heads[1:], strict=False)),
                        tails[-1] + b"\r\n"]
        self._room = MAX_BODY - max(len(head) + len(tail) for head, tail in self._lines)

    def to(self, client: str) -> bytes:
        """The lines, addressed to ``client``."""
        name = _middle(_UNSAFE.sub("", client)).encode("utf-8")
        if len(name) <= self._room:
            return name.join(self._around)
        return b"".join(_fit(head + name + tail, MAX_BODY) + b"\r\n"
                        for head, tail in self._lines)


_TAG_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r",
                              "\n": "\\n"})


def tagged(tags: dict[str, str], line: bytes) -> bytes:
    """``line`` (a whole server line) with IRCv3 message tags in front, values escaped."""
    if not tags:
        return line
    text = ";".join(f"{key}={value.translate(_TAG_ESCAPES)}" if value else key
                    for key, value in tags.items())
    return b"@" + text.encode("utf-8") + b" " + line


def numeric(server: str, code: str, client: str, *params: str) -> bytes:
    """A numeric reply from the server named ``server`` to ``client`` (``*`` before it has a
    nick)."""
    return message(server, code, client, *params)


def source(nick: str) -> str:
    """The ``nick!user@host`` every recipient sees for ``nick``."""
    return f"{nick}!{nick}@{USER_HOST}"


def channel(room: str) -> str:
    return f"{CHANNEL_PREFIX}{room}"


def is_channel(name: str) -> bool:
    """Whether a target names a channel (else a nick)."""
    return name.startswith(CHANNEL_PREFIX)


def text_line(prefix: str, command: str, target: str, text: str, action: bool = False
              ) -> bytes:
    """``text`` as one ``command`` line, cut on a UTF-8 boundary to fit 512 bytes with its
    prefix: a message is one line for an IRC recipient, as its sender sent it (clients and
    bots take two lines for two messages)."""
    head = f":{prefix} {command} {target} :".encode()
    wrap = (b"\x01ACTION ", b"\x01") if action else (b"", b"")
    budget = MAX_BODY - len(head) - len(wrap[0]) - len(wrap[1])
    return head + wrap[0] + _fit(text.encode("utf-8"), budget) + wrap[1] + b"\r\n"


_QUIT_WORDS = {
    LeaveReason.QUIT: "Quit",
    LeaveReason.LOST: "Connection lost",
    LeaveReason.TIMEOUT: "Ping timeout",
    LeaveReason.SLOW: "Dropped: not reading",
    LeaveReason.FLOOD: "Excess Flood",
    LeaveReason.KILLED: "Killed",
}


def is_quit(event: Event) -> bool:
    """A Left that IRC shows as QUIT: one per user, however many channels they shared."""
    return isinstance(event, Left) and event.reason in _QUIT_WORDS


def file_shared(server: str, event: FileShared, link: tuple[str, int] | None) -> bytes:
    """The NOTICE (from ``server``) telling a channel of a shared file; with ``link`` (a URL
    made for this member, and its lifetime in seconds), the URL to download it by."""
    text = (f"{event.sender} shared a file: {event.name} ({event.size} bytes); fetch it with "
            f"/get {event.file_id} on the line protocol")
    if link is not None:
        url, seconds = link
        text += f" or at {url} (link valid {seconds} s)"
    return message(server, "NOTICE", channel(event.room), text)


def plain_renderer(server: str) -> Callable[[Event], bytes]:
    """How the server named ``server`` renders an event for a client with no capabilities:
    one function per IRC frontend, passed to ``Event.encoded``, so that an event is rendered
    once for all of its plain clients and two frontends never share a rendering."""
    return partial(render_event, server)


def render_event(server: str, event: Event) -> bytes:
    """An event as IRC lines, server lines coming from ``server``."""
    match event:
        case Said(room=room, sender=sender, text=text, action=action, notice=notice):
            return text_line(source(sender), "NOTICE" if notice else "PRIVMSG", channel(room),
                              text, action)
        case Private(sender=sender, recipient=recipient, text=text, notice=notice):
            return text_line(source(sender), "NOTICE" if notice else "PRIVMSG", recipient,
                              text)
        case Joined(room=room, who=who):
            return message(source(who), "JOIN", channel(room))
        case Left(room=room, who=who, reason=LeaveReason.LEFT, message=said):
            if said:
                return message(source(who), "PART", channel(room), said)
            return message(source(who), "PART", channel(room))
        case Left(room=room, who=who, reason=LeaveReason.KICKED, message=said, by=by):
            return message(source(by), "KICK", channel(room), who, said or by)
        case Left(room=room, who=who, reason=LeaveReason.DELETED):
            return message(server, "KICK", channel(room), who, "the room was deleted")
        case Left(room=room, who=who, reason=LeaveReason.CLOSED, message=said, by=by):
            return message(source(by), "KICK", channel(room), who,
                           f"channel closed: {said}" if said else "channel closed")
        case Left(who=who, reason=LeaveReason.KILLED, message=said):
            # As ircds word it: "Killed (OPER (reason))".
            return message(source(who), "QUIT", f"Killed ({said})")
        case Left(who=who, reason=reason, message=said):
            words = _QUIT_WORDS[reason]
            return message(source(who), "QUIT", f"{words}: {said}" if said else words)
        case TopicSet(room=room, who=who, topic=topic):
            return message(source(who), "TOPIC", channel(room), topic)
        case ModeChanged(room=room, who=who, mode="+k"):
            # The key as servers with hashed keys show it: "*", to every member, the setter
            # too (an event from an older node may still carry the password: never shown).
            return message(source(who), "MODE", channel(room), "+k", "*")
        case ModeChanged(room=room, who=who, mode=mode, arg=arg):
            shown = [ban_display(arg) if mode[1] == "b" else arg] if arg else []
            return message(source(who), "MODE", channel(room), mode, *shown)
        case Invited(room=room, who=who, by=by):
            return message(source(by), "INVITE", who, channel(room))
        case NickChanged(old=old, new=new) if old == new:
            return b""  # a guest signed up its name: only account-notify says (rendering.py)
        case NickChanged(old=old, new=new):
            return message(source(old), "NICK", new)
        case AwayChanged(who=who, away=away):
            # away-notify: the message, or no parameter when back.
            return message(source(who), "AWAY", *((away,) if away else ()))
        case FileShared():
            return file_shared(server, event, None)
        case Notice(text=text):
            return message(server, "NOTICE", "*", text)
        case Wallops(sender=sender, text=text):
            return message(source(sender), "WALLOPS", text)
        case Announcement(sender=sender, text=text):
            # A global notice, as ircds relay NOTICE $$*: from the operator, to the mask.
            return message(source(sender), "NOTICE", "$$*", text)
        case RealNameChanged(who=who, real_name=real_name):
            return message(source(who), "SETNAME", real_name)
        case Tagged(sender=sender, room=room, recipient=recipient):
            return message(source(sender), "TAGMSG", channel(room) if room else recipient)
    raise TypeError(f"no IRC rendering for {event!r}")


def ban_display(mask: str) -> str:
    """A chatd ban (a name pattern) as an IRC ban mask: every user's user name is its nick
    and every host is hidden, so the name pattern is all there is to match."""
    return f"{mask}!*@*"


def ban_pattern(mask: str) -> str | None:
    """The name pattern an IRC ban mask comes to: its nick part, else its user part; None
    for a mask on the host alone, which chatd can't match (hosts are hidden)."""
    nick, _, rest = mask.partition("!")
    user = rest.partition("@")[0]
    for part in (nick, user):
        if part and part.strip("*"):
            return part
    host = mask.partition("@")[2]
    return "*" if not host.strip("*") and nick else None


def incoming_text(text: str) -> tuple[str, bool]:
    """A PRIVMSG's text as the core takes it, and whether it is a CTCP ACTION (``/me``).

    IRC formatting codes (bold, colours) are control characters the core refuses, so they
    are stripped here rather than failing every coloured message.
    """
    action = False
    if text.startswith("\x01"):
        extracted = irc.ctcpExtract(text)
        for tag, data in extracted["extended"]:
            if tag == "ACTION":
                text, action = data or "", True
                break
        else:
            text = " ".join(extracted["normal"])
    if text.isprintable():  # no control character, so no formatting code to strip
        return text, action
    return _FORMATTING.sub("", text), action


# Every formatting code of modern.ircdocs.horse/formatting: bold, italics, underline,
# strikethrough, monospace, reverse, reset, a colour with its optional "fg[,bg]" digits and a
# hex colour with its optional "RRGGBB[,RRGGBB]". (Twisted's stripFormatting knows only the
# first few, and leaves the rest for the core to refuse.)
_FORMATTING = re.compile(
    "[\x02\x0f\x11\x16\x1d\x1e\x1f]"
    "|\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"
    "|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
)


def sasl_plain(data: str) -> tuple[str, str] | None:
    """The (account, password) of a SASL PLAIN response, or None if it is malformed.

    An authorisation identity different from the authentication one is refused: chatd
    has no way to act as someone else.
    """
    try:
        decoded = base64.b64decode(data, validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
        return None
    parts = decoded.split("\0")
    if len(parts) != 3 or not parts[1] or (parts[0] and parts[0] != parts[1]):
        return None
    return parts[1], parts[2]


def name_lines(server: str, client: str, chan: str, names: list[str], kind: str = "=") -> bytes:
    """353 lines listing ``names`` (with their prefixes), each within 512 bytes, then 366;
    ``kind`` is the channel's type: ``=`` public, ``@`` secret."""
    head = len(numeric(server, irc.RPL_NAMREPLY, client, kind, chan, "x y"))
    out: list[bytes] = []
    batch: list[str] = []
    size = head
    for name in names:
        if batch and size + len(name.encode()) + 1 > MAX_LINE:
            out.append(numeric(server, irc.RPL_NAMREPLY, client, kind, chan, " ".join(batch)))
            batch, size = [], head
        batch.append(name)
        size += len(name.encode()) + 1
    if batch:
        out.append(numeric(server, irc.RPL_NAMREPLY, client, kind, chan, " ".join(batch)))
    out.append(numeric(server, irc.RPL_ENDOFNAMES, client, chan, "End of /NAMES list"))
    return b"".join(out)
