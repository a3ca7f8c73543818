"""History and files follow a room, not its name (issue 23): a temporary room emptied and
opened again, or a locked persistent room deleted and made again, is a new room that starts
empty (no replay, empty /history and CHATHISTORY, none of the old files); rooms stored before
room ids keep what is stored under their name; the cluster's streams are keyed the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from chatd.cluster.history import STREAM, SharedHistory
from chatd.core.replica import Replica, room_state
from chatd.core.rooms import Room
from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import Options
from chatd.frontends.options import ConnectionOptions
from chatd.history.files import FileHistory, file_name
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.errors import NotAllowed
from chatd.kernel.events import Joined, Said
from chatd.kernel.history import HistoryQuery, room_conversation
from chatd.kernel.records import RoomRecord
from chatd.storage.rooms import FileRoomStore

from fakes import Client, World, keyed_file

T0 = 1_700_000_000.0


class Sync:
    """The history writer's thread and reactor, run at once on the calling thread."""

    def callInThreadWithCallback(self, done: Any, work: Any, *args: Any) -> None:
        done(True, work(*args))

    def callFromThread(self, f: Any, *args: Any) -> None:
        f(*args)


class Rooms(TestCase):
    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent,
                           options=Options(ConnectionOptions(replay=5)),
                           history=MemoryHistory(Clock(), Retention()))
        self.world.clock.advance(T0)

    def guest(self, name: str) -> Client:
        client = self.world.connect()
        client.send(f"/nick {name}")
        return client

    def account(self, name: str) -> Client:
        client = self.world.connect()
        client.send(f"/signup {name} password-{name}")
        return client

    def irc(self, nick: str) -> list[str]:
        """What a CHATHISTORY client is told of #hush's latest messages after joining it."""
        factory = IRCFactory(self.world.portal, IRCOptions(ConnectionOptions(replay=5)),
                             self.world.clock, self.world.admission, self.world.server.stats)
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        lines = ["CAP REQ :draft/chathistory batch server-time message-tags", "CAP END",
                 f"NICK {nick}", f"USER {nick} 0 * :x", "JOIN #hush",
                 "CHATHISTORY LATEST #hush * 10"]
        protocol.dataReceived("".join(f"{line}\r\n" for line in lines).encode())
        self.world.clock.advance(0)
        return transport.value().decode().split("\r\n")

    def test_a_temporary_room_emptied_and_opened_again_starts_empty(self) -> None:
        ann, bob = self.guest("ann"), self.guest("bob")
        ann.send("/join hush")
        bob.send("/join hush", "our secret")
        ann.send("/leave hush")
        bob.send("/leave hush")
        eve = self.guest("eve")
        joined = eve.send("/join hush")
        self.assertFalse([line for line in joined if line.startswith("110")], joined)
        self.assertEqual(eve.send("/history hush 10"), ["200 0 messages of history in hush"])
        self.assertFalse([line for line in self.irc("mallory") if "our secret" in line])

    def test_a_temporary_room_still_open_keeps_its_history(self) -> None:
        ann, bob = self.guest("ann"), self.guest("bob")
        ann.send("/join hush", "hello")
        bob.send("/join hush")
        self.assertIn("hello", " ".join(bob.send("/history hush 10")))
        self.assertTrue([line for line in self.irc("carol") if line.endswith(":hello")])

    def test_a_locked_persistent_room_deleted_and_made_again_starts_empty(self) -> None:
        rita = self.account("rita")
        rita.send("/create vault 10 sesame", "the code is 42")
        self.assertIn("the code is 42", " ".join(rita.send("/history vault 5")))
        self.assertTrue(rita.send("/delete vault")[-1].startswith("200"), rita.read())
        mallory = self.account("mallory")
        mallory.send("/create vault")
        self.assertFalse([line for line in mallory.read() if "the code is 42" in line])
        self.assertEqual(mallory.send("/history vault 5"),
                         ["200 0 messages of history in vault"])

    def test_the_files_of_an_ended_room_are_not_for_a_new_room_of_its_name(self) -> None:
        ann, _ = self.world.spy("ann")
        self.successResultOf(ann.join("hush"))
        upload = ann.send_file("plan.txt", "hush", 3)
        upload.write(b"abc")
        view = self.successResultOf(upload.finish())
        self.assertEqual(ann.open_file(view.id)[0].id, view.id)
        ann.leave("hush")
        eve, _ = self.world.spy("eve")
        self.successResultOf(eve.join("hush"))
        with self.assertRaises(NotAllowed):
            eve.open_file(view.id)


