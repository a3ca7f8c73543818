"""The member service's AMP protocol (both ends in memory via iosim) and the remote directory
over real loopback: errors cross as the same classes, the secret gates everything, an outage
fails fast and recovers by itself; a stalled service (in memory, on a fake clock) is given up
on within the deadline, and a signup reported as failed is never made."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IProtocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import TestCase

from chatd.kernel.errors import (
    AccountsUnavailable,
    NameTaken,
    NoSuchUser,
    ServerBusy,
    WrongCredentials,
)
from chatd.kernel.markers import marker_at
from chatd.kernel.records import Account, RoomRecord
from chatd.members import commands
from chatd.members.client import MemberClientProtocol, RemoteDirectory
from chatd.members.local import LocalDirectory
from chatd.members.secret import NotTheService, greet
from chatd.members.server import MemberServerFactory

from fakes import FakeHasher, keyed_file

SECRET = "s" * 32


class AMPTests(TestCase):
    def setUp(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir(parents=True)
        self.hasher = FakeHasher()
        self.directory = LocalDirectory(keyed_file(directory / "m.journal"), self.hasher,
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

    def greet(self, secret: str = SECRET) -> Deferred:
        answer: Deferred = Deferred()
        greet(self.client, secret).chainDeferred(answer)
        self.pump.flush()
        return answer

    def hello(self) -> None:
        self.successResultOf(self.greet())

    def test_a_client_with_another_secret_finds_the_services_proof_wrong(self) -> None:
        self.failureResultOf(self.greet("nope" * 8), NotTheService)
        self.assertFalse(self.server._trusted)

    def test_a_client_without_the_secret_is_refused_and_closed(self) -> None:
        clock = Clock()
        self.server._clock = clock
        self.successResultOf(self.call(commands.Challenge, nonce=b"n" * 32))
        self.failureResultOf(self.call(commands.Prove, proof=b"a guess" * 4),
                             commands.BadSecret)
        self.assertFalse(self.server.transport.disconnecting, "the error reply goes out first")
        clock.advance(0)
        self.assertTrue(self.server.transport.disconnecting)
        self.failureResultOf(self.call(commands.Lookup, name="x"))

    def test_commands_before_hello_are_refused(self) -> None:
        self.server._clock = Clock()
        self.failureResultOf(self.call(commands.Lookup, name="x"), commands.NotAuthenticated)

    def test_account_commands(self) -> None:
        self.hello()
        made = self.successResultOf(self.call(commands.Signup, name="Ann", password="password1"))
        self.assertEqual((made["name"], made["key"]), ("Ann", "ann"))
        self.assertRegex(made["id"], "^[0-9a-f]{16}$")
        self.failureResultOf(self.call(commands.Signup, name="ANN", password="password1"),
                             NameTaken)
        self.assertEqual(
            self.successResultOf(self.call(commands.Authenticate, name="ann",
                                           password="password1", peer="10.0.0.1")),
            made,
        )
        self.assertEqual(self.successResultOf(self.call(commands.Lookup, name="ANN")), made)
        failure = self.failureResultOf(
            self.call(commands.Authenticate, name="ann", password="nope-nope", peer="p"),
            WrongCredentials,
        )
        self.assertEqual(failure.getErrorMessage(), "wrong name or password")
        self.successResultOf(self.call(commands.ChangePassword, name="ann", old="password1",
                                       new="password2"))
        self.assertIsNone(self.successResultOf(self.call(commands.Lookup, name="nobody"))["name"])

    def test_read_markers_over_amp_move_forward_only(self) -> None:
        self.hello()
        made = self.successResultOf(self.call(commands.Signup, name="ann", password="password1"))
        ahead, behind = marker_at(2_000), marker_at(1_000)
        mark = {"key": "ann", "id": made["id"], "conversation": "lobby"}
        self.assertEqual(self.successResultOf(self.call(commands.MarkRead, marker=ahead, **mark)),
                         {"marker": ahead})
        self.assertEqual(self.successResultOf(self.call(commands.MarkRead, marker=behind,
                                                        **mark)), {"marker": ahead})
        self.assertEqual(
            self.successResultOf(self.call(commands.ReadMarkers, key="ann", id=made["id"])),
            {"markers": [{"conversation": "lobby", "marker": ahead}]})
        self.failureResultOf(self.call(commands.MarkRead, marker=ahead, key="ann", id="other",
                                       conversation="lobby"), NoSuchUser)

    def test_always_on_over_amp(self) -> None:
        self.hello()
        made = self.successResultOf(self.call(commands.Signup, name="ann", password="password1"))
        account = {"key": "ann", "id": made["id"]}
        self.assertEqual(self.successResultOf(self.call(commands.AlwaysOn, **account)),
                         {"on": ""}, "never set: the chat daemon's default")
        self.successResultOf(self.call(commands.SetAlwaysOn, on=True, **account))
        self.assertEqual(self.successResultOf(self.call(commands.AlwaysOn, **account)),
                         {"on": "on"})
        self.successResultOf(self.call(commands.SetAlwaysOn, on=False, **account))
        self.assertEqual(self.successResultOf(self.call(commands.AlwaysOn, **account)),
                         {"on": "off"})
        self.failureResultOf(self.call(commands.SetAlwaysOn, on=True, key="ann", id="other"),
                             NoSuchUser)

    def test_a_signup_that_arrives_after_its_deadline_is_refused_unhashed(self) -> None:
        self.hello()
        self.hasher.hold = True
        late = reactor.seconds() - 1
        self.failureResultOf(
            self.call(commands.Signup, name="Ann", password="password1", not_after=late),
            ServerBusy,
        )
        self.assertEqual(self.hasher.held, [], "nothing was hashed")
        self.assertIsNone(self.successResultOf(self.call(commands.Lookup, name="ann"))["name"])

    def test_ping_is_answered_after_hello_only(self) -> None:
        self.server._clock = Clock()
        self.failureResultOf(self.call(commands.Ping), commands.NotAuthenticated)
        self.hello()
        self.assertEqual(self.successResultOf(self.call(commands.Ping)), {})

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


class _ClientEnd(StringTransport):
    """The client's end of a Link: closing it tells the client at once (a reactor would a
    moment later)."""

    def __init__(self, protocol: IProtocol) -> None:
        super().__init__()
        self.protocol = protocol

    def loseConnection(self) -> None:
        if not self.disconnecting:
            super().loseConnection()
            self.protocol.connectionLost(Failure(ConnectionDone("closed")))


class Link:
    """A member client and server joined in memory, and a switch that stops the server as
    SIGSTOP does: what the client sends waits (in the 'socket'), nothing comes back, and it
    is all read once the server goes on."""

    def __init__(self, client: amp.AMP, server: amp.AMP) -> None:
        self.client, self.server = client, server
        self.client_end = _ClientEnd(client)
        self.server_end = StringTransport()
        self.stopped = False
        server.makeConnection(self.server_end)
        client.makeConnection(self.client_end)
        self.pump()

    def pump(self) -> None:
        while not self.stopped:
            up, down = self.client_end.value(), self.server_end.value()
            self.client_end.clear()
            self.server_end.clear()
            if not up and not down:
                return
            if up:
                self.server.dataReceived(up)
            if down and not self.client_end.disconnecting:
                self.client.dataReceived(down)


class StalledServiceTests(TestCase):
    """The remote directory against a service that stops answering, on a fake clock:
    deadline 5 s, the patience for a queued hash 30 s."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.hasher = FakeHasher()
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        self.local = LocalDirectory(keyed_file(path / "m.journal"), self.hasher, self.clock)
        self.local.load()
        self.successResultOf(self.local.signup("Ann", "password1"))
        # The endpoint is never used: the link below stands for the connection.
        self.remote = RemoteDirectory(TCP4ClientEndpoint(reactor, "127.0.0.1", 1), SECRET,
                                      self.clock, deadline=5, timeout=30)
        server = MemberServerFactory(self.local, SECRET, self.clock).buildProtocol(None)
        self.link = Link(MemberClientProtocol(self.remote), server)
        self.assertIsNotNone(self.remote._protocol)

    def advance(self, seconds: float, step: float = 0.5) -> None:
        """Time passes, the link carrying whatever is sent meanwhile."""
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            self.link.pump()

    def test_a_login_waiting_its_turn_for_a_hash_waits_while_the_service_answers(self) -> None:
        self.hasher.hold = True
        login = self.remote.authenticate("ann", "password1", "10.0.0.1")
        self.link.pump()
        self.advance(25)
        self.assertNoResult(login)
        self.hasher.release()
        self.link.pump()
        self.assertEqual(self.successResultOf(login).name, "Ann")

    def test_the_always_on_choice_through_the_remote_directory(self) -> None:
        account = self.successResultOf(self.local.lookup("ann"))
        assert account is not None
        asked = self.remote.always_on(account.key, account.id)
        self.link.pump()
        self.assertIsNone(self.successResultOf(asked))
        stored = self.remote.set_always_on(account.key, account.id, False)
        self.link.pump()
        self.successResultOf(stored)
        asked = self.remote.always_on(account.key, account.id)
        self.link.pump()
        self.assertIs(self.successResultOf(asked), False)

    def test_a_login_to_a_stalled_service_gets_502_within_the_deadline(self) -> None:
        self.link.stopped = True
        login = self.remote.authenticate("ann", "password1", "10.0.0.1")
        self.advance(4.5)
        self.assertNoResult(login)
        self.advance(0.5)
        failure = self.failureResultOf(login, AccountsUnavailable)
        # What is known: connected, but no answer; not "unreachable".
        self.assertIn("connected but did not answer within 5 seconds", str(failure.value))
        self.assertIsNone(self.remote._protocol, "the stalled connection is dropped")
        self.failureResultOf(self.remote.authenticate("ann", "password1", "p"),
                             AccountsUnavailable)

    def test_a_login_already_waiting_when_the_service_stalls_gets_502(self) -> None:
        self.hasher.hold = True
        login = self.remote.authenticate("ann", "password1", "10.0.0.1")
        self.advance(10)
        self.link.stopped = True
        self.advance(7.5)  # the next ping within half the deadline, then the deadline
        failure = self.failureResultOf(login, AccountsUnavailable)
        self.assertIn("connected but did not answer", str(failure.value))

    def test_a_guest_name_check_gets_502_within_the_deadline(self) -> None:
        self.link.stopped = True
        lookup = self.remote.lookup("ann")
        self.advance(4.5)
        self.assertNoResult(lookup)
        self.advance(0.5)
        self.failureResultOf(lookup, AccountsUnavailable)

    def test_a_signup_the_stalled_service_reads_later_is_not_made(self) -> None:
        self.link.stopped = True
        signup = self.remote.signup("Bob", "password1")
        self.advance(4.5)
        self.assertNoResult(signup)
        self.advance(0.5)
        failure = self.failureResultOf(signup, AccountsUnavailable)
        self.assertIn("the account was not made", failure.getErrorMessage())
        self.link.stopped = False
        self.link.pump()
        self.assertIsNone(self.successResultOf(self.local.lookup("bob")))
        self.successResultOf(self.local.signup("Bob", "password2"))

    def test_a_signup_hashed_after_its_deadline_is_not_stored(self) -> None:
        self.hasher.hold = True
        signup = self.remote.signup("Bob", "password1")
        self.advance(5)
        self.failureResultOf(signup, AccountsUnavailable)
        self.hasher.release()
        self.link.pump()
        self.assertIsNone(self.successResultOf(self.local.lookup("bob")))
        self.hasher.hold = False
        self.successResultOf(self.local.signup("Bob", "password2"))

    def test_a_signup_cut_off_by_a_stall_is_reported_only_after_its_deadline(self) -> None:
        self.hasher.hold = True
        login = self.remote.authenticate("ann", "password1", "10.0.0.1")
        self.link.pump()
        self.link.stopped = True
        self.advance(3.5)  # a ping went out at 2.5 s and is not answered
        signup = self.remote.signup("Bob", "password1")
        self.advance(4)  # the ping's deadline: the connection is dropped
        self.failureResultOf(login, AccountsUnavailable)
        self.assertNoResult(signup)  # the service could still store it until 8.5 s - margin
        self.advance(1)
        self.failureResultOf(signup, AccountsUnavailable)

    def test_a_signup_answered_in_time_is_made(self) -> None:
        self.hasher.hold = True
        signup = self.remote.signup("Bob", "password1")
        self.advance(3)
        self.hasher.release()
        self.link.pump()
        self.assertEqual(self.successResultOf(signup).name, "Bob")


