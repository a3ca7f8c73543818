"""The web frontend of the real daemon, over loopback, with autobahn's WebSocket client.

The JSON protocol beside a line user in the same room; the handshake's Origin check; the
message size limit; the message rate limit and its disconnect for flooding; the page and its
security headers.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import unittest
from pathlib import Path

from tests.integration.harness import Daemon, guest
from tests.integration.test_web_browser import web_port
from tests.integration.websocket_client import HandshakeRefused, WebSocketClient


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

    def browser(self, name: str | None = None) -> WebSocketClient:
        client = WebSocketClient.connect(self.port, origin=self.origin)
        self.addCleanup(client.close)
        self.assertEqual(client.read()["code"], 220)
        if name is not None:
            self.assertEqual(client.command(f"/nick {name}")["code"], 201)
        return client


class ProtocolTests(WebDaemonTests):
    def test_a_browser_logs_in_and_talks_with_a_line_user(self) -> None:
        web = self.browser()
        signed = web.command("/signup ann correct-horse")
        self.assertEqual(signed, {"code": 201, "text": "welcome, ann: your account is created "
                                                      "and you are logged in"})
        self.assertEqual(web.command("/join lobby")["code"], 200)
        line = guest(self.daemon, "carol")
        line.ok("/join lobby")
        joined = web.wait_event(lambda m: m["event"]["type"] == "Joined"
                                and m["event"]["who"] == "carol")
        self.assertEqual((joined["code"], joined["text"]), (103, "[lobby] carol joined"))
        line.send("hi ann")
        said = web.wait_event(lambda m: m["event"]["type"] == "Said")
        self.assertEqual(said["code"], 101)
        self.assertEqual(said["text"], "[lobby] <carol> hi ann")
        self.assertEqual({k: said["event"][k] for k in ("room", "sender", "text", "action")},
                         {"room": "lobby", "sender": "carol", "text": "hi ann", "action": False})
        self.assertNotIn("origin", said["event"])  # the sender's session id stays inside
        web.send("hello carol")
        self.assertEqual(str(line.wait_event(lambda e: "hello carol" in e.text)),
                         "101 [lobby] <ann> hello carol")
        web.send("/msg carol psst", request="m1")
        self.assertEqual(web.reply(), {"code": 200, "text": "sent to carol", "id": "m1"})
        self.assertEqual(str(line.wait_event(lambda e: e.code == 102)), "102 *ann* psst")
        line.close()

    def test_replies_mirror_the_line_protocol_with_their_continuation_lines(self) -> None:
        web = self.browser("ann")
        web.command("/join lobby")
        who = web.command("/who")
        self.assertEqual(who, {"code": 211, "text": "1 member in lobby", "lines": ["ann"]})
        self.assertEqual(web.command("/frobnicate")["code"], 400)
        self.assertEqual(web.command("/quit")["code"], 221)
        _, code = web.closed()
        self.assertEqual(code, 1000)

    def test_a_message_that_is_not_a_line_request_gets_400(self) -> None:
        web = self.browser("ann")
        web.send_raw(b"not json")
        self.assertEqual(web.reply()["code"], 400)
        web.send_raw(json.dumps({"text": "hi"}).encode())
        self.assertEqual(web.reply()["code"], 400)
        web.send_raw(json.dumps({"line": "hi\n/quit"}).encode())
        self.assertEqual(web.reply()["code"], 400)

    def test_a_page_on_another_site_cannot_open_the_websocket(self) -> None:
        for origin in ("http://evil.example", f"http://127.0.0.1:{self.port + 1}", "null"):
            with self.subTest(origin=origin), self.assertRaises(HandshakeRefused):
                WebSocketClient.connect(self.port, origin=origin)
        self.browser("ann")  # the page's own origin is let in

    def test_a_message_over_the_size_limit_closes_the_connection(self) -> None:
        web = self.browser("ann")
        web.send(json.dumps({"line": "x" * 2000}))
        _, code = web.closed()
        self.assertEqual(code, 1009)

    def test_binary_messages_are_refused(self) -> None:
        web = self.browser("ann")
        web.send_raw(b"\x00\x01", binary=True)
        _, code = web.closed()
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


class FloodTests(WebDaemonTests):
    exempt = False  # loopback is limited here, as any address
    extra = ("--messages-burst", "3", "--messages-per-second", "0.01", "--flood-strikes", "4")

    def test_a_flooding_browser_is_rate_limited_then_disconnected(self) -> None:
        web = self.browser("ann")
        web.command("/join lobby")
        for number in range(3):
            web.send(f"message {number}")
            self.assertEqual(web.read()["code"], 101)  # its own echo
        web.send("one too many")
        self.assertEqual(web.reply()["code"], 429)
        for number in range(3):
            web.send(f"more {number}")
        seen, code = web.closed()
        self.assertEqual([m["code"] for m in seen if m["code"] >= 200], [429, 429, 429])
        self.assertIn({"code": 109, "text": "disconnected for flooding"}, seen)
        self.assertEqual(code, 1000)
