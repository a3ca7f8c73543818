"""The web frontend's settings, made from the daemon's settings at start and at each reload."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from chatd.frontends.admission import Network, parse_networks
from chatd.frontends.entry import NO_FACTS, Facts
from chatd.frontends.options import ConnectionOptions
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


# No fakelag: a browser's request is answered at once, a message over the rate with 429
# (the page sends what a person types, not pastes of lines).
NO_PASTE_QUEUE = ConnectionOptions(paste_queue=0)


@dataclass(frozen=True, slots=True)
class Options:
    """What the web frontend's connections read, at connect time: the shared settings
    (``connection``, with no paste queue), the origins and proxies it trusts, and the
    largest WebSocket message."""

    connection: ConnectionOptions = NO_PASTE_QUEUE
    # Origins allowed to open the WebSocket besides a connection's own address: web-origin's
    # and web-url's, each as ``normal_origin`` writes it.
    origins: tuple[str, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()
    max_message: int = KEYS["web-max-message"].default

    @classmethod
    def from_settings(cls, settings: Settings, facts: Facts = NO_FACTS) -> Options:
        page = normal_origin(settings.web_url)
        return cls(
            connection=replace(ConnectionOptions.from_settings(settings, facts), paste_queue=0),
            origins=settings.web_origin + ((page,) if page else ()),
            trusted_proxies=parse_networks(settings.web_trusted_proxies),
            max_message=settings.web_max_message,
        )
