"""The realm's logout is the session's quit: nothing per login is kept to detach a mind."""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from chatd.kernel.credentials import GuestNick
from chatd.kernel.interfaces import IChatSession

from fakes import RecordingMind, World


class QuitDetaches(SynchronousTestCase):
    def setUp(self) -> None:
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        self.world = World(path)

    def login(self, name: str) -> tuple[IChatSession, RecordingMind]:
        mind = RecordingMind()
        _, session, _ = self.successResultOf(
            self.world.portal.login(GuestNick(name, "127.0.0.1"), mind, IChatSession))
        return session, mind

    def test_a_quit_session_hears_nothing_more_though_its_logout_was_never_called(self) -> None:
        old, old_mind = self.login("ann")
        old.quit()
        _, new_mind = self.login("ann")  # the name is free again: same user key
        bob, _ = self.login("bob")
        bob.message("ann", "hello")
        self.assertEqual(len(new_mind.events), 1)
        self.assertEqual(old_mind.events, [])
