"""The web frontend's settings, made from the daemon's settings at start and at each reload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chatd.frontends.admission import Network, parse_networks
from chatd.frontends.entry import NO_FACTS, Facts
from chatd.frontends.upload_deadline import DEFAULT_PACE, UploadPace
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.settings import Key, Settings, endpoints, listeners, networks, whole


def base_url(value: Any) -> str:
    """An http(s) URL with a host and nothing after the path, or empty; no trailing slash."""
    if not isinstance(value, str):
        raise ValueError("expected a URL")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or \
            parts.fragment:
        raise ValueError(f"expected http://HOST[:PORT][/PATH] or https://..., got {value!r}")
    return value.rstrip("/")


def normal_origin(text: str) -> str | None:
    """An http(s) origin as ``scheme://host:port``, in lower case and with its port even
    where it is the scheme's default, so that equal origins compare equal; None for anything
    else (``null``, another scheme, no host). A path is not part of an origin."""
    parts = urlsplit(text.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number, or out of range
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"


def origins(value: Any) -> tuple[str, ...]:
    """Origins, each as ``normal_origin`` writes it."""
    normal = []
    for item in endpoints(value):
        origin = normal_origin(item)
        if origin is None:
            raise ValueError(f"expected an origin, http://HOST[:PORT] or https://..., "
                             f"got {item!r}")
        normal.append(origin)
    return tuple(normal)


KEYS = {
    "web": listeners("browser client listener: the page at /, its WebSocket at /ws; a Twisted "
                     "endpoint string (repeatable; off unless given; "
                     "tcp:8080:interface=127.0.0.1 for http/ws on this host; to serve it "
                     "publicly, ssl:8443:privateKey=KEY:certKey=CERT for https/wss, or the "
                     "loopback one behind a TLS reverse proxy named in web-trusted-proxies)"),
    "web-origin": Key(origins, "more origins allowed to open the WebSocket, e.g. "
                      "https://chat.example.org (repeatable); the page's own are always "
                      "allowed: web-url's, and the scheme, address and port a connection "
                      "reached (localhost too on loopback), never the Host a request names",
                      ()),
    "web-trusted-proxies": Key(networks, "reverse proxies whose X-Forwarded-For is believed "
                               "(addresses or CIDR, repeatable); none: the socket's peer is "
                               "the client's address", ()),
    "web-url": Key(base_url, "the web frontend's public base URL, e.g. https://chat.example.org, "
                   "that download links of shared files start with (its origin may open the "
                   "WebSocket); none: the first web listener's address if it names one "
                   "(interface=...), else no links",
                   "", reloadable=False, shown="from the first web listener"),
    "web-max-message": Key(whole(256, 1_048_576), "largest WebSocket message (and frame) a "
                           "browser may send, in bytes; larger ones close the connection "
                           "(1009)", 8192),
}


@dataclass(frozen=True, slots=True)
class Options:
    """What the web frontend's connections read, at connect time."""

    max_line: int = DEFAULTS["max-line"]
    max_output: int = DEFAULTS["max-output"]
    guests: bool = not DEFAULTS["require-account"]
    login_timeout: float = DEFAULTS["login-timeout"]
    max_bytes_before_login: int = DEFAULTS["max-bytes-before-login"]
    # Origins allowed to open the WebSocket besides a connection's own address: web-origin's
    # and web-url's, each as ``normal_origin`` writes it.
    origins: tuple[str, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()
    max_message: int = KEYS["web-max-message"].default
    udp_port: int | None = None  # the UDP channel's, for /token; None: off
    direct_send: bool = DEFAULTS["direct-send"]
    # Messages of a room's history replayed (110) to a member who joins it (0: none).
    replay: int = DEFAULTS["history-replay"]
    upload_pace: UploadPace = DEFAULT_PACE
    # No fakelag: a browser's request is answered at once, a message over the rate with 429
    # (the page sends what a person types, not pastes of lines).
    paste_queue: int = 0
    message_rate: float = DEFAULTS["messages-per-second"]

    @classmethod
    def from_settings(cls, settings: Settings, facts: Facts = NO_FACTS) -> Options:
        page = normal_origin(settings.web_url)
        return cls(
            max_line=settings.max_line,
            max_output=settings.max_output,
            guests=not settings.require_account,
            login_timeout=settings.login_timeout,
            max_bytes_before_login=settings.max_bytes_before_login,
            origins=settings.web_origin + ((page,) if page else ()),
            trusted_proxies=parse_networks(settings.web_trusted_proxies),
            max_message=settings.web_max_message,
            udp_port=facts.udp_port,
            direct_send=settings.direct_send,
            replay=settings.history_replay if settings.history_max_count else 0,
            upload_pace=UploadPace.from_settings(settings),
            message_rate=settings.messages_per_second,
        )
