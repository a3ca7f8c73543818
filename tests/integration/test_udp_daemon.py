"""The real daemon with its UDP message channel (``--udp``), line and IRC members, over
loopback: tokens, the cookie round trip, the ends of a token, the idle drop, and a flood of
garbage that must not slow anyone's chat."""

from __future__ import annotations

import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import pytest

from tests.integration.harness import Daemon, LineClient, daemon_env, guest
from tests.integration.test_irc_daemon import IrcSocket, irc_port
from tests.integration.udp import UdpClient, decode, encode, free_udp_port

pytestmark = pytest.mark.daemon

# The flooder, run as its own process so that it does not share the test's interpreter.
FLOOD = """
import os, socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2].encode()
def frame(room, field, text):
    return bytes([len(room), len(field)]) + room + field + text
garbage = [b"", b"\\x01", b"\\xff\\xff" + os.urandom(40), b"\\x05\\x18" + os.urandom(100),
           frame(b"lobby", b"x" * 24, b"hi"), frame(b"lobby", token, b"\\xff\\xfe"),
           frame(b"lobby", token, b"a\\x07b"), frame(b"\\x00", token, b""),
           frame(b"lobby", token, b"y" * 2000)]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for batch in range(200):
    for index in range(50):
        sock.sendto(garbage[(batch + index) % len(garbage)], ("127.0.0.1", port))
    time.sleep(0.01)
"""


