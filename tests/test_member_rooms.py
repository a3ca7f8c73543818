"""Room definitions kept by the member service: its AMP commands (both ends in memory), and two
chat cores sharing one service through RemoteRooms: what one node creates, changes or deletes
reaches the other's core; an unreachable or stalled service changes nothing and says 502; a
node that lost its connection reads the definitions again and catches up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_core import BusRecorder
from test_members import SECRET, Link
from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import TestCase

from chatd.bus.local import LocalBus
from chatd.core.listing import room_view
from chatd.core.service import ChatServer, Limits
from chatd.core.session import Session
from chatd.kernel.errors import (
    AccountsUnavailable,
    BadName,
    BadText,
    NameTaken,
    NoSuchRoom,
    NotAllowed,
    ServerBusy,
    StorageFailed,
    WrongRoomPassword,
)
from chatd.kernel.events import LeaveReason, Left
from chatd.kernel.records import NO_OWNER, Account, RoomRecord
from chatd.members import commands
from chatd.members.client import MemberClientProtocol, RemoteDirectory
from chatd.members.local import LocalDirectory
from chatd.members.room_client import RemoteRooms
from chatd.members.rooms import RoomBook
from chatd.members.secret import greet
from chatd.members.server import MemberServerFactory
from chatd.storage.journal import Record
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore

from fakes import FakeHasher, keyed_file

ROOM = RoomRecord("club", "Club", "Ann", 5, None, "hello", "id-ann", ("eve",), "t")


def room(**changes: Any) -> RoomRecord:
    return RoomRecord(**{**{f: getattr(ROOM, f) for f in ROOM.__slots__}, **changes})


class AMPRoomTests(TestCase):
    """The service's room commands, client and server joined by iosim."""

    def setUp(self) -> None:
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        self.path = path
        directory = LocalDirectory(keyed_file(path / "m.journal"), FakeHasher(), reactor)
        directory.load()
        self.book = RoomBook(FileRoomStore(keyed_file(path / "rooms.journal", "chatd-rooms")))
        self.book.load()
        self.factory = MemberServerFactory(directory, SECRET, reactor, self.book)
        self.client, self.server, self.pump = connectedServerAndClient(
            lambda: self.factory.buildProtocol(None), amp.AMP
        )
        self.successResultOf(self.greet())

    def greet(self, **wants: bool) -> Deferred:
        answer: Deferred = Deferred()
        greet(self.client, SECRET, **wants).chainDeferred(answer)
        self.pump.flush()
        return answer

    def call(self, command: type[amp.Command], **arguments: object) -> Deferred:
        answer: Deferred = Deferred()
        self.client.callRemote(command, **arguments).chainDeferred(answer)
        self.pump.flush()
        return answer

    def test_create_save_delete_and_load(self) -> None:
        self.successResultOf(self.call(commands.CreateRoom, **commands.room_arguments(ROOM)))
        self.failureResultOf(self.call(commands.CreateRoom, **commands.room_arguments(ROOM)),
                             NameTaken)
        changed = room(topic="new", password_hash="h$1", bans=("eve", "m*"), modes="imt")
        self.successResultOf(self.call(commands.SaveRoom, **commands.room_arguments(changed)))
        page = self.successResultOf(self.call(commands.LoadRooms, after=""))
        self.assertEqual([commands.room_record(box) for box in page["rooms"]], [changed])
        self.assertFalse(page["more"])
        self.successResultOf(self.call(commands.DeleteRoom, key="club"))
        self.failureResultOf(self.call(commands.DeleteRoom, key="club"), NoSuchRoom)
        self.failureResultOf(self.call(commands.SaveRoom, **commands.room_arguments(changed)),
                             NoSuchRoom)
        self.assertEqual(self.successResultOf(self.call(commands.LoadRooms, after=""))["rooms"],
                         [])

    def test_definitions_chat_could_not_have_made_are_refused(self) -> None:
        bad = [room(topic="\x1b[2Jwelcome"), room(topic="hi\r\nPRIVMSG #x :owned"),
               room(topic="nul\x00"), room(topic="\u202eevil"), room(topic="x" * 301),
               room(name="Cl\r\nub", key="cl\r\nub"), room(name="Club\u202e", key="club\u202e"),
               room(name="#Club"), room(key="other"), room(owner="Ann\x1b[31m"),
               room(bans=("eve\x00",)), room(bans=("a b",)), room(modes="t\x1b")]
        for record in bad:
            refused = self.call(commands.CreateRoom, **commands.room_arguments(record))
            self.assertIn(self.failureResultOf(refused, BadName, BadText).type, (BadName, BadText))
        self.successResultOf(self.call(commands.CreateRoom, **commands.room_arguments(ROOM)))
        for record in bad[:5]:
            self.failureResultOf(
                self.call(commands.SaveRoom, **commands.room_arguments(record)), BadText)
        self.assertEqual(self.book.records(), [ROOM])
        self.assertFalse(self.client.transport.disconnecting, "an answer, not a dropped link")

    def test_the_definitions_are_durable_in_the_services_own_file(self) -> None:
        self.successResultOf(self.call(commands.CreateRoom, **commands.room_arguments(ROOM)))
        again = FileRoomStore(keyed_file(self.path / "rooms.journal", "chatd-rooms"))
        self.assertEqual(again.load(), [ROOM])

    def test_large_definitions_come_in_pages_under_amps_limit(self) -> None:
        bans = tuple(f"{'x' * 60}{i:03d}" for i in range(100))
        for i in range(12):
            record = room(key=f"room{i:02d}", name=f"Room{i:02d}", topic="é" * 300, bans=bans)
            self.successResultOf(self.book.create(record))
        found: list[RoomRecord] = []
        after, pages = "", 0
        while pages < 20:
            page = self.successResultOf(self.call(commands.LoadRooms, after=after))
            pages += 1
            found += [commands.room_record(box) for box in page["rooms"]]
            if not page["more"]:
                break
            after = found[-1].key
        self.assertGreater(pages, 1)
        self.assertEqual([r.key for r in found], [f"room{i:02d}" for i in range(12)])

    def test_a_change_that_arrives_after_its_deadline_is_not_made(self) -> None:
        late = reactor.seconds() - 1
        self.failureResultOf(self.call(commands.CreateRoom, not_after=late,
                                       **commands.room_arguments(ROOM)), ServerBusy)
        self.assertEqual(self.book.records(), [])

    def test_other_watching_daemons_are_told_and_the_changer_is_not(self) -> None:
        told: list[tuple[str, object]] = []

        class Daemon(amp.AMP):
            @commands.RoomDefined.responder
            def defined(self, **box: Any) -> dict[str, Any]:
                told.append(("defined", commands.room_record(box)))
                return {}

            @commands.RoomDeleted.responder
            def deleted(self, key: str) -> dict[str, Any]:
                told.append(("deleted", key))
                return {}

        other, _, pump = connectedServerAndClient(lambda: self.factory.buildProtocol(None),
                                                  Daemon)
        greet(other, SECRET, watch=True, rooms=True)
        pump.flush()
        # A client that asks for room changes too, and makes them: it is not told its own.
        self.client, self.server, self.pump = connectedServerAndClient(
            lambda: self.factory.buildProtocol(None), amp.AMP)
        self.successResultOf(self.greet(rooms=True))
        self.successResultOf(self.call(commands.CreateRoom, **commands.room_arguments(ROOM)))
        self.successResultOf(self.call(commands.SaveRoom,
                                       **commands.room_arguments(room(topic="t2"))))
        self.successResultOf(self.call(commands.DeleteRoom, key="club"))
        pump.flush()
        self.assertEqual(told, [("defined", ROOM), ("defined", room(topic="t2")),
                                ("deleted", "club")])

    def test_a_failed_write_answers_storage_failed_and_tells_nobody(self) -> None:
        class BrokenDisk:
            def append(self, record: Record) -> Deferred[None]:
                return fail(StorageFailed("the change could not be saved"))

            def rewrite(self, records: list[Record]) -> Deferred[None]:
                return fail(StorageFailed("no"))

        path = Path(self.mktemp())
        path.mkdir()
        journal_file = keyed_file(path / "rooms.journal", "chatd-rooms")
        broken = KeyedFile(journal_file._journal, BrokenDisk())
        book = RoomBook(FileRoomStore(broken))
        book.load()
        told: list[str] = []
        book.watch(lambda key, record, origin: told.append(key))
        self.server._rooms = book
        self.failureResultOf(self.call(commands.CreateRoom, **commands.room_arguments(ROOM)),
                             StorageFailed)
        self.assertEqual((told, book.records()), ([], []))


