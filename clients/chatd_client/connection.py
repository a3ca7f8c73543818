"""The client's side of the wire: one Twisted protocol, the endpoint it connects through, and
plain words for whatever ends a connection.

TLS goes through ``optionsForClientTLS``, so the certificate chain is checked by OpenSSL and
the host name by service_identity; ``--ca`` swaps the platform trust store for a private CA.

A client pointed at the wrong kind of port gets OpenSSL's or TCP's view of it ("wrong version
number", "the server closed the connection"), which does not say what to do. So the plain
client notices TLS records where the greeting should be, or a server that hangs up having
said nothing at all (a chatd always greets first, a TLS server waits for a handshake that
never comes), and the TLS client recognises OpenSSL's words for a peer that is not TLS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from OpenSSL import SSL, crypto
from service_identity import VerificationError
from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IHandshakeListener,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.ssl import (
    Certificate,
    optionsForClientTLS,
    platformTrust,
    trustRootFromCertificates,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.frontends.framing import LineFramer, TooLong
from chatd_client.options import ClientOptions

# Server lines are at most a few KiB (a 1,024-character message plus room and name); this
# bounds memory against a server that never sends a newline.
MAX_SERVER_LINE = 64 * 1024

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL
)


# OpenSSL's reasons (across versions) for a handshake answered by something that is not TLS.
_NOT_TLS_REASONS = ("wrong version number", "unknown protocol", "http request",
                    "https proxy request", "packet length too long", "record layer failure")


class TrustError(Exception):
    """The --ca file can't be used; the message says why."""


class SpeaksTLS(Exception):
    """The plain client received a TLS record (an alert or a handshake) from the server."""


class NoGreeting(Exception):
    """The server closed a plain connection before sending a single byte."""


