"""The web frontend: a browser client over WebSocket, in the same rooms as everyone else.

``--web ENDPOINT`` serves one twisted.web site (``site``): the page at ``/`` (plain HTML, CSS
and JavaScript in ``static/``, no build step) and the WebSocket at ``/ws``, on autobahn's
Twisted WebSocket server. The WebSocket speaks the line protocol in JSON (``codec``), run by
the same ``LineInterpreter`` and ``ConnectionPolicy`` as a line connection (``protocol``),
with output through a ``WebSink`` that frames a broadcast once for every browser and writes
it through the stream ``Outbox`` (``sink``). Files shared from the page are POSTed to
``/upload`` with a token from ``/send`` (``uploads``). Another frontend's stream protocol
(IRC, for web IRC clients) is carried over the WebSocket under its subprotocols (``carried``).
``options`` holds its keys; ``FRONTEND`` (here) is its entry in ``chatd.frontends.registry``.
"""

from chatd.frontends.entry import Frontend
from chatd.frontends.web.options import KEYS, Options
from chatd.frontends.web.site import WebFactory

FRONTEND = Frontend(name="web", keys=KEYS, options=Options.from_settings, factory=WebFactory,
                    mount=WebFactory.mount, carry=WebFactory.carry)

__all__ = ["FRONTEND", "Options", "WebFactory"]