class AccountEndedTests(TestCase):
    """The service tells watching chat daemons of each account deleted or locked; the remote
    directory passes it to its watchers (the core, which ends the sessions)."""

    def setUp(self) -> None:
        self.clock = Clock()
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        self.local = LocalDirectory(keyed_file(path / "m.journal"), FakeHasher(), self.clock)
        self.local.load()
        self.ann = self.successResultOf(self.local.signup("Ann", "password1"))
        self.remote = RemoteDirectory(TCP4ClientEndpoint(reactor, "127.0.0.1", 1), SECRET,
                                      self.clock)
        self.ended: list[tuple[Account, str]] = []
        self.remote.watch(lambda account, why: self.ended.append((account, why)))
        self.factory = MemberServerFactory(self.local, SECRET, self.clock)
        self.link = Link(MemberClientProtocol(self.remote), self.factory.buildProtocol(None))

    def test_a_deletion_and_a_lock_reach_the_chat_daemon(self) -> None:
        self.successResultOf(self.local.set_locked("ann", True))
        self.link.pump()
        self.successResultOf(self.local.set_locked("ann", False))
        self.successResultOf(self.local.delete("ann"))
        self.link.pump()
        self.assertEqual(self.ended, [(self.ann, "locked"), (self.ann, "deleted")])
        self.assertIsNotNone(self.remote._protocol, "the connection stays up")

    def test_a_watcher_that_fails_does_not_drop_the_connection(self) -> None:
        def broken(account: Account, why: str) -> None:
            raise ZeroDivisionError("a frontend that can't render it")

        self.remote.watch(broken)
        self.successResultOf(self.local.delete("ann"))
        self.link.pump()
        self.assertEqual(self.ended, [(self.ann, "deleted")])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertIsNotNone(self.remote._protocol)

    def test_connections_that_did_not_ask_are_not_told(self) -> None:
        admin = amp.AMP()
        link = Link(admin, self.factory.buildProtocol(None))
        said = greet(admin, SECRET)
        link.pump()
        self.successResultOf(said)
        self.assertEqual(len(self.factory.watchers), 1, "the chat daemon alone")
        self.successResultOf(self.local.delete("ann"))
        link.pump()  # an AMP peer without the command would drop the connection
        self.assertFalse(link.client_end.disconnecting)
        self.link.server.connectionLost(Failure(ConnectionDone("closed")))
        self.assertEqual(self.factory.watchers, set(), "gone with its connection")


