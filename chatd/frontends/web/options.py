"""The web frontend's settings, made from the daemon's settings at start and at each reload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chatd.frontends.admission import Network, parse_networks
from chatd.frontends.udp import token_port
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


KEYS = {
    "web": listeners("browser client listener: the page at /, its WebSocket at /ws; a Twisted "
                     "endpoint string (repeatable; off unless given; "
                     "tcp:8080:interface=127.0.0.1 for http/ws on this host; to serve it "
                     "publicly, ssl:8443:privateKey=KEY:certKey=CERT for https/wss, or the "
                     "loopback one behind a TLS reverse proxy named in web-trusted-proxies)"),
    "web-origin": Key(endpoints, "origins allowed to open the WebSocket, e.g. "
                      "https://chat.example.org (repeatable); none: the page's own host only "
                      "(the Origin must name the Host the browser asked for)", ()),
    "web-trusted-proxies": Key(networks, "reverse proxies whose X-Forwarded-For is believed "
                               "(addresses or CIDR, repeatable); none: the socket's peer is "
                               "the client's address", ()),
    "web-url": Key(base_url, "the web frontend's public base URL, e.g. https://chat.example.org, "
                   "that download links of shared files start with; none: the first web "
                   "listener's address if it names one (interface=...), else no links",
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
    origins: tuple[str, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()
    max_message: int = KEYS["web-max-message"].default
    udp_port: int | None = None  # the UDP channel's, for /token; None: off
    direct_send: bool = DEFAULTS["direct-send"]
    # Messages of a room's history replayed (110) to a member who joins it (0: none).
    replay: int = DEFAULTS["history-replay"]

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        return cls(
            max_line=settings.max_line,
            max_output=settings.max_output,
            guests=not settings.require_account,
            login_timeout=settings.login_timeout,
            max_bytes_before_login=settings.max_bytes_before_login,
            origins=tuple(origin.rstrip("/").lower() for origin in settings.web_origin),
            trusted_proxies=parse_networks(settings.web_trusted_proxies),
            max_message=settings.web_max_message,
            udp_port=token_port(settings),
            direct_send=settings.direct_send,
            replay=settings.history_replay if settings.history_max_count else 0,
        )
