"""How a server line looks to a person: plain words and style classes, with no terminal.

A rendered line is a list of ``(style, text)`` fragments, the shape prompt_toolkit prints as
formatted text, so the terminal front end styles it and everything else (non-interactive
output, the transcript, tests) joins the texts. Style names are prompt_toolkit class names;
``STYLE`` maps them to colours in one place.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from prompt_toolkit.styles import Style

from chatd.frontends.codes import Code, ServerLine, parse_server_line

Fragments = list[tuple[str, str]]

STYLE = Style.from_dict(
    {
        "room": "ansicyan",
        "nick": "bold",
        "own": "ansigreen bold",
        "private": "ansimagenta bold",
        "action": "ansiyellow",
        "membership": "ansibrightblack",
        "topic": "ansiblue",
        "notice": "ansiyellow",
        "history": "ansibrightblack",
        "file": "ansiblue",
        "closing": "ansired bold",
        "ok": "ansigreen",
        "info": "",
        "error": "ansired",
        "fault": "ansired bold",
        "client": "ansibrightblack italic",
        "unknown": "ansibrightblack",
        "prompt": "bold",
    }
)

_SAID = re.compile(r"\[(?P<room>[^\]\s]+)\] <(?P<nick>[^>\s]+)> (?P<text>.*)", re.DOTALL)
_ACTION = re.compile(r"\[(?P<room>[^\]\s]+)\] \* (?P<nick>\S+) (?P<text>.*)", re.DOTALL)
_NOTICE = re.compile(r"(?:\[(?P<room>[^\]\s]+)\] )?-(?P<nick>[^\s-][^\s]*)- (?P<text>.*)",
                     re.DOTALL)
# 121: another session read up to a message; 122: how many more are unread, and the command.
_READ = re.compile(r"(?:\[(?P<room>[^\]\s]+)\]|\*(?P<nick>[^*\s]+)\*) read up to \S+")
_UNREAD = re.compile(r"\[(?P<room>[^\]\s]+)\] (?P<count>[0-9]+) more unread; (?P<how>/.*)")
_PRIVATE = re.compile(r"\*(?P<nick>[^*\s]+)\* (?P<text>.*)", re.DOTALL)
_ROOM_EVENT = re.compile(r"\[(?P<room>[^\]\s]+)\] (?P<text>.*)", re.DOTALL)
# 110: TIME ID and the text of the live line it was; an id is one word, whatever its form.
_HISTORY = re.compile(r"(?P<time>\S+) (?P<id>\S+) (?P<text>.*)", re.DOTALL)
# 111: NAME is the rest of the line (sanitised by the server, spaces included).
_FILE_SHARED = re.compile(
    r"\[(?P<room>[^\]\s]+)\] (?P<nick>\S+) shared (?P<id>\S+) (?P<size>[0-9]+) (?P<name>.+)",
    re.DOTALL)
# 123: a guest's resume token, then why it is given.
_TOKEN = re.compile(r"(?P<token>\S+) : .*", re.DOTALL)
# The fields of a 201: "welcome guest|account NAME:". Names hold only letters, digits, marks
# and _ - . (chatd.kernel.names), so ":" ends one.
_WELCOME = re.compile(r"welcome (?:guest|account) (?P<nick>[^\s:]+): ")

# What each kind of event is marked with, so membership churn reads apart from conversation.
_EVENT_MARKS = {
    Code.JOINED: ("membership", "--> "),
    Code.LEFT: ("membership", "<-- "),
    Code.TOPIC: ("topic", "-- "),
    Code.ROOM_CHANGED: ("topic", "-- "),
    Code.NOTICE_SAID: ("topic", "-- "),
    Code.INVITED: ("topic", "-- "),
    Code.NICK_CHANGED: ("membership", "--- "),
    Code.AWAY: ("membership", "--- "),
    Code.INACTIVE: ("membership", "--- "),
    Code.BACK: ("membership", "--- "),
}


def printable(text: str) -> str:
    """Replace control characters with visible ``\\xNN`` escapes.

    The server refuses them, but a client must not trust that: one ESC in someone's message
    could otherwise repaint or retitle the reader's terminal.
    """
    if not any(unicodedata.category(char) == "Cc" for char in text):
        return text
    return "".join(
        f"\\x{ord(char):02x}" if unicodedata.category(char) == "Cc" else char
        for char in text
    )


def human_size(count: int) -> str:
    """``6 bytes``, ``1.5 KiB``, ``3.0 MiB``, ``1.2 GiB``: a size as people read it."""
    if count < 1024:
        return "1 byte" if count == 1 else f"{count} bytes"
    size = count / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@dataclass(frozen=True, slots=True)
class LocalTime:
    """How this person reads a moment: in their time zone (``zone``; None, the system's)
    and their locale's format, the time alone for a moment of the day ``now`` is in, with the
    date before it for an earlier day (or when there is no ``now``)."""

    now: float | None = None
    zone: tzinfo | None = None

    def show(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        if self.now is not None and \
                local.date() == datetime.fromtimestamp(self.now, local.tzinfo).date():
            return local.strftime("%X")
        return local.strftime("%x %X")


def render(line: ServerLine, own_nick: str | None = None,
           local: LocalTime = LocalTime()) -> Fragments:
    """Fragments for one server line; ``own_nick`` highlights what the user said, ``local``
    shows the time of a message from history."""
    text = printable(line.text)
    code = line.code
    if code in (Code.SAID, Code.ACTION, Code.PRIVATE):
        return _talk(code, text, own_nick) or [
            ("class:private" if code == Code.PRIVATE else "class:info", text)]
    if code == Code.HISTORY:
        return _history(text, own_nick, local) or [("class:notice", f"notice: {text}")]
    if code == Code.FILE_SHARED and (shared := _FILE_SHARED.fullmatch(text)):
        return [("class:file", "-- "), ("class:room", f"[{shared['room']}] "),
                ("class:file", f"{shared['nick']} shared {shared['name']} "
                               f"({human_size(int(shared['size']))}): "),
                ("class:nick", f"/get {shared['id']}")]
    if code == Code.READ and (read := _READ.fullmatch(text)):
        where = f"[{read['room']}]" if read["room"] else f"*{read['nick']}*"
        return [("class:membership", "--- "), ("class:room", f"{where} "),
                ("class:membership", "read on another device")]
    if code == Code.UNREAD and (more := _UNREAD.fullmatch(text)):
        count = int(more["count"])
        return [("class:history", "-- "), ("class:room", f"[{more['room']}] "),
                ("class:history", f"{count} more unread message{'' if count == 1 else 's'}: "),
                ("class:nick", more["how"])]
    if code == Code.RESUME_TOKEN and (token := _TOKEN.fullmatch(text)):
        return [("class:client", "-- if the connection drops, this client takes your seat "
                                 "back by itself (elsewhere: "),
                ("class:nick", f"/resume {token['token']}"), ("class:client", ")")]
    if code in _EVENT_MARKS:
        style, mark = _EVENT_MARKS[Code(code)]
        match = _ROOM_EVENT.fullmatch(text)
        if match:
            return [(f"class:{style}", mark), ("class:room", f"[{match['room']}] "),
                    (f"class:{style}", match["text"])]
        return [(f"class:{style}", mark + text)]
    if code == Code.CLOSING:
        return [("class:closing", f"server closing: {text}")]
    if code == Code.NOTICE or 100 <= code < 200:
        return [("class:notice", f"notice: {text}")]
    if code == Code.GREETING:
        return [("class:info", text)]
    if 200 <= code < 300:
        # Continuation lines of a listing are content; the last line is the verdict.
        return [("class:ok" if line.final else "class:info", text)]
    if 400 <= code < 500:
        return [("class:error", f"error: {text}")]
    if 500 <= code < 600:
        return [("class:fault", f"server error: {text}")]
    return [("class:unknown", f"{code:03d} {text}")]


def _talk(code: int, text: str, own_nick: str | None) -> Fragments | None:
    """A message (101), an action (107) or a private message (102), live or from history;
    None if ``text`` is not in the form of its code."""
    if code == Code.PRIVATE:
        private = _PRIVATE.fullmatch(text)
        if private is None:
            return None
        return [("class:private", f"*{private['nick']}* "), ("", private["text"])]
    match = (_SAID if code == Code.SAID else _ACTION).fullmatch(text)
    if match is None:
        return None
    nick = match["nick"]
    nick_style = "own" if own_nick is not None and nick == own_nick else "nick"
    if code == Code.SAID:
        return [("class:room", f"[{match['room']}] "), (f"class:{nick_style}", f"<{nick}>"),
                ("", f" {match['text']}")]
    return [("class:room", f"[{match['room']}] "), ("class:action", "* "),
            (f"class:{nick_style}", nick), ("class:action", f" {match['text']}")]


def _history(text: str, own_nick: str | None, local: LocalTime) -> Fragments | None:
    """A 110: the live line it was, behind the time it was said; None if it is not one."""
    match = _HISTORY.fullmatch(text)
    if match is None:
        return None
    try:
        moment = datetime.fromisoformat(match["time"])
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    said = match["text"]
    # The live line's code is told by its shape: [ROOM] <NICK>, [ROOM] * NICK, *NICK*, and
    # a notice's -NICK-.
    code = Code.PRIVATE if said.startswith("*") else \
        Code.ACTION if _ACTION.fullmatch(said) else Code.SAID
    fragments = _talk(code, said, own_nick)
    if fragments is None and (notice := _NOTICE.fullmatch(said)):
        room = [("class:room", f"[{notice['room']}] ")] if notice["room"] else []
        fragments = [*room, ("class:topic", f"-{notice['nick']}- "), ("", notice["text"])]
    if fragments is None:
        return None
    return [("class:history", f"(history {local.show(moment)}) "), *fragments]


def render_text(raw: str, own_nick: str | None = None,
                local: LocalTime = LocalTime()) -> Fragments:
    """Fragments for one decoded line as received, whether or not it follows the protocol."""
    line = parse_server_line(raw)
    if line is None:
        return [("class:unknown", printable(raw))]
    return render(line, own_nick, local)


def welcome_name(line: ServerLine) -> str | None:
    """The name a 201 welcome says we now have, used only to highlight our own lines."""
    if line.code != Code.WELCOME:
        return None
    match = _WELCOME.match(line.text)
    return match["nick"] if match else None


def client_note(text: str) -> Fragments:
    """A line the client itself says (connection state, /save results)."""
    return [("class:client", f"* {text}")]


def plain(fragments: Fragments) -> str:
    return "".join(text for _, text in fragments)


def use_colour(stdout_is_tty: bool, environ: Mapping[str, str]) -> bool:
    """Colour only for a person at a terminal who has not asked for none (no-color.org)."""
    return stdout_is_tty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"
