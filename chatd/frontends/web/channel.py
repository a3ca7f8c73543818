"""One HTTP connection of the web site: admitted like any connection, and bounded in time.

twisted.web's own timeout is an idle one, started again at every byte: a client that sends
a byte every few seconds keeps its connection (and a file descriptor) for good, and nothing
counted HTTP connections against the connection limits. ``ChatChannel`` adds:

* **admission** at connect (``Admission.admit_open``): the connections open at once, in
  total and per address (a trusted proxy's only in the total: it carries many browsers). A
  refused connection is closed at once: over http after a ``503`` that says why, over https
  with a plain close (its TLS handshake has not happened, and waiting for it is what a
  refusal must not do).
* **a header deadline**: a request's headers must be complete within ``header_timeout``
  seconds of the connect or, on a kept-alive connection, of the previous response (so an
  idle kept-alive connection is closed then too). Bytes arriving do not extend it.
* **a request deadline**: a request must be wholly received, headers and body, within
  ``request_timeout`` seconds of the same start, unless it is an upload under way (its
  token claimed, ``uploads``): an upload's body is bounded by the rules of ``uploads``.
* **a bounded close**: a closing connection has ``close_grace`` seconds to take the rest.

A connection past a deadline is aborted. A WebSocket upgrade hands the connection over
(``hand_over``): its slot and its timers go, and the WebSocket's ``ConnectionPolicy`` admits
it again as a chat client, as a line connection is admitted, and governs it from then on.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime, ISSLTransport
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel

from chatd.frontends.admission import Admission
from chatd.frontends.web.options import Options
from chatd.frontends.web.protocol import within
from chatd.frontends.web.uploads import UploadBody

log = Logger()

# Seconds from the connect (or the previous response) to a request's last header.
HEADER_TIMEOUT = 10.0
# Seconds from the same start to the last byte of a request that is not an upload.
REQUEST_TIMEOUT = 30.0
# What every response names as the server: no software version to look vulnerabilities up by.
SERVER = b"chatd"


class Home(Protocol):
    """What the connections of one web site share (``site.WebFactory`` is one)."""

    clock: IReactorTime
    admission: Admission
    header_timeout: float
    request_timeout: float
    close_grace: float
    options: Options


class ChatChannel(HTTPChannel):
    """twisted.web's HTTP/1.1 channel, admitted and with deadlines; its site's ``home``
    (``site.ChatSite``) is the frontend's factory."""

    site: Any  # site.ChatSite, set by Site.buildProtocol
    transport: Any
    _host = ""
    _admitted = False
    _headers_due: IDelayedCall | None = None
    _request_due: IDelayedCall | None = None
    _close_due: IDelayedCall | None = None

    @property
    def home(self) -> Home:
        home: Home = self.site.home
        return home

    def connectionMade(self) -> None:
        super().connectionMade()
        home = self.home
        peer = self.transport.getPeer()
        self._host = str(getattr(peer, "host", peer))
        proxy = within(self._host, home.options.trusted_proxies)
        refused = home.admission.admit_open(self._host, per_address=not proxy)
        if refused is not None:
            log.info("refused web connection from {peer}: {why}", peer=self._host, why=refused)
            self._refuse(refused)
            return
        self._admitted = True
        self._start_request()

    def _refuse(self, why: str) -> None:
        if ISSLTransport.providedBy(self.transport):
            self.transport.abortConnection()
            return
        body = f"chatd: {why}\n".encode()
        self.transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nServer: " + SERVER + b"\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.loseConnection()

    def _start_request(self) -> None:
        """A request may begin: its deadlines run from now."""
        home = self.home
        self._headers_due = home.clock.callLater(
            home.header_timeout, self._expired,
            f"no complete request headers within {home.header_timeout:g} seconds")
        self._request_due = home.clock.callLater(
            home.request_timeout, self._expired,
            f"no complete request within {home.request_timeout:g} seconds")

    def allHeadersReceived(self) -> None:
        super().allHeadersReceived()  # the request's body is chosen here (``gotLength``)
        self._cancel_headers()
        content = self.requests[-1].content
        if isinstance(content, UploadBody) and content.upload is not None:
            self._cancel_request()

    def allContentReceived(self) -> None:
        # Before the request is handled: its response may come (and the next request
        # start, ``requestDone``) before this returns.
        self._cancel_request()
        super().allContentReceived()

    def requestDone(self, request: Any) -> None:
        if self.persistent:
            # Before twisted.web goes on to a next request already received.
            self._start_request()
        super().requestDone(request)

    def loseConnection(self) -> None:
        if self._close_due is None:
            grace = self.home.close_grace
            self._close_due = self.home.clock.callLater(
                grace, self._expired, f"still not closed {grace:g} seconds after its response")
        super().loseConnection()

    def hand_over(self) -> None:
        """The connection becomes a WebSocket (autobahn takes its transport, and this
        channel hears no more of it): its slot and its timers go."""
        self._release()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._release()
        super().connectionLost(reason)

    def _expired(self, why: str) -> None:
        self._stop_timers()
        log.info("aborting web connection from {peer}: {why}", peer=self._host, why=why)
        self.transport.abortConnection()

    def _release(self) -> None:
        if self._admitted:
            self._admitted = False
            self.home.admission.release(self._host, named=False)
        self._stop_timers()

    def _stop_timers(self) -> None:
        for call in (self._headers_due, self._request_due, self._close_due):
            if call is not None and call.active():  # not the one firing now (``_expired``)
                call.cancel()
        self._headers_due = self._request_due = self._close_due = None

    def _cancel_headers(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _cancel_request(self) -> None:
        if self._request_due is not None:
            self._request_due.cancel()
            self._request_due = None
