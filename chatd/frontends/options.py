"""The options every connection-serving frontend shares, made once from the daemon's settings.

Each frontend's own ``Options`` embeds one ``ConnectionOptions`` (its ``connection`` field)
beside what is its alone, so a shared setting is named, defaulted and read from the settings
in one place. The object is per frontend, shared by all its connections: no connection holds
a copy. It is what ``ConnectionPolicy`` reads as its ``Limits``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatd.frontends.entry import NO_FACTS, Facts
from chatd.frontends.upload_deadline import DEFAULT_PACE, UploadPace
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.settings import Settings


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """The shared settings a frontend's connections read (defaults: the shared keys',
    ``chatd.kernel.keys``). A frontend reads those it needs and ignores the rest."""

    max_line: int = DEFAULTS["max-line"]
    idle_timeout: float = DEFAULTS["idle-timeout"]
    max_output: int = DEFAULTS["max-output"]
    guests: bool = not DEFAULTS["require-account"]
    login_timeout: float = DEFAULTS["login-timeout"]
    max_bytes_before_login: int = DEFAULTS["max-bytes-before-login"]
    direct_send: bool = DEFAULTS["direct-send"]
    # Messages of a room's history replayed to a member who joins it (0: none).
    replay: int = DEFAULTS["history-replay"]
    udp_port: int | None = None  # the UDP channel's, which a token reply names; None: off
    # Messages over the rate held back and sent at the rate before they are refused (0: none),
    # and that rate (the core's), which the notice of a paste names.
    paste_queue: int = DEFAULTS["paste-queue"]
    message_rate: float = DEFAULTS["messages-per-second"]
    upload_pace: UploadPace = DEFAULT_PACE

    @classmethod
    def from_settings(cls, settings: Settings, facts: Facts = NO_FACTS) -> ConnectionOptions:
        return cls(
            max_line=settings.max_line,
            idle_timeout=settings.idle_timeout,
            max_output=settings.max_output,
            guests=not settings.require_account,
            login_timeout=settings.login_timeout,
            max_bytes_before_login=settings.max_bytes_before_login,
            direct_send=settings.direct_send,
            replay=settings.history_replay if settings.history_max_count else 0,
            udp_port=facts.udp_port,
            paste_queue=settings.paste_queue,
            message_rate=settings.messages_per_second,
            upload_pace=UploadPace.from_settings(settings),
        )


# The shared keys' defaults: the ``connection`` of an ``Options()`` (a test's). Frozen, so
# every frontend's default Options may hold this one.
DEFAULT_CONNECTION = ConnectionOptions()
