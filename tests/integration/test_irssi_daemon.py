"""irssi (Debian's 1.4, ``/usr/bin/irssi``) in tmux against the real daemon: a replayed backlog
shows when it was said, not when it arrived.

irssi 1.4 negotiates ``server-time`` but shows a line's ``time`` tag only with
``show_server_time`` on (off by default), so chatd writes the time into the text of replayed
lines for a client with server-time and without message-tags (docs/irc.md, "History"). The
messages are made old without waiting: said, the daemon stopped, their times in the history
file moved three hours back (records rewritten as the store writes them), the daemon started
again. What irssi shows is read with ``tmux capture-pane``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid
from pathlib import Path

import pytest

from chatd.history.files import HEADER, encode, read_file

from tests.integration.harness import account
from tests.integration.test_irc_daemon import PASSWORD, IRCDaemonTestCase, irc_port

IRSSI = shutil.which("irssi")
TMUX = shutil.which("tmux")
# How far back the kept messages are moved: more than irssi's HH:MM could hide.
AGE = 3 * 3600.0
DEADLINE = 20.0

pytestmark = pytest.mark.external


class IrssiReplayTests(IRCDaemonTestCase):
    def setUp(self) -> None:
        if IRSSI is None or TMUX is None:
            # CI installs both, so there the test always runs.
            if os.environ.get("CI"):
                self.fail("irssi and tmux are needed: apt-get install irssi tmux")
            raise unittest.SkipTest("apt-get install irssi tmux to run this test")

    def age_history(self, data: Path) -> list[float]:
        """Move every kept message AGE seconds back; their new times."""
        times = []
        for path in (data / "history").glob("*.history"):
            loaded = read_file(path)
            assert loaded is not None
            for event in loaded.events:
                event.at -= AGE
                event.wire.clear()
                times.append(event.at)
            path.write_bytes(HEADER + b"".join(encode(event) for event in loaded.events))
        return times

    def tmux(self, *args: str) -> str:
        return subprocess.run([str(TMUX), *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def screen_with(self, session: str, text: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while True:
            screen = self.tmux("capture-pane", "-p", "-t", session)
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                self.fail(f"irssi never showed {text!r}; its screen:\n{screen}")
            time.sleep(0.2)

    def test_replayed_lines_show_when_they_were_said(self) -> None:
        daemon = self.start("--irc", "tcp:0:interface=127.0.0.1")
        owner = account(daemon, "signup", "owner", PASSWORD)
        owner.ok("/create lobby")
        owner.send("an old line")
        owner.send("another old line")
        owner.close()
        daemon.stop()  # at stop, history still queued is written
        said = self.age_history(daemon.data)
        self.assertEqual(len(said), 2)
        daemon.start()

        home = Path(tempfile.mkdtemp(prefix="chatd-it-irssi-"))
        self.addCleanup(shutil.rmtree, home)
        (home / "config").write_text("")  # irssi's defaults, as a new user has them
        session = f"chatd-irssi-{uuid.uuid4().hex[:8]}"
        command = (f"{IRSSI} --home={home} -n watcher -c 127.0.0.1 "
                   f"-p {irc_port(daemon)}")
        env = {**os.environ, "TZ": "UTC"}
        subprocess.run([str(TMUX), "new-session", "-d", "-s", session, "-x", "200", "-y",
                        "50", command], check=True, env=env, timeout=10)
        self.addCleanup(subprocess.run, [str(TMUX), "kill-session", "-t", session],
                        capture_output=True, timeout=10)
        self.screen_with(session, "Welcome")
        self.tmux("send-keys", "-t", session, "/join #lobby", "Enter")
        screen = self.screen_with(session, "another old line")

        lines = [line for line in screen.splitlines() if "old line" in line]
        self.assertEqual(len(lines), 2, screen)
        for line, at in zip(lines, said, strict=True):
            then = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))
            self.assertIn(f"[{then} UTC]", line)