class Stores(TestCase):
    def test_a_room_stored_before_room_ids_keeps_the_history_under_its_name(self) -> None:
        """The migration: no id, and the conversation key is the bare room key, so what a
        persistent room had before the upgrade is its own still."""
        path = Path(self.mktemp())
        path.mkdir()
        store = FileRoomStore(keyed_file(path / "rooms.journal"))
        store.load()
        old = RoomRecord("lobby", "Lobby", "rita", 10, None, "", "acct")
        self.successResultOf(store.create(old))
        room = Room.from_record(FileRoomStore(keyed_file(path / "rooms.journal")).load()[0])
        self.assertEqual((room.id, room.conversation), ("", "lobby"))
        made = Room("Lobby", "lobby", 10, "rita", id="01KQ4ZP5K3M0V7W2X4Y6Z8A0BC")
        self.successResultOf(store.save(made.record()))
        again = FileRoomStore(keyed_file(path / "rooms.journal")).load()[0]
        self.assertEqual(again.id, made.id)
        self.assertEqual(Room.from_record(again).conversation, f"lobby~{made.id}")

    def test_history_on_disk_of_a_room_that_ended_is_deleted(self) -> None:
        directory = Path(self.mktemp())
        clock = Clock()
        store = FileHistory(directory, clock, Retention(), Sync(), Sync(),  # type: ignore[arg-type]
                            window=0.2)
        store.room_event("hush", Said("hush", "ann", "secret", room_id="A", id="1", at=1.0))
        store.room_event("lobby", Said("lobby", "ann", "kept", id="2", at=1.0))
        clock.advance(0.2)
        hush = directory / file_name(room_conversation("hush", "A"))
        self.assertTrue(hush.exists())
        store.forget(room_conversation("hush", "A"))
        clock.advance(0.2)
        self.assertFalse(hush.exists())
        self.assertTrue((directory / file_name("lobby")).exists())

    def test_at_start_the_history_of_rooms_that_are_gone_is_dropped(self) -> None:
        directory = Path(self.mktemp())
        clock = Clock()
        first = FileHistory(directory, clock, Retention(), Sync(), Sync(),  # type: ignore[arg-type]
                            window=0.2)
        first.room_event("hush", Said("hush", "ann", "secret", room_id="A", id="1", at=1.0))
        first.room_event("lobby", Said("lobby", "ann", "kept", id="2", at=1.0))
        clock.advance(0.2)
        again = FileHistory(directory, clock, Retention(), Sync(), Sync(),  # type: ignore[arg-type]
                            window=0.2)
        again.load()
        again.retain_rooms({"lobby"})
        clock.advance(0.2)
        self.assertEqual(sorted(again.kept), ["lobby"])
        self.assertEqual(sorted(path.name for path in directory.iterdir()),
                         [file_name("lobby")])


class FakeCommands:
    """Redis as the shared history's forget sees it: the streams it deletes."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete(self, key: str) -> Deferred[int]:
        self.deleted.append(key)
        return succeed(1)


class Cluster(TestCase):
    def test_the_shared_history_keeps_a_room_under_its_id_and_deletes_its_stream(self) -> None:
        redis = FakeCommands()
        history = SharedHistory(Clock(), Retention())
        history.commands = lambda: redis
        history.room_event("hush", Said("hush", "ann", "secret", room_id="A", id="1", at=1.0))
        history.room_event("hush", Said("hush", "eve", "later", room_id="B", id="2", at=2.0))
        self.assertEqual(
            [e.text for e in history.query("hush~A", HistoryQuery("latest", 9))],  # type: ignore[attr-defined]
            ["secret"])
        self.assertEqual(
            [e.text for e in history.query("hush~B", HistoryQuery("latest", 9))],  # type: ignore[attr-defined]
            ["later"])
        self.assertEqual(history.query("hush", HistoryQuery("latest", 9)), [])
        history.forget("hush~A")
        self.assertEqual(redis.deleted, [STREAM + "hush~A"])
        self.assertEqual(history.query("hush~A", HistoryQuery("latest", 9)), [])

    def test_another_node_holds_a_room_under_the_id_it_was_made_with(self) -> None:
        here = World(Path(self.mktemp()).absolute().parent)
        made = Room("hush", "hush", 10, id="01KQ4ZP5K3M0V7W2X4Y6Z8A0BC")
        replica = Replica(here.server)
        replica.room_event("n2", "hush", Joined("hush", "ann"),
                           {"room": room_state(made), "user": {"name": "ann"}})
        self.assertEqual(here.server.rooms["hush"].conversation, made.conversation)
