"""Both daemons as real processes, the member service stopped with SIGSTOP: logins, signups
and guest nicks get 502 within ``--members-timeout``, the signup that got 502 is not made
once the service goes on, and logins work again by themselves."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from twisted.trial.unittest import TestCase

from tests.integration.harness import Daemon, Reply
from tests.test_members_daemon import MembersDaemon

pytestmark = pytest.mark.daemon

DEADLINE = 1.0
# What the machine may add to the deadline: two daemons and the test on shared cores.
SLACK = 1.5


class StalledMemberServiceTests(TestCase):
    def setUp(self) -> None:
        self.members = MembersDaemon(Path(self.mktemp()).absolute()).start()
        self.addCleanup(self.members.kill)
        self.chat = Daemon(Path(self.mktemp()).absolute(), [
            "--members", f"tcp:127.0.0.1:{self.members.port}",
            "--members-secret", str(self.members.data / "members.secret"),
            "--members-timeout", str(DEADLINE),
        ]).start()
        self.addCleanup(self.chat.cleanup)

    def answer(self, command: str) -> Reply:
        client = self.chat.connect()
        try:
            return client.command(command)
        finally:
            client.close()

    def timed(self, command: str) -> tuple[Reply, float]:
        started = time.monotonic()
        reply = self.answer(command)
        return reply, time.monotonic() - started

    def until(self, condition: object, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.1)
        self.fail(f"timed out after {seconds}s waiting for {what}")

    def stop_members(self) -> None:
        assert self.members.process is not None
        pid = self.members.process.pid
        os.kill(pid, signal.SIGSTOP)
        # Before the kill in cleanup (cleanups run last added first), and harmless if done.
        self.addCleanup(self.continue_members)

    def continue_members(self) -> None:
        process = self.members.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)

    def test_stopped_member_service_gets_502_in_time_and_no_half_made_signup(self) -> None:
        self.until(lambda: self.answer("/signup Remy password1").code == 201, 10,
                   "the first connection to the member service")
        self.stop_members()

        # The signup first, while the connection is still trusted, so it really is sent.
        for command in ("/signup Newbie password1", "/nick remy", "/login remy password1"):
            reply, elapsed = self.timed(command)
            self.assertEqual(reply.code, 502, f"{command}: {reply}")
            self.assertLess(elapsed, DEADLINE + SLACK, f"{command} took {elapsed:.1f} s")
        reply, elapsed = self.timed("/nick someone")
        self.assertEqual(reply.code, 502)
        self.assertLess(elapsed, DEADLINE + SLACK)

        self.continue_members()
        self.until(lambda: self.answer("/login remy password1").code == 201, 20,
                   "logins to work again once the service goes on")
        self.assertEqual(self.answer("/login newbie password1").code, 430,
                         "the signup that got 502 was not made")
        self.assertEqual(self.answer("/signup Newbie password2").code, 201)
        self.assertEqual(self.answer("/nick someone").code, 201)
        self.assertEqual(self.chat.problems(), [])
