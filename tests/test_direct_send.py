"""direct-send: on by default, a flush sends straight to a TCP socket; off, every write takes
Twisted's buffered path (the escape hatch if a Twisted release breaks the direct send)."""

from __future__ import annotations

import socket

from twisted.internet import reactor, tcp
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.frontends.outbox import Flusher, Outbox

from fakes import OutboxOwner


class DirectSendTests(TestCase):
    def outbox(self, direct: bool) -> tuple[Outbox, socket.socket, list[bytes]]:
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        theirs.setblocking(False)
        connection = tcp.Connection(ours, Protocol(), reactor)  # type: ignore[arg-type]
        connection.connected = True  # type: ignore[attr-defined]
        buffered: list[bytes] = []
        connection.write = buffered.append  # type: ignore[method-assign]
        connection.registerProducer = lambda producer, streaming: None  # type: ignore[method-assign]
        clock = Clock()
        box = Outbox(connection, Flusher(clock), 4096, OutboxOwner(), direct=direct)
        box.write(b"hello\r\n")
        clock.advance(0)
        return box, theirs, buffered

    def test_by_default_a_flush_goes_straight_to_the_socket(self) -> None:
        _, theirs, buffered = self.outbox(direct=True)
        self.assertEqual(theirs.recv(100), b"hello\r\n")
        self.assertEqual(buffered, [])

    def test_off_every_write_takes_twisteds_buffered_path(self) -> None:
        _, theirs, buffered = self.outbox(direct=False)
        self.assertEqual(buffered, [b"hello\r\n"])
        self.assertRaises(BlockingIOError, theirs.recv, 100)
