"""What a typed line means to the client: a few commands of its own, everything else for the
server. Client commands are never sent, so the server's command set stays its own business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CLIENT_HELP = [
    "client commands (not sent to the server):",
    "  /save FILE    write this session's transcript to FILE (passwords masked)",
    "  /reconnect    connect again now (closing the connection, if any)",
    "  Ctrl-C        clear the line; while reconnecting, stop trying",
    "  Ctrl-D        /quit and exit",
]

# Server commands the client does for the person, in the form the person types them here:
# /help shows these in place of the server's form, which needs a program to send raw bytes.
WRAPPED_HELP = {
    "send": ("/send PATH", "share the file at PATH with your current room (the client sends "
                           "it, with a progress bar)"),
    "get": ("/get ID [DIR]", "fetch a shared file into DIR (default: here); never overwrites"),
}
# A line of the server's /help: the usage, a run of spaces up to the summary's column, the
# summary.
_HELP_LINE = re.compile(r"/(?P<verb>\S+)(?P<usage>.*?)(?P<gap>  +)(?P<summary>\S.*)")

def help_line(text: str) -> str:
    """A line of the server's /help as this client's user should read it: a command the
    client wraps in its own form (same column for the summary), any other as it is."""
    match = _HELP_LINE.fullmatch(text)
    if match is None or match["verb"].lower() not in WRAPPED_HELP:
        return text
    usage, summary = WRAPPED_HELP[match["verb"].lower()]
    column = match.start("summary") - 2
    return f"{usage:<{column}}  {summary}"


# Where the password arguments of a server command start (0-based, after the command word).
# Every word from there on is treated as secret: a server password has no spaces, so a
# person who typed one with spaces typed the rest of it in the following words.
_SECRET_FROM: dict[str, int] = {
    "login": 1,
    "signup": 1,
    "passwd": 0,
    "join": 1,
    "create": 2,
    "lock": 1,
}

# The server splits arguments on runs of ASCII spaces only (a tab is part of a word).
_WORD = re.compile(r"[^ ]+")


def secret_spans(line: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` character ranges of ``line`` that hold a password, including
    one still being typed; used to mask a line on screen and in the transcript alike."""
    if not line.startswith("/") or line.startswith("//"):
        return []
    words = [(match.start(), match.end()) for match in _WORD.finditer(line, 1)]
    if not words or words[0][0] != 1:
        return []
    first = _SECRET_FROM.get(line[1:words[0][1]].lower())
    if first is None:
        return []
    return words[1 + first:]


@dataclass(frozen=True, slots=True)
class Send:
    """A line for the server, as typed."""

    line: str

    @property
    def verb(self) -> str:
        """The server command's name, lower-cased as the server reads it; "" for chat."""
        if not self.line.startswith("/") or self.line.startswith("//"):
            return ""
        return self.line[1:].split(" ", 1)[0].lower()


@dataclass(frozen=True, slots=True)
class Save:
    path: Path


@dataclass(frozen=True, slots=True)
class Reconnect:
    pass


@dataclass(frozen=True, slots=True)
class Mistake:
    """A client command used wrongly; ``message`` says how to use it."""

    message: str


@dataclass(frozen=True, slots=True)
class SendFile:
    path: Path


@dataclass(frozen=True, slots=True)
class GetFile:
    file_id: str
    directory: Path


Action = Send | Save | Reconnect | Mistake | SendFile | GetFile


def interpret(line: str) -> Action | None:
    """The action for one typed line; None for a blank line, which is not worth sending."""
    if not line.strip():
        return None
    verb, _, rest = line.partition(" ")
    match verb.lower():
        case "/save":
            if not rest.strip():
                return Mistake("usage: /save FILE")
            return Save(Path(rest.strip()).expanduser())
        case "/reconnect":
            if rest.strip():
                return Mistake("usage: /reconnect (it takes no arguments)")
            return Reconnect()
        case "/send" if len(rest.split()) < 3:
            # One argument: a local file. (The server's own form, ROOM NAME SIZE, has three
            # or more and needs a client that sends the bytes: this one does it for you.)
            if not rest.strip():
                return Mistake("usage: /send PATH")
            return SendFile(Path(rest.strip()).expanduser())
        case "/get":
            words = rest.split()
            if not 1 <= len(words) <= 2:
                return Mistake("usage: /get ID [DIR]")
            return GetFile(words[0], Path(words[1] if len(words) == 2 else ".").expanduser())
    return Send(line)