@pytest.mark.daemon
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
        """Wait for an event, with a bound generous enough for a busy shared machine."""
        deadline = reactor.seconds() + 30
        while not condition():  # type: ignore[operator]
            if reactor.seconds() > deadline:
                self.fail(f"timed out waiting for {what}")
            await deferLater(reactor, 0.01, lambda: None)

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
        trusted: list[None] = []
        remote.connected.append(lambda: trusted.append(None))
        # The refusal is the event to wait for (a fixed 0.3 s was a race on a busy machine).
        await self.until(lambda: remote.refusals >= 1, "the service to refuse the secret")
        self.assertEqual(trusted, [], "never trusted, not even for a moment")
        self.assertIsNone(remote._protocol)
        with self.assertRaises(AccountsUnavailable):
            await remote.lookup("bob")
        self.assertGreaterEqual(remote.refusals, 1)

    def tearDown(self) -> Deferred:
        return self.port.stopListening()  # type: ignore[return-value]


class OldHello(amp.Command):
    """The Hello of the version before the challenge-response, as old clients send it."""

    commandName = b"Hello"
    arguments = [(b"secret", amp.Unicode()), (b"watch", amp.Boolean(optional=True))]
    response: list = []


PLANTED = RoomRecord("planted", "planted", "mallory", 5, None, "\x1b[2Jhi", "m" * 16)


