"""The web frontend of the real daemon, over loopback, with autobahn's WebSocket client.

The JSON protocol beside a line user in the same room; history replayed on join; a file
shared from the browser (``/send``, then an HTTP POST with twisted.web's Agent); the
handshake's Origin check; the message size limit; the message rate limit and its disconnect
for flooding; the page and its security headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import socket
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from chatd.frontends.web.uploads import LINGER

from tests.integration.harness import Daemon, guest, make_tls_files
from tests.integration.test_file_links_daemon import fetch
from tests.integration.test_files_daemon import get_file, send_file
from tests.integration.test_web_browser import web_port
from tests.integration.websocket_client import TIMEOUT, HandshakeRefused, WebSocketClient

pytestmark = pytest.mark.daemon

_UPLOAD = re.compile(r"^send (\d+) bytes: POST them to (/upload) with the header "
                     r"X-Chatd-Upload: ([A-Za-z0-9_-]+) within 60 seconds$")


class WebDaemonTests(unittest.TestCase):
    extra: tuple[str, ...] = ()
    exempt = True

    def setUp(self) -> None:
        data = tempfile.TemporaryDirectory(prefix="chatd-web-")
        self.addCleanup(data.cleanup)
        self.daemon = Daemon(Path(data.name), ["--web", "tcp:0:interface=127.0.0.1",
                                               "--web-max-message", "1024", *self.extra],
                             exempt=self.exempt).start()
        self.addCleanup(self.daemon.cleanup)
        self.port = web_port(self.daemon)
        self.origin = f"http://127.0.0.1:{self.port}"

    @inlineCallbacks
    def browser(self, name: str | None = None):  # type: ignore[no-untyped-def]
        client = yield WebSocketClient.connect(self.port, origin=self.origin)
        self.addCleanup(client.close)
        self.assertEqual((yield client.read())["code"], 220)
        if name is not None:
            self.assertEqual((yield client.command(f"/nick {name}"))["code"], 201)
        return client

    @inlineCallbacks
    def upload_token(self, web: WebSocketClient, line: str):  # type: ignore[no-untyped-def]
        """The token of the 350 that answers a /send."""
        reply = (yield web.command(line))
        self.assertEqual(reply["code"], 350, reply)
        found = _UPLOAD.match(reply["text"])
        self.assertIsNotNone(found, reply["text"])
        return found.group(3)  # type: ignore[union-attr]


class ProtocolTests(WebDaemonTests):
    @inlineCallbacks
    def test_a_browser_logs_in_and_talks_with_a_line_user(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser())
        signed = (yield web.command("/signup ann correct-horse"))
        self.assertEqual(signed, {"code": 201, "text": "welcome account ann: your account is "
                                                      "created and you are logged in"})
        self.assertEqual((yield web.command("/join lobby"))["code"], 200)
        line = guest(self.daemon, "carol")
        line.ok("/join lobby")
        joined = (yield web.wait_event(lambda m: m["event"]["type"] == "Joined"
                                and m["event"]["who"] == "carol"))
        self.assertEqual((joined["code"], joined["text"]),
                         (103, "[lobby] carol joined (2 members)"))
        line.send("hi ann")
        said = (yield web.wait_event(lambda m: m["event"]["type"] == "Said"))
        self.assertEqual(said["code"], 101)
        self.assertEqual(said["text"], "[lobby] <carol> hi ann")
        self.assertEqual({k: said["event"][k] for k in ("room", "sender", "text", "action")},
                         {"room": "lobby", "sender": "carol", "text": "hi ann", "action": False})
        self.assertNotIn("origin", said["event"])  # the sender's session id stays inside
        web.send("hello carol")
        yield web.wait_event(lambda m: m["text"] == "[lobby] <ann> hello carol")  # its echo
        self.assertEqual(str(line.wait_event(lambda e: "hello carol" in e.text)),
                         "101 [lobby] <ann> hello carol")
        web.send("/msg carol psst", request="m1")
        self.assertEqual((yield web.reply()), {"code": 200, "text": "sent to carol", "id": "m1"})
        self.assertEqual(str(line.wait_event(lambda e: e.code == 102)), "102 *ann* psst")
        line.close()

    @inlineCallbacks
    def test_a_browser_asks_for_a_link_to_a_shared_file_and_it_downloads(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser("ann"))
        self.assertEqual((yield web.command("/join lobby"))["code"], 200)
        line = guest(self.daemon, "carol")
        self.addCleanup(line.close)
        line.ok("/join lobby")
        file_id = send_file(line, "lobby", "a.bin", bytes(range(256)))
        shared = (yield web.wait_event(lambda m: m["event"]["type"] == "FileShared"))
        self.assertEqual((shared["code"], shared["event"]["file_id"]), (111, file_id))
        linked = (yield web.command(f"/link {file_id}"))
        self.assertEqual(linked["code"], 252)
        url = linked["text"].split(" ")[2]
        self.assertEqual((yield deferToThread(fetch, url))[::2], (200, bytes(range(256))))

    @inlineCallbacks
    def test_replies_mirror_the_line_protocol_with_their_continuation_lines(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser("ann"))
        yield web.command("/join lobby")
        who = (yield web.command("/who"))
        # The first member of a temporary room is its operator, marked as /who marks it.
        self.assertEqual(who, {"code": 211, "text": "1 member in lobby", "lines": ["@ann"]})
        self.assertEqual((yield web.command("/frobnicate"))["code"], 400)
        self.assertEqual((yield web.command("/quit"))["code"], 221)
        _, code = (yield web.closed())
        self.assertEqual(code, 1000)

    @inlineCallbacks
    def test_a_message_that_is_not_a_line_request_gets_400(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser("ann"))
        web.send_raw(b"not json")
        self.assertEqual((yield web.reply())["code"], 400)
        web.send_raw(json.dumps({"text": "hi"}).encode())
        self.assertEqual((yield web.reply())["code"], 400)
        web.send_raw(json.dumps({"line": "hi\n/quit"}).encode())
        self.assertEqual((yield web.reply())["code"], 400)

    @inlineCallbacks
    def test_a_page_on_another_site_cannot_open_the_websocket(self):  # type: ignore[no-untyped-def]
        for origin in ("http://evil.example", f"http://127.0.0.1:{self.port + 1}", "null"):
            yield self.assertFailure(WebSocketClient.connect(self.port, origin=origin),
                                     HandshakeRefused)
        yield self.browser("ann")  # the page's own origin is let in

    @inlineCallbacks
    def test_a_message_over_the_size_limit_closes_the_connection(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser("ann"))
        web.send(json.dumps({"line": "x" * 2000}))
        _, code = (yield web.closed())
        self.assertEqual(code, 1009)

    @inlineCallbacks
    def test_binary_messages_are_refused(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser("ann"))
        web.send_raw(b"\x00\x01", binary=True)
        _, code = (yield web.closed())
        self.assertEqual(code, 1003)

    def test_the_page_and_every_response_carry_the_security_headers(self) -> None:
        for path in ("/", "/app.js", "/app.css", "/no-such-page", "/ws"):
            with self.subTest(path=path):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                connection.close()
                csp = response.getheader("Content-Security-Policy") or ""
                self.assertIn("frame-ancestors 'none'", csp)
                self.assertNotIn("unsafe-inline", csp)
                self.assertEqual(response.getheader("X-Content-Type-Options"), "nosniff")
                self.assertEqual(response.getheader("Referrer-Policy"), "no-referrer")
                if path == "/":
                    self.assertEqual(response.status, 200)
                    self.assertNotIn(b"<script>", body)  # no inline script
                    self.assertNotIn(b"<style", body)
                if path == "/app.js":
                    self.assertNotIn(b"innerHTML", body)


class HistoryTests(WebDaemonTests):
    @inlineCallbacks
    def test_joining_replays_the_rooms_last_messages_as_110s_before_the_reply(self):  # type: ignore[no-untyped-def]
        line = guest(self.daemon, "carol")
        self.addCleanup(line.close)
        line.ok("/join lobby")
        line.send("first words")
        line.send("/me waves")
        line.wait_event(lambda e: "waves" in e.text)
        web = (yield self.browser("ann"))
        web.send("/join lobby", request=1)
        joined = (yield web.read())
        self.assertEqual((joined["code"], joined["event"]["who"]), (103, "ann"))
        first, second, reply = (yield web.read()), (yield web.read()), (yield web.read())
        self.assertEqual((reply["code"], reply["id"]), (200, 1))
        self.assertEqual([first["code"], second["code"]], [110, 110])
        self.assertEqual({k: first["event"][k] for k in ("type", "room", "sender", "text")},
                         {"type": "Said", "room": "lobby", "sender": "carol",
                          "text": "first words"})
        self.assertTrue(second["event"]["action"])
        self.assertNotIn("origin", first["event"])
        # The line protocol's 110 text: TIME ID, then the live line's text.
        self.assertRegex(first["text"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                         + re.escape(first["event"]["id"]) + r" \[lobby\] <carol> first words$")
        self.assertEqual(second["text"].split(" ", 2)[2], "[lobby] * carol waves")
        # /history gives the same 110s, then its 200.
        web.send("/history lobby 1", request=2)
        kept, done = (yield web.read()), (yield web.read())
        self.assertEqual((kept["code"], kept["event"]["text"]), (110, "waves"))
        self.assertEqual((done["code"], done["id"]), (200, 2))


def post(port: int, body: bytes, token: str | None) -> Deferred[tuple[int, Any]]:
    """POST ``body`` to /upload (with the token's header), as the page's fetch does."""
    headers = Headers({b"Content-Type": [b"application/octet-stream"]})
    if token is not None:
        headers.addRawHeader(b"X-Chatd-Upload", token.encode())
    sent = Agent(reactor).request(b"POST", f"http://127.0.0.1:{port}/upload".encode(),
                                  headers, FileBodyProducer(BytesIO(body)))

    def read(response: Any) -> Deferred[tuple[int, Any]]:
        return readBody(response).addCallback(
            lambda data: (response.code, json.loads(data)))

    return sent.addCallback(read).addTimeout(TIMEOUT, reactor)


class UploadTests(WebDaemonTests):
    @inlineCallbacks
    def test_a_browser_shares_a_file_by_posting_it_and_the_room_hears_111(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser("ann"))
        yield web.command("/join lobby")
        line = guest(self.daemon, "carol")
        self.addCleanup(line.close)
        line.ok("/join lobby")
        body = bytes(range(256)) * 1000  # past twisted.web's in-memory body size
        token = (yield self.upload_token(web, f"/send lobby photo.bin {len(body)}"))
        # The browser's requests go on while the upload waits for its bytes.
        self.assertEqual((yield web.command("/who"))["code"], 211)
        code, answer = (yield post(self.port, body, token))
        self.assertEqual((code, answer["code"]), (200, 250), answer)
        file_id, size, sha256, name = answer["text"].split(" ")
        self.assertEqual((int(size), sha256, name),
                         (len(body), hashlib.sha256(body).hexdigest(), "photo.bin"))
        shared = line.wait_event(lambda e: e.code == 111)
        self.assertEqual(shared.text, f"[lobby] ann shared {file_id} {len(body)} photo.bin")
        told = (yield web.wait_event(lambda m: m["code"] == 111))
        self.assertEqual(told["event"]["file_id"], file_id)
        self.assertEqual(get_file(line, file_id), body)
        # A token is good for one POST.
        code, answer = (yield post(self.port, b"x", token))
        self.assertEqual((code, answer["code"]), (403, 403))

    @inlineCallbacks
    def test_an_upload_is_refused_as_on_the_line_protocol(self):  # type: ignore[no-untyped-def]
        line = guest(self.daemon, "carol")
        self.addCleanup(line.close)
        line.ok("/join lobby")
        web = (yield self.browser("ann"))
        self.assertEqual((yield web.command("/send lobby a.txt 5"))["code"], 406)  # not in it
        yield web.command("/join lobby")
        self.assertEqual((yield web.command("/send lobby a.txt 99999999999999"))["code"], 417)
        # Without a token, or with a body of another size than declared: nothing is stored.
        code, answer = (yield post(self.port, b"hello", None))
        self.assertEqual((code, answer["code"]), (400, 400))
        token = (yield self.upload_token(web, "/send lobby a.txt 5"))
        code, answer = (yield post(self.port, b"hello!", token))
        self.assertEqual((code, answer["code"]), (400, 415))
        self.assertIn("5 bytes declared", answer["text"])
        # A browser may hold a few tokens at once, not more.
        for _ in range(4):
            yield self.upload_token(web, "/send lobby a.txt 5")
        self.assertEqual((yield web.command("/send lobby a.txt 5"))["code"], 403)


class RequestBodyTests(WebDaemonTests):
    @inlineCallbacks
    def test_no_other_request_may_send_a_large_body(self):  # type: ignore[no-untyped-def]
        status = (yield deferToThread(post_raw, self.port, "/", b"x" * 1000))
        self.assertEqual(status, b"HTTP/1.1 405")  # a small one is read and refused as usual
        # Past 64 KiB: answered at once in JSON, not read, not written anywhere; the client,
        # sending on, still reads the answer (no reset), then the server closes.
        answer = (yield deferToThread(post_raw, self.port, "/", b"x" * 300_000, 4096))
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 413 "), answer)
        self.assertEqual(json.loads(body)["code"], 413)


def post_raw(port: int, path: str, body: bytes, size: int = 12) -> bytes:
    """POST ``body`` with no token; the answer's first bytes (up to ``size``) until the
    server closes, or b"" if it reset the connection. (A body answered early is closed on
    after ``LINGER`` seconds: the wait is longer than that.)"""
    with socket.create_connection(("127.0.0.1", port), timeout=LINGER + 5) as connection:
        try:
            connection.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                               f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            answer = b""
            while len(answer) < size:
                chunk = connection.recv(size - len(answer))
                if not chunk:
                    break
                answer += chunk
            return answer
        except ConnectionError:
            return b""


class UploadCutOffTests(WebDaemonTests):
    extra = ("--file-quota-per-user", "1000")

    @inlineCallbacks
    def test_an_upload_cut_off_leaves_no_file_and_gives_its_quota_back(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser("ann"))
        yield web.command("/join lobby")
        token = (yield self.upload_token(web, "/send lobby big.bin 1000"))
        self.assertEqual((yield web.command("/send lobby more.bin 1"))["code"], 418)
        yield deferToThread(post_part, self.port, token, 1000, b"x" * 10)
        files = self.daemon.data / "files"
        for _ in range(100):  # the server sees the close: the partial file goes
            if not list(files.glob("*.part")):
                break
            yield deferToThread(time.sleep, 0.05)
        self.assertEqual(list(files.iterdir()), [])
        self.assertEqual((yield web.command("/send lobby big.bin 1000"))["code"], 350)


def post_part(port: int, token: str, length: int, part: bytes) -> None:
    """Start a POST of ``length`` bytes, send ``part`` of them, and hang up."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(
            f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"X-Chatd-Upload: {token}\r\nContent-Length: {length}\r\n\r\n".encode() + part)
        time.sleep(0.2)  # the server reads what came before the close


