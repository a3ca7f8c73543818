"""Which rooms this connection is in, and which one is current, as far as the client can tell
from the server's lines.

The server's rule (docs/protocol.md, "The current room"): the current room is the one joined
(or re-joined) last; when it is left, it becomes the room the user has been in longest, if
any. The client mirrors that from the fields the replies to its own commands start with
(``200 joined ROOM:``, ``200 created ROOM:``, ``200 left ROOM:``), from the 108s a second
session of an account gets at login (``[ROOM] current:`` or ``[ROOM] member:``), and from the
join and leave events that name its own nick, which is also how it learns of a room another
session of the same account joined or left, and of a room deleted under it.
"""

from __future__ import annotations

import re

from chatd.frontends.codes import Code, ServerLine
from chatd.kernel.names import fold

# The fields of the replies (docs/protocol.md, "Fields a program may read"): a name holds no
# space, colon or bracket, so each ends at the first ":".
_ENTERED = re.compile(r"(?:joined|created) (?P<room>[^\s:]+): ")
_LEFT_REPLY = re.compile(r"left (?P<room>[^\s:]+): ")
# 108, at login: a room this account's other sessions had joined, "current" or "member".
_IN_ROOM = re.compile(r"\[(?P<room>[^\]\s]+)\] (?P<state>current|member): ")
_MEMBERSHIP = re.compile(r"\[(?P<room>[^\]\s]+)\] (?P<nick>\S+) (?P<rest>.*)", re.DOTALL)


def room_key(name: str) -> str:
    """A room name as the server compares it: the server's own ``fold``, without IRC's ``#``
    (which the server accepts in front of a room name)."""
    return fold(name.removeprefix("#"))


class Rooms:
    """The rooms of one connection, in the order they were joined."""

    def __init__(self) -> None:
        # room_key(name) -> name as the server writes it; dicts keep insertion order.
        self._rooms: dict[str, str] = {}
        self.current: str | None = None

    def names(self) -> list[str]:
        return list(self._rooms.values())

    def rejoin_order(self) -> list[str]:
        """The rooms in an order whose ``/join``s leave the current room current."""
        current = [] if self.current is None else [self.current]
        return [name for name in self._rooms.values() if name != self.current] + current

    def follow(self, line: ServerLine, own_nick: str | None) -> None:
        """Update from one server line; ``own_nick`` is the name the server gave us."""
        if line.code == Code.OK and line.final:
            if entered := self.entered(line):
                self._enter(entered)
            elif left := _LEFT_REPLY.match(line.text):
                self._leave(left["room"])
        elif line.code == Code.IN_ROOM:
            if in_room := _IN_ROOM.match(line.text):
                if in_room["state"] == "current":
                    self._enter(in_room["room"])
                else:
                    self._rooms.setdefault(room_key(in_room["room"]), in_room["room"])
        elif line.code in (Code.JOINED, Code.LEFT) and own_nick is not None:
            event = _MEMBERSHIP.fullmatch(line.text)
            if event is None or fold(event["nick"]) != fold(own_nick):
                return
            if line.code == Code.LEFT:
                self._leave(event["room"])
            elif event["rest"] == "joined" or event["rest"].startswith("joined ("):
                # Joined by this session (the 200 that follows makes it current) or by another
                # session of the account (which leaves this one's current room alone).
                self._rooms.setdefault(room_key(event["room"]), event["room"])

    @staticmethod
    def entered(line: ServerLine) -> str | None:
        """The room a reply to this connection's ``/join`` or ``/create`` put it in."""
        if line.code != Code.OK or not line.final:
            return None
        entered = _ENTERED.match(line.text)
        return None if entered is None else entered["room"]

    def _enter(self, room: str) -> None:
        self._rooms.setdefault(room_key(room), room)
        self.current = self._rooms[room_key(room)]

    def _leave(self, room: str) -> None:
        self._rooms.pop(room_key(room), None)
        if self.current is not None and room_key(self.current) == room_key(room):
            self.current = next(iter(self._rooms.values()), None)