class Listener(amp.AMP):
    """Keeps every byte it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        super().dataReceived(data)


class Impostor(Listener):
    """What holds the member service's TCP port while it is down: it knows the commands but
    not the secret, and says yes to everything."""

    @commands.Challenge.responder
    def challenge(self, nonce: bytes, watch: bool = False, rooms: bool = False) -> dict:
        return {"nonce": b"i" * 32, "proof": b"a guess at the proof....32 bytes"}

    @commands.Prove.responder
    def prove(self, proof: bytes) -> dict:
        return {}

    @commands.Authenticate.responder
    def authenticate(self, name: str, password: str, peer: str) -> dict:
        return {"name": name, "key": name.lower(), "id": "a" * 16}


class PushingImpostor(Impostor):
    """At once it pushes a room definition and the end of a real account, as if trusted."""

    def connectionMade(self) -> None:
        super().connectionMade()
        self.callRemote(commands.RoomDefined, **commands.room_arguments(PLANTED))
        self.callRemote(commands.AccountEnded, name="Ann", key="ann", id="a" * 16,
                        why="deleted")


class OldService(Listener):
    """A member service of the version that took the secret in a Hello."""

    @OldHello.responder
    def hello(self, secret: str, watch: bool = False) -> dict:
        return {}

class ImpostorTests(TestCase):
    """The secret is never sent, and a service that can't prove it knows it is never
    believed: no login it says yes to, no room it defines, no session it ends."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.remote = RemoteDirectory(TCP4ClientEndpoint(reactor, "127.0.0.1", 1), SECRET,
                                      self.clock)
        self.defined: list[str] = []
        self.ended: list[Account] = []
        self.remote.rooms = True
        self.remote.room_watchers.append(lambda key, record: self.defined.append(key))
        self.remote.watch(lambda account, why: self.ended.append(account))

    def connect(self, server: amp.AMP) -> Link:
        return Link(MemberClientProtocol(self.remote), server)

    def test_an_impostor_never_sees_the_secret_and_is_never_believed(self) -> None:
        impostor = PushingImpostor()
        link = self.connect(impostor)
        self.assertNotIn(SECRET.encode(), impostor.received)
        self.assertTrue(link.client_end.disconnecting, "dropped")
        self.assertIsNone(self.remote._protocol)
        self.assertEqual(self.remote.refusals, 1, "counted for the back-off")
        self.failureResultOf(self.remote.authenticate("Ann", "wrong-password", "p"),
                             AccountsUnavailable)
        self.assertEqual((self.defined, self.ended), ([], []))

    def test_an_impostor_that_pushes_nothing_is_dropped_on_its_proof(self) -> None:
        impostor = Impostor()
        link = self.connect(impostor)
        self.assertNotIn(SECRET.encode(), impostor.received)
        self.assertNotIn(b"Prove", impostor.received, "nothing but a nonce was sent")
        self.assertTrue(link.client_end.disconnecting)
        self.assertEqual(self.remote.refusals, 1, "counted for the back-off")
        self.failureResultOf(self.remote.authenticate("Ann", "wrong-password", "p"),
                             AccountsUnavailable)
        self.failureResultOf(self.remote.lookup("mallory"), AccountsUnavailable)
        self.assertEqual(self.defined, [])

    def test_an_old_service_is_not_sent_the_secret(self) -> None:
        old = OldService()
        link = self.connect(old)
        self.assertNotIn(SECRET.encode(), old.received)
        self.assertTrue(link.client_end.disconnecting)
        self.assertIsNone(self.remote._protocol)

    def test_the_service_with_the_secret_is_believed(self) -> None:
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        local = LocalDirectory(keyed_file(path / "m.journal"), FakeHasher(), self.clock)
        local.load()
        ann = self.successResultOf(local.signup("Ann", "password1"))
        link = self.connect(MemberServerFactory(local, SECRET, self.clock).buildProtocol(None))
        self.assertIsNotNone(self.remote._protocol)
        login: Deferred = Deferred()
        self.remote.authenticate("Ann", "wrong-password", "p").chainDeferred(login)
        link.pump()
        self.failureResultOf(login, WrongCredentials)
        login = self.remote.authenticate("Ann", "password1", "p")
        link.pump()
        self.assertEqual(self.successResultOf(login), ann)
        self.successResultOf(local.delete("ann"))
        link.pump()
        self.assertEqual(self.ended, [ann])

    def test_an_old_client_is_refused_before_anything_it_sent_is_read(self) -> None:
        server = MemberServerFactory(LocalDirectory(keyed_file(Path(self.mktemp())),
                                                    FakeHasher(), self.clock),
                                     SECRET, self.clock).buildProtocol(None)
        old = amp.AMP()
        link = Link(old, server)
        said: Deferred = Deferred()
        old.callRemote(OldHello, secret=SECRET, watch=True).chainDeferred(said)
        link.pump()
        self.assertIn("upgrade it", self.failureResultOf(said).getErrorMessage())
        self.clock.advance(0)
        self.assertTrue(link.server_end.disconnecting)
        self.assertFalse(server._trusted)
