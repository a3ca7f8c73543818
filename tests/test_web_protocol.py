"""The web protocol in memory: a browser's WebSocket over a StringTransport (as
magic-wormhole's mailbox server tests its WebSocket frontend), against a real core."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import txaio
from twisted.trial.unittest import SynchronousTestCase

from chatd.frontends.options import ConnectionOptions
from chatd.frontends.web.options import Options
from chatd.frontends.web.site import WebFactory

from tests.fakes import World
from tests.test_web_site import Connection, upgrade


def frame(text: str) -> bytes:
    """A browser's text frame: masked, as a client's must be (a zero mask: the same bytes)."""
    payload = text.encode()
    size = len(payload)
    head = bytes([0x81, 0x80 | size]) if size < 126 else struct.pack("!BBH", 0x81, 0xFE, size)
    return head + b"\0\0\0\0" + payload


def messages(data: bytes) -> list[dict[str, Any]]:
    """The server's text frames (unmasked) in ``data``, decoded."""
    found = []
    while data:
        opcode, size, data = data[0] & 0x0F, data[1] & 0x7F, data[2:]
        if size == 126:
            size, data = struct.unpack("!H", data[:2])[0], data[2:]
        payload, data = data[:size], data[size:]
        if opcode == 1:
            found.append(json.loads(payload))
    return found


class Browser:
    """One browser with its WebSocket open."""

    def __init__(self, world: World, factory: WebFactory) -> None:
        self.world = world
        self.connection = Connection(factory, "192.0.2.1")
        self.connection.send(upgrade())
        head = self.connection.read()
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, line: str, request: object = None) -> list[dict[str, Any]]:
        message: dict[str, Any] = {"line": line}
        if request is not None:
            message["id"] = request
        # twisted.web handed the socket to the WebSocket protocol at the upgrade.
        self.connection.transport.protocol.dataReceived(frame(json.dumps(message)))
        return self.read()

    def read(self) -> list[dict[str, Any]]:
        self.world.clock.advance(0)  # the sink writes once per reactor turn
        return messages(self.connection.read())


class WebProtocolTests(SynchronousTestCase):
    options = Options(ConnectionOptions(login_timeout=30, paste_queue=0))

    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent)
        # autobahn's timers (handshake, pings) go through txaio, onto this clock too.
        self.patch(txaio.config, "loop", self.world.clock)
        self.factory = WebFactory(self.world.portal, self.options, self.world.clock,
                                  self.world.admission, self.world.server.stats)
        self.factory.startFactory()
        self.addCleanup(self.factory.stopFactory)

    def browser(self) -> Browser:
        browser = Browser(self.world, self.factory)
        self.addCleanup(browser.connection.transport.loseConnection)
        return browser

    def test_a_browser_is_greeted_and_logs_in_as_a_guest(self) -> None:
        browser = self.browser()
        self.assertEqual(browser.read(), [{"code": 220, "text": (
            "chatd ready. /nick NAME to chat as a guest, /signup NAME PASSWORD or /login NAME "
            "PASSWORD for an account, /help for all commands (log in within 30 seconds; /help "
            "gives you longer)")}])
        self.assertEqual(browser.send("/nick ann", request=1), [
            {"code": 201, "text": "welcome guest ann: you are a guest; /join a room to talk",
             "id": 1}])

    def test_a_command_is_answered_with_its_request_id(self) -> None:
        browser = self.browser()
        browser.read()
        browser.send("/nick ann")
        replies = browser.send("/frobnicate", request="x7")
        self.assertEqual(replies, [{"code": 400, "id": "x7",
                                    "text": "unknown command /frobnicate; /help lists them"}])

    def test_an_event_is_delivered_with_its_fields(self) -> None:
        ann, bea = self.browser(), self.browser()
        ann.send("/nick ann")
        bea.send("/nick bea")
        ann.send("/join lobby")
        bea.send("/join lobby")
        ann.read()
        bea.send("hello")
        [said] = ann.read()
        self.assertEqual((said["code"], said["text"]), (101, "[lobby] <bea> hello"))
        self.assertEqual((said["event"]["type"], said["event"]["sender"],
                          said["event"]["text"]), ("Said", "bea", "hello"))

    def test_messages_split_and_joined_across_reads_arrive_whole_in_order(self) -> None:
        ann, bea = self.browser(), self.browser()
        ann.send("/nick ann")
        bea.send("/nick bea")
        ann.send("/join lobby")
        bea.send("/join lobby")
        ann.read()

        def fail(*args: object, **kwargs: object) -> None:
            raise AssertionError("no observer event per message")

        self.patch(bea.connection.transport.protocol, "fire", fail)
        data = b"".join(frame(json.dumps({"line": f"m{i}"})) for i in range(3))
        wire = bea.connection.transport.protocol
        for start in range(0, len(data), 7):  # the frames cut anywhere, several per read
            wire.dataReceived(data[start:start + 7])
        self.assertEqual([said["text"] for said in ann.read()],
                         ["[lobby] <bea> m0", "[lobby] <bea> m1", "[lobby] <bea> m2"])
        # Two in one reactor turn reach a browser in one write, two frames in order.
        transport = ann.connection.transport
        writes: list[bytes] = []
        self.patch(transport, "write", writes.append)
        wire.dataReceived(frame('{"line": "x"}') + frame('{"line": "y"}'))
        self.world.clock.advance(0)
        self.assertEqual([[m["text"] for m in messages(w)] for w in writes],
                         [["[lobby] <bea> x", "[lobby] <bea> y"]])

    def test_an_operator_announces_from_the_page_and_every_browser_hears_it(self) -> None:
        from chatd.core.declarations import OperatorSettings

        self.world.server.operators.configure(OperatorSettings(blocks=(("boss",
                                                                        "fake$secret"),)))
        ann, bea = self.browser(), self.browser()
        ann.send("/nick ann")
        bea.send("/nick bea")
        self.assertEqual(ann.send("/announce hi", request=1)[0]["code"], 403)
        self.assertEqual(ann.send("/oper boss secret", request=2),
                         [{"code": 200, "id": 2, "text": "you are a server operator"}])
        ann.send("/announce back soon")
        [heard] = bea.read()
        self.assertEqual((heard["code"], heard["text"], heard["event"]["type"]),
                         (130, "ann: back soon", "Announcement"))

    def test_no_login_within_the_timeout_closes_with_why(self) -> None:
        browser = self.browser()
        browser.read()
        self.world.clock.advance(30)
        data = browser.connection.read()
        self.assertEqual(messages(data), [{"code": 109, "text": (
            "no login within 30 seconds; goodbye (connect again to start over)")}])
        self.assertEqual(data[-4:-2], b"\x88\x02", "then the close frame, and nothing after")
