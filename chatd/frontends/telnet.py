"""Telnet's in-band commands, taken out of a line connection's bytes before they are framed.

A person on ``telnet HOST 7777`` who presses Ctrl-C sends ``IAC IP IAC DO TIMING-MARK``
(``ff f4 ff fd 06``) and telnet then throws away everything the server sends until it answers
the TIMING-MARK. Left in the stream, those bytes would prefix the next line (a 414) and the
session would look dead for good. ``TelnetFilter`` parses them with Twisted's own telnet
parser (``twisted.conch.telnet.Telnet``), which refuses every option request (``WONT`` /
``DONT``: chatd has no option to offer), TIMING-MARK included, which is the answer telnet waits
for. Interrupt Process, Break and Erase Line discard the line being typed; Erase Character
becomes a backspace, which the line editing applies.

UTF-8 text never contains the byte 0xFF, so 0xFF is always IAC: a connection that has never
sent one (nc, the bundled client) never gets a filter, and a chunk without one, outside a
telnet command, passes straight through.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.conch import telnet

IAC = telnet.IAC
TIMING_MARK = b"\x06"  # RFC 860; twisted.conch.telnet has no name for it

# The framer's signal, in the filter's output, that the line being typed is to be discarded.
DISCARD = object()

# Commands that abandon the line being typed, as a terminal's interrupt or kill would.
_DISCARDING = (telnet.IP, telnet.BRK, telnet.EL)


class _Replies:
    """Where the telnet parser writes its refusals: the connection's output."""

    __slots__ = ("_close", "disconnecting", "write")

    def __init__(self, write: Callable[[bytes], None], close: Callable[[], None]) -> None:
        self.write = write
        self._close = close
        self.disconnecting = False

    def loseConnection(self) -> None:
        """A subnegotiation past Twisted's bound: the connection is closed."""
        self.disconnecting = True
        self._close()


class TelnetFilter(telnet.Telnet):
    """One connection's telnet state: bytes in, application bytes and ``DISCARD`` out."""

    def __init__(self, write: Callable[[bytes], None], close: Callable[[], None]) -> None:
        super().__init__()
        self.transport = _Replies(write, close)  # type: ignore[assignment]
        self._out: list[bytes | object] = []
        for command in _DISCARDING:
            self.commandMap[command] = self._discard
        self.commandMap[telnet.EC] = self._erase

    def passes(self, data: bytes) -> bool:
        """Whether ``data`` has no telnet command in it and none is half read."""
        return self.state == "data" and IAC[0] not in data

    def feed(self, data: bytes) -> list[bytes | object]:
        """The application bytes in ``data``, with ``DISCARD`` where a line was abandoned."""
        # Fed a command at a time, so that IAC and a byte that is no telnet command (which
        # the parser refuses with ValueError) lose those two bytes only.
        first, *commands = data.split(IAC)
        self._parse(first)
        for segment in commands:
            self._parse(IAC + segment)
        out, self._out = self._out, []
        return out

    def _parse(self, data: bytes) -> None:
        try:
            self.dataReceived(data)
        except ValueError:
            # The refused byte ends the command: the rest (no IAC in it) is data.
            skip = 2 if data.startswith(IAC) else 1
            self.state = "data"
            self.dataReceived(data[skip:])

    def applicationDataReceived(self, data: bytes) -> None:
        self._out.append(data)

    def _discard(self, _: object) -> None:
        self._out.append(DISCARD)

    def _erase(self, _: object) -> None:
        self._out.append(b"\x08")

    def unhandledCommand(self, command: bytes, argument: object) -> None:
        """NOP, Data Mark, Abort Output, Are You There, Go Ahead, EOR: nothing to do."""

    def enableLocal(self, option: bytes) -> bool:
        return False  # WONT for every DO, TIMING-MARK included (telnet resumes output)

    def enableRemote(self, option: bytes) -> bool:
        return False  # DONT for every WILL

    def disableLocal(self, option: bytes) -> None:
        """Nothing was ever enabled."""

    def disableRemote(self, option: bytes) -> None:
        """Nothing was ever enabled."""
