"""Each hardening limit against the real daemon over loopback, with loopback NOT exempt: the
offender gets the documented reply, everyone else in the room keeps getting every message,
and memory stays bounded for a client that stops reading."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.harness import Daemon, LineClient, guest

pytestmark = pytest.mark.daemon

PASSWORD = "correct-horse"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class LimitsDaemonTests(SynchronousTestCase):
    def daemon(self, *extra: str) -> Daemon:
        daemon = Daemon(Path(self.mktemp()).absolute(), extra, exempt=False).start()
        self.addCleanup(daemon.cleanup)
        self.addCleanup(lambda: self.assertEqual(daemon.problems(), []))
        return daemon

    def track(self, client: LineClient) -> LineClient:
        self.addCleanup(client.close)
        return client

    def test_flood_is_refused_then_disconnected_and_the_room_carries_on(self) -> None:
        # Past the burst, two lines are held back for the rate (fakelag), then refused.
        daemon = self.daemon("--messages-burst", "5", "--messages-per-second", "4",
                             "--flood-strikes", "5", "--paste-queue", "2")
        flooder = self.track(guest(daemon, "flooder"))
        calm = self.track(guest(daemon, "calm"))
        for client in (flooder, calm):
            client.ok("/join lobby")
        for i in range(20):
            flooder.send(f"spam {i}")
        lines = [str(line) for line in flooder.wait_closed()]
        self.assertEqual(len([x for x in lines if x.startswith("101 ")]), 7)
        self.assertIn("429 disconnected for flooding (5 messages too fast)", lines)
        self.assertEqual(lines[-1], "109 disconnected for flooding")
        calm.wait_event("104 [lobby] flooder was disconnected for flooding")
        calm.send("still here")
        calm.wait_event("101 [lobby] <calm> still here")

    def test_connections_per_address_and_not_logged_in(self) -> None:
        daemon = self.daemon("--max-unnamed-per-address", "2",
                             "--max-connections-per-address", "3")
        first = self.track(daemon.connect())
        self.track(daemon.connect())
        refused = self.track(daemon.connect(greet=False))
        self.assertEqual(
            [str(line) for line in refused.wait_closed()],
            ["109 too many connections from 127.0.0.1 that have not logged in (2); "
             "log in on those first"],
        )
        first.login("nick", "first")
        self.track(daemon.connect())
        over = self.track(daemon.connect(greet=False))
        self.assertEqual([str(line) for line in over.wait_closed()],
                         ["109 too many connections from 127.0.0.1 (3 at once)"])

    def test_new_connections_per_address(self) -> None:
        daemon = self.daemon("--new-connections-per-address", "3")
        for _ in range(3):
            daemon.connect().close()
        refused = self.track(daemon.connect(greet=False))
        [line] = refused.wait_closed()
        self.assertTrue(str(line).startswith("109 too many new connections from 127.0.0.1"))

    def test_login_timeout_and_bytes_before_login(self) -> None:
        daemon = self.daemon("--login-timeout", "1", "--max-bytes-before-login", "300")
        idle = self.track(daemon.connect())
        self.assertEqual([str(line) for line in idle.wait_closed(timeout=5)],
                         ["109 no login within 1 seconds; goodbye "
                          "(connect again to start over)"])
        chatty = self.track(daemon.connect())
        chatty.send_raw(b"x" * 400 + b"\r\n")
        lines = [str(line) for line in chatty.wait_closed()]
        self.assertEqual(lines[-1], "109 more than 300 bytes before logging in; goodbye")

    def test_rooms_per_user(self) -> None:
        daemon = self.daemon("--max-rooms-per-user", "2")
        ann = self.track(guest(daemon, "ann"))
        ann.ok("/join a")
        ann.ok("/join b")
        refused = ann.command("/join c")
        self.assertEqual((refused.code, refused.text),
                         (403, "you are in 2 rooms, the most allowed; /leave one first"))

    def test_failed_logins_signups_and_room_passwords_are_throttled(self) -> None:
        daemon = self.daemon("--signups-per-address", "2", "--login-failures-per-account", "3",
                             "--room-password-failures", "2")
        owner = self.track(daemon.connect())
        owner.login("signup", "owner", PASSWORD)
        owner.ok("/create vault 5 sesame")
        self.track(daemon.connect()).login("signup", "second", PASSWORD)
        third = self.track(daemon.connect())
        self.assertEqual(third.command(f"/signup third {PASSWORD}").code, 429)
        for _ in range(3):
            self.assertEqual(third.command("/login owner wrong-horse").code, 430)
        throttled = third.command(f"/login owner {PASSWORD}")
        self.assertEqual(throttled.code, 429)
        self.assertIn("too many failed logins", throttled.text)
        third.login("nick", "visitor")
        for _ in range(2):
            self.assertEqual(third.command("/join vault nope").code, 431)
        self.assertEqual(third.command("/join vault sesame").code, 429)

    def test_slow_reader_is_dropped_memory_stays_bounded(self) -> None:
        # History off: the room's last 1,000 messages of 1 KB (kept with their records) are
        # memory of their own, bounded by history-max-count; this measures output queues.
        daemon = self.daemon("--messages-burst", "1000000", "--max-output", "65536",
                             "--history-max-count", "0")
        assert daemon.process is not None
        sender = self.track(guest(daemon, "sender"))
        watcher = self.track(guest(daemon, "watcher"))
        sleeper_socket = socket.socket()
        sleeper_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper_socket.connect(("127.0.0.1", daemon.port))
        sleeper = self.track(LineClient(sleeper_socket))
        sleeper.read_line()
        sleeper.login("nick", "sleeper")
        for client in (sender, watcher, sleeper):
            client.ok("/join lobby")
        baseline = rss_kib(daemon.process.pid)
        payload = "x" * 1000
        count = 20_000  # 20 MB for the sleeper, which reads none of it
        seen = 0
        others: list[str] = []
        for batch in range(count // 500):
            sender.send_raw("".join(f"{batch * 500 + i} {payload}\r\n"
                                    for i in range(500)).encode())
            # Read everything the watcher and the sender get, so only the sleeper lags.
            while seen < (batch + 1) * 500:
                line = watcher.read_line(timeout=10)
                if line.code == 101:
                    self.assertTrue(line.text.startswith(f"[lobby] <sender> {seen} "))
                    seen += 1
                else:
                    others.append(str(line))
            while True:
                try:
                    sender.read_line(timeout=0.001)
                except TimeoutError:
                    break
        grown = rss_kib(daemon.process.pid) - baseline
        self.assertEqual(seen, count, "the watcher got every message, in order")
        self.assertIn("104 [lobby] sleeper was dropped: not reading", others)
        self.assertLess(grown, 16 * 1024, f"RSS grew {grown} KiB for 20 MB not read")
        self.assertIn("stopped reading", daemon.run_log())
