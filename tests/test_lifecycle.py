"""Stopping the real daemon: every user is told why, and it exits promptly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.harness import Daemon, guest

pytestmark = pytest.mark.daemon


class SigtermTests(SynchronousTestCase):
    def test_users_are_told_and_the_daemon_exits(self) -> None:
        daemon = Daemon(Path(self.mktemp()).absolute(), ["--irc", "tcp:0:interface=127.0.0.1"])
        daemon.start()
        self.addCleanup(daemon.cleanup)
        ann = guest(daemon, "ann")
        ann.ok("/join lobby")
        anonymous = daemon.connect()
        started = time.monotonic()
        status = daemon.stop()
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn(status, (0, -15))
        for client in (ann, anonymous):
            closing = [str(line) for line in client.wait_closed() if line.code == 109]
            self.assertEqual(closing,
                             ["109 the server is shutting down; reconnect in a minute"])
        self.assertEqual(daemon.problems(), [])
