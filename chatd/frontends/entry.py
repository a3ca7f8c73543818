"""What a frontend gives the daemon: one ``Frontend`` entry, listed in ``chatd.frontends.registry``.

The tap knows frontends only through these entries: it adds each one's keys to the settings,
builds its factory, listens on the endpoints of its listener key, counts its connections in
the metrics, tells its connections why at shutdown, and hands it new Options on a reload. A
frontend that serves a web site says so (``mount``): the daemon mounts what it serves over
HTTP there (shared files' download links) and learns the site's address from its first
listener. So adding a frontend is one new module (its protocol, its ``Options`` and its
entry) and one line in the registry; ``chatd/tap.py`` and ``chatd/config.py`` do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.web.resource import Resource

from chatd.frontends.connection import FrontendFactory
from chatd.kernel.settings import Key, Settings


@dataclass(frozen=True, slots=True)
class Facts:
    """What the daemon tells every frontend that no frontend's own settings say: the UDP
    channel's port, which a token reply names (None: there is no UDP channel). A frontend
    never reads another's settings; the tap reads them all and hands it this."""

    udp_port: int | None = None


# Options made from the settings alone (a test's, or a daemon without a UDP channel).
NO_FACTS = Facts()


@dataclass(frozen=True)
class Frontend:
    """One frontend.

    ``name`` is the protocol's name (the metrics label) and the name of its listener key,
    which ``keys`` must declare (``chatd.kernel.settings.listeners``): the endpoints it serves.
    ``keys`` are its own settings, added to the daemon's; the shared ones (connection limits
    and the like) are in ``chatd.kernel.keys``. ``options`` makes its Options from the
    settings and the daemon's ``Facts``, at start and at each reload. ``factory`` is called as
    ``factory(portal, options, reactor, admission, stats)`` and returns its protocol factory.
    ``mount``, for a frontend that serves a web site, is called as
    ``mount(factory, path, resource)`` to add a resource to it; None: no web site.
    ``endpoint(reactor, description)`` parses one of its listener strings: Twisted's
    endpoint strings, unless the frontend listens on something else (the UDP channel).
    ``subprotocols``: the WebSocket subprotocols under which a web site may carry this
    frontend's stream protocol (IRC's, for web IRC clients); ``carry``, for a frontend that
    serves a web site and can carry them, is called as ``carry(factory, subprotocols,
    stream_factory)`` for each frontend that names some.
    """

    name: str
    keys: Mapping[str, Key]
    options: Callable[[Settings, Facts], Any]
    factory: Callable[..., FrontendFactory]
    mount: Callable[[Any, bytes, Resource], None] | None = None
    endpoint: Callable[[Any, str], Any] = serverFromString
    subprotocols: tuple[str, ...] = ()
    carry: Callable[[Any, tuple[str, ...], FrontendFactory], None] | None = None

    def __post_init__(self) -> None:
        if self.name not in self.keys:
            raise ValueError(f"frontend {self.name}: no listener key {self.name!r} in its keys")

    def listeners(self, settings: Settings) -> tuple[str, ...]:
        """The endpoint strings to listen on."""
        endpoints: tuple[str, ...] = settings[self.name]
        return endpoints

    def shutdown(self, factory: FrontendFactory, why: str) -> Deferred[None]:
        """Tell every connection why it is closing; fires once they are gone (bounded)."""
        return factory.connections.shutdown(why)

    def reload(self, factory: FrontendFactory, settings: Settings, facts: Facts) -> None:
        """New Options from reloaded settings: connections made from now on use them."""
        factory.options = self.options(settings, facts)
