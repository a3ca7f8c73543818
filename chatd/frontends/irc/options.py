"""The IRC frontend's settings, made from the daemon's settings at start and at each reload."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

from chatd.frontends.entry import NO_FACTS, Facts
from chatd.frontends.options import DEFAULT_CONNECTION, ConnectionOptions
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.settings import Key, Settings, boolean, listeners

_SERVER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?")


def default_server_name() -> str:
    """The host's name if it is one IRC can carry (a dotted DNS-like name), else
    ``chatd.local``."""
    name = socket.gethostname()
    return name if _SERVER_NAME.fullmatch(name) and "." in name else "chatd.local"


def server_name(value: Any) -> str:
    if not isinstance(value, str) or not _SERVER_NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"expected a host-like name (letters, digits, dots, hyphens), got "
                         f"{value!r}")
    return value


KEYS = {
    "irc": listeners("IRC listener, a Twisted endpoint string (repeatable; off unless given; "
                     "ssl:6697:privateKey=KEY:certKey=CERT for TLS)"),
    "irc-register-before-connect": Key(boolean, "IRC clients may create an account with "
                                       "REGISTER (draft/account-registration) before their "
                                       "connection registration completes; off: after it only",
                                       True),
    "server-name": Key(server_name, "the IRC server name: the prefix of server lines, in "
                       "001-004 and PONG", default_server_name(), reloadable=False,
                       shown="the host name, or chatd.local"),
}


@dataclass(frozen=True, slots=True)
class Options:
    """The IRC frontend's settings: the shared ones (``connection``), keep-alive timing,
    whether history is replayed to clients without server-time, the message of the day, and
    the server's name. The defaults of those that are settings are the keys'
    (``chatd.kernel.keys``, ``KEYS`` here)."""

    connection: ConnectionOptions = DEFAULT_CONNECTION
    ping_interval: float = 120.0
    ping_timeout: float = 60.0
    replay_plain: bool = DEFAULTS["history-replay-plain"]
    server_name: str = "chatd"
    register_before_connect: bool = True
    motd: tuple[str, ...] = (
        "chatd: rooms are #channels; JOIN #name creates a temporary one.",
        "Accounts log in with SASL PLAIN or PASS (nick = account name).",
    )

    @classmethod
    def from_settings(cls, settings: Settings, facts: Facts = NO_FACTS) -> Options:
        return cls(
            connection=ConnectionOptions.from_settings(settings, facts),
            replay_plain=settings.history_replay_plain,
            server_name=settings.server_name,
            register_before_connect=settings.irc_register_before_connect,
        )
