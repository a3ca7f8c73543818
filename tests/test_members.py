"""The member service's AMP protocol (both ends in memory via iosim) and the remote directory
over real loopback: errors cross as the same classes, the secret gates everything, an outage
fails fast and recovers by itself."""

from __future__ import annotations

from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import Clock, deferLater
from twisted.protocols import amp
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import TestCase

from chatd.kernel.errors import AccountsUnavailable, NameTaken, NoSuchUser, WrongCredentials
from chatd.members import commands
from chatd.members.client import RemoteDirectory
from chatd.members.local import LocalDirectory
from chatd.members.server import MemberServerFactory

from fakes import FakeHasher, keyed_file

SECRET = "s" * 32


class AMPTests(TestCase):
    def setUp(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir(parents=True)
        self.directory = LocalDirectory(keyed_file(directory / "m.journal"), FakeHasher(),
                                        reactor)
        self.directory.load()
        factory = MemberServerFactory(self.directory, SECRET, reactor)
        self.client, self.server, self.pump = connectedServerAndClient(
            lambda: factory.buildProtocol(None), amp.AMP
        )

    def call(self, command: type[amp.Command], **arguments: object) -> Deferred:
        # Take the answer before pumping: AMP drops errors nobody is waiting for yet.
        answer: Deferred = Deferred()
        self.client.callRemote(command, **arguments).chainDeferred(answer)
        self.pump.flush()
        return answer

    def hello(self) -> None:
        self.successResultOf(self.call(commands.Hello, secret=SECRET))

    def test_wrong_secret_is_refused_and_closes(self) -> None:
        clock = Clock()
        self.server._clock = clock
        self.failureResultOf(self.call(commands.Hello, secret="nope"), commands.BadSecret)
        self.assertFalse(self.server.transport.disconnecting, "the error reply goes out first")
        clock.advance(0)
        self.assertTrue(self.server.transport.disconnecting)
        self.failureResultOf(self.call(commands.Lookup, name="x"))

    def test_commands_before_hello_are_refused(self) -> None:
        self.server._clock = Clock()
        self.failureResultOf(self.call(commands.Lookup, name="x"), commands.NotAuthenticated)

    def test_account_commands(self) -> None:
        self.hello()
        self.assertEqual(
            self.successResultOf(self.call(commands.Signup, name="Ann", password="password1")),
            {"name": "Ann", "key": "ann"},
        )
        self.failureResultOf(self.call(commands.Signup, name="ANN", password="password1"),
                             NameTaken)
        self.assertEqual(
            self.successResultOf(self.call(commands.Authenticate, name="ann",
                                           password="password1", peer="10.0.0.1")),
            {"name": "Ann", "key": "ann"},
        )
        failure = self.failureResultOf(
            self.call(commands.Authenticate, name="ann", password="nope-nope", peer="p"),
            WrongCredentials,
        )
        self.assertEqual(failure.getErrorMessage(), "wrong name or password")
        self.successResultOf(self.call(commands.ChangePassword, name="ann", old="password1",
                                       new="password2"))
        self.assertIsNone(self.successResultOf(self.call(commands.Lookup, name="nobody"))["name"])

    def test_admin_commands_and_paging(self) -> None:
        self.hello()
        for i in range(commands.PAGE + 5):
            self.call(commands.Signup, name=f"user{i:03d}", password="password1")
        first = self.successResultOf(self.call(commands.ListAccounts, after=""))["accounts"]
        self.assertEqual(len(first), commands.PAGE)
        rest = self.successResultOf(
            self.call(commands.ListAccounts, after=first[-1]["key"]))["accounts"]
        self.assertEqual(len(rest), 5)
        shown = self.successResultOf(self.call(commands.ShowAccount, name="USER001"))
        self.assertEqual((shown["name"], shown["locked"]), ("user001", False))
        self.successResultOf(self.call(commands.SetLocked, name="user001", locked=True))
        self.assertTrue(self.successResultOf(
            self.call(commands.ShowAccount, name="user001"))["locked"])
        self.successResultOf(self.call(commands.ResetPassword, name="user002",
                                       password="password9"))
        self.successResultOf(self.call(commands.Authenticate, name="user002",
                                       password="password9", peer=""))
        self.successResultOf(self.call(commands.DeleteAccount, name="user003"))
        self.failureResultOf(self.call(commands.ShowAccount, name="user003"), NoSuchUser)


class RemoteDirectoryTests(TestCase):
    """Real sockets on loopback, the real reactor."""

    def setUp(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir(parents=True)
        self.local = LocalDirectory(keyed_file(directory / "m.journal"), FakeHasher(), reactor)
        self.local.load()
        self.factory = MemberServerFactory(self.local, SECRET, reactor)
        self.port = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        self.number = self.port.getHost().port

    def remote(self, secret: str = SECRET) -> RemoteDirectory:
        remote = RemoteDirectory(TCP4ClientEndpoint(reactor, "127.0.0.1", self.number), secret,
                                 reactor, timeout=2)
        remote.service.startService()
        self.addCleanup(remote.service.stopService)
        return remote

    async def until(self, condition: object, what: str) -> None:
        for _ in range(300):
            if condition():  # type: ignore[operator]
                return
            await deferLater(reactor, 0.01, lambda: None)
        self.fail(f"timed out waiting for {what}")

    async def test_login_outage_recovery(self) -> None:
        remote = self.remote()
        await self.until(lambda: remote._protocol is not None, "the first connection")
        account = await remote.signup("Bob", "password1")
        self.assertEqual(account.name, "Bob")
        self.assertEqual(await remote.authenticate("bob", "password1", "127.0.0.1"), account)
        self.assertIsNone(await remote.lookup("nobody"))
        with self.assertRaises(WrongCredentials):
            await remote.authenticate("bob", "wrong-pass", "127.0.0.1")

        await self.port.stopListening()
        remote._protocol.transport.loseConnection()  # type: ignore[union-attr]
        await self.until(lambda: remote._protocol is None, "the loss to be noticed")
        with self.assertRaises(AccountsUnavailable):
            await remote.authenticate("bob", "password1", "127.0.0.1")

        self.port = reactor.listenTCP(self.number, self.factory, interface="127.0.0.1")
        await self.until(lambda: remote._protocol is not None, "the reconnection")
        self.assertEqual(await remote.authenticate("bob", "password1", "127.0.0.1"), account)

    async def test_wrong_secret_never_connects(self) -> None:
        remote = self.remote("x" * 32)
        await deferLater(reactor, 0.3, lambda: None)
        self.assertIsNone(remote._protocol)
        with self.assertRaises(AccountsUnavailable):
            await remote.lookup("bob")
        self.assertGreaterEqual(remote.refusals, 1)

    def tearDown(self) -> Deferred:
        return self.port.stopListening()  # type: ignore[return-value]
