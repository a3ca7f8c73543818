"""Ids across a real restart: a message said before and one said after have different ids,
and history found by either id is that message (issue 23: a counter that began again at each
start gave two messages of one room the same id)."""

from __future__ import annotations

import signal
import tempfile
import unittest
from pathlib import Path

import pytest

from tests.integration.harness import Daemon, LineClient, account

pytestmark = pytest.mark.daemon

PASSWORD = "correct-horse-battery"


def said_id(client: LineClient, room: str, text: str) -> str:
    """The id history gives the message ``text`` (the latest of ``room``)."""
    client.events.clear()
    client.ok(f"/history {room} 1")
    (line,) = [line.text for line in client.events if line.code == 110]
    assert line.endswith(f"<ann> {text}"), line
    return line.split()[1]


class IdsAcrossRestartTests(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="chatd-it-ids-")
        self.daemon = Daemon(Path(self._tmp.name) / "data", ["--history-batch", "0.05"])

    def tearDown(self) -> None:
        self.daemon.cleanup()
        self._tmp.cleanup()

    def test_ids_differ_across_a_restart_and_history_finds_each(self) -> None:
        self.daemon.start()
        ann = account(self.daemon, "signup", "ann", PASSWORD)
        ann.ok("/create lobby")
        ann.send("before the restart")
        ann.wait_event("101 [lobby] <ann> before the restart")
        first = said_id(ann, "lobby", "before the restart")
        ann.close()
        self.assertIn(self.daemon.stop(), (0, -signal.SIGTERM))

        self.daemon.start()
        ann = account(self.daemon, "login", "ann", PASSWORD)
        ann.ok("/join lobby")
        ann.send("after the restart")
        ann.wait_event("101 [lobby] <ann> after the restart")
        second = said_id(ann, "lobby", "after the restart")
        self.assertNotEqual(first, second)
        for wanted, text in ((first, "before the restart"), (second, "after the restart")):
            ann.events.clear()
            ann.ok(f"/history lobby around {wanted} 1")
            found = [line.text for line in ann.events if line.code == 110]
            self.assertEqual(len(found), 1)
            self.assertEqual(found[0].split()[1], wanted)
            self.assertTrue(found[0].endswith(f"<ann> {text}"), found[0])
        ann.close()
        self.assertEqual(self.daemon.problems(), [])


if __name__ == "__main__":
    unittest.main()
