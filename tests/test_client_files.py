"""The bundled client's /send PATH and /get ID [DIR]: against the real daemon on loopback,
what they show against an in-memory connection, and the naming rules on their own."""

from __future__ import annotations

import hashlib
import os
import queue
import time
from pathlib import Path

import pytest
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd_client.client import Client
from chatd_client.commands import GetFile, Mistake, Send, SendFile, interpret
from chatd_client.transcript import Transcript
from chatd_client.transfers import create_new, local_name, progress_bar

from tests.test_client_loopback import WAIT, ClientTestCase, RunningClient
from tests.test_client_session import OPTIONS, FakeEndpoint, RecordingDisplay

DATA = bytes(range(256)) * 64 + os.urandom(3 * 1024 * 1024)


def wait_containing(client: RunningClient, text: str, timeout: float = WAIT) -> str:
    """The first line (not seen before) that contains ``text``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = client.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no line with {text!r}; saw {client.seen}") from None
        if line is None:
            raise AssertionError(f"client exited before {text!r}; saw {client.seen}")
        client.seen.append(line)
        if text in line:
            return line


class NamingTests(TestCase):
    def test_a_download_never_overwrites_a_file(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir()
        (directory / "a.txt").write_bytes(b"mine")
        path, handle = create_new(directory, "a.txt")
        handle.close()
        self.assertEqual(path.name, "a (1).txt")
        self.assertEqual((directory / "a.txt").read_bytes(), b"mine")
        path, handle = create_new(directory, "a.txt")
        handle.close()
        self.assertEqual(path.name, "a (2).txt")

    def test_a_servers_name_can_not_leave_the_directory(self) -> None:
        self.assertEqual(local_name("../../etc/passwd"), "_.._etc_passwd")
        self.assertEqual(local_name("\x1b[2J"), "_[2J")
        self.assertEqual(local_name(".."), "download")

    def test_the_bar_fills_with_the_bytes(self) -> None:
        self.assertTrue(progress_bar(50, 100).startswith("[##########..........]  50%"))

    def test_send_with_one_argument_is_the_clients_and_with_three_the_servers(self) -> None:
        self.assertEqual(interpret("/send ~/a b.txt"), SendFile(Path("~/a b.txt").expanduser()))
        self.assertEqual(interpret("/send lobby a.txt 3"), Send("/send lobby a.txt 3"))
        self.assertEqual(interpret("/get abc"), GetFile("abc", Path(".")))
        self.assertIsInstance(interpret("/get"), Mistake)


@pytest.mark.daemon
class ClientFilesTests(ClientTestCase):
    def test_a_file_sent_by_one_client_is_fetched_by_another_byte_exact(self) -> None:
        daemon = self.start_daemon()
        source = self.path()
        source.mkdir()
        (source / "photo one.bin").write_bytes(DATA)
        target = self.path()
        target.mkdir()
        (target / "photo_one.bin").write_bytes(b"already here")

        bob = self.running("127.0.0.1", str(daemon.port))
        bob.type("/nick bob", "/join lobby")
        bob.wait_for("joined lobby: you are in lobby (1 member)")
        alice = self.running("127.0.0.1", str(daemon.port))
        alice.type("/nick alice", "/join lobby")
        alice.wait_for("joined lobby: you are in lobby (2 members)")
        digest = hashlib.sha256(DATA).hexdigest()
        alice.type(f"/send {source / 'photo one.bin'}")
        shared = wait_containing(alice, "alice shared photo_one.bin (3.0 MiB): /get ", 30)
        file_id = shared.rsplit(" ", 1)[1]

        # The server answers one command at a time: the /who's answer comes after the file.
        bob.type(f"/get {file_id} {target}", "/who")
        wait_containing(bob, "2 members in lobby", 30)
        self.assertEqual((target / "photo_one (1).bin").read_bytes(), DATA)
        self.assertEqual((target / "photo_one.bin").read_bytes(), b"already here")
        for client, words in ((alice, f"shared photo one.bin with lobby as {file_id} "
                                      "(3.0 MiB in "),
                              (bob, f"saved photo_one (1).bin to {target} (3.0 MiB in ")):
            status, seen, remarks = client.finish()
            self.assertEqual(status, 0, remarks)
            self.assertIn(words, remarks)
            # The transfer's protocol lines are the client's business, not the reader's.
            for raw in ("350 ", "send 3", "351 ", digest):
                self.assertNotIn(raw, "\n".join(seen) + remarks)
            self.assertNotIn("damaged", remarks)


class TransferDisplayTests(TestCase):
    """What a transfer shows, against an in-memory connection and a clock the test moves."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = FakeEndpoint()
        self.display = RecordingDisplay()
        self.client = Client(self.clock, OPTIONS, self.endpoint,  # type: ignore[arg-type]
                             self.display, Transcript(clock=self.clock.seconds),
                             stay_on_loss=True)
        self.client.connect()
        self.protocol, self.transport = self.endpoint.accept()
        self.receive("220 chatd ready", "201 welcome guest al: you are a guest",
                     "200 joined lobby: you are in lobby (1 member)")
        self.display.shown.clear()
        self.transport.clear()
        self.directory = Path(self.mktemp())
        self.directory.mkdir()

    def receive(self, *lines: str) -> None:
        self.protocol.dataReceived("".join(f"{line}\r\n" for line in lines).encode())

    def test_an_upload_is_one_bar_redrawn_then_one_line(self) -> None:
        path = self.directory / "a.bin"
        path.write_bytes(DATA[:100 * 1024])
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.client.handle_input(f"/send {path}")
        self.assertEqual(self.transport.value(),
                         f"/send lobby a.bin 102400 {digest}\r\n".encode())
        self.receive("350 send 102400 bytes")
        # FileSender writes a chunk each time the transport asks; a second passes per chunk.
        for _ in range(100):
            if self.transport.producer is None:
                break
            self.clock.advance(1)
            self.transport.producer.resumeProducing()
        self.assertIsNone(self.transport.producer)
        self.receive("111 [lobby] al shared 01JF8Z3K 102400 a.bin",
                     f"250 01JF8Z3K 102400 {digest} a.bin")
        # On screen: the room's notice, then the client's one line; no 350, no 250.
        self.assertEqual(self.display.shown, [
            "-- [lobby] al shared a.bin (100.0 KiB): /get 01JF8Z3K",
            "* shared a.bin with lobby as 01JF8Z3K (100.0 KiB in 8.0 s, 12.5 KiB/s)",
        ])
        bars = self.display.bars
        self.assertEqual(bars[0], "offering a.bin (100.0 KiB) to lobby")
        self.assertEqual(bars[-1], None)
        # FileSender's 16 KiB chunks: 16 % after the first second's.
        self.assertEqual(bars[1], "sending a.bin [###.................]  16% 16.0 KiB of "
                                  "100.0 KiB, 16.0 KiB/s, 5.2 s left")
        self.assertTrue(bars[-2].startswith("sending a.bin [####################] 100%"))

    def test_a_refusal_comes_before_what_it_means(self) -> None:
        path = self.directory / "a.bin"
        path.write_bytes(b"hello")
        self.client.handle_input(f"/send {path}")
        self.receive("417 a.bin is over the 4-byte limit")
        self.assertEqual(self.display.shown, [
            "error: a.bin is over the 4-byte limit",
            "* the transfer did not happen (see the reply above)",
        ])
        self.assertEqual(self.display.bars, ["offering a.bin (5 bytes) to lobby", None])
        self.assertIsNone(self.client.transfer)

    def test_a_download_is_checked_and_told_in_one_line(self) -> None:
        digest = hashlib.sha256(b"hello").hexdigest()
        self.client.handle_input(f"/get 01JF8Z3K {self.directory}")
        self.assertEqual(self.transport.value(), b"/get 01JF8Z3K\r\n")
        self.protocol.dataReceived(b"351 5 a.txt\r\nhel")
        self.clock.advance(2)
        self.protocol.dataReceived(f"lo251 01JF8Z3K 5 {digest}\r\n".encode())
        self.assertEqual((self.directory / "a.txt").read_bytes(), b"hello")
        self.assertEqual(self.display.shown,
                         [f"* saved a.txt to {self.directory} (5 bytes in 2.0 s, 2 bytes/s)"])
        self.assertEqual(self.display.bars[-1], None)
        self.assertEqual(self.display.lines[-1][0], "200 joined lobby: you are in lobby (1 member)")

    def test_a_download_that_does_not_match_its_sha256_is_called_damaged(self) -> None:
        self.client.handle_input(f"/get 01JF8Z3K {self.directory}")
        self.protocol.dataReceived(f"351 5 a.txt\r\nhello251 01JF8Z3K 5 {'0' * 64}\r\n".encode())
        self.assertIn("the file is damaged", self.display.notes[-1])

    def test_help_shows_the_clients_form_of_the_commands_it_does_for_you(self) -> None:
        width = len("/send ROOM NAME SIZE [SHA256]")
        self.receive(f"214-{'/send ROOM NAME SIZE [SHA256]':<{width}}  share a file: after the "
                     "350 reply, send exactly SIZE raw bytes",
                     f"214-{'/get ID':<{width}}  fetch a shared file: a 351 reply, then its "
                     "raw bytes",
                     f"214-{'/who [ROOM]':<{width}}  who is in ROOM",
                     "214 end of help")
        shown = self.display.shown
        # Same column for the summaries as the server's lines.
        self.assertEqual(shown[:3], [
            f"{'/send PATH':<{width}}  share the file at PATH with your current room (the "
            "client sends it, with a progress bar)",
            f"{'/get ID [DIR]':<{width}}  fetch a shared file into DIR (default: here); "
            "never overwrites",
            f"{'/who [ROOM]':<{width}}  who is in ROOM",
        ])
        # --raw still shows what the server sent.
        self.assertTrue(self.display.lines[-4][0].startswith("214-/send ROOM NAME SIZE"))
        self.assertNotIn("/send PATH", "\n".join(shown[4:]))
        self.assertIn("* client commands (not sent to the server):", shown)

    def test_a_line_typed_while_a_file_goes_is_not_sent_into_it(self) -> None:
        path = self.directory / "a.bin"
        path.write_bytes(b"hello")
        self.client.handle_input(f"/send {path}")
        self.receive("350 send 5 bytes")
        self.transport.clear()
        self.client.handle_input("hi all")
        self.assertEqual(self.transport.value(), b"")
        self.assertIn("not sent: a file is on its way", self.display.notes[-1])
        self.receive(f"250 01JF8Z3K 5 {hashlib.sha256(b'hello').hexdigest()} a.bin")
        self.client.handle_input("hi all")
        self.assertEqual(self.transport.value(), b"hi all\r\n")
