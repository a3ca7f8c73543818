"""Shared files over HTTP from the real daemon (``--web``): a member's signed link downloads
the exact bytes with the safety headers; a non-member gets no link; an expired, altered or
re-aimed link gets 403; an IRC member is told the link in the channel's NOTICE."""

from __future__ import annotations

import http.client
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatd.files.links import LinkSigner

from tests.integration.harness import Daemon, LineClient, guest
from tests.integration.test_files_daemon import send_file
from tests.integration.test_irc_daemon import IrcSocket, irc_port
from tests.integration.test_web_browser import web_port

pytestmark = pytest.mark.daemon

# Every byte value, then more than the socket buffers hold.
DATA = bytes(range(256)) * 16 + os.urandom(3 * 1024 * 1024)
LINK = re.compile(r"^([0-9a-f]{32}) (\d+) (http://127\.0\.0\.1:\d+/files/\S+)$")


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


class FileLinksDaemonTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.data = Path(self.mktemp()).absolute()
        self.daemon = Daemon(self.data, ["--web", "tcp:0:interface=127.0.0.1",
                                         "--irc", "tcp:0:interface=127.0.0.1"]).start()
        self.addCleanup(self.daemon.cleanup)
        self.addCleanup(lambda: self.assertEqual(self.daemon.problems(), []))
        self.port = web_port(self.daemon)

    def member(self, name: str) -> LineClient:
        client = guest(self.daemon, name)
        self.addCleanup(client.close)
        client.ok("/join lobby")
        return client

    def link(self, client: LineClient, file_id: str) -> str:
        reply = client.command(f"/link {file_id}")
        self.assertEqual(reply.code, 252, reply)
        found = LINK.match(reply.text)
        assert found is not None, reply.text
        self.assertEqual((found.group(1), found.group(2)), (file_id, "300"))
        self.assertTrue(found.group(3).startswith(f"http://127.0.0.1:{self.port}/files/"))
        return found.group(3)

    def test_a_member_downloads_the_exact_bytes_as_a_safe_attachment(self) -> None:
        alice, bob = self.member("alice"), self.member("bob")
        file_id = send_file(alice, "lobby", "a\"b\".html", DATA)
        status, headers, body = fetch(self.link(bob, file_id))
        self.assertEqual(status, 200)
        self.assertEqual(body, DATA)
        self.assertEqual(headers["content-type"], "application/octet-stream")
        self.assertEqual(headers["content-length"], str(len(DATA)))
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(headers["content-security-policy"], "default-src 'none'; sandbox")
        self.assertTrue(headers["content-disposition"].startswith(
            'attachment; filename="a_b_.html"'), headers["content-disposition"])

    def test_someone_not_in_the_room_gets_no_link(self) -> None:
        file_id = send_file(self.member("alice"), "lobby", "a.bin", b"secret")
        carol = guest(self.daemon, "carol")
        self.addCleanup(carol.close)
        self.assertEqual(carol.command(f"/link {file_id}").code, 403)

    def test_an_altered_a_re_aimed_or_an_expired_link_is_403(self) -> None:
        alice = self.member("alice")
        file_id = send_file(alice, "lobby", "a.bin", b"one")
        other = send_file(alice, "lobby", "b.bin", b"two")
        url = self.link(alice, file_id)
        flipped = url[:-1] + ("0" if url[-1] != "0" else "1")
        later = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m.group(1)) + 3600}", url)
        # The daemon's own secret, signing with a clock an hour behind: expired, not forged.
        past = Clock()
        past.advance(float(re.search(r"expires=(\d+)", url).group(1)) - 3600)  # type: ignore[union-attr]
        expired = (f"http://127.0.0.1:{self.port}" +
                   LinkSigner((self.data / "files.secret").read_bytes(), past, 300).make(file_id))
        for bad in (flipped, later, url.replace(file_id, other), expired):
            status, headers, body = fetch(bad)
            self.assertEqual(status, 403, bad)
            self.assertEqual(headers["x-content-type-options"], "nosniff")
            self.assertNotIn(b"one", body)
        self.assertIn(b"expired", fetch(expired)[2])
        self.assertEqual(fetch(url)[2], b"one")

    def test_an_irc_member_is_told_the_link_in_the_notice(self) -> None:
        irc = IrcSocket(irc_port(self.daemon))
        self.addCleanup(irc.close)
        irc.send("NICK ann", "USER ann 0 * :Ann", "JOIN #lobby")
        irc.until("366")
        file_id = send_file(self.member("alice"), "lobby", "a.bin", b"for irc")
        notice = irc.until("NOTICE")[-1]
        self.assertEqual(notice[2][0], "#lobby")
        found = re.search(r" or at (http://\S+) \(link valid 300 s\)$", notice[2][1])
        assert found is not None, notice
        self.assertIn(f"/files/{file_id}?", found.group(1))
        self.assertEqual(fetch(found.group(1))[:1] + fetch(found.group(1))[2:], (200, b"for irc"))