class SecureWebSocketTests(unittest.TestCase):
    """wss: the same frames through the outbox over a TLS transport."""

    def setUp(self) -> None:
        data = tempfile.TemporaryDirectory(prefix="chatd-wss-")
        self.addCleanup(data.cleanup)
        self.ca, key, cert = make_tls_files(Path(data.name))
        self.daemon = Daemon(Path(data.name) / "data", [
            "--web", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"]).start()
        self.addCleanup(self.daemon.cleanup)
        found = re.search(r"WebFactory \(TLS\) starting on (\d+)", self.daemon.run_log())
        assert found is not None, self.daemon.run_log()
        self.port = int(found.group(1))

    @inlineCallbacks
    def test_a_browser_over_wss_talks_with_a_line_user(self):  # type: ignore[no-untyped-def]
        web = (yield WebSocketClient.connect(self.port, ca=self.ca))
        self.addCleanup(web.close)
        self.assertEqual((yield web.read())["code"], 220)
        self.assertEqual((yield web.command("/nick ann"))["code"], 201)
        self.assertEqual((yield web.command("/join lobby"))["code"], 200)
        line = guest(self.daemon, "carol")
        self.addCleanup(line.close)
        line.ok("/join lobby")
        for number in range(50):
            line.send(f"burst {number}")
        for number in range(50):
            said = (yield web.wait_event(lambda m: m["event"]["type"] == "Said"))
            self.assertEqual(said["event"]["text"], f"burst {number}")
        self.assertEqual((yield web.command("/quit"))["code"], 221)
        _, code = (yield web.closed())
        self.assertEqual(code, 1000)


class FloodTests(WebDaemonTests):
    exempt = False  # loopback is limited here, as any address
    extra = ("--messages-burst", "3", "--messages-per-second", "0.01", "--flood-strikes", "4")

    @inlineCallbacks
    def test_a_flooding_browser_is_rate_limited_then_disconnected(self):  # type: ignore[no-untyped-def]
        web = (yield self.browser("ann"))
        yield web.command("/join lobby")
        for number in range(3):
            web.send(f"message {number}")
            self.assertEqual((yield web.read())["code"], 101)  # its own echo
        web.send("one too many")
        self.assertEqual((yield web.reply())["code"], 429)
        for number in range(3):
            web.send(f"more {number}")
        seen, code = (yield web.closed())
        self.assertEqual([m["code"] for m in seen if m["code"] >= 200], [429, 429, 429])
        self.assertIn({"code": 109, "text": "disconnected for flooding"}, seen)
        self.assertEqual(code, 1000)


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends before it closes (within the socket's timeout)."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


class ConnectionLimitTests(WebDaemonTests):
    exempt = False  # loopback is limited here, as any address
    extra = ("--max-connections-per-address", "4")

    def test_connections_over_the_per_address_limit_are_refused_at_once(self) -> None:
        held = []
        for _ in range(4):  # silent: no request, so admitted and holding their slots
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self.addCleanup(sock.close)
            held.append(sock)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as refused:
            answer = read_to_end(refused)
        self.assertLess(time.monotonic() - started, 2)
        self.assertTrue(answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer)
        self.assertIn(b"too many connections from 127.0.0.1 (4 at once)", answer)
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:  # the freed slot is back once the daemon has seen the close
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as again:
                again.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                              "Connection: close\r\n\r\n".encode())
                answer = read_to_end(again)
            if not answer.startswith(b"HTTP/1.1 503") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200])
        self.assertIn(b"\r\nServer: chatd\r\n", answer)
