"""TLS connections that never finish the handshake are closed, against the real daemon.

Raw TCP sockets that connect to an ``ssl:`` line or IRC listener and never send a byte must
not hold the daemon's file descriptors: the ones over the per-address limits are closed at
once, the admitted ones when the login timer (or the handshake deadline) runs out. Loopback
is not exempt here, so the per-address limits apply to the test's own sockets.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import ssl
import time
from pathlib import Path

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.harness import Daemon, LineClient, make_tls_files
from tests.integration.test_irc_daemon import IrcSocket, irc_port

pytestmark = pytest.mark.daemon

SILENT = 40  # above the per-address limit (16) and the not-logged-in limit (3)
LOGIN_TIMEOUT = 3.0
HANDSHAKE_TIMEOUT = 10.0  # chatd.frontends.connection.HANDSHAKE_TIMEOUT, seen from outside


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def silent_sockets(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def wait_all_closed(sockets: list[socket.socket], timeout: float) -> list[float]:
    """Seconds until the server closed each socket (EOF or reset); fails past ``timeout``."""
    start = time.monotonic()
    closed_after: list[float] = []
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while len(closed_after) < len(sockets):
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{len(sockets) - len(closed_after)} of {len(sockets)} silent connections "
                    f"still open after {timeout}s")
            for key, _ in selector.select(remaining):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                if data:
                    raise AssertionError(f"the server sent {data!r} to a silent client")
                selector.unregister(sock)
                closed_after.append(time.monotonic() - start)
    return closed_after


class TLSDaemonTestCase(SynchronousTestCase):
    login_timeout = LOGIN_TIMEOUT

    def setUp(self) -> None:
        self.dir = Path(self.mktemp()).absolute()
        self.dir.mkdir(parents=True)
        self.ca, key, cert = make_tls_files(self.dir)
        tls = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
        self.daemon = Daemon(self.dir / "data", [
            "--line", tls, "--irc", tls, "--login-timeout", f"{self.login_timeout:g}",
            # Only admitted connections count here; keep the window out of the way.
            "--new-connections-per-address", "1000",
        ], exempt=False).start()
        self.addCleanup(self.daemon.cleanup)
        self.addCleanup(lambda: self.assertEqual(self.daemon.problems(), []))
        assert self.daemon.process is not None
        self.pid = self.daemon.process.pid
        self.context = ssl.create_default_context(cafile=str(self.ca))

    def silent(self, port: int) -> list[socket.socket]:
        sockets = silent_sockets(port, SILENT)
        for sock in sockets:
            self.addCleanup(sock.close)
        return sockets

    def assert_fds_back(self, baseline: int) -> None:
        deadline = time.monotonic() + 5
        while open_fds(self.pid) > baseline + 2:
            self.assertLess(time.monotonic(), deadline,
                            f"{open_fds(self.pid)} fds open, {baseline} before the test")
            time.sleep(0.05)


class SilentTLSClientsTests(TLSDaemonTestCase):
    def check_silent_clients_are_closed(self, port: int) -> None:
        baseline = open_fds(self.pid)
        closed_after = sorted(wait_all_closed(self.silent(port), timeout=LOGIN_TIMEOUT + 5))
        refused = closed_after[:SILENT - 3]  # all but the three admitted
        self.assertLess(refused[-1], LOGIN_TIMEOUT - 1,
                        "refused connections are closed at once, not at the login timeout")
        self.assertGreater(closed_after[-1], LOGIN_TIMEOUT - 1,
                           "the admitted ones wait for the login timeout")
        self.assert_fds_back(baseline)

    def test_silent_clients_of_the_line_listener_are_closed_and_others_get_in(self) -> None:
        self.check_silent_clients_are_closed(self.daemon.port)
        client = LineClient.connect(self.daemon.port, tls=self.context)
        self.addCleanup(client.close)
        assert client.greeting is not None
        self.assertTrue(client.greeting.text.startswith("chatd ready."))
        client.login("nick", "ann")

    def test_silent_clients_of_the_irc_listener_are_closed_and_others_get_in(self) -> None:
        port = irc_port(self.daemon)
        self.check_silent_clients_are_closed(port)
        irc = IrcSocket(port, tls=self.context)
        self.addCleanup(irc.close)
        irc.send("NICK tess", "USER tess 0 * :Tess")
        self.assertEqual(irc.until("001")[-1][2][0], "tess")

    def test_a_client_that_finished_the_handshake_still_reads_the_login_timeout(self) -> None:
        client = LineClient.connect(self.daemon.port, tls=self.context)
        self.addCleanup(client.close)
        self.assertEqual([str(line) for line in client.wait_closed(timeout=LOGIN_TIMEOUT + 5)],
                         [f"109 no login within {LOGIN_TIMEOUT:g} seconds; goodbye "
                          "(connect again to start over)"])

    def test_a_client_that_stalls_mid_handshake_is_closed(self) -> None:
        baseline = open_fds(self.pid)
        raw = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5)
        self.addCleanup(raw.close)
        hello = ssl.MemoryBIO()
        tls = self.context.wrap_bio(ssl.MemoryBIO(), hello, server_hostname="localhost")
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        client_hello = hello.read()
        raw.sendall(client_hello[: len(client_hello) // 2])  # half a ClientHello, then nothing
        raw.setblocking(False)
        self.assertLess(wait_all_closed([raw], timeout=LOGIN_TIMEOUT + 5)[0], LOGIN_TIMEOUT + 2)
        self.assert_fds_back(baseline)


class HandshakeDeadlineTests(TLSDaemonTestCase):
    login_timeout = 0  # never: only the handshake deadline is left

    def test_silent_clients_are_closed_at_the_handshake_deadline(self) -> None:
        baseline = open_fds(self.pid)
        closed_after = sorted(wait_all_closed(self.silent(self.daemon.port),
                                              timeout=HANDSHAKE_TIMEOUT + 5))
        self.assertGreater(closed_after[-1], HANDSHAKE_TIMEOUT - 1)
        self.assertIn("no TLS handshake within 10 seconds", self.daemon.run_log())
        self.assert_fds_back(baseline)
