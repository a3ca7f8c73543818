"""History in a real daemon: a room chats, the daemon is SIGKILLed mid-chat, and after a
restart every message acknowledged (echoed) more than a batch window before the kill is in
the history, in order, once; a member joining gets it replayed (110)."""

from __future__ import annotations

import tempfile
import time
import unittest
from pathlib import Path

import pytest

from tests.integration.harness import Daemon, account, guest

pytestmark = pytest.mark.daemon

WINDOW = 0.1
# Beyond the window: the fsync of the last batch, on a loaded two-core machine.
SLACK = 0.4


class HistoryDaemonTests(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="chatd-it-history-")
        self.data = Path(self._tmp.name) / "data"
        self.daemon = Daemon(self.data, ["--history-batch", str(WINDOW),
                                         "--history-replay", "5"])

    def tearDown(self) -> None:
        self.daemon.cleanup()
        self._tmp.cleanup()

    def test_sigkill_loses_nothing_acknowledged_before_the_batch_window(self) -> None:
        self.daemon.start()
        # A persistent room: a temporary one, and its history, would end with the daemon.
        ann = account(self.daemon, "signup", "ann", "password-ann")
        ann.ok("/create lobby")
        acked: list[tuple[float, str]] = []
        deadline = time.monotonic() + 1.5
        n = 0
        while time.monotonic() < deadline and n < 800:
            text = f"m{n}"
            ann.send(text)
            ann.wait_event(f"101 [lobby] <ann> {text}")
            acked.append((time.monotonic(), text))
            n += 1
            time.sleep(0.003)  # a busy room, not a benchmark
        for extra in range(20):  # still chatting when it dies
            ann.send(f"late{extra}")
        killed = time.monotonic()
        self.daemon.kill()
        ann.close()
        must_have = [text for at, text in acked if at < killed - WINDOW - SLACK]
        self.assertGreater(len(must_have), 10)

        self.daemon.start()
        bob = guest(self.daemon, "bob")
        bob.ok("/join lobby")
        replayed = [line for line in bob.events if line.code == 110]
        self.assertEqual(len(replayed), 5)
        bob.events.clear()
        answer = bob.ok("/history lobby 100")
        self.assertEqual(answer.text, "100 messages of history in lobby")
        kept: list[str] = []
        before = ""
        for _ in range(100):  # page back to the start, at most 100 pages
            page = [line.text for line in bob.events if line.code == 110]
            bob.events.clear()
            if not page:
                break
            kept[:0] = [text.rsplit(" ", 1)[1] for text in page]
            before = page[0].split()[1]
            bob.ok(f"/history lobby before {before} 100")
        self.assertEqual(len(kept), len(set(kept)))
        # Nothing is kept twice, nothing acknowledged early is missing, and what was kept
        # after that is a run of what was sent, in order.
        self.assertEqual(kept[:len(must_have)], must_have)
        sent = [text for _, text in acked] + [f"late{extra}" for extra in range(20)]
        self.assertEqual(kept, sent[:len(kept)])
        self.assertEqual(self.daemon.problems(), [])


if __name__ == "__main__":
    unittest.main()
