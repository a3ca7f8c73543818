"""Where a client's output goes: the one interface every frontend writes through.

A sink takes bytes already in its client's wire format. Delivery renders a room message once
per format and hands the same bytes to the ``write`` of every member's sink (a mind's
``IChatMind.write`` is its sink's ``write``), so a sink must not build anything per write:

* the stream sink, ``chatd.frontends.outbox.Outbox``, joins a reactor turn's writes into one
  send, sends straight to the socket when it can, and drops a client that stops reading once
  more than its limit waits;
* the datagram sink, a UDP member (``chatd.frontends.udp.member``), sends each write as a
  datagram, with nothing to wait for;
* the WebSocket sink, ``chatd.frontends.web.sink.WebSink``, is handed frames prepared once
  per broadcast (the render builds the frame, header included) and writes them through the
  stream outbox as they are.

Closing is the sink's too: ``close`` lets what waits go out first and tells the connection
policy (which bounds how long that may take); ``abort`` drops the client at once.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class ISink(Interface):
    """One client's output."""

    closed = Attribute("bool: the client is going; writes from now on are dropped.")
    queued = Attribute("int: bytes waiting here for a client that is not reading.")

    def write(data: bytes) -> None:
        """Queue ``data`` for the client. The hot path of every delivery: no more than an
        append while the client reads."""

    def close() -> None:
        """Send what waits, then close; the policy is told, so that the close is bounded."""

    def abort() -> None:
        """Drop the client now, with whatever still waits."""
