"""The web frontend's one twisted.web site: the page, its two files, and the WebSocket.

=============  ===================================================
``/``          the browser client (``static/index.html``); a WebSocket too (IRC clients)
``/app.js``    its script; ``/app.css`` its styles; ``/favicon.svg``
``/ws``        the WebSocket speaking the JSON protocol
``/upload``    a file shared from the page: POST, with a token from ``/send`` (``uploads``)
``/files``     shared files, by signed link (mounted by the daemon, ``mount``)
=============  ===================================================

Nothing else is served: no directory listings, no other files. Every HTTP response carries
the security headers (``SECURITY_HEADERS``: a Content-Security-Policy with no inline script
or style and ``frame-ancestors 'none'``, nosniff, no referrer), and HSTS over https, and
names its server ``chatd`` with no version (the WebSocket upgrade's too). Each connection is
a ``channel.ChatChannel``: admitted, with deadlines for its requests.
``WebFactory`` is the frontend's factory as the tap sees it (portal, options, connections);
it hands each connection to the site.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.cred.portal import Portal
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from twisted.web.static import Data

from chatd.frontends.admission import Admission
from chatd.frontends.connection import FrontendFactory
from chatd.frontends.interpreter import LineInterpreter
from chatd.frontends.policy import Counters
from chatd.frontends.web.channel import HEADER_TIMEOUT, REQUEST_TIMEOUT, SERVER, ChatChannel
from chatd.frontends.web.options import Options
from chatd.frontends.web.protocol import WEB_FORMAT, WebProtocol
from chatd.frontends.web.uploads import UPLOAD_PATH, UploadResource, Uploads, request_body

WEBSOCKET_PATH = b"ws"
PAGES = {
    b"": ("index.html", "text/html; charset=utf-8"),
    b"app.js": ("app.js", "text/javascript; charset=utf-8"),
    b"app.css": ("app.css", "text/css; charset=utf-8"),
    b"favicon.svg": ("favicon.svg", "image/svg+xml"),
}
SECURITY_HEADERS = {
    b"Content-Security-Policy": (
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"X-Frame-Options": b"DENY",
    b"Cross-Origin-Opener-Policy": b"same-origin",
    b"Cross-Origin-Resource-Policy": b"same-origin",
    b"Permissions-Policy": b"camera=(), microphone=(), geolocation=()",
    b"Cache-Control": b"no-cache",
}
HSTS = b"max-age=31536000"
# Seconds an HTTP connection may sit idle (the WebSocket, once open, has pings instead);
# the channel's deadlines bound a request however often its bytes come.
HTTP_TIMEOUT = 30
# WebSocket keep-alive: a ping this often, and the browser dropped if it does not answer.
PING_INTERVAL = 30.0
PING_TIMEOUT = 20.0


class SecureRequest(Request):
    """A request whose every response, errors included, carries the security headers, and
    whose body goes into a file being shared or is capped (``uploads.request_body``)."""

    def gotLength(self, length: int | None) -> None:
        site: ChatSite = self.channel.site  # type: ignore[attr-defined]  # Site.buildProtocol sets it
        self.content = request_body(self, length, site.uploads)

    def write(self, data: bytes) -> None:
        if not self.startedWriting:
            # twisted.web named its version in ``process``; the headers go out now.
            self.responseHeaders.setRawHeaders(b"Server", [SERVER])
        super().write(data)

    def process(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.setHeader(name, value)
        if self.isSecure():
            self.setHeader(b"Strict-Transport-Security", HSTS)
        super().process()


class UpgradeOnly(Resource):
    """The WebSocket path: an upgrade goes to autobahn; any other request is answered here
    (426), so that it too carries the security headers, or, for ``/``, by the ``page``
    (web IRC clients are given the site's address, ``ws://host:port``, as their server)."""

    isLeaf = True

    def __init__(self, websocket: WebSocketResource, page: Resource | None = None) -> None:
        super().__init__()
        self._websocket = websocket
        self._page = page

    def render(self, request: Request) -> bytes:
        upgrade = request.getHeader(b"upgrade") or b""
        if request.method == b"GET" and upgrade.lower() == b"websocket":
            # autobahn takes the connection over: the WebSocket's own policy admits and
            # times it from now on.
            channel = request.channel
            assert isinstance(channel, ChatChannel)  # ChatSite.protocol
            channel.hand_over()
            rendered: bytes = self._websocket.render(request)
            return rendered
        if self._page is not None:
            page: bytes = self._page.render(request)
            return page
        request.setResponseCode(426, b"Upgrade Required")
        request.setHeader(b"Upgrade", b"websocket")
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"this is chatd's WebSocket endpoint; the page is at /\n"


def page_resources() -> dict[bytes, Data]:
    """The shipped files, read once from the package."""
    static = files("chatd.frontends.web") / "static"
    return {path: Data(static.joinpath(name).read_bytes(), kind)
            for path, (name, kind) in PAGES.items()}


class ChatSite(Site):
    """The site, the upload tokens its requests may claim, and the frontend (``home``) its
    channels are admitted and timed by."""

    # HTTP/1.1 only (twisted.web's default is a wrapper that could switch to HTTP/2, which
    # autobahn cannot upgrade from).
    protocol = ChatChannel  # type: ignore[assignment]

    def __init__(self, root: Resource, home: WebFactory, timeout: float) -> None:
        super().__init__(root, timeout=timeout, reactor=home.clock)
        self.home = home
        self.uploads: Uploads = home.uploads


class WebFactory(FrontendFactory):
    options: Options

    def __init__(self, portal: Portal, options: Options, clock: IReactorTime,
                 admission: Admission, stats: Counters, *,
                 header_timeout: float = HEADER_TIMEOUT, request_timeout: float = REQUEST_TIMEOUT,
                 **limits: float) -> None:
        super().__init__(portal, options, clock, admission, stats, **limits)
        self.header_timeout = header_timeout
        self.request_timeout = request_timeout
        self.interpreter = LineInterpreter(stats)
        self.format = WEB_FORMAT
        websocket = WebSocketServerFactory(server=SERVER.decode())
        websocket.protocol = WebProtocol
        websocket.home = self  # type: ignore[attr-defined]
        websocket.setProtocolOptions(
            maxFramePayloadSize=options.max_message,
            maxMessagePayloadSize=options.max_message,
            autoPingInterval=PING_INTERVAL,
            autoPingTimeout=PING_TIMEOUT,
            openHandshakeTimeout=self.handshake_timeout,
            closeHandshakeTimeout=5,
            # A browser that breaks a rule (too big, not UTF-8) is told why with a close
            # code (1009, 1007) before the connection goes, not just dropped.
            failByDrop=False,
            webStatus=False,
            # Compression stays off: it would re-encode every broadcast per browser, and
            # compressing secrets beside attacker text is how CRIME and BREACH work.
            perMessageCompressionAccept=None,
        )
        # Subprotocol -> the stream factory carried under it (``carry``).
        self.carried: dict[str, Any] = {}
        self.root = Resource()
        upgrade = WebSocketResource(websocket)
        for path, resource in page_resources().items():
            self.root.putChild(path, UpgradeOnly(upgrade, resource) if path == b"" else resource)
        self.root.putChild(WEBSOCKET_PATH, UpgradeOnly(upgrade))
        self.uploads = Uploads(clock)
        self.root.putChild(UPLOAD_PATH, UploadResource())
        self.site = ChatSite(self.root, self, HTTP_TIMEOUT)
        self.site.requestFactory = SecureRequest
        self.site.displayTracebacks = False

    def mount(self, path: bytes, resource: Resource) -> None:
        """Serve ``resource`` at ``/path`` too: how the daemon adds what a frontend can't
        import (shared files' downloads, ``chatd.files.web``, at ``/files``)."""
        self.root.putChild(path, resource)

    def carry(self, subprotocols: tuple[str, ...], factory: Any) -> None:
        """Carry ``factory``'s stream protocol over the WebSocket for clients that offer one
        of ``subprotocols`` (``carried``): how the daemon adds what a frontend can't import
        (IRC's factory, for web IRC clients)."""
        for name in subprotocols:
            self.carried[name] = factory

    def startFactory(self) -> None:
        self.site.doStart()

    def stopFactory(self) -> None:
        self.site.doStop()

    def buildProtocol(self, addr: Any) -> Any:
        return self.site.buildProtocol(addr)
