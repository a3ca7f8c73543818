"""Rooms belong to account ids, not names: whoever registers a deleted account's name gets the
name and nothing else; deleting or locking an account ends its sessions; rooms stored before
account ids are resolved once, at start-up, and a restart keeps what they resolved to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatd.bus.local import LocalBus
from chatd.core.listing import room_view
from chatd.core.service import ChatServer, Limits
from chatd.core.session import Session
from chatd.delivery import Delivery
from chatd.kernel.errors import AccountsUnavailable, NotAllowed, WrongRoomPassword
from chatd.kernel.events import LeaveReason, Left, SessionEnded
from chatd.kernel.records import NO_OWNER, Account
from chatd.members.local import LocalDirectory, legacy_id
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore

from fakes import FakeHasher, RecordingMind, World, keyed_file


def codes(lines: list[str]) -> list[str]:
    return [line[:3] for line in lines]


class DeletedAccountTests(SynchronousTestCase):
    """The issue's scenario: delete victim, sign victim up again, try victim's locked room."""

    def setUp(self) -> None:
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        self.world = World(path)
        self.victim = self.account("victim")
        self.session, self.mind = self.login(self.victim)
        self.successResultOf(self.session.create("vault", None, "sesame"))
        self.bob, self.bob_mind = self.world.spy("bob")
        self.successResultOf(self.bob.join("vault", "sesame"))

    def account(self, name: str) -> Account:
        account: Account = self.successResultOf(self.world.directory.signup(name, "password1"))
        return account

    def login(self, account: Account) -> tuple[Session, RecordingMind]:
        """An account session whose events a RecordingMind keeps (as World.spy for guests)."""
        mind = RecordingMind()
        session = self.world.server.connect(account.name, False, account_id=account.id)
        self.world.delivery.attach(session.key, session.id, mind)
        return session, mind

    def test_deleting_an_account_ends_its_sessions_and_its_rooms_hear_it_leave(self) -> None:
        self.successResultOf(self.world.directory.delete("victim"))
        ended = [e for e in self.mind.events if isinstance(e, SessionEnded)]
        self.assertEqual([(e.user, e.why) for e in ended],
                         [("victim", "account deleted by an operator")])
        left = [e for e in self.bob_mind.events if isinstance(e, Left)]
        self.assertEqual([(e.room, e.who, e.reason, e.message) for e in left],
                         [("vault", "victim", LeaveReason.QUIT, "account deleted by an operator")])
        self.assertNotIn("victim", self.world.server.users)
        self.assertEqual(self.world.server.rooms["vault"].members.keys(), {"bob"})
        self.assertTrue(self.session.closed)
        self.assertRaises(NotAllowed, self.session.join, "lobby")
        self.assertRaises(NotAllowed, self.session.message, "bob", "still here?")

    def test_whoever_signs_up_with_a_deleted_name_owns_none_of_its_rooms(self) -> None:
        self.successResultOf(self.world.directory.delete("victim"))
        again = self.account("victim")
        self.assertNotEqual(again.id, self.victim.id)
        session, _ = self.login(again)
        self.assertRaises(NotAllowed, session.unlock, "vault")
        self.assertRaises(NotAllowed, session.delete, "vault")
        self.assertRaises(NotAllowed, session.lock, "vault", "mine")
        self.assertRaises(NotAllowed, session.set_limit, "vault", 5)
        self.assertRaises(NotAllowed, session.set_topic, "vault", "mine now")
        self.assertRaises(WrongRoomPassword, session.join, "vault")
        vault = self.world.server.rooms["vault"]
        self.assertTrue(vault.locked)
        self.assertEqual(vault.owner_id, NO_OWNER, "nobody's until an operator decides")
        self.assertEqual(room_view(vault).owner, "", "shown as nobody's")

    def test_over_the_wire_the_new_account_gets_403_and_the_locked_room(self) -> None:
        self.session.quit()
        self.successResultOf(self.world.directory.delete("victim"))
        client = self.world.connect()
        self.assertEqual(codes(client.send("/signup victim password2")), ["201"])
        listed = "\n".join(client.send("/rooms"))
        self.assertIn("vault 1/", listed)
        self.assertIn("no owner", listed)
        self.assertNotIn("owned by victim", listed)
        self.assertEqual(codes(client.send("/unlock vault")), ["403"])
        self.assertEqual(codes(client.send("/delete vault")), ["403"])
        self.assertEqual(codes(client.send("/lock vault mine")), ["403"])
        self.assertEqual(codes(client.send("/limit vault 5")), ["403"])
        self.assertEqual(codes(client.send("/join vault")), ["431"])

    def test_locking_an_account_ends_its_sessions(self) -> None:
        self.successResultOf(self.world.directory.set_locked("victim", True))
        ended = [e for e in self.mind.events if isinstance(e, SessionEnded)]
        self.assertEqual([e.why for e in ended], ["account locked by an operator"])
        self.assertNotIn("victim", self.world.server.users)
        self.assertEqual(self.world.server.rooms["vault"].members.keys(), {"bob"})
        self.successResultOf(self.world.directory.set_locked("victim", False))
        session, _ = self.login(self.victim)
        self.successResultOf(session.unlock("vault"))

    def test_every_session_of_the_account_ends(self) -> None:
        second, second_mind = self.login(self.victim)
        self.successResultOf(self.world.directory.delete("victim"))
        self.assertTrue(second.closed)
        self.assertEqual([type(e) for e in second_mind.events], [Left, SessionEnded],
                         "its own leaving, then the end")
        self.assertEqual(self.world.server.session_count, 1, "bob's alone")

    def test_a_new_account_of_the_name_logging_in_ends_a_missed_deleted_ones_sessions(
        self,
    ) -> None:
        # The deletion was not heard (a member service unreachable at the time): the old
        # account's sessions are still here when the name's new account logs in.
        newcomer = Account("victim", "victim", "0123456789abcdef")
        session, _ = self.login(newcomer)
        self.assertTrue(self.session.closed)
        self.assertIn(SessionEnded, [type(e) for e in self.mind.events])
        self.assertIs(self.world.server.users["victim"].sessions[0], session)
        self.assertRaises(NotAllowed, session.unlock, "vault")

    def test_the_end_of_someone_elses_account_of_the_name_ends_nothing(self) -> None:
        self.world.server.end_account(Account("victim", "victim", "0123456789abcdef"),
                                      "deleted")
        self.assertFalse(self.session.closed)


def _store(path: Path) -> tuple[KeyedFile, FileRoomStore]:
    file = keyed_file(path / "rooms.journal", "chatd-rooms")
    return file, FileRoomStore(file)


class FlakyDirectory:
    """The embedded directory behind a switch that makes it answer as an unreachable
    member service does."""

    def __init__(self, directory: LocalDirectory) -> None:
        self.directory = directory
        self.down = True
        self.lookups = 0

    def lookup(self, name: str) -> Deferred[Account | None]:
        self.lookups += 1
        if self.down:
            return fail(AccountsUnavailable("the member service is unreachable"))
        return self.directory.lookup(name)

    def watch(self, ended: Any) -> None:
        self.directory.watch(ended)


class RestartTests(SynchronousTestCase):
    """Rooms and accounts from files, as ``twistd chatd`` loads them."""

    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.mkdir(parents=True)
        self.clock = Clock()
        self.hasher = FakeHasher()

    def found(self, directory: LocalDirectory, name: str) -> Account:
        account = self.successResultOf(directory.lookup(name))
        assert account is not None
        return account

    def directory(self) -> LocalDirectory:
        directory = LocalDirectory(keyed_file(self.path / "members.journal", "chatd-members"),
                                   self.hasher, self.clock)
        directory.load()
        return directory

    def server(self, directory: Any) -> ChatServer:
        bus = LocalBus()
        bus.listen(Delivery())
        server = ChatServer(_store(self.path)[1], self.hasher, directory, Limits(),
                            self.clock, bus)
        server.load_rooms()
        return server

    def test_a_restart_keeps_each_rooms_owner_id(self) -> None:
        directory = self.directory()
        ann = self.successResultOf(directory.signup("Ann", "password1"))
        server = self.server(directory)
        session = server.connect("Ann", False, account_id=ann.id)
        self.successResultOf(session.create("club", None, None))

        directory = self.directory()
        self.assertEqual(self.found(directory, "ann"), ann)
        server = self.server(directory)
        self.assertEqual(server.rooms["club"].owner_id, ann.id)
        again = server.connect("Ann", False, account_id=ann.id)
        self.successResultOf(again.set_limit("club", 7))

    def legacy_files(self) -> None:
        """Files as chatd wrote them before account ids: neither accounts nor rooms have one."""
        members = keyed_file(self.path / "members.journal", "chatd-members")
        members.load()
        self.successResultOf(members.put("ann", {"name": "Ann", "hash": "fake$password1",
                                                 "created": 1000.0, "locked": False}))
        rooms, _ = _store(self.path)
        rooms.load()
        for key, owner in (("club", "Ann"), ("den", "Gone")):
            self.successResultOf(rooms.put(key, {"name": key.title(), "owner": owner,
                                                 "limit": 10, "password_hash": None,
                                                 "topic": ""}))

    def test_accounts_from_before_ids_keep_one_id_across_restarts(self) -> None:
        self.legacy_files()
        first = self.found(self.directory(), "ann")
        self.assertEqual(first.id, legacy_id("ann", {"created": 1000.0}))
        self.assertEqual(self.found(self.directory(), "ann"), first)
        directory = self.directory()
        self.successResultOf(directory.set_locked("ann", False))
        members = keyed_file(self.path / "members.journal", "chatd-members")
        self.assertEqual(members.load()["ann"]["id"], first.id, "stored with the next change")

    def test_rooms_from_before_ids_go_to_the_account_of_the_name_or_to_nobody(self) -> None:
        self.legacy_files()
        directory = self.directory()
        ann = self.found(directory, "ann")
        server = self.server(directory)
        self.assertEqual(server.rooms["club"].owner_id, ann.id)
        self.assertEqual(server.rooms["den"].owner_id, NO_OWNER)
        stored = {record.key: record.owner_id for record in _store(self.path)[1].load()}
        self.assertEqual(stored, {"club": ann.id, "den": NO_OWNER})

        # A restart after "Gone" registers: the room stays nobody's.
        gone = self.successResultOf(directory.signup("Gone", "password1"))
        server = self.server(self.directory())
        session = server.connect("Gone", False, account_id=gone.id)
        self.assertRaises(NotAllowed, session.delete, "den")
        self.successResultOf(server.connect("Ann", False, account_id=ann.id).delete("club"))

    def test_with_an_unreachable_member_service_old_rooms_are_nobodys_until_it_answers(
        self,
    ) -> None:
        self.legacy_files()
        flaky = FlakyDirectory(self.directory())
        ann = self.found(flaky.directory, "ann")
        server = self.server(flaky)
        self.assertEqual(server.rooms["club"].owner_id, "")
        session = server.connect("Ann", False, account_id=ann.id)
        self.assertRaises(NotAllowed, session.set_limit, "club", 3)
        self.clock.advance(1)
        self.assertEqual(flaky.lookups, 4, "tried again after a second")
        flaky.down = False
        self.clock.advance(2)
        self.assertEqual(server.rooms["club"].owner_id, ann.id)
        self.assertEqual(server.rooms["den"].owner_id, NO_OWNER)
        self.successResultOf(session.set_limit("club", 3))
        self.clock.advance(600)
        self.assertEqual(flaky.lookups, 6, "and not again once resolved")

