"""The IRC frontend's settings, made from the daemon's settings at start and at each reload."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

from chatd.frontends.entry import NO_FACTS, Facts
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.settings import Key, Settings, listeners

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
    "server-name": Key(server_name, "the IRC server name: the prefix of server lines, in "
                       "001-004 and PONG", default_server_name(), reloadable=False,
                       shown="the host name, or chatd.local"),
}


@dataclass(frozen=True, slots=True)
class Options:
    """The IRC frontend's settings: keep-alive timing, the most output queued for a client
    that stopped reading, the message of the day, and the server's name. The defaults of
    those that are settings are the keys' (``chatd.kernel.keys``, ``KEYS`` here)."""

    ping_interval: float = 120.0
    ping_timeout: float = 60.0
    max_output: int = DEFAULTS["max-output"]
    login_timeout: float = DEFAULTS["login-timeout"]
    max_bytes_before_login: int = DEFAULTS["max-bytes-before-login"]
    direct_send: bool = DEFAULTS["direct-send"]
    # Messages replayed on JOIN (0: none), and whether to clients without server-time.
    replay: int = DEFAULTS["history-replay"]
    replay_plain: bool = DEFAULTS["history-replay-plain"]
    udp_port: int | None = None  # the UDP channel's, for TOKEN; None: off
    # Fakelag: messages over the rate held back and sent at the rate (0: none), and the rate.
    paste_queue: int = DEFAULTS["paste-queue"]
    message_rate: float = DEFAULTS["messages-per-second"]
    server_name: str = "chatd"
    motd: tuple[str, ...] = (
        "chatd: rooms are #channels; JOIN #name creates a temporary one.",
        "Accounts log in with SASL PLAIN or PASS (nick = account name).",
    )

    @classmethod
    def from_settings(cls, settings: Settings, facts: Facts = NO_FACTS) -> Options:
        return cls(
            max_output=settings.max_output,
            login_timeout=settings.login_timeout,
            max_bytes_before_login=settings.max_bytes_before_login,
            direct_send=settings.direct_send,
            replay=settings.history_replay if settings.history_max_count else 0,
            replay_plain=settings.history_replay_plain,
            udp_port=facts.udp_port,
            paste_queue=settings.paste_queue,
            message_rate=settings.messages_per_second,
            server_name=settings.server_name,
        )