def load_trust_root(path: Path) -> Any:
    """Trust exactly the certificates in a PEM file (a bundle may hold several)."""
    try:
        data = path.read_bytes()
    except OSError as problem:
        raise TrustError(f"can't read CA file {path}: {problem.strerror}") from None
    blocks = _PEM_CERTIFICATE.findall(data)
    if not blocks:
        raise TrustError(f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    try:
        certificates = [Certificate.loadPEM(block) for block in blocks]
    except crypto.Error as problem:
        raise TrustError(f"{path}: a certificate in it can't be read ({problem})") from None
    return trustRootFromCertificates(certificates)


def client_endpoint(reactor: Any, options: ClientOptions) -> IStreamClientEndpoint:
    """Where to connect; raises TrustError when --ca is unusable.

    ``reactor`` is Any, as Twisted types it: it must be a TCP, time and name-resolver reactor.
    """
    endpoint = HostnameEndpoint(reactor, options.host, options.port,
                                timeout=options.connect_timeout)
    if not options.tls:
        return endpoint
    trust = platformTrust() if options.ca is None else load_trust_root(options.ca)
    return wrapClientTLS(optionsForClientTLS(options.host, trustRoot=trust), endpoint)


@implementer(IHandshakeListener)
class ServerConnection(Protocol):
    """Frames the server's bytes into decoded lines and sends the user's lines.

    ``ready`` fires once the connection can carry chat: at once for TCP, after the handshake
    (and so after the certificate was verified) for TLS. It fails with the reason if the
    connection ends first, which is how a refused certificate reaches the user.
    """

    def __init__(
        self,
        tls: bool,
        on_line: Callable[[str], None],
        on_too_long: Callable[[], None],
        on_lost: Callable[[Failure], None],
        on_bytes: Callable[[int, str], Sink | None] = lambda size, name: None,
    ) -> None:
        self._tls = tls
        self._on_line = on_line
        self._on_too_long = on_too_long
        self._on_lost = on_lost
        self._on_bytes = on_bytes
        # A 351 reply is followed by raw bytes (a /get): the framer stops after it.
        self._framer = LineFramer(MAX_SERVER_LINE, _bytes_follow)
        self._raw_left = 0  # raw bytes still to come
        self._raw_sink: Sink | None = None
        self._head = b""  # the first bytes received, kept until it is clear they are no TLS
        self._verdict: Failure | None = None
        self.ready: Deferred[None] = Deferred()

    @property
    def received(self) -> bool:
        """Whether the server has sent anything yet (a chatd greets as soon as it accepts)."""
        return bool(self._head)

    def connectionMade(self) -> None:
        if not self._tls:
            self.ready.callback(None)

    def handshakeCompleted(self) -> None:
        self.ready.callback(None)

    def dataReceived(self, data: bytes) -> None:
        if self._verdict is not None:
            return
        if len(self._head) < 2:
            self._head += data[:2 - len(self._head)]
            # A TLS record starts with its type (0x15 alert, 0x16 handshake) and major version 3.
            if (not self._tls and len(self._head) == 2 and self._head[0] in (0x15, 0x16)
                    and self._head[1] == 0x03):
                self._verdict = Failure(SpeaksTLS())
                self.abort()
                return
        framer = self._framer
        while data:
            if self._raw_left:
                part, data = data[:self._raw_left], data[self._raw_left:]
                self._raw_left -= len(part)
                sink = self._raw_sink
                if sink is not None:
                    sink(part)
                    if not self._raw_left:
                        sink(None)
                continue
            line = ""
            for item in framer.feed(data):
                if item is TooLong.LINE:
                    self._on_too_long()
                else:
                    assert isinstance(item, bytes)
                    line = item.decode("utf-8", errors="replace")
                    self._on_line(line)
            data = b""
            if framer.holding:  # the last line was a 351: its bytes come next
                data = framer.take()
                framer.release()
                self._start_raw(line[4:])

    def _start_raw(self, announced: str) -> None:
        """After ``351 SIZE NAME``: the next SIZE bytes go to the download, or nowhere."""
        size_text, _, name = announced.partition(" ")
        self._raw_left = int(size_text) if size_text.isdigit() else 0
        self._raw_sink = self._on_bytes(self._raw_left, name)
        if not self._raw_left and self._raw_sink is not None:
            self._raw_sink(None)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._verdict is not None:
            reason = self._verdict
        elif not self._tls and not self._head and reason.check(error.ConnectionDone,
                                                                error.ConnectionLost):
            reason = Failure(NoGreeting())
        if not self.ready.called:
            self.ready.errback(reason)
            return
        self._on_lost(reason)

    def _transport(self) -> ITCPTransport:
        # A cast, not an adaptation: TLSMemoryBIOProtocol has abortConnection without
        # declaring ITCPTransport.
        assert self.transport is not None, "used before connectionMade"
        return cast(ITCPTransport, self.transport)

    def send_line(self, line: str) -> None:
        self._transport().write(line.encode("utf-8") + b"\r\n")

    def close(self) -> None:
        self._transport().loseConnection()

    def abort(self) -> None:
        self._transport().abortConnection()


# Where a download's raw bytes go: each piece, then None once all are in.
Sink = Callable[[bytes | None], None]


def _bytes_follow(line: bytes) -> bool:
    return line.startswith(b"351 ")


class ConnectionFactory(Factory):
    def __init__(self, build: Callable[[], ServerConnection]) -> None:
        self._build = build

    def buildProtocol(self, addr: object) -> ServerConnection:
        return self._build()


def _ssl_reasons(problem: SSL.Error) -> str:
    # pyOpenSSL packs OpenSSL's error queue as [(library, function, reason), ...].
    queue = problem.args[0] if problem.args else []
    if isinstance(queue, list):
        reasons = [entry[-1] for entry in queue if isinstance(entry, tuple) and entry]
        if reasons:
            return "; ".join(str(reason) for reason in reasons)
    return str(problem) or "handshake failed"


def describe_failure(failure: Failure, options: ClientOptions) -> str:
    """Why a connection attempt failed or a connection ended, in words for a person."""
    where = f"{options.host}:{options.port}"
    if failure.check(error.ConnectionRefusedError):
        return f"{where} refused the connection; is chatd running there?"
    if failure.check(error.DNSLookupError):
        return f"can't find the host {options.host!r}"
    if failure.check(error.TimeoutError):
        return f"no answer from {where} within {options.connect_timeout:g} seconds"
    if failure.check(SpeaksTLS):
        return f"{where} answered with TLS: that port expects TLS; try --tls"
    if failure.check(NoGreeting):
        return (f"{where} closed the connection without a greeting: that port probably "
                "expects TLS; try --tls")
    if failure.check(SSL.Error):
        assert isinstance(failure.value, SSL.Error)
        reasons = _ssl_reasons(failure.value)
        if any(words in reasons.lower() for words in _NOT_TLS_REASONS):
            return f"TLS: {where} does not speak TLS ({reasons}); try without --tls"
        hint = (f"is {options.ca} the CA that signed the server's certificate?"
                if options.ca is not None
                else "if the server's certificate comes from a private CA, pass it with "
                     "--ca FILE")
        return (f"TLS: the certificate of {options.host} could not be verified "
                f"({reasons}); {hint}")
    if failure.check(VerificationError):
        # The chain is trusted, but the certificate names another host.
        return (f"TLS: the server's certificate is not valid for {options.host!r} "
                f"({failure.getErrorMessage()})")
    if failure.check(error.ConnectionDone):
        return "the server closed the connection"
    if failure.check(error.ConnectionLost):
        return f"the connection to {where} was lost"
    return f"connection to {where} failed: {failure.getErrorMessage()}"
