"""What each protocol puts on the wire for the few commands a benchmark needs (guest, login,
signup, join, say) and how its replies read, so one client drives line, IRC and web alike."""

from __future__ import annotations

import json


class LineWire:
    """chatd's line protocol: replies start with a three-digit code."""

    name = "line"
    echo = True  # the sender receives its own message

    @staticmethod
    def is_error(line: bytes) -> bool:
        return line[:1] in (b"4", b"5")

    def guest(self, nick: str) -> tuple[bytes, bytes]:
        return f"/nick {nick}\r\n".encode(), b"201 "

    def login(self, name: str, password: str) -> tuple[bytes, bytes]:
        return f"/login {name} {password}\r\n".encode(), b"201 "

    def signup(self, name: str, password: str) -> tuple[bytes, bytes]:
        return f"/signup {name} {password}\r\n".encode(), b"201 "

    def join(self, room: str) -> tuple[bytes, bytes]:
        return f"/join {room}\r\n".encode(), b"200 "

    def say(self, room: str, text: str) -> bytes:
        return f"{text}\r\n".encode()

    @staticmethod
    def said(line: bytes) -> bytes | None:
        """The text of a room message, or None for any other line."""
        if not line.startswith(b"101 "):
            return None
        return line.split(b"> ", 1)[1]


class IrcWire:
    """The IRC frontend: NICK/USER (PASS for accounts), JOIN, PRIVMSG; no echo to the sender."""

    name = "irc"
    echo = False

    @staticmethod
    def is_error(line: bytes) -> bool:
        parts = line.split(b" ", 2)
        return len(parts) > 1 and parts[1][:1] in (b"4", b"5") and parts[1].isdigit()

    def guest(self, nick: str) -> tuple[bytes, bytes]:
        return f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode(), b" 001 "

    def login(self, name: str, password: str) -> tuple[bytes, bytes]:
        return f"PASS {password}\r\nNICK {name}\r\nUSER {name} 0 * :{name}\r\n".encode(), b" 001 "

    def signup(self, name: str, password: str) -> tuple[bytes, bytes]:
        raise SystemExit("accounts are created over the line protocol")

    def join(self, room: str) -> tuple[bytes, bytes]:
        return f"JOIN #{room}\r\n".encode(), b" 366 "

    def say(self, room: str, text: str) -> bytes:
        return f"PRIVMSG #{room} :{text}\r\n".encode()

    @staticmethod
    def said(line: bytes) -> bytes | None:
        if b" PRIVMSG " not in line:
            return None
        return line.split(b" :", 1)[1]


class WebWire(LineWire):
    """The web frontend: the line protocol as JSON over a WebSocket (``/ws``). ``WebConn``
    turns each server frame into one "line" (its JSON payload), so the line logic applies."""

    name = "web"
    echo = True

    @staticmethod
    def is_error(line: bytes) -> bool:
        return line[:9] in (b'{"code":4', b'{"code":5')

    @staticmethod
    def frame(text: str) -> bytes:
        """A masked client text frame of ``{"line": text}`` (the zero mask: XOR is a no-op)."""
        payload = json.dumps({"line": text}).encode()
        size = len(payload)
        header = bytes([0x81, 0x80 | size]) if size < 126 else (
            bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big"))
        return header + b"\0\0\0\0" + payload

    def guest(self, nick: str) -> tuple[bytes, bytes]:
        return self.frame(f"/nick {nick}"), b'"code":201'

    def login(self, name: str, password: str) -> tuple[bytes, bytes]:
        return self.frame(f"/login {name} {password}"), b'"code":201'

    def signup(self, name: str, password: str) -> tuple[bytes, bytes]:
        return self.frame(f"/signup {name} {password}"), b'"code":201'

    def join(self, room: str) -> tuple[bytes, bytes]:
        return self.frame(f"/join {room}"), b'"code":200'

    def say(self, room: str, text: str) -> bytes:
        return self.frame(text)

    @staticmethod
    def said(line: bytes) -> bytes | None:
        if not line.startswith(b'{"code":101'):
            return None
        return json.loads(line)["event"]["text"].encode()


Wire = LineWire | IrcWire  # WebWire is a LineWire
WIRES: dict[str, Wire] = {"line": LineWire(), "irc": IrcWire(), "web": WebWire()}
