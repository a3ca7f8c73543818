"""One browser: autobahn's WebSocket protocol, the wire of a ``CommandClient``.

``WebProtocol`` is autobahn's Twisted server protocol: it checks the opening handshake (the
Origin against the page's own and ``web-origin``, the client's address behind a trusted
proxy), caps message size, answers pings, and decodes each text message (``codec``: JSON,
``{"line": TEXT, "id": ...}``) into a line for its ``client``. The client
(``chatd.frontends.client``) is what the rest of chatd sees, exactly as for a line
connection: the mind delivery writes to, the ``ICommandClient`` the ``LineInterpreter``
serves, and the guarded side of a ``ConnectionPolicy`` (admission, the login timer, one
request at a time, fakelag, a bounded close). A browser's files go by HTTP: ``/send`` gets
a one-use token to POST the bytes with, ``/get`` a link.

A client that offers a subprotocol the site carries (``text.ircv3.net``, ``binary.ircv3.net``:
IRC) gets it, and speaks that protocol instead, one line per message (``carried``).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Protocol

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger

from chatd.frontends.admission import Admission, Network
from chatd.frontends.client import CommandClient, Format
from chatd.frontends.codes import Code
from chatd.frontends.connections import Connections
from chatd.frontends.interpreter import LineInterpreter, Reply
from chatd.frontends.outbox import Flusher
from chatd.frontends.policy import Counters
from chatd.frontends.web.carried import BINARY, Carried, address
from chatd.frontends.web.codec import BadRequest, parse_request
from chatd.frontends.web.frames import history_frame, notice_frame, render_frame, reply_frame
from chatd.frontends.web.options import Options, normal_origin
from chatd.frontends.web.sink import WebSink
from chatd.frontends.web.uploads import MAX_PENDING, TOKEN_HEADER, UPLOAD_PATH, Uploads
from chatd.kernel import errors
from chatd.kernel.text import for_log

log = Logger()


class WebHome(Protocol):
    """What the browsers of one web frontend share: a type, not a class of its own
    (``chatd.frontends.web.site.WebFactory`` is the one)."""

    portal: Any
    options: Options
    clock: Any
    admission: Admission
    stats: Counters
    handshake_timeout: float
    close_grace: float
    connections: Connections
    interpreter: LineInterpreter
    flusher: Flusher
    uploads: Uploads
    format: Format
    carried: dict[str, Any]  # subprotocol -> the stream factory carried under it


def origin_allowed(origin: str | None, own: tuple[str, ...], allowed: tuple[str, ...]
                   ) -> bool:
    """Whether a handshake's Origin may open the WebSocket.

    A browser always sends Origin; a page on another site could otherwise open a WebSocket
    with the user's network position (cross-site WebSocket hijacking). It must be the page's
    own (``own``: ``page_origins``) or one of ``allowed`` (``web-origin`` and ``web-url``),
    scheme and port included. The Host header proves nothing: a name the attacker controls
    can be made to resolve to this server (DNS rebinding), and its page then sends an Origin
    equal to its Host. No Origin at all is a non-browser client, which no page can make a
    browser imitate.
    """
    if not origin:  # autobahn gives "" when the header is absent
        return True
    normal = normal_origin(origin)
    return normal is not None and (normal in own or normal in allowed)


def page_origins(secure: bool, local: object) -> tuple[str, ...]:
    """The origins of the page as served on a connection that reached the local address
    ``local``: its scheme, address and port (an address literal, which no other site can
    be served from) and, on loopback, ``localhost``, which only this machine answers to."""
    host, port = getattr(local, "host", None), getattr(local, "port", None)
    try:
        address = ipaddress.ip_address(str(host))
    except ValueError:  # a unix socket: no origin names it
        return ()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 browser on a dual-stack listener
    scheme = "https" if secure else "http"
    names = [f"[{address}]" if address.version == 6 else str(address)]
    if address.is_loopback:
        names.append("localhost")
    return tuple(f"{scheme}://{name}:{port}" for name in names)


def client_address(peer: str, forwarded: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: the socket's peer, or, when the peer is a trusted proxy, the
    last address in X-Forwarded-For that is not a trusted proxy itself (the first hop a
    trusted proxy saw; anything left of it the client could have written)."""
    if not trusted or forwarded is None or not within(peer, trusted):
        return peer
    for hop in reversed([part.strip() for part in forwarded.split(",")]):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a garbled header: believe nothing in it
        if not any(address in network for network in trusted):
            return str(address)
    return peer


