"""What the client remembers to log in again after a reconnect, and what it must not.

A guest nick is no secret, so the client always takes it again: with the server's resume token
(123), which takes the guest's held seat back with what it missed, if it has one. An account's
password, and the passwords of locked rooms, are kept only when the person started the client
with ``--remember``, and then only in this process's memory (never on disk, never in the
transcript): without it, a reconnect asks the person to ``/login`` again and rejoins the rooms
once they have. A password is remembered only once the server has accepted it: the one of the
``/login`` or ``/signup`` that got the welcome, the new one of a ``/passwd`` that got ``200
password changed``. A room password is the last one typed for that room in ``/join``,
``/create`` or ``/lock``; a wrong one earns a ``431`` on the rejoin, which the person sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatd.frontends.codes import Code, ServerLine
from chatd_client.rooms import room_key

# The fields of a 201 say who we are and whether a guest: "welcome guest|account NAME:".
_WELCOME = re.compile(r"welcome (?P<kind>guest|account) (?P<name>[^\s:]+): ")
_WORDS = re.compile(r"[^ ]+")


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    guest: bool
    password: str | None = None

    def login_line(self, token: str | None = None) -> str | None:
        """The line that logs in as this identity again (a guest with the server's resume
        ``token``: takes its held seat back); None without a password."""
        if self.guest:
            return f"/resume {token}" if token else f"/nick {self.name}"
        if self.password is None:
            return None
        return f"/login {self.name} {self.password}"


class Memory:
    def __init__(self, remember: bool) -> None:
        self.remember = remember
        self.identity: Identity | None = None
        self._tried: tuple[str, str] | None = None  # a /login or /signup awaiting its answer
        self._new_password: str | None = None  # a /passwd awaiting its answer
        self._room_passwords: dict[str, str] = {}
        # A guest's resume token (123), the latest one: no secret of the person's (the
        # server made it for this connection and it is good once), kept with or without
        # ``remember``.
        self.token: str | None = None

    def sent(self, line: str) -> None:
        """Note a line the person sent (passwords are looked at only with ``remember``)."""
        if not self.remember or not line.startswith("/") or line.startswith("//"):
            return
        words = _WORDS.findall(line[1:])
        if not words:
            return
        verb, args = words[0].lower(), words[1:]
        if verb in ("login", "signup") and len(args) == 2:
            self._tried = (args[0], args[1])
        elif verb == "passwd" and len(args) == 2:
            self._new_password = args[1]
        elif verb in ("join", "lock") and len(args) == 2:
            self._room_passwords[room_key(args[0])] = args[1]
        elif verb == "create" and len(args) == 3:
            self._room_passwords[room_key(args[0])] = args[2]
        elif verb == "unlock" and len(args) == 1:
            self._room_passwords.pop(room_key(args[0]), None)

    def received(self, line: ServerLine) -> None:
        """Note a server line: a welcome sets who we are, a changed password is kept."""
        if line.code == Code.RESUME_TOKEN:
            self.token = line.text.split(" ", 1)[0] or None
        elif line.code == Code.WELCOME:
            welcome = _WELCOME.match(line.text)
            if welcome is None:
                return
            name = welcome["name"]
            if welcome["kind"] == "guest":
                self.identity = Identity(name, guest=True)
            else:
                self.token = None
                password = None
                if self._tried is not None and room_key(self._tried[0]) == room_key(name):
                    password = self._tried[1]
                self.identity = Identity(name, guest=False, password=password)
            self._tried = None
        elif line.code == Code.OK and line.text == "password changed":
            if self.identity is not None and self._new_password is not None:
                self.identity = Identity(self.identity.name, False, self._new_password)
            self._new_password = None

    def forget_password(self) -> None:
        """The server refused the remembered password: it must have been changed elsewhere."""
        if self.identity is not None:
            self.identity = Identity(self.identity.name, self.identity.guest)

    def join_line(self, room: str) -> str:
        password = self._room_passwords.get(room_key(room))
        return f"/join {room} {password}" if password else f"/join {room}"
