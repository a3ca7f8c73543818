"""Sharing files with the real daemon over loopback: byte-exact round trips larger than the
socket buffers, two downloads at once, an upload cut off, a SIGKILL after the acknowledgement,
and a reader that stops mid-download."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.harness import Daemon, LineClient, account, guest

pytestmark = pytest.mark.daemon

# Every byte value, then enough random bytes to be far larger than any socket buffer.
BIG = bytes(range(256)) * 16 + os.urandom(6 * 1024 * 1024)


def read_exactly(client: LineClient, size: int, timeout: float = 30.0) -> bytes:
    """``size`` raw bytes from the client's socket (after what it has buffered)."""
    deadline = time.monotonic() + timeout
    data = bytearray(client._buffer[:size])
    client._buffer = client._buffer[size:]
    while len(data) < size:
        client.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = client.sock.recv(min(1 << 20, size - len(data)))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def send_file(client: LineClient, room: str, name: str, data: bytes) -> str:
    reply = client.command(f"/send {room} {name} {len(data)}")
    assert reply.code == 350, reply
    client.send_raw(data)
    reply = client.read_reply(timeout=60)
    assert reply.code == 250, reply
    file_id, size, digest = reply.text.split()[:3]
    assert int(size) == len(data) and digest == hashlib.sha256(data).hexdigest()
    return file_id


def get_file(client: LineClient, file_id: str) -> bytes:
    reply = client.command(f"/get {file_id}")
    assert reply.code == 351, reply
    data = read_exactly(client, int(reply.text.split()[0]))
    final = client.read_reply()
    assert final.code == 251, final
    return data


class FilesDaemonTests(SynchronousTestCase):
    def daemon(self, *extra: str, data: Path | None = None) -> Daemon:
        daemon = Daemon(data or Path(self.mktemp()).absolute(), extra).start()
        self.addCleanup(daemon.cleanup)
        self.addCleanup(lambda: self.assertEqual(daemon.problems(), []))
        return daemon

    def member(self, daemon: Daemon, name: str) -> LineClient:
        client = guest(daemon, name)
        self.addCleanup(client.close)
        client.ok("/join lobby")
        return client

    def test_a_file_larger_than_the_socket_buffers_round_trips_byte_exact(self) -> None:
        daemon = self.daemon()
        alice, bob = self.member(daemon, "alice"), self.member(daemon, "bob")
        file_id = send_file(alice, "lobby", "big.bin", BIG)
        self.assertEqual(get_file(bob, file_id), BIG)
        self.assertEqual(bob.command("/who").code, 211)  # line framing resumed exactly

    def test_two_downloads_at_once(self) -> None:
        daemon = self.daemon()
        alice, bob, carol = (self.member(daemon, name) for name in ("alice", "bob", "carol"))
        file_id = send_file(alice, "lobby", "big.bin", BIG)
        bob.send(f"/get {file_id}")
        carol.send(f"/get {file_id}")
        heads = [client.read_reply() for client in (bob, carol)]
        self.assertEqual([head.code for head in heads], [351, 351])
        # Read both a little at a time, alternating, so both streams are open together.
        got = [bytearray(), bytearray()]
        deadline = time.monotonic() + 60
        while any(len(part) < len(BIG) for part in got) and time.monotonic() < deadline:
            for index, client in enumerate((bob, carol)):
                if len(got[index]) < len(BIG):
                    got[index] += read_exactly(client, min(256 * 1024, len(BIG) - len(got[index])))
        self.assertEqual([bytes(part) == BIG for part in got], [True, True])

    def test_an_upload_cut_off_leaves_no_partial_file(self) -> None:
        daemon = self.daemon()
        alice = self.member(daemon, "alice")
        self.assertEqual(alice.command("/send lobby cut.bin 5000000").code, 350)
        alice.send_raw(b"x" * 1_000_000)
        files = daemon.data / "files"
        deadline = time.monotonic() + 10
        while not list(files.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        alice.close()
        while list(files.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(list(files.iterdir()), [])

    def test_a_stalled_upload_is_cut_and_its_quota_given_back(self) -> None:
        # 1,000 bytes at 1,000 bytes/s after 0.5 s: 1.5 s, in a store that holds only them.
        daemon = self.daemon("--upload-min-rate", "1000", "--upload-grace", "0.5",
                             "--file-store-size", "1000")
        alice, bob = self.member(daemon, "alice"), self.member(daemon, "bob")
        self.assertEqual(alice.command("/send lobby slow.bin 1000").code, 350)
        alice.send_raw(b"x" * 10)
        self.assertEqual(bob.command("/send lobby b.bin 1000").code, 418)
        cut = alice.read_reply(timeout=10)
        self.assertEqual((cut.code, cut.text.split(":")[0]), (408, "the upload was too slow"))
        alice.wait_closed(timeout=10)
        self.assertEqual(list((daemon.data / "files").iterdir()), [])
        send_file(bob, "lobby", "b.bin", b"b" * 1000)

    def test_an_acknowledged_file_survives_sigkill(self) -> None:
        data = Path(self.mktemp()).absolute()
        daemon = self.daemon(data=data)
        # A persistent room: a temporary one, and its files, would end with the daemon.
        alice = account(daemon, "signup", "alice", "password-alice")
        self.addCleanup(alice.close)
        alice.ok("/create lobby")
        file_id = send_file(alice, "lobby", "kept.bin", BIG[:1_000_000])
        daemon.kill()
        daemon.start()
        bob = self.member(daemon, "bob")
        self.assertEqual(get_file(bob, file_id), BIG[:1_000_000])

    def test_a_reader_that_stops_mid_download_is_dropped_within_max_output(self) -> None:
        daemon = self.daemon("--max-output", "65536")
        alice, bob = self.member(daemon, "alice"), self.member(daemon, "bob")
        file_id = send_file(alice, "lobby", "big.bin", BIG)
        bob.send(f"/get {file_id}")  # and never read
        text = "x" * 900
        dropped = False
        deadline = time.monotonic() + 30
        for number in range(2000):
            if dropped or time.monotonic() > deadline:
                break
            alice.send(f"{text} {number}")
            while True:  # alice reads her echo, so only bob stops reading
                line = alice.read_line()
                if "bob was dropped: not reading" in line.text:
                    dropped = True
                    break
                if line.text.endswith(f"{text} {number}"):
                    break
        self.assertTrue(dropped, "bob was never dropped")
        # Dropped within max-output: the messages queued for him were well under the file.
        self.assertLess(number * 900, len(BIG))
