"""The WebSocket sink over a StringTransport: a server's text frames as autobahn would make
them, made once for every browser, one write per browser per reactor turn with a turn's
frames in order, a bound on a browser that stops reading, and the close frame after
everything else; and the tokens of uploads from the page."""

from __future__ import annotations

from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from chatd.frontends.outbox import Flusher
from chatd.frontends.upload_deadline import UploadPace
from chatd.frontends.web.frames import render_frame, text_frame
from chatd.frontends.web.sink import WebSink
from chatd.frontends.web.uploads import Uploads
from chatd.kernel.events import Said

from fakes import OutboxOwner

CLOSE_FRAME = b"<close>"


class CountingTransport(StringTransport):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


class FakeWebSocket:
    """What the sink uses of autobahn's protocol: its transport and its close."""

    def __init__(self) -> None:
        self.transport = CountingTransport()
        # As after an upgrade: twisted.web's channel is still the registered producer.
        self.transport.registerProducer(object(), True)

    def sendClose(self, code: int) -> None:
        self.transport.write(CLOSE_FRAME)


def frame(text: bytes) -> bytes:
    """A server's unmasked text frame of a short payload."""
    return bytes([0x81, len(text)]) + text


class FrameTests(unittest.TestCase):
    def test_frames_are_autobahns_own_at_each_length_boundary(self) -> None:
        factory = WebSocketServerFactory()
        for size in (0, 1, 125, 126, 127, 65535, 65536, 70000):
            payload = b"x" * size
            self.assertEqual(text_frame(payload),
                             factory.prepareMessage(payload).payloadHybi, size)

    def test_an_event_is_framed_once_for_every_browser(self) -> None:
        said = Said("lobby", "ann", "hi", at=1.0)
        first = said.encoded(render_frame)
        self.assertIs(said.encoded(render_frame), first)  # the same bytes object each time
        self.assertEqual(first[0], 0x81)  # final text frame; unmasked (no 0x80 in byte 1)
        self.assertLess(first[1], 0x80)


class SinkTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.flusher = Flusher(self.clock)
        self.owner = OutboxOwner()

    def sink(self, limit: int = 1000) -> tuple[WebSink, FakeWebSocket]:
        protocol = FakeWebSocket()
        sink = WebSink(protocol, self.flusher, limit, self.owner)
        return sink, protocol

    def test_a_turns_frames_go_out_in_one_write_per_browser(self) -> None:
        sinks = [self.sink() for _ in range(3)]
        for payload in (frame(b'{"a":1}'), frame(b'{"b":2}')):
            for sink, _ in sinks:
                sink.write(payload)
        self.assertEqual([protocol.transport.writes for _, protocol in sinks], [0, 0, 0])
        self.clock.advance(0)
        for _, protocol in sinks:
            self.assertEqual(protocol.transport.writes, 1)
            self.assertEqual(protocol.transport.value(),
                             frame(b'{"a":1}') + frame(b'{"b":2}'))

    def test_a_browser_that_stops_reading_is_dropped_past_its_limit(self) -> None:
        sink, protocol = self.sink(limit=20)
        protocol.transport.producer.pauseProducing()
        sink.write(frame(b"0123456789"))
        self.clock.advance(0)
        self.assertEqual((protocol.transport.value(), sink.queued), (b"", 12))
        sink.write(frame(b"abcdefghij"))
        self.assertEqual(self.owner.overflowed, 1)
        self.assertTrue(sink.closed)

    def test_held_frames_go_out_when_the_browser_reads_again(self) -> None:
        sink, protocol = self.sink()
        protocol.transport.producer.pauseProducing()
        sink.write(frame(b"held"))
        self.clock.advance(0)
        protocol.transport.producer.resumeProducing()
        self.clock.advance(0)
        self.assertEqual(protocol.transport.value(), frame(b"held"))

    def test_the_close_frame_comes_after_what_waits_and_nothing_after_it(self) -> None:
        sink, protocol = self.sink()
        protocol.transport.producer.pauseProducing()  # even a browser not reading
        sink.write(frame(b"last words"))
        sink.close()
        sink.write(frame(b"too late"))
        self.clock.advance(0)
        self.assertEqual(protocol.transport.value(), frame(b"last words") + CLOSE_FRAME)
        self.assertEqual(self.owner.closing, 1)

    def test_release_before_autobahns_own_close_frame(self) -> None:
        sink, protocol = self.sink()
        sink.write(frame(b"pending"))
        sink.release()
        protocol.transport.write(CLOSE_FRAME)
        sink.write(frame(b"after"))
        self.clock.advance(0)
        self.assertEqual(protocol.transport.value(), frame(b"pending") + CLOSE_FRAME)


class FakeUpload:
    size = 5
    received = 0
    pending = 0

    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


class UploadTokenTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.uploads = Uploads(self.clock, window=60)
        self.forgotten: list[str] = []

    def test_a_token_is_claimed_once(self) -> None:
        upload = FakeUpload()
        token = self.uploads.issue(upload, self.forgotten.append, UploadPace())
        self.assertEqual(self.uploads.claim(token), (upload, UploadPace()))
        self.assertIsNone(self.uploads.claim(token))
        self.assertEqual((self.forgotten, upload.aborted), ([token], False))

    def test_an_unused_token_expires_and_gives_its_reservation_back(self) -> None:
        upload = FakeUpload()
        token = self.uploads.issue(upload, self.forgotten.append, UploadPace())
        self.clock.advance(60)
        self.assertIsNone(self.uploads.claim(token))
        self.assertEqual((self.forgotten, upload.aborted, len(self.uploads)),
                         ([token], True, 0))

    def test_a_cancelled_token_aborts_its_upload(self) -> None:
        upload = FakeUpload()
        token = self.uploads.issue(upload, self.forgotten.append, UploadPace())
        self.uploads.cancel(token)
        self.assertTrue(upload.aborted)
        self.assertIsNone(self.uploads.claim(token))
        self.assertEqual(self.clock.getDelayedCalls(), [])
