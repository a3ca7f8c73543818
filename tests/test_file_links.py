"""Signed download links and the HTTP resource that serves a file given one (a real Site on
loopback, fetched with twisted.web's Agent)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody
from twisted.web.resource import Resource
from twisted.web.server import Site

from chatd.files.links import LinkSigner, link_secret
from chatd.files.store import FileLimits, FileStore
from chatd.files.web import FileResource
from chatd.kernel.views import FileView

from tests.fakes import keyed_file

SECRET = b"s" * 32
DATA = bytes(range(256)) * 1000


class LinkTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.signer = LinkSigner(SECRET, self.clock, lifetime=300)

    def parts(self, link: str) -> tuple[str, str, str]:
        path, _, query = link.partition("?")
        fields = dict(item.split("=") for item in query.split("&"))
        return path.rsplit("/", 1)[1], fields["expires"], fields["sig"]

    def test_a_fresh_link_is_good(self) -> None:
        self.assertIsNone(self.signer.check(*self.parts(self.signer.make("a" * 32))))

    def test_a_link_expires(self) -> None:
        parts = self.parts(self.signer.make("a" * 32))
        self.clock.advance(301)
        self.assertEqual(self.signer.check(*parts), "an expired link")

    def test_a_link_can_not_be_moved_to_another_file_or_stretched(self) -> None:
        file_id, expires, sig = self.parts(self.signer.make("a" * 32))
        self.assertIsNotNone(self.signer.check("b" * 32, expires, sig))
        self.assertIsNotNone(self.signer.check(file_id, str(int(expires) + 3600), sig))
        self.assertIsNotNone(self.signer.check(file_id, expires, "0" * 64))
        self.assertIsNotNone(self.signer.check(file_id, "-1", sig))

    def test_another_secret_signs_differently(self) -> None:
        other = LinkSigner(b"t" * 32, self.clock)
        self.assertIsNotNone(self.signer.check(*self.parts(other.make("a" * 32))))

    def test_the_secret_file_is_made_once_and_private(self) -> None:
        path = Path(self.mktemp())
        first = link_secret(path)
        self.assertEqual(link_secret(path), first)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)


@pytest.mark.daemon
class FileResourceTests(TestCase):
    def setUp(self) -> None:
        path = Path(self.mktemp())
        path.mkdir()
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.store = FileStore(path / "files", keyed_file(path / "files.journal"),
                               maybeDeferred, self.clock, FileLimits())
        self.store.load()
        upload = self.store.begin("lobby", "lobby", "alice", "alice",
                                  "r\u00e9sum\u00e9 \"x\".html", len(DATA), None)
        upload.write(DATA)
        views: list[FileView] = []
        upload.finish().addCallback(views.append)
        self.view = views[0]
        self.signer = LinkSigner(SECRET, self.clock)
        root = Resource()
        root.putChild(b"files", FileResource(self.store, self.signer))  # as the web mounts it
        site = Site(root)
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.agent = Agent(reactor)

    def get(self, link: str) -> Deferred:
        url = f"http://127.0.0.1:{self.port.getHost().port}{link}"
        return self.agent.request(b"GET", url.encode())

    @inlineCallbacks
    def test_a_valid_link_serves_the_bytes_as_a_sandboxed_attachment(self):  # type: ignore[no-untyped-def]
        response = yield self.get(self.signer.make(self.view.id))
        body = yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertEqual(body, DATA)
        headers = response.headers
        self.assertEqual(headers.getRawHeaders(b"X-Content-Type-Options"), [b"nosniff"])
        self.assertIn(b"sandbox", headers.getRawHeaders(b"Content-Security-Policy")[0])
        self.assertEqual(headers.getRawHeaders(b"Content-Type"), [b"application/octet-stream"])
        disposition = headers.getRawHeaders(b"Content-Disposition")[0]
        self.assertTrue(disposition.startswith(b'attachment; filename="r_sum_ _x_.html"'))
        self.assertIn(b"filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.html", disposition)

    @inlineCallbacks
    def test_an_expired_link_is_refused(self):  # type: ignore[no-untyped-def]
        link = self.signer.make(self.view.id)
        self.clock.advance(10_000)
        response = yield self.get(link)
        body = yield readBody(response)
        self.assertEqual(response.code, 403)
        self.assertNotIn(DATA[:100], body)

    @inlineCallbacks
    def test_an_altered_link_is_refused(self):  # type: ignore[no-untyped-def]
        link = self.signer.make(self.view.id).replace(self.view.id, "0" * 32)
        response = yield self.get(link)
        yield readBody(response)
        self.assertEqual(response.code, 403)

    @inlineCallbacks
    def test_a_link_to_a_file_that_is_gone_is_404(self):  # type: ignore[no-untyped-def]
        yield self.store._forget(self.view.id)
        response = yield self.get(self.signer.make(self.view.id))
        yield readBody(response)
        self.assertEqual(response.code, 404)
