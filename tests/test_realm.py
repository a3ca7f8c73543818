"""The realm's logout is the session's quit: nothing per login is kept to detach a mind."""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from chatd.kernel.credentials import AccountLogin, GuestNick, Signup
from chatd.kernel.errors import NotAllowed
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

    def test_a_guest_logs_in_to_an_account_while_connected_only_outside_a_cluster(
            self) -> None:
        owner, _ = self.login_with(Signup("owner", "password1", "127.0.0.1"))
        owner.quit()
        ann, mind = self.login("ann")
        login = AccountLogin("owner", "password1", "127.0.0.1", ann.id, "ann")
        self.world.server.gate = object()  # type: ignore[assignment]  # only its presence
        self.failureResultOf(self.world.portal.login(login, mind, IChatSession), NotAllowed)
        self.assertTrue(ann.guest)
        self.world.server.gate = None
        session, _ = self.login_with(login)
        self.assertIs(session, ann)
        self.assertEqual((ann.name, ann.guest), ("owner", False))

    def login_with(self, credentials: object) -> tuple[IChatSession, RecordingMind]:
        mind = RecordingMind()
        _, session, _ = self.successResultOf(
            self.world.portal.login(credentials, mind, IChatSession))  # type: ignore[arg-type]
        return session, mind
