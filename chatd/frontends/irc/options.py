"""The IRC frontend's settings, parsed once from the configuration (``chatd.tap``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Options:
    """The IRC frontend's settings: keep-alive timing, the most output queued for a client
    that stopped reading, the message of the day, and the server's name."""

    ping_interval: float = 120.0
    ping_timeout: float = 60.0
    max_output: int = 256 * 1024
    login_timeout: float = 30.0
    max_bytes_before_login: int = 4096
    server_name: str = "chatd"
    motd: tuple[str, ...] = (
        "chatd: rooms are #channels; JOIN #name creates a temporary one.",
        "Accounts log in with SASL PLAIN or PASS (nick = account name).",
    )
