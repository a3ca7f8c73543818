"""The web site's request bodies in memory: a POST to /upload streamed into the file store
under its deadline, and any other body capped, each answered in JSON before it is all in
when it must be (over a StringTransport, with a Clock; files on disk)."""

from __future__ import annotations

import json
from pathlib import Path

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from chatd.files.store import FileLimits
from chatd.frontends.options import ConnectionOptions
from chatd.frontends.upload_deadline import UploadPace
from chatd.frontends.web.options import Options
from chatd.frontends.web.site import WebFactory
from chatd.frontends.web.uploads import LINGER, MAX_OTHER_BODY
from chatd.kernel.interfaces import IChatSession

from tests.fakes import World

# 100 bytes a second after 10 seconds: 20 seconds for a file of 1,000 bytes.
PACE = UploadPace(min_rate=100, grace=10)


class Post:
    """One HTTP connection to the site, a POST on it, and what came back."""

    def __init__(self, factory: WebFactory, path: str, length: int,
                 token: str | None = None) -> None:
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 4321))
        self.protocol = factory.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)
        header = f"X-Chatd-Upload: {token}\r\n" if token else ""
        self.protocol.dataReceived(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{header}"
            f"Content-Length: {length}\r\n\r\n".encode())

    def send(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def answer(self) -> tuple[bytes, dict[str, object] | None]:
        """The status line, and the JSON body; (b"", None) if nothing was answered yet."""
        data = self.transport.value()
        if not data:
            return b"", None
        head, _, body = data.partition(b"\r\n\r\n")
        if b"chunked" in head.lower():  # twisted.web's own answers: one chunk, then 0
            body = body.split(b"\r\n")[1]
        return head.split(b"\r\n")[0], json.loads(body)


class WebUploadTests(TestCase):
    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.mkdir()
        # The whole store fits one 1,000-byte file: a held upload blocks every other.
        self.world = World(self.path, file_limits=FileLimits(total=1000))
        self.clock = self.world.clock
        options = Options(ConnectionOptions(upload_pace=PACE, paste_queue=0))
        self.factory = WebFactory(self.world.portal, options, self.clock,
                                  self.world.admission, self.world.server.stats)
        self.factory.site.reactor = self.clock  # the HTTP channels' timeouts too
        self.ann = self.member("ann")

    def member(self, name: str) -> IChatSession:
        session, _ = self.world.spy(name)
        self.successResultOf(session.join("lobby"))
        return session

    def token(self, session: IChatSession, size: int = 1000) -> str:
        upload = session.send_file("a.bin", "lobby", size)
        return self.factory.uploads.issue(upload, lambda token: None, PACE)

    def assert_cut(self, post: Post, received: int) -> None:
        """The POST was answered 408 before its body was all in; nothing of it is left, and
        another member can share a file that needs the whole store."""
        self.assertEqual(post.answer(), (b"HTTP/1.1 408 Request Time-out", {
            "code": 408, "text": f"the upload was too slow: {received} of 1000 bytes in 20 "
            "seconds (it may take 10 seconds plus one per 100 bytes); the file was not "
            "stored"}))
        self.assertEqual(list((self.path / "files").iterdir()), [])
        self.assertEqual(self.world.files.total, 0)
        bob = self.member("bob")
        again = Post(self.factory, "/upload", 1000, self.token(bob))
        again.send(b"b" * 1000)
        status, answer = again.answer()
        self.assertEqual((status, answer and answer["code"]), (b"HTTP/1.1 200 OK", 250))
        # The cut connection closes once its client had time to read why.
        self.assertFalse(post.transport.disconnecting)
        self.clock.advance(LINGER)
        self.assertTrue(post.transport.disconnecting)

    def test_a_stalled_upload_is_cut_at_its_deadline(self) -> None:
        post = Post(self.factory, "/upload", 1000, self.token(self.ann))
        post.send(b"a" * 10)
        self.clock.advance(19.9)
        self.assertEqual(post.answer(), (b"", None))
        self.clock.advance(0.1)
        self.assert_cut(post, 10)

    def test_a_dribbled_upload_is_cut_though_bytes_keep_coming(self) -> None:
        post = Post(self.factory, "/upload", 1000, self.token(self.ann))
        for _ in range(20):
            self.assertEqual(post.answer(), (b"", None))
            post.send(b"a")
            self.clock.advance(1)
        self.assert_cut(post, 20)
        post.send(b"a" * 980)  # the rest, late: discarded, never a second answer
        self.assertEqual(post.transport.value().count(b"HTTP/1.1"), 1)

    def test_a_slow_upload_above_the_rate_is_stored(self) -> None:
        post = Post(self.factory, "/upload", 1000, self.token(self.ann))
        self.clock.advance(2)
        for _ in range(16):  # 60 bytes a second: 18 seconds in all
            post.send(b"a" * 60)
            self.clock.advance(1)
        post.send(b"a" * 40)
        status, answer = post.answer()
        self.assertEqual((status, answer and answer["code"]), (b"HTTP/1.1 200 OK", 250))
        self.clock.advance(100)
        self.assertEqual(self.world.files.total, 1000)


class RequestBodyCapTests(TestCase):
    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.mkdir()
        self.world = World(self.path)
        self.clock = self.world.clock
        self.factory = WebFactory(self.world.portal, Options(), self.clock,
                                  self.world.admission, self.world.server.stats)
        self.factory.site.reactor = self.clock

    def test_a_body_at_the_cap_is_read_and_answered_as_usual(self) -> None:
        post = Post(self.factory, "/upload", MAX_OTHER_BODY)
        post.send(b"x" * MAX_OTHER_BODY)
        status, answer = post.answer()
        self.assertEqual((status, answer and answer["code"]), (b"HTTP/1.1 400 Bad Request", 400))

    def test_a_body_over_the_cap_is_answered_413_in_json_then_closed(self) -> None:
        post = Post(self.factory, "/", 300_000)
        post.send(b"x" * (MAX_OTHER_BODY + 1))
        self.assertEqual(post.answer(), (b"HTTP/1.1 413 Request Entity Too Large", {
            "code": 413, "text": f"a request body may be at most {MAX_OTHER_BODY} bytes, but "
            "for an upload's; it was not read"}))
        self.assertIn(b"Connection: close", post.transport.value())
        # What the client still sends is discarded, even past its body: no second answer.
        post.send(b"x" * 300_000 + b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(post.transport.value().count(b"HTTP/1.1"), 1)
        self.clock.advance(LINGER)
        self.assertTrue(post.transport.disconnecting)

    def test_a_refused_upload_over_the_cap_gets_its_refusal_at_once(self) -> None:
        post = Post(self.factory, "/upload", 300_000, "no-such-token")
        post.send(b"x" * 100_000)
        status, answer = post.answer()
        self.assertEqual((status, answer and answer["code"]), (b"HTTP/1.1 403 Forbidden", 403))
        self.assertIn("token is unknown", str(answer and answer["text"]))

    def test_the_linger_ends_with_the_connection(self) -> None:
        post = Post(self.factory, "/", 300_000)
        post.send(b"x" * 100_000)
        post.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual([call for call in self.clock.getDelayedCalls()
                          if call.getTime() == LINGER], [])
