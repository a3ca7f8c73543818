"""The bundled client's /send PATH and /get ID [DIR]: against the real daemon on loopback,
and its naming rules on their own."""

from __future__ import annotations

import hashlib
import os
import queue
import time
from pathlib import Path

from twisted.trial.unittest import TestCase

from chatd_client.commands import GetFile, Mistake, Send, SendFile, interpret
from chatd_client.transfers import create_new, local_name, progress_bar

from tests.test_client_loopback import WAIT, ClientTestCase, RunningClient

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
        bob.wait_for("you are in lobby (1 member)")
        alice = self.running("127.0.0.1", str(daemon.port))
        alice.type("/nick alice", "/join lobby")
        alice.wait_for("you are in lobby (2 members)")
        digest = hashlib.sha256(DATA).hexdigest()
        alice.type(f"/send {source / 'photo one.bin'}")
        file_id = wait_containing(alice, digest, 30).split()[0]

        bob.type(f"/get {file_id} {target}")
        wait_containing(bob, f"{file_id} {len(DATA)} {digest}", 30)
        self.assertEqual((target / "photo_one (1).bin").read_bytes(), DATA)
        self.assertEqual((target / "photo_one.bin").read_bytes(), b"already here")
        bob.type("/who")
        wait_containing(bob, "2 members in lobby")
        for client, words in ((alice, "shared photo one.bin as"), (bob, "saved to")):
            status, _, remarks = client.finish()
            self.assertEqual(status, 0, remarks)
            self.assertIn("100%", remarks)
            self.assertIn(words, remarks)