def within(host: str, networks: tuple[Network, ...]) -> bool:
    """Whether ``host`` is an address in one of ``networks``."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


# Every payload rendered as its whole frame (``frames``), made once per event for all browsers.
WEB_FORMAT = Format(render=render_frame, history=history_frame, reply=reply_frame,
                    notice=notice_frame)


class WebProtocol(WebSocketServerProtocol):
    """The WebSocket wire; its autobahn factory's ``home`` is the ``WebHome``."""

    transport: Any  # a TCP or TLS transport, taken over from twisted.web
    client: CommandClient | None = None
    carried: Carried | None = None
    kind = "web"
    _host = ""
    _port: object = ""
    _carry = ""  # the subprotocol chosen, if it is a carried one

    @property
    def home(self) -> WebHome:
        home: WebHome = self.factory.home
        return home

    @property
    def where(self) -> str:
        """The client's address and port, for logs (autobahn's ``peer`` is the socket's)."""
        return f"{self._host}:{self._port}"

    def onConnect(self, request: ConnectionRequest) -> str | None:
        options = self.home.options
        # Per connection, so that a reload's limit applies to new browsers.
        self.maxMessagePayloadSize = self.maxFramePayloadSize = options.max_message
        own = page_origins(ISSLTransport.providedBy(self.transport), self.transport.getHost())
        if not origin_allowed(request.origin, own, options.origins):
            self.home.stats.rejected["WebOrigin"] += 1
            log.info("refused WebSocket from {peer}: origin {origin} not allowed",
                     peer=self.transport.getPeer(), origin=for_log(str(request.origin), 100))
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "origin not allowed")
        peer = self.transport.getPeer()
        self._host = client_address(str(getattr(peer, "host", peer)),
                                    request.headers.get("x-forwarded-for"),
                                    options.trusted_proxies)
        self._port = getattr(peer, "port", "")
        carried = self.home.carried
        for offered in request.protocols:
            if offered in carried:
                self._carry = offered
                return offered
        return None

    def onOpen(self) -> None:
        home = self.home
        if self._carry:
            stream = home.carried[self._carry].buildProtocol(None)
            self.carried = Carried(self, stream, BINARY.get(self._carry, False),
                                   address(self._host, self._port))
            return
        options = home.options
        self._tokens: set[str] = set()  # upload tokens given out and not yet used
        shared = options.connection
        sink = self._sink = WebSink(self, home.flusher, shared.max_output, self,
                                    shared.direct_send)
        client = self.client = CommandClient(home, self, sink, self._host)
        home.connections.add(client)
        if client.policy.open():
            client.greet()

    # -- reading: autobahn's, less what it spends per read and per message on nothing ----

    def dataReceived(self, data: bytes) -> None:
        """autobahn's Twisted adapter, less its debug line: it formats that line's
        arguments on every read, debug logging on or off (a third of reading a frame)."""
        self._dataReceived(data)

    def onMessageEnd(self) -> None:
        """autobahn's, less its ``message`` observer event: nothing here listens to it (no
        ``on`` is ever called), yet it makes a Deferred per message. Timings are never
        tracked here (``trackTimings`` is off)."""
        if not self.failedByMe:
            self._onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None  # type: ignore[assignment]  # as autobahn: no buffer kept

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.carried is not None:
            # Text or binary alike: IRC reads bytes (UTF-8, else Latin-1) either way.
            self.carried.received(payload)
            return
        client = self.client
        if client is None:
            return
        if isBinary:
            # 1003 (unsupported data) is the protocol's own code, which sendClose refuses.
            self.sendCloseFrame(1003, b"text messages only")
            return
        if client.policy.received(len(payload)):
            client.policy.push([payload])

    def sendCloseFrame(self, code: int | None = None, reasonUtf8: bytes | None = None,
                       isReply: bool = False) -> None:
        """Every close frame autobahn sends (ours, its reply to the browser's, a refusal)
        comes after the frames the sink holds, and no frame after it."""
        client = self.client
        if client is not None:
            self._sink.release()
        super().sendCloseFrame(code, reasonUtf8, isReply)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        carried, self.carried = self.carried, None
        if carried is not None:
            carried.closed()
            return
        client, self.client = self.client, None
        if client is None:
            return
        home = self.home
        home.connections.remove(client)
        self._sink.stopProducing()
        for token in list(self._tokens):
            home.uploads.cancel(token)
        self._tokens.clear()
        client.lost()

    # -- the sink's owner ----------------------------------------------------------------

    def output_closing(self) -> None:
        if self.client is not None:
            self.client.policy.closing()

    def output_overflowed(self) -> None:
        if self.client is not None:
            self.client.output_overflowed()

    # -- the client's wire ---------------------------------------------------------------

    def pause_reading(self) -> None:
        self.transport.pauseProducing()

    def resume_reading(self) -> None:
        self.transport.resumeProducing()

    def handle(self, item: bytes) -> Deferred[None] | None:
        """One request; a Deferred if its reply is still to come."""
        client = self.client
        assert client is not None
        try:
            text, request = parse_request(item)
        except BadRequest as error:
            self.home.stats.rejected["WebBadRequest"] += 1
            client.answer(Reply(Code.BAD_SYNTAX, str(error)))
            return None
        max_line = self.home.options.connection.max_line
        if len(text.encode()) > max_line:
            self.home.stats.rejected["LineTooLong"] += 1
            client.answer(Reply(Code.LINE_TOO_LONG,
                                f"line too long (over {max_line} bytes); it was ignored"),
                          request)
            return None
        return client.command(text, request)

    def upload_file(self, room: str, name: str, size: int, sha256: str | None
                    ) -> Deferred[Reply]:
        """``/send``: the upload is begun (every check of the line protocol's), and the 350
        names where to POST its bytes, with a one-use token (``uploads``). It is the
        request's reply, so the browser's requests and messages go on meanwhile."""
        assert self.client is not None and self.client.session is not None
        if len(self._tokens) >= MAX_PENDING:
            raise errors.NotAllowed(f"{MAX_PENDING} uploads are waiting for their bytes "
                                    "already; send those first")
        upload = self.client.session.send_file(name, room, size, sha256)
        uploads = self.home.uploads
        token = uploads.issue(upload, self._tokens.discard,
                              self.home.options.connection.upload_pace)
        self._tokens.add(token)
        return succeed(Reply(Code.SEND_BYTES, (
            f"send {size} bytes: POST them to /{UPLOAD_PATH.decode()} with the header "
            f"{TOKEN_HEADER.decode()}: {token} within {uploads.window:g} seconds")))

    def download_file(self, file_id: str) -> Deferred[Reply]:
        """A browser takes no raw bytes over this protocol: it downloads by link."""
        raise errors.NotAllowed(f"a browser downloads by link: /link {file_id[:40]}")
