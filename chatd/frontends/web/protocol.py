"""One browser: autobahn's WebSocket protocol (the wire) and a ``WebClient`` (the chat side).

``WebProtocol`` is autobahn's Twisted server protocol: it checks the opening handshake (the
Origin against the page's own and ``web-origin``, the client's address behind a trusted
proxy), caps message size, answers pings, and hands each text message to its ``WebClient``.
The client is what the rest of chatd sees: the mind delivery writes to, the
``ICommandClient`` the ``LineInterpreter`` serves, and the ``Guarded`` side of a
``ConnectionPolicy`` (admission, the login timer, one request at a time, a bounded close),
exactly as a line connection is. It is a separate object so that none of its names can
collide with autobahn's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Protocol

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.cred.credentials import ICredentials
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.frontends.admission import Admission, Network
from chatd.frontends.codes import Code
from chatd.frontends.connections import Connections
from chatd.frontends.interpreter import ICommandClient, LineInterpreter, Reply, replay_on_join
from chatd.frontends.outbox import Flusher
from chatd.frontends.policy import ConnectionPolicy, Counters
from chatd.frontends.web.codec import (
    BadRequest,
    history_payload,
    notice_payload,
    parse_request,
    render_payload,
    reply_payload,
)
from chatd.frontends.web.options import Options, normal_origin
from chatd.frontends.web.sink import Prepared, WebSink
from chatd.frontends.web.uploads import MAX_PENDING, TOKEN_HEADER, UPLOAD_PATH, Uploads
from chatd.kernel import errors
from chatd.kernel.events import Event, LeaveReason, SessionEnded
from chatd.kernel.interfaces import IChatMind, IChatSession
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
    prepared: Prepared
    flusher: Flusher
    uploads: Uploads


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


class WebProtocol(WebSocketServerProtocol):
    """The WebSocket wire; its autobahn factory's ``home`` is the ``WebHome``."""

    transport: Any  # a TCP or TLS transport, taken over from twisted.web
    client: WebClient | None = None
    _host = ""
    _port: object = ""

    @property
    def home(self) -> WebHome:
        home: WebHome = self.factory.home
        return home

    def onConnect(self, request: ConnectionRequest) -> None:
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

    def onOpen(self) -> None:
        self.client = WebClient(self.home, self, self._host, f"{self._host}:{self._port}")
        self.client.open()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        client = self.client
        if client is None:
            return
        if isBinary:
            # 1003 (unsupported data) is the protocol's own code, which sendClose refuses.
            self.sendCloseFrame(1003, b"text messages only")
            return
        client.received(payload)

    def sendCloseFrame(self, code: int | None = None, reasonUtf8: bytes | None = None,
                       isReply: bool = False) -> None:
        """Every close frame autobahn sends (ours, its reply to the browser's, a refusal)
        comes after the frames the sink holds, and no frame after it."""
        client = self.client
        if client is not None:
            client.sink.release()
        super().sendCloseFrame(code, reasonUtf8, isReply)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.lost()