class UdpDaemonTests(unittest.TestCase):
    def start(self, *extra: str) -> Daemon:
        data = tempfile.TemporaryDirectory(prefix="chatd-it-udp-")
        self.addCleanup(data.cleanup)
        self.udp_port = free_udp_port()
        daemon = Daemon(Path(data.name) / "data",
                        ["--udp", f"udp:{self.udp_port}:interface=127.0.0.1", *extra])
        self.addCleanup(daemon.cleanup)
        self.addCleanup(daemon.stop)
        daemon.start()
        self.addCleanup(lambda: self.assertEqual(daemon.problems(), []))
        return daemon

    def member(self, daemon: Daemon, name: str, room: str = "lobby"
               ) -> tuple[LineClient, str]:
        """A line guest in ``room`` and the token it fetched for it."""
        line = guest(daemon, name)
        self.addCleanup(line.close)
        line.ok(f"/join {room}")
        answer = line.ok(f"/token {room}", 230)
        got_room, token, port, lifetime = answer.text.split(" ")
        self.assertEqual((got_room, int(port)), (room, self.udp_port))
        self.assertGreater(float(lifetime), 0)
        return line, token

    def udp(self) -> UdpClient:
        client = UdpClient(self.udp_port)
        self.addCleanup(client.close)
        return client

    def test_udp_line_and_irc_members_chat_both_ways(self) -> None:
        daemon = self.start("--irc", "tcp:0:interface=127.0.0.1")
        _, token = self.member(daemon, "uma")
        other = guest(daemon, "lena")
        self.addCleanup(other.close)
        other.ok("/join lobby")
        irc = IrcSocket(irc_port(daemon))
        self.addCleanup(irc.close)
        irc.send("NICK ivan", "USER ivan 0 * :Ivan", "JOIN #lobby")
        irc.until("366")
        udp = self.udp()
        udp.validate("lobby", token)

        udp.send("lobby", token, "hello from UDP")
        other.wait_event("101 [lobby] <uma> hello from UDP")
        self.assertEqual(irc.until("PRIVMSG")[-1],
                         ("uma!uma@chatd", "PRIVMSG", ["#lobby", "hello from UDP"]))
        udp.wait("lobby", "uma", "hello from UDP")  # its own, in order with the rest
        other.send("hello from the line")
        udp.wait("lobby", "lena", "hello from the line")
        irc.send("PRIVMSG #lobby :hello from IRC")
        udp.wait("lobby", "ivan", "hello from IRC")
        udp.send("lobby", token, "/me waves")
        other.wait_event("107 [lobby] * uma waves")

        # IRC's equivalent of /token, answered with a NOTICE; it works on the channel too.
        irc.send("TOKEN #lobby")
        notice = irc.until("NOTICE")[-1]
        word, channel, irc_token, port, _ = notice[2][1].split(" ")
        self.assertEqual((word, channel, int(port)), ("TOKEN", "#lobby", self.udp_port))
        ivan = self.udp()
        ivan.validate("lobby", irc_token)
        ivan.send("lobby", irc_token, "ivan over UDP")
        other.wait_event("101 [lobby] <ivan> ivan over UDP")

    def test_an_unvalidated_address_gets_nothing_larger_than_it_sent(self) -> None:
        daemon = self.start()
        line, token = self.member(daemon, "uma")
        stranger = self.udp()
        # A valid token from an address not yet validated: a challenge, never larger; its
        # message is not said, and the room's traffic does not come.
        for datagram in (encode("lobby", token), encode("lobby", token, "hi"),
                         encode("lobby", token, "x" * 500)):
            stranger.send_raw(datagram)
            challenge = stranger.recv()
            assert challenge is not None
            self.assertLessEqual(len(challenge), len(datagram))
        line.send("traffic that must not go to an unvalidated address")
        line.wait_event(lambda event: "must not go" in event.text)
        # Garbage and unknown tokens get nothing at all.
        for datagram in (b"", b"\x05", b"\xff\xff" + b"a" * 10, encode("lobby", "nope"),
                         encode("lobby", secrets.token_urlsafe(18), "hi")):
            stranger.send_raw(datagram)
        self.assertEqual(stranger.quiet(0.5), [])
        self.assertFalse(line.seen("101 [lobby] <uma> hi"))
        for data, size in zip(stranger.received, stranger.sent, strict=False):
            self.assertLessEqual(len(data), size)
        # A cookie made for another address does not validate this one.
        challenge = stranger.received[0]
        cookie = decode(challenge)[2].encode()
        thief = self.udp()
        thief.send("lobby", token, cookie)
        self.assertEqual(thief.quiet(0.5), [])

    def test_a_forged_or_altered_token_is_refused(self) -> None:
        daemon = self.start()
        line, token = self.member(daemon, "uma")
        udp = self.udp()
        altered = ("A" if token[0] != "A" else "B") + token[1:]
        for forged in (secrets.token_urlsafe(18), altered, token[:-1]):
            udp.send("lobby", forged, "forged")
        udp.send("other", token, "the right token for another room")
        self.assertEqual(udp.quiet(0.5), [])
        line.sync()
        self.assertFalse(any("forged" in event.text or "another room" in event.text
                             for event in line.events))
        deadline = time.monotonic() + 5
        while "invalid UDP datagrams" not in daemon.run_log() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("BadToken", daemon.run_log())

    def test_expiry_leave_and_logout_end_udp_access(self) -> None:
        daemon = self.start("--token-lifetime", "2")
        line, token = self.member(daemon, "uma")
        udp = self.udp()
        udp.validate("lobby", token)
        udp.wait("lobby", "", "the token expired", timeout=5)
        # Replayed after expiry: refused, not even challenged.
        udp.send("lobby", token, "replayed")
        self.assertEqual(udp.quiet(0.5), [])
        line.sync()
        self.assertFalse(any("replayed" in event.text for event in line.events))

        _, token = line.ok("/token lobby", 230).text.split(" ")[:2]
        udp.validate("lobby", token)
        line.ok("/leave lobby")
        udp.wait("lobby", "", "you are no longer in lobby (left)")
        udp.send("lobby", token, "after leaving")
        self.assertEqual(udp.quiet(0.5), [])

        line.ok("/join lobby")
        _, token = line.ok("/token lobby", 230).text.split(" ")[:2]
        udp.validate("lobby", token)
        watcher = guest(daemon, "wanda")
        self.addCleanup(watcher.close)
        watcher.ok("/join lobby")
        line.ok("/quit", 221)
        udp.wait("lobby", "", "you logged out")
        udp.send("lobby", token, "after logout")
        self.assertEqual(udp.quiet(0.5), [])
        watcher.sync()
        self.assertFalse(any("after" in event.text for event in watcher.events))

    def test_a_silent_udp_member_is_dropped_and_the_room_told(self) -> None:
        daemon = self.start("--udp-idle-timeout", "2")
        _, token = self.member(daemon, "uma")
        other = guest(daemon, "lena")
        self.addCleanup(other.close)
        other.ok("/join lobby")
        udp = self.udp()
        udp.validate("lobby", token)
        # Keep-alives hold it past the timeout. One every 0.1 s against a 2 s timeout: only a
        # 2 s stall between two of them would drop it, where one every 0.5 s against 1 s raced
        # a loaded machine. (tests/test_udp.py steps the same through a task.Clock.)
        for _ in range(25):
            time.sleep(0.1)
            udp.send("lobby", token)
        other.sync()
        self.assertFalse(other.seen("104 [lobby] uma timed out: UDP silent for 2 s"))
        other.wait_event("104 [lobby] uma timed out: UDP silent for 2 s", timeout=15)
        udp.wait("lobby", "", "you are no longer in lobby (timed out)")
        other.ok("/join lobby")  # the room still works for the others
        self.assertNotIn("uma", other.command("/who lobby").lines[0].split(" "))

    def test_ten_thousand_malformed_datagrams_leave_chat_latency_unchanged(self) -> None:
        daemon = self.start()
        _, token = self.member(daemon, "uma")
        other = guest(daemon, "lena")
        self.addCleanup(other.close)
        other.ok("/join lobby")
        udp = self.udp()
        udp.validate("lobby", token)

        def round_trip() -> float:
            started = time.perf_counter()
            other.sync()
            return time.perf_counter() - started

        before = [round_trip() for _ in range(50)]
        # Another process floods: 10,000 datagrams, 50 every 10 ms (about 5,000 a second):
        # short ones, wrong lengths, bad UTF-8, control characters, and well-formed ones
        # with unknown tokens (looked up, refused).
        flooder = subprocess.Popen([sys.executable, "-c", FLOOD, str(self.udp_port), token])
        self.addCleanup(flooder.kill)
        during = []
        deadline = time.monotonic() + 60
        while flooder.poll() is None and time.monotonic() < deadline:
            during.append(round_trip())
            time.sleep(0.005)
        self.assertEqual(flooder.wait(10), 0)
        self.assertGreater(len(during), 20)
        median_before, median_during = statistics.median(before), statistics.median(during)
        self.assertLess(median_during, median_before * 2 + 0.002,
                        f"median round trip {median_before * 1000:.2f} ms before, "
                        f"{median_during * 1000:.2f} ms during ({len(during)} during)")
        # Still serving UDP: a message goes both ways.
        udp.send("lobby", token, "still here")
        other.wait_event("101 [lobby] <uma> still here")
        udp.wait("lobby", "uma", "still here")
        # Counted, but the log is not flooded (one line per 10 seconds at most).
        self.assertLessEqual(daemon.run_log().count("invalid UDP datagrams"), 3)

    def test_the_bundled_client_chats_over_udp(self) -> None:
        daemon = self.start()
        other = guest(daemon, "lena")
        self.addCleanup(other.close)
        other.ok("/join lobby")
        client = subprocess.Popen(
            [sys.executable, "-m", "chatd_client", "--udp", "--raw", "--wait", "1",
             "127.0.0.1", str(daemon.port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=daemon_env())
        self.addCleanup(client.kill)
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(b"/nick uma\n/join lobby\n")
        client.stdin.flush()
        deadline = time.monotonic() + 10
        while "uma speaks in lobby over UDP" not in daemon.run_log():
            self.assertLess(time.monotonic(), deadline, daemon.run_log())
            time.sleep(0.05)
        client.stdin.write(b"hello over udp\n")
        client.stdin.flush()
        other.wait_event("101 [lobby] <uma> hello over udp")
        other.send("hi back")
        client.stdin.close()
        self.assertEqual(client.wait(15), 0)
        lines = client.stdout.read().decode().splitlines()
        self.assertIn("100 [lobby] you are in lobby over UDP", lines)
        # Each message once: the datagram shown, its TCP copy not.
        self.assertEqual(lines.count("101 [lobby] <lena> hi back"), 1)
        self.assertEqual(lines.count("101 [lobby] <uma> hello over udp"), 1)

    def test_udp_is_off_unless_asked_for(self) -> None:
        data = tempfile.TemporaryDirectory(prefix="chatd-it-udp-")
        self.addCleanup(data.cleanup)
        daemon = Daemon(Path(data.name) / "data")
        self.addCleanup(daemon.cleanup)
        self.addCleanup(daemon.stop)
        daemon.start()
        line = guest(daemon, "uma")
        self.addCleanup(line.close)
        line.ok("/join lobby")
        self.assertEqual(line.command("/token lobby").code, 403)
