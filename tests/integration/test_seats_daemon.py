"""Seats on the real daemon: a line user's socket is cut, and a browser (the web frontend's
WebSocket) logging in to the account within the grace is in the rooms and gets exactly the
messages missed; an IRC client resuming gets the JOIN and the backlog in a chathistory batch
with server-time; WeeChat (external) does the same as a real client."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from twisted.internet.defer import inlineCallbacks
from twisted.trial import unittest

from tests.integration.harness import Daemon, account, daemon_env, guest
from tests.integration.test_irc_daemon import WEECHAT, irc_port
from tests.integration.test_web_browser import web_port
from tests.integration.websocket_client import WebSocketClient

PASSWORD = "correct-horse"
SEATS = ("--seat-grace", "120")


class SeatsDaemonTestCase(unittest.TestCase):
    extra: tuple[str, ...] = ()

    def setUp(self) -> None:
        data = tempfile.TemporaryDirectory(prefix="chatd-it-seats-")
        self.addCleanup(data.cleanup)
        self.daemon = Daemon(Path(data.name), [*SEATS, *self.extra]).start()
        self.addCleanup(self.daemon.cleanup)

    def cut_after_missing(self) -> list[str]:
        """alice (a line account in lobby) loses her socket; bob says three things while she
        is away; the texts she missed."""
        alice = account(self.daemon, "signup", "alice", PASSWORD)
        alice.ok("/join lobby")
        bob = guest(self.daemon, "bob")
        self.addCleanup(bob.close)
        bob.ok("/join lobby")
        bob.send("before the cut")
        alice.wait_event("101 [lobby] <bob> before the cut")
        alice.sock.shutdown(socket.SHUT_RDWR)  # the socket is cut, no /quit
        alice.close()
        bob.wait_event("124 [lobby] alice is inactive (lost connection)")
        missed = ["one", "two", "three"]
        for text in missed:
            bob.send(text)
            bob.wait_event(f"101 [lobby] <bob> {text}")
        self.bob = bob
        return missed


@pytest.mark.daemon
class WebResume(SeatsDaemonTestCase):
    extra = ("--web", "tcp:0:interface=127.0.0.1")

    @inlineCallbacks
    def test_a_browser_resumes_a_cut_line_session_with_exactly_what_was_missed(self):  # type: ignore[no-untyped-def]
        missed = self.cut_after_missing()
        port = web_port(self.daemon)
        web = yield WebSocketClient.connect(port, origin=f"http://127.0.0.1:{port}")
        self.addCleanup(web.close)
        self.assertEqual((yield web.read())["code"], 220)
        web.send(f"/login alice {PASSWORD}")
        seen = []
        while True:
            message = yield web.read()
            seen.append(message)
            if message["code"] == 201:
                break
        codes = [message["code"] for message in seen]
        self.assertEqual(codes, [108, 110, 110, 110, 201], seen)
        self.assertIn("[lobby] current: you are in lobby", seen[0]["text"])
        self.assertEqual([message["event"]["text"] for message in seen[1:4]], missed)
        self.bob.wait_event("125 [lobby] alice is back")
        self.bob.send("live again")
        said = yield web.wait_event(lambda m: m["code"] == 101)
        self.assertEqual(said["text"], "[lobby] <bob> live again")


def _tags(line: str) -> tuple[dict[str, str], str]:
    if not line.startswith("@"):
        return {}, line
    head, _, rest = line.partition(" ")
    return dict(item.partition("=")[::2] for item in head[1:].split(";")), rest


@pytest.mark.daemon
class IrcResume(SeatsDaemonTestCase):
    extra = ("--irc", "tcp:0:interface=127.0.0.1")

    def read_until(self, sock: socket.socket, done: str) -> list[str]:
        buffer, lines = b"", []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
            while b"\r\n" in buffer:
                raw, _, buffer = buffer.partition(b"\r\n")
                lines.append(raw.decode())
                if re.search(done, lines[-1]):
                    return lines
        raise AssertionError(f"no {done!r}; saw {lines}")

    def test_an_irc_client_resumes_with_the_backlog_in_a_batch(self) -> None:
        missed = self.cut_after_missing()
        sock = socket.create_connection(("127.0.0.1", irc_port(self.daemon)), timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(("CAP LS 302\r\nCAP REQ :batch server-time\r\n"
                      f"PASS {PASSWORD}\r\nNICK alice\r\nUSER alice 0 * :Alice\r\n"
                      "CAP END\r\n").encode())
        lines = self.read_until(sock, r"^:\S+ BATCH -")
        bodies = [_tags(line)[1] for line in lines]
        join = next(i for i, body in enumerate(bodies) if body.startswith(":alice!"))
        self.assertEqual(bodies[join].split()[1:], ["JOIN", "#lobby"])
        opened = next(i for i, body in enumerate(bodies) if " BATCH +" in body)
        self.assertGreater(opened, join)
        self.assertTrue(bodies[opened].endswith("chathistory #lobby"), bodies[opened])
        batch = [_tags(line) for line in lines[opened + 1:-1]]
        self.assertEqual([body.rpartition(" :")[2] for _, body in batch], missed)
        self.assertTrue(all("time" in tags and "batch" in tags for tags, _ in batch), batch)
        self.bob.wait_event("125 [lobby] alice is back")


@pytest.mark.daemon
class AdminEndsSeat(SeatsDaemonTestCase):
    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from chatd.members.admin import main; main()",
             "--data", str(self.daemon.data), *args],
            capture_output=True, text=True, timeout=20, env=daemon_env())

    def test_chatd_admin_lists_and_ends_a_held_seat_through_the_control_socket(self) -> None:
        self.cut_after_missing()
        self.assertEqual(oct((self.daemon.data / "control.sock").stat().st_mode & 0o777),
                         "0o600")
        listed = self.admin("seats")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertRegex(listed.stdout, r"^alice +lost connection +since .* ends ")
        ended = self.admin("end-seat", "alice", "--reason", "tidying up")
        self.assertEqual((ended.returncode, ended.stdout),
                         (0, "ended 1 held seat of alice\n"), ended.stderr)
        self.bob.wait_event("104 [lobby] alice quit: tidying up")
        again = self.admin("end-seat", "alice")
        self.assertEqual((again.returncode, again.stderr),
                         (1, "chatd-admin: alice holds no seat here\n"))
        self.assertEqual(self.admin("seats").stdout, "no seats are held\n")


@pytest.mark.external
class WeeChatResume(SeatsDaemonTestCase):
    extra = ("--irc", "tcp:0:interface=127.0.0.1")

    def test_weechat_resumes_a_seat_and_shows_the_backlog_once(self) -> None:
        if WEECHAT is None:
            if os.environ.get("CI"):
                self.fail("weechat-headless is needed: apt-get install weechat-headless")
            raise unittest.SkipTest("apt-get install weechat-headless to run this test")
        missed = self.cut_after_missing()
        home = Path(tempfile.mkdtemp(prefix="chatd-it-weechat-seat-"))
        self.addCleanup(shutil.rmtree, home)
        server = "irc.server.chatd"
        after = r"/wait 3 /quit bye from weechat"
        commands = ";".join([
            f"/server add chatd 127.0.0.1/{irc_port(self.daemon)} -notls",
            f"/set {server}.nicks alice",
            f"/set {server}.sasl_mechanism plain",
            f"/set {server}.sasl_username alice",
            f"/set {server}.sasl_password {PASSWORD}",
            f'/set {server}.command "{after}"',
            "/connect chatd",
        ])
        weechat = subprocess.Popen(
            [str(WEECHAT), "--stdout", "-d", str(home), "-r", commands],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            self.bob.wait_event("125 [lobby] alice is back", timeout=10)
            self.bob.wait_event("104 [lobby] alice quit: bye from weechat", timeout=10)
            self.assertEqual(weechat.wait(10), 0)
        finally:
            if weechat.poll() is None:
                weechat.kill()
                weechat.wait(5)
        channel_log = (home / "logs" / "irc.chatd.#lobby.weechatlog").read_text()
        for text in missed:
            self.assertEqual(channel_log.count(f"bob\t{text}"), 1, channel_log)
        self.assertNotIn("before the cut", channel_log)
