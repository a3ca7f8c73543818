"""What a typed line means to the client: a few commands of its own, everything else for the
server. Client commands are never sent, so the server's command set stays its own business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CLIENT_HELP = [
    "client commands (not sent to the server):",
    "  /save FILE    write this session's transcript to FILE (passwords masked)",
    "  /reconnect    close the connection, if any, and connect again",
    "  Ctrl-D        /quit and exit",
]


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


Action = Send | Save | Reconnect | Mistake


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
    return Send(line)
