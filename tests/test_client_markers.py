"""The bundled client and read markers: it renders 110, 111, 121 and 122 as words, tells the
server what it showed (/read), and with --auto-get saves every file shared."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd_client.client import READ_DELAY, Client
from chatd_client.options import parse_args
from chatd_client.render import LocalTime, plain, render_text
from chatd_client.transcript import Transcript

from tests.test_client_session import OPTIONS, FakeEndpoint, RecordingDisplay

ID = "01HF7YATZ8E0C15CN86CR0FEVE"


class RenderTests(TestCase):
    def show(self, raw: str) -> str:
        return plain(render_text(raw, "al", LocalTime()))

    def test_markers_and_the_rest_of_the_unread_read_as_words(self) -> None:
        self.assertEqual(self.show(f"121 [lobby] read up to {ID}"),
                         "--- [lobby] read on another device")
        self.assertEqual(self.show(f"121 *bob* read up to {ID}"),
                         "--- *bob* read on another device")
        self.assertEqual(self.show(f"122 [lobby] 3 more unread; /history lobby after {ID} 3"),
                         f"-- [lobby] 3 more unread messages: /history lobby after {ID} 3")

    def test_history_never_shows_the_code_the_stamp_or_the_id(self) -> None:
        for raw in (f"110 2023-11-14T22:13:20.000Z {ID} [lobby] <ann> hi",
                    f"110 2023-11-14T22:13:20.000Z {ID} [lobby] -ann- a notice",
                    f"110 2023-11-14T22:13:20.000Z {ID} *ann* -> al psst"):
            shown = self.show(raw)
            for raw_part in ("110", "2023-11-14T", ID):
                self.assertNotIn(raw_part, shown)
        self.assertEqual(self.show("111 [lobby] ann shared 01JF8Z3K 5 a b.txt"),
                         "-- [lobby] ann shared a b.txt (5 bytes): /get 01JF8Z3K")

    def test_auto_get_is_off_unless_asked(self) -> None:
        self.assertIsNone(parse_args(["host"]).auto_get)
        self.assertEqual(parse_args(["host", "--auto-get", "/tmp/x"]).auto_get, Path("/tmp/x"))


class ClientTests(TestCase):
    def start(self, auto_get: Path | None = None) -> None:
        self.clock = Clock()
        self.endpoint = FakeEndpoint()
        self.display = RecordingDisplay()
        options = dataclasses.replace(OPTIONS, auto_get=auto_get)
        self.client = Client(self.clock, options, self.endpoint,  # type: ignore[arg-type]
                             self.display, Transcript(clock=self.clock.seconds),
                             stay_on_loss=True)
        self.client.connect()
        self.protocol, self.transport = self.endpoint.accept()
        self.receive("220 chatd ready", "201 welcome account al: welcome back",
                     "200 joined lobby: you are in lobby (1 member)")
        self.display.shown.clear()
        self.transport.clear()

    def receive(self, *lines: str) -> None:
        self.protocol.dataReceived("".join(f"{line}\r\n" for line in lines).encode())

    def test_what_is_shown_is_read_once_a_burst_is_over(self) -> None:
        self.start()
        self.receive("101 [lobby] <ann> one", f"110 2023-11-14T22:13:20.000Z {ID} "
                     "[lobby] <ann> two", "101 [other] <ann> not a room of mine")
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(READ_DELAY)
        self.assertEqual(self.transport.value(), b"/read lobby\r\n")
        # The answer to the client's own /read is not shown; the person's own is.
        self.receive(f"200 read lobby up to {ID}", f"200 read lobby up to {ID}")
        shown = self.display.shown
        self.assertEqual(len(shown), 4)
        self.assertTrue(shown[1].startswith("(history ") and shown[1].endswith("<ann> two"))
        self.assertEqual([shown[0], *shown[2:]], [
            "[lobby] <ann> one", "[other] <ann> not a room of mine", f"read lobby up to {ID}"])

    def test_auto_get_saves_each_file_shared_one_after_another(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir()
        self.start(directory)
        self.receive("111 [lobby] ann shared F1 5 a.txt", "111 [lobby] ann shared F2 5 b.txt",
                     "111 [lobby] al shared F3 5 mine.txt")
        self.assertEqual(self.transport.value(), b"/get F1\r\n")
        self.transport.clear()
        digest = hashlib.sha256(b"hello").hexdigest()
        self.protocol.dataReceived(f"351 5 a.txt\r\nhello251 F1 5 {digest}\r\n".encode())
        self.clock.advance(0)
        self.assertEqual(self.transport.value(), b"/get F2\r\n")
        self.protocol.dataReceived(f"351 5 a.txt\r\nhello251 F2 5 {digest}\r\n".encode())
        self.clock.advance(0)
        # The same safe names as /get: never overwriting; not one's own file.
        self.assertEqual((directory / "a.txt").read_bytes(), b"hello")
        self.assertEqual((directory / "a (1).txt").read_bytes(), b"hello")
        self.assertFalse((directory / "mine.txt").exists())
        self.assertIn(f"* saved a (1).txt to {directory} (5 bytes", "\n".join(
            self.display.shown))