class Node:
    """One chat core whose rooms (and accounts) are the member service's."""

    def __init__(self, test: TestCase, factory: MemberServerFactory, clock: Clock) -> None:
        self.test, self.factory, self.clock = test, factory, clock
        self.hasher = FakeHasher()
        self.remote = RemoteDirectory(TCP4ClientEndpoint(reactor, "127.0.0.1", 1), SECRET,
                                      clock, deadline=5)
        self.rooms = RemoteRooms(self.remote)
        self.bus = LocalBus()
        self.recorder = BusRecorder()
        self.bus.listen(self.recorder)
        self.server = ChatServer(self.rooms, self.hasher, self.remote,
                                 Limits(messages_burst=1000), clock, self.bus)
        self.rooms.follow(self.server)
        self.link: Link | None = None

    def connect(self) -> Link:
        self.link = Link(MemberClientProtocol(self.remote), self.factory.buildProtocol(None))
        return self.link

    def drop(self) -> None:
        assert self.link is not None
        self.link.client.connectionLost(Failure(ConnectionDone("gone")))
        self.link.server.connectionLost(Failure(ConnectionDone("gone")))
        self.link = None

    def login(self, account: Account) -> Session:
        return self.server.connect(account.name, False, account_id=account.id)


class SharedRoomsTests(TestCase):
    """Two nodes on one member service, in memory, on a fake clock."""

    def setUp(self) -> None:
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        self.clock = Clock()
        self.clock.advance(1000)
        self.directory = directory = LocalDirectory(keyed_file(path / "m.journal"),
                                                    FakeHasher(), self.clock)
        directory.load()
        self.ann = self.successResultOf(directory.signup("Ann", "password1"))
        self.bob = self.successResultOf(directory.signup("Bob", "password1"))
        self.book = RoomBook(FileRoomStore(keyed_file(path / "rooms.journal", "chatd-rooms")))
        self.book.load()
        self.successResultOf(self.book.create(room(key="old", name="Old", owner_id="x")))
        self.factory = MemberServerFactory(directory, SECRET, self.clock, self.book)
        self.a = Node(self, self.factory, self.clock)
        self.b = Node(self, self.factory, self.clock)
        for node in (self.a, self.b):
            node.connect()
            self.successResultOf(node.rooms.loaded)

    def pump(self) -> None:
        for node in (self.a, self.b):
            if node.link is not None:
                node.link.pump()

    def test_start_loads_the_definitions_from_the_service(self) -> None:
        self.assertEqual(sorted(self.b.server.rooms), ["old"])
        self.assertEqual(self.b.server.rooms["old"].owner_id, "x")

    def test_a_room_created_on_one_node_is_joinable_with_its_password_on_the_other(self) -> None:
        ann = self.a.login(self.ann)
        made = ann.create("Den", 7, "sesame")
        self.pump()
        self.successResultOf(made)
        den = self.b.server.rooms["den"]
        self.assertEqual((den.owner, den.owner_id, den.limit), ("Ann", self.ann.id, 7))
        bob = self.b.login(self.bob)
        self.failureResultOf(bob.join("den", "wrong"), WrongRoomPassword)
        self.assertEqual(self.successResultOf(bob.join("den", "sesame")).name, "Den")
        self.assertEqual([r.key for r in self.book.records()], ["den", "old"])

    def test_topic_ban_limit_and_modes_changed_on_one_node_reach_the_other(self) -> None:
        ann = self.a.login(self.ann)
        made = ann.create("Den", None, None)
        self.pump()
        self.successResultOf(made)
        for change in (ann.set_topic("den", "welcome"), ann.ban("den", "eve*"),
                       ann.set_limit("den", 3), ann.set_flag("den", "m", True),
                       ann.lock("den", "sesame")):
            self.pump()
            self.successResultOf(change)
        den = self.b.server.rooms["den"]
        self.assertEqual((den.topic, den.bans, den.limit, den.modes),
                         ("welcome", ["eve*"], 3, "mnt"))
        self.assertEqual(den.password_hash, "fake$sesame")
        # The other node's members hear nothing from the definition itself: the node that
        # made the change publishes its events (on a shared bus, where there is one).
        self.assertEqual(self.b.recorder.seen, [])

    def test_a_room_deleted_on_one_node_closes_on_the_other(self) -> None:
        ann = self.a.login(self.ann)
        made = ann.create("Den", None, None)
        self.pump()
        self.successResultOf(made)
        bob = self.b.login(self.bob)
        self.successResultOf(bob.join("den"))
        gone = ann.delete("den")
        self.pump()
        self.successResultOf(gone)
        self.assertNotIn("den", self.b.server.rooms)
        self.assertEqual(bob.my_rooms(), [])
        left = [event for _, _, event in self.b.recorder.seen if isinstance(event, Left)]
        self.assertEqual([(e.who, e.reason) for e in left], [("Bob", LeaveReason.DELETED)])

    def test_a_name_created_on_both_nodes_goes_to_the_first(self) -> None:
        first = self.a.login(self.ann).create("Den", None, None)
        second = self.b.login(self.bob).create("den", None, None)
        self.pump()
        self.successResultOf(first)
        self.failureResultOf(second, NameTaken)
        self.assertEqual(self.b.server.rooms["den"].owner_id, self.ann.id)

    def test_a_change_to_a_room_deleted_elsewhere_is_refused_and_it_closes(self) -> None:
        made = self.a.login(self.ann).create("Den", None, None)
        self.pump()
        self.successResultOf(made)
        on_a, on_b = self.a.login(self.ann), self.b.login(self.ann)
        assert self.a.link is not None and self.b.link is not None
        gone = on_a.delete("den")
        self.a.link.pump()  # deleted; B's notice waits in its connection
        self.successResultOf(gone)
        change = on_b.set_topic("den", "too late")
        self.b.link.pump()
        self.failureResultOf(change, NoSuchRoom)
        self.assertNotIn("den", self.b.server.rooms)
        self.assertEqual([r.key for r in self.book.records()], ["old"])

    def test_no_connection_gets_502_at_once_and_changes_nothing(self) -> None:
        ann = self.a.login(self.ann)
        made = ann.create("Den", None, None)
        self.pump()
        self.successResultOf(made)
        self.a.drop()
        failure = self.failureResultOf(ann.create("Lair", None, None), AccountsUnavailable)
        self.assertIn("member service is unreachable", failure.getErrorMessage())
        self.failureResultOf(ann.set_topic("den", "x"), AccountsUnavailable)
        self.assertNotIn("lair", self.a.server.rooms)
        self.assertEqual(self.a.server.rooms["den"].topic, "")
        self.assertEqual([(r.key, r.topic) for r in self.book.records()],
                         [("den", ""), ("old", "hello")])

    def test_a_stalled_service_gets_502_after_the_deadline_and_does_not_make_it(self) -> None:
        ann = self.a.login(self.ann)
        made = ann.create("Den", None, None)
        self.pump()
        self.successResultOf(made)
        link = self.a.link
        assert link is not None
        link.stopped = True
        change = ann.set_topic("den", "never")
        for _ in range(12):
            self.clock.advance(0.5)
        failure = self.failureResultOf(change, AccountsUnavailable)
        self.assertIn("was not changed", failure.getErrorMessage())
        self.assertEqual(self.a.server.rooms["den"].topic, "")
        link.stopped = False
        link.pump()  # the service reads it now, past its deadline: refused, not made
        self.assertEqual(self.b.server.rooms["den"].topic, "")
        self.assertEqual(self.book.records()[0].topic, "")

    def test_a_node_that_lost_the_service_catches_up_when_it_is_back(self) -> None:
        ann = self.a.login(self.ann)
        made = ann.create("Den", None, None)
        self.pump()
        self.successResultOf(made)
        bob = self.b.login(self.bob)
        self.successResultOf(bob.join("old"))
        self.b.drop()
        for change in (ann.set_topic("den", "while you were away"),
                       self.book.delete("old"),
                       self.book.create(room(key="new", name="New"))):
            self.pump()
            self.successResultOf(change)
        self.assertEqual(self.b.server.rooms["den"].topic, "")
        self.b.connect()
        self.assertEqual(self.b.server.rooms["den"].topic, "while you were away")
        self.assertEqual(sorted(self.b.server.rooms), ["den", "new"])
        self.assertEqual(bob.my_rooms(), [], "the deleted room closed, its members left")

    def test_a_deleted_owners_rooms_are_nobodys_for_whoever_takes_the_name(self) -> None:
        ann = self.a.login(self.ann)
        made = ann.create("Den", None, "sesame")
        self.pump()
        self.successResultOf(made)
        self.b.drop()  # b hears of it only when it is back
        self.successResultOf(self.directory.delete("ann"))
        self.pump()
        self.assertEqual([r.owner_id for r in self.book.records() if r.key == "den"],
                         [NO_OWNER])
        again = self.successResultOf(self.directory.signup("Ann", "password2"))
        self.b.connect()
        for node in (self.a, self.b):
            den = node.server.rooms["den"]
            self.assertEqual(room_view(den).owner, "", "shown as nobody's")
            newcomer = node.login(again)
            self.assertFalse(den.owned_by(newcomer.user))
            self.assertRaises(NotAllowed, newcomer.unlock, "den")
            self.assertRaises(WrongRoomPassword, newcomer.join, "den")
            newcomer.quit()

    def test_definitions_with_control_characters_from_the_service_are_dropped(self) -> None:
        # What an older service stored, or one that does not check pushes: the book itself
        # takes anything.
        evil = room(key="evil", name="Evil", topic="\x1b]0;pwned\x07")
        self.successResultOf(self.book.create(evil))
        self.successResultOf(self.book.save(room(key="old", name="Old", topic="\r\nx")))
        self.pump()
        for node in (self.a, self.b):
            self.assertEqual(sorted(node.server.rooms), ["old"])
            self.assertEqual(node.server.rooms["old"].topic, "hello", "the last good one")
        c = Node(self, self.factory, self.clock)
        c.connect()
        self.successResultOf(c.rooms.loaded)
        self.assertEqual(sorted(c.server.rooms), [], "neither is loaded")

    def test_a_node_waits_for_the_definitions_before_it_has_any(self) -> None:
        c = Node(self, self.factory, self.clock)
        self.assertFalse(c.rooms.loaded.called)
        self.assertEqual(c.server.rooms, {})
        c.connect()
        self.successResultOf(c.rooms.loaded)
        self.assertEqual(sorted(c.server.rooms), ["old"])

    def test_nobody_logs_in_before_the_definitions_are_read(self) -> None:
        # A service that can't answer LoadRooms (it keeps no rooms): connected, not ready.
        c = Node(self, MemberServerFactory(self.directory, SECRET, self.clock), self.clock)
        c.connect()
        self.assertIsNotNone(c.remote._protocol)
        self.assertFalse(c.rooms.ready())
        for call in (c.remote.lookup("ann"), c.remote.authenticate("ann", "password1", ""),
                     c.remote.signup("Cy", "password1")):
            failure = self.failureResultOf(call, AccountsUnavailable)
            self.assertIn("still loading its rooms", failure.getErrorMessage())
        self.assertIsNone(self.successResultOf(self.directory.lookup("cy")))

    def test_changes_waiting_on_the_service_each_build_on_the_last(self) -> None:
        ann = self.a.login(self.ann)
        made = ann.create("Den", None, None)
        self.pump()
        self.successResultOf(made)
        changes = [ann.ban("den", "x*"), ann.ban("den", "y*"), ann.set_flag("den", "i", True),
                   ann.set_flag("den", "m", True)]
        self.pump()
        for change in changes:
            self.successResultOf(change)
        for node in (self.a, self.b):
            den = node.server.rooms["den"]
            self.assertEqual((den.bans, den.modes), (["x*", "y*"], "imnt"))
        self.assertEqual([(r.bans, r.modes) for r in self.book.records() if r.key == "den"],
                         [(("x*", "y*"), "imnt")])