@implementer(IChatMind, ICommandClient)
class WebClient:
    """A browser as chatd sees it: a mind, a command client, and a policy's guarded side."""

    __slots__ = ("_closed", "_home", "_options", "_protocol", "_tokens", "host",
                 "leave_reason", "peer", "policy", "quit_message", "session", "sink")
    kind = "web"
    render = staticmethod(render_payload)
    echo = True  # like the line protocol: the sender sees its message in order
    seat = None  # a connection, not a seat in one room (IChatMind.seat)
    attached = None  # its format never changes while attached (IChatMind.attached)

    def upload_file(self, room: str, name: str, size: int, sha256: str | None
                    ) -> Deferred[Reply]:
        """``/send``: the upload is begun (every check of the line protocol's), and the 350
        names where to POST its bytes, with a one-use token (``uploads``). It is the
        request's reply, so the browser's requests and messages go on meanwhile."""
        assert self.session is not None
        if len(self._tokens) >= MAX_PENDING:
            raise errors.NotAllowed(f"{MAX_PENDING} uploads are waiting for their bytes "
                                    "already; send those first")
        upload = self.session.send_file(name, room, size, sha256)
        uploads = self._home.uploads
        token = uploads.issue(upload, self._tokens.discard, self._options.upload_pace)
        self._tokens.add(token)
        return succeed(Reply(Code.SEND_BYTES, (
            f"send {size} bytes: POST them to /{UPLOAD_PATH.decode()} with the header "
            f"{TOKEN_HEADER.decode()}: {token} within {uploads.window:g} seconds")))

    def download_file(self, file_id: str) -> Deferred[Reply]:
        """A browser takes no raw bytes over this protocol: it downloads by link."""
        raise errors.NotAllowed(f"a browser downloads by link: /link {file_id[:40]}")

    @property
    def udp_port(self) -> int | None:
        port: int | None = self._options.udp_port
        return port

    def __init__(self, home: WebHome, protocol: WebProtocol, host: str, peer: str) -> None:
        self._home = home
        self._options = home.options
        self._protocol = protocol
        self.host = host
        self.peer = peer
        self._closed = False
        self.leave_reason = LeaveReason.LOST
        self.quit_message = ""
        self.session: IChatSession | None = None
        self._tokens: set[str] = set()  # upload tokens given out and not yet used
        self.sink = WebSink(protocol, home.prepared, home.flusher, self._options.max_output,
                            self, self._options.direct_send)
        self.policy: ConnectionPolicy[bytes] = ConnectionPolicy(
            home, self._options, self, self.sink, host)

    # -- life ----------------------------------------------------------------------------

    def open(self) -> None:
        self._home.connections.add(self)
        if self.policy.open():
            guests = "/nick NAME to chat as a guest, " if self._options.guests else ""
            self._send(notice_payload(
                Code.GREETING, f"chatd ready. {guests}/signup NAME PASSWORD or /login NAME "
                "PASSWORD for an account, /help for all commands"))

    def close(self, why: str) -> None:
        """Tell the browser why (109), then close the WebSocket."""
        self._send(notice_payload(Code.CLOSING, why))
        self.sink.close()

    def output_closing(self) -> None:
        self.policy.closing()

    def output_overflowed(self) -> None:
        log.warn("dropping web {peer} ({name}): it stopped reading and over {limit} bytes "
                 "queued", peer=self.peer, name=self.session.name if self.session else
                 "anonymous", limit=self._options.max_output)
        self.leave_reason = LeaveReason.SLOW
        self.sink.abort()

    def lost(self) -> None:
        self._home.connections.remove(self)
        self.policy.lost()
        self._closed = True
        self.sink.stopProducing()
        for token in list(self._tokens):
            self._home.uploads.cancel(token)
        self._tokens.clear()
        if self.session is not None:  # its quit is the portal's logout (chatd.auth.realm)
            self.session.quit(self.leave_reason, self.quit_message)
        log.info("web connection from {peer} closed ({who})", peer=self.peer,
                 who=f"{self.session.name} logged out: {self.leave_reason.value}"
                 if self.session else "never logged in")

    def login_timeout_text(self) -> str:
        return f"no login within {self._options.login_timeout:g} seconds; goodbye"

    def too_much_text(self) -> str:
        return f"more than {self._options.max_bytes_before_login} bytes before logging in"

    def pause_reading(self) -> None:
        self._protocol.transport.pauseProducing()

    def resume_reading(self) -> None:
        self._protocol.transport.resumeProducing()

    # -- output --------------------------------------------------------------------------

    @property
    def write(self) -> Callable[[bytes], None]:
        return self.sink.write

    def _send(self, payload: bytes) -> None:
        self.sink.write(payload)

    def deliver(self, event: Event) -> None:
        if type(event) is SessionEnded:
            self.close(event.why)
            return
        self.sink.write(event.encoded(render_payload))
        # After our own join, as on the line protocol: the room's last messages, each a 110
        # (``history_payload``), before the reply to the /join.
        for kept in replay_on_join(self.session, event, self._options.replay):
            self.sink.write(history_payload(kept))

    # -- input ---------------------------------------------------------------------------

    def received(self, payload: bytes) -> None:
        if self.policy.received(len(payload)):
            self.policy.push([payload])

    def handle(self, item: bytes) -> Deferred[None] | None:
        """One request; a Deferred if its reply is still to come."""
        try:
            text, request = parse_request(item)
        except BadRequest as error:
            self._home.stats.rejected["WebBadRequest"] += 1
            self._send(reply_payload(Reply(Code.BAD_SYNTAX, str(error))))
            return None
        if len(text.encode()) > self._options.max_line:
            self._home.stats.rejected["LineTooLong"] += 1
            self._send(reply_payload(Reply(
                Code.LINE_TOO_LONG,
                f"line too long (over {self._options.max_line} bytes); it was ignored"),
                request))
            return None
        answer = self._home.interpreter.feed(self, text)
        if isinstance(answer, Deferred):
            answered = answer.addCallback(self._answer, request)
            return None if answered.called else answered
        self._answer(answer, request)
        return None

    def _answer(self, answer: Reply | None, request: object) -> None:
        if answer is None:
            return
        for event in answer.history:
            self._send(history_payload(event))
        self._send(reply_payload(answer, request))
        end = answer.end
        if end is not None:
            self.leave_reason, self.quit_message = end.reason, end.message
            if end.notice:
                self.close(end.notice)
            else:
                self.sink.close()

    # -- logging in ----------------------------------------------------------------------

    def log_in(self, credentials: ICredentials) -> Deferred[IChatSession | None]:
        """Portal login; the session is kept, or given back if the browser left meanwhile."""

        def logged_in(result: tuple[Any, IChatSession, Callable[[], None]]
                      ) -> IChatSession | None:
            _, session, logout = result
            if self._closed:
                logout()
                return None
            self.session = session
            self.policy.logged_in()
            kind = "guest" if session.guest else "account"
            log.info("{name} logged in ({kind}) from web {peer}", name=session.name,
                     kind=kind, peer=self.peer)
            return session

        def refused(failure: Failure) -> Failure:
            if failure.check(errors.WrongCredentials):
                self._home.stats.login_failures += 1
            log.info("login refused from web {peer}: {why}", peer=self.peer,
                     why=for_log(failure.getErrorMessage(), 200))
            return failure

        return self._home.portal.login(credentials, self, IChatSession).addCallbacks(
            logged_in, refused)
