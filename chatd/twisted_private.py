"""Every use chatd makes of Twisted's private attributes, in one place.

Each one buys something the public API does not offer (a send() straight to the socket, the
TLS options an ``ssl:`` endpoint string parsed, a listener failing start-up loudly). A new
Twisted release may rename any of them: ``tests/test_twisted_private.py`` checks each against
the installed Twisted and fails naming the attribute, and ``pyproject.toml`` bounds Twisted's
version so that nobody meets that by surprise. ``direct-send = false`` in the settings turns
the first one off.
"""

from __future__ import annotations

from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.internet import tcp
from twisted.internet.endpoints import SSL4ServerEndpoint

# (class, attribute) pairs read or written below; the test checks them on real instances.
USED = (
    (tcp.Connection, "_tempDataLen"),
    (tcp.Connection, "dataBuffer"),
    (tcp.Connection, "offset"),
    (tcp.Connection, "_writeDisconnected"),
    (tcp.Server, "logstr"),
    (tcp.Server, "repstr"),
    (SSL4ServerEndpoint, "_sslContextFactory"),
    (StreamServerEndpointService, "_raiseSynchronously"),
)


def nothing_buffered(transport: tcp.Connection) -> bool:
    """Whether a TCP transport has no output waiting and is open for writing, so a direct
    send() keeps the byte order (what ``transport.write`` would queue, it queues nothing)."""
    return not (
        transport._tempDataLen
        or len(transport.dataBuffer) != transport.offset
        or transport.disconnecting
        or not transport.connected
        or transport._writeDisconnected
    )


def send_now(transport: tcp.Connection, data: bytes) -> bytes:
    """Send ``data`` on a plain TCP (or unix) socket at once; return what is left unsent.

    ``transport.write`` only buffers: it registers the socket with epoll, and the data goes
    out on the next reactor pass, two epoll_ctl calls and a pass later. When nothing is
    buffered on the transport (``nothing_buffered``, written out here: this runs for every
    connection written to in a reactor turn), a direct non-blocking send() is equivalent
    and is a third of the cost of a delivery. Anything unsent, or any socket error, is left
    to ``transport.write``, which keeps its ordering, back-pressure and error handling.
    """
    if (
        transport._tempDataLen
        or len(transport.dataBuffer) != transport.offset
        or transport.disconnecting
        or not transport.connected
        or transport._writeDisconnected
    ):
        return data
    try:
        sent = transport.socket.send(data)
    except OSError:  # EAGAIN included; a real error, Twisted's doWrite reports
        return data
    return data[sent:]


def share_names(transport: Any, name: str) -> None:
    """Give an accepted TCP transport ``name`` (one string all of a frontend's connections
    share) as its log prefix and repr.

    Twisted's ``tcp.Server`` formats both at accept, with the session number and the address:
    two strings, some 150 bytes, that every idle connection would keep, and a tenth of what
    chatd is short of a C server's memory per connection. What they said is in chatd's own
    log lines (each names the connection's peer); a traceback from inside a connection's
    handler is prefixed with the protocol's name alone.
    """
    if isinstance(transport, tcp.Server):
        transport.logstr = transport.repstr = name


def parsed_tls_options(endpoint: SSL4ServerEndpoint) -> Any:
    """The CertificateOptions the ``ssl:`` parser built from the endpoint string's files."""
    return endpoint._sslContextFactory


def replace_tls_options(endpoint: SSL4ServerEndpoint, factory: Any) -> None:
    """Make the endpoint use ``factory`` for the TLS contexts of new connections."""
    endpoint._sslContextFactory = factory


def fail_loudly(service: StreamServerEndpointService) -> None:
    """A port that can't be bound stops start-up with the error (as strports.service does),
    instead of being logged while the daemon runs on without it."""
    service._raiseSynchronously = True
