"""Guest nicks that hit a registered name are counted per address, like failed logins, so
``/nick`` can't be used to list the accounts quickly."""

from __future__ import annotations

from pathlib import Path

from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from chatd.auth.checkers import GuestChecker
from chatd.kernel.credentials import GuestNick, Identity
from chatd.kernel.errors import NameTaken, RateLimited
from chatd.kernel.interfaces import IMemberDirectory
from chatd.kernel.names import ReservedNames
from chatd.kernel.ratelimit import FailureLimiter
from chatd.kernel.records import Account
from chatd.members.local import LocalDirectory

from fakes import FakeHasher, World, keyed_file


class CountingDirectory:
    """The embedded directory, counting the name checks asked of it."""

    def __init__(self, directory: LocalDirectory) -> None:
        self._directory = directory
        self.lookups = 0

    def lookup(self, name: str) -> Deferred[Account | None]:
        self.lookups += 1
        return self._directory.lookup(name)


class NickOverTheWireTests(SynchronousTestCase):
    def setUp(self) -> None:
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        self.world = World(path)
        alice = self.world.connect()
        alice.send("/signup Alice password1")
        alice.drop()

    def nick(self, name: str) -> str:
        return self.world.connect().send(f"/nick {name}")[-1]

    def test_registered_names_tried_past_the_login_failure_limit_get_429(self) -> None:
        for _ in range(10):
            self.assertTrue(self.nick("Alice").startswith("409 "))
        self.assertTrue(self.nick("Alice").startswith("429 "))
        self.assertTrue(self.nick("Bob").startswith("429 "), "a free name too: nothing is asked")
        self.world.clock.advance(30)
        self.assertTrue(self.nick("Bob").startswith("201 "))

    def test_free_names_are_not_counted(self) -> None:
        for i in range(30):
            self.assertTrue(self.nick(f"guest{i}").startswith("201 "))
        self.assertTrue(self.nick("Alice").startswith("409 "))


class GuestCheckerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        local = LocalDirectory(keyed_file(path / "m.journal"), FakeHasher(), self.clock)
        local.load()
        self.successResultOf(local.signup("Alice", "password1"))
        self.local = local
        self.directory = CountingDirectory(local)
        self.probes = FailureLimiter(self.clock, burst=3, interval=30.0)

    def checker(self, exempt: bool = False) -> GuestChecker:
        directory: IMemberDirectory = self.directory  # type: ignore[assignment]
        return GuestChecker(directory, lambda name: False, lambda: True, self.probes,
                            lambda peer: exempt, ReservedNames())

    def test_over_the_limit_the_directory_is_not_asked(self) -> None:
        checker = self.checker()
        for name in ("alice", "ALICE", "A1ice"):  # a look-alike counts as well
            self.failureResultOf(checker.requestAvatarId(GuestNick(name, "10.0.0.1")), NameTaken)
        self.assertRaises(RateLimited, checker.requestAvatarId, GuestNick("zed", "10.0.0.1"))
        self.assertEqual(self.directory.lookups, 3)
        self.successResultOf(checker.requestAvatarId(GuestNick("zed", "10.0.0.2")))

    def test_exempt_addresses_are_not_counted(self) -> None:
        checker = self.checker(exempt=True)
        for _ in range(20):
            self.failureResultOf(checker.requestAvatarId(GuestNick("alice", "127.0.0.1")),
                                 NameTaken)

    def test_the_in_process_directory_answers_at_once_with_the_same_rules(self) -> None:
        checker = GuestChecker(self.local, lambda name: False, lambda: True, self.probes,
                               lambda peer: False, ReservedNames(), self.local.registered)
        identity = checker.requestAvatarId(GuestNick("Zed", "10.0.0.1"))
        self.assertEqual(identity, Identity("Zed", guest=True, peer="10.0.0.1"))
        for name in ("alice", "ALICE", "A1ice"):
            with self.assertRaises(NameTaken) as caught:
                checker.requestAvatarId(GuestNick(name, "10.0.0.1"))
            self.assertIn("the registered name Alice", str(caught.exception))
        self.assertRaises(RateLimited, checker.requestAvatarId, GuestNick("zed", "10.0.0.1"))

    def test_over_the_portal_both_directories_give_the_same_answers(self) -> None:
        for directory in (self.local, self.directory):
            registered = self.local.registered if directory is self.local else None
            checker = GuestChecker(directory, lambda name: False, lambda: True,  # type: ignore[arg-type]
                                   FailureLimiter(self.clock, burst=3, interval=30.0),
                                   lambda peer: False, ReservedNames(), registered)
            portal = Portal(Realm(), [checker])
            self.assertEqual(
                self.successResultOf(portal.login(GuestNick("zed", "10.0.0.1"), None, IRealm)),
                (IRealm, Identity("zed", guest=True, peer="10.0.0.1"), None))
            self.failureResultOf(portal.login(GuestNick("a1ice", "10.0.0.1"), None, IRealm),
                                 NameTaken)


@implementer(IRealm)
class Realm:
    """Hands back the avatar ID it is given."""

    def requestAvatar(self, avatarId: Identity, mind: object, *interfaces: object
                      ) -> tuple[object, Identity, None]:
        return interfaces[0], avatarId, None
