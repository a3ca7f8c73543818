"""``chatd-admin --data DIR repair``: the operator's way past a journal that a daemon refused;
``rooms`` and ``give-room``: who owns each room, and the way to give a deleted account's rooms
to another account, offline and online against the member service (in memory);
``export-rooms``: a chatd's own rooms into the member service's file."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.protocols import amp
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import TestCase

from chatd.kernel.errors import StartupError
from chatd.kernel.records import NO_OWNER, RoomRecord
from chatd.members.admin import Offline, Remote, _run, main, parse, repair, rooms
from chatd.members.local import LocalDirectory, account_problem
from chatd.members.rooms import RoomBook
from chatd.members.secret import greet
from chatd.members.server import MemberServerFactory
from chatd.storage.journal import DirectoryLock
from chatd.storage.rooms import FileRoomStore, room_problem

from fakes import FakeHasher, keyed_file


def account(i: int) -> dict[str, object]:
    return {"name": f"user{i}", "hash": "fake$password1", "created": 1.0, "locked": False}


class RepairCommandTests(TestCase):
    def setUp(self) -> None:
        self.data = Path(self.mktemp())
        self.data.mkdir(parents=True)
        members = keyed_file(self.data / "members.journal", "chatd-members")
        members.load()
        for i in range(12):
            # Damage a checksum can't see: a valid record whose name is not a string.
            members.put(f"user{i}", {**account(i), "name": 5} if i == 3 else account(i))
        rooms = keyed_file(self.data / "rooms.journal", "chatd-rooms")
        rooms.load()
        rooms.put("club", {"name": "Club", "owner": "user1", "limit": 5,
                           "password_hash": None, "topic": ""})

    def run_repair(self) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            repair(self.data)
        return out.getvalue()

    def test_a_record_of_the_wrong_type_is_skipped_and_the_rest_kept(self) -> None:
        path = self.data / "members.journal"
        original = path.read_bytes()
        self.assertRaises(StartupError, keyed_file(path, "chatd-members").load, account_problem)

        output = self.run_repair()

        self.assertIn("members.journal: skipped", output)
        self.assertIn("the account's name is 5", output)
        self.assertIn("11 records kept, 1 damaged skipped; the original is in "
                      "members.journal.damaged-", output)
        self.assertIn("rooms.journal: intact, 1 records; nothing changed", output)
        copies = list(self.data.glob("members.journal.damaged-*"))
        self.assertEqual([c.read_bytes() for c in copies], [original])
        live = keyed_file(path, "chatd-members").load(account_problem)
        self.assertEqual(sorted(live), sorted(f"user{i}" for i in range(12) if i != 3))

    def test_a_running_daemons_directory_is_refused(self) -> None:
        lock = DirectoryLock(self.data)
        lock.acquire()
        self.addCleanup(lock.release)
        error = self.assertRaises(StartupError, repair, self.data)
        self.assertIn("in use by another daemon", str(error))

    def test_a_directory_without_journals_is_refused(self) -> None:
        empty = Path(self.mktemp())
        empty.mkdir()
        error = self.assertRaises(StartupError, repair, empty)
        self.assertIn("has no members.journal or rooms.journal or files.journal", str(error))

    def test_repair_needs_the_data_directory(self) -> None:
        error = self.assertRaises(SystemExit, main, ["repair"])
        self.assertIn("give --data DIR", str(error))

    def test_the_file_stores_journal_is_repaired_too(self) -> None:
        """The daemon names it when it refuses to load it, and sends the operator here."""
        path = self.data / "files.journal"
        files = keyed_file(path, "chatd-files")
        files.load()
        for i in range(3):
            files.put(f"{i:032x}", {"name": f"f{i}.txt", "size": 1})
        path.write_bytes(path.read_bytes()[:-20] + bytes(20))

        output = self.run_repair()

        self.assertIn("files.journal: 2 records kept, 1 damaged skipped", output)
        self.assertEqual(len(keyed_file(path, "chatd-files").load()), 2)

    def test_a_zeroed_end_is_dropped_and_every_record_before_it_kept(self) -> None:
        path = self.data / "rooms.journal"
        rooms = keyed_file(path, "chatd-rooms")
        rooms.load()
        ends = [path.stat().st_size]
        for i in range(40):
            rooms.put(f"room{i}", {"name": f"Room{i}", "owner": "user1", "limit": 5,
                                   "topic": "t" * 80})
            ends.append(path.stat().st_size)
        zeroed = path.read_bytes()[:-2048] + bytes(2048)
        path.write_bytes(zeroed)
        intact = sum(1 for end in ends[1:] if end <= len(zeroed) - 2048)
        self.assertRaises(StartupError, keyed_file(path, "chatd-rooms").load, room_problem)

        output = self.run_repair()

        lost = ends[-1] - ends[intact]
        self.assertIn(f"rooms.journal: skipped {lost} bytes at byte {ends[intact]}: the "
                      f"last {lost} bytes hold no record", output)
        self.assertIn("acknowledged records were lost", output)
        self.assertIn(f"rooms.journal: {intact + 1} records kept, 1 damaged skipped", output)
        live = keyed_file(path, "chatd-rooms").load(room_problem)
        self.assertEqual(sorted(live), sorted(["club", *(f"room{i}" for i in range(intact))]))



class RoomOwnerCommandTests(TestCase):
    """``chatd-admin --data DIR rooms | give-room | delete`` on a stopped chatd with embedded
    accounts: what a deleted account's rooms become, and how an operator gives them away."""

    def setUp(self) -> None:
        self.data = Path(self.mktemp())
        self.data.mkdir(parents=True)
        directory = self.directory()
        self.victim = self.successResultOf(directory.signup("victim", "password1"))
        self.ann = self.successResultOf(directory.signup("Ann", "password1"))
        store = FileRoomStore(keyed_file(self.data / "rooms.journal", "chatd-rooms"))
        store.load()
        store.create(RoomRecord("vault", "Vault", "victim", 5, "fake$sesame", "",
                                self.victim.id))
        store.create(RoomRecord("old", "Old", "Ann", 5, None, ""))

    def directory(self) -> LocalDirectory:
        directory = LocalDirectory(keyed_file(self.data / "members.journal", "chatd-members"),
                                   FakeHasher(), Clock())
        directory.load()
        return directory

    def output(self, run: Callable[[], object]) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            run()
        return out.getvalue()

    def delete(self, name: str) -> str:
        args = parse(["--data", str(self.data), "delete", name])
        backend = Offline(self.directory())
        return self.output(lambda: self.successResultOf(defer.ensureDeferred(_run(backend,
                                                                                   args))))

    def test_deleting_an_account_says_its_rooms_have_no_owner_now(self) -> None:
        said = self.delete("victim")
        self.assertIn("victim deleted\n", said)
        self.assertIn("its room Vault keeps its settings and has no owner now; chatd-admin "
                      f"--data {self.data} give-room ROOM ACCOUNT", said)
        self.assertIn("it owned no rooms here", self.delete("ann"))
        stored = FileRoomStore(keyed_file(self.data / "rooms.journal", "chatd-rooms")).load()
        self.assertEqual([r.owner_id for r in stored if r.key == "vault"], [NO_OWNER])

    def test_rooms_lists_each_owner(self) -> None:
        self.delete("victim")
        # Someone else takes the name: the room is not shown as theirs.
        self.successResultOf(self.directory().signup("victim", "password2"))
        listed = self.output(lambda: rooms(self.data))
        self.assertRegex(listed, r"Vault +- +- +nobody: its owner's account was deleted")
        self.assertNotRegex(listed, r"Vault +victim")
        self.assertRegex(listed, r"Old +Ann +- +not resolved yet")
        self.assertIn("2 rooms", listed)

    def test_several_rooms_are_listed_as_rooms(self) -> None:
        store = FileRoomStore(keyed_file(self.data / "rooms.journal", "chatd-rooms"))
        store.load()
        store.create(RoomRecord("den", "Den", "victim", 5, None, "", self.victim.id))
        self.assertIn("its rooms Den, Vault keep their settings and have no owner now",
                      self.delete("victim"))

    def test_give_room_makes_an_account_the_owner(self) -> None:
        self.delete("victim")
        said = self.output(lambda: rooms(self.data, ("vault", "ann", None)))
        self.assertEqual(said, f"Vault now belongs to Ann ({self.ann.id})\n")
        stored = FileRoomStore(keyed_file(self.data / "rooms.journal", "chatd-rooms")).load()
        vault = next(record for record in stored if record.key == "vault")
        self.assertEqual((vault.owner, vault.owner_id, vault.password_hash),
                         ("Ann", self.ann.id, "fake$sesame"))

    def test_give_room_without_the_accounts_needs_the_id(self) -> None:
        (self.data / "members.journal").unlink()
        error = self.assertRaises(StartupError, rooms, self.data, ("vault", "ann", None))
        self.assertIn("--id", str(error))
        said = self.output(lambda: rooms(self.data, ("vault", "ann", "0123456789abcdef")))
        self.assertEqual(said, "Vault now belongs to ann (0123456789abcdef)\n")

    def test_export_rooms_needs_the_data_directory(self) -> None:
        error = self.assertRaises(SystemExit, main, ["export-rooms", "--to", "x"])
        self.assertIn("give --data DIR", str(error))


class OnlineRoomCommandTests(TestCase):
    """``rooms``, ``give-room`` and ``delete`` against a member service that keeps the rooms,
    over AMP in memory."""

    def setUp(self) -> None:
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        self.directory = LocalDirectory(keyed_file(path / "members.journal", "chatd-members"),
                                        FakeHasher(), reactor)
        self.directory.load()
        self.victim = self.successResultOf(self.directory.signup("victim", "password1"))
        self.ann = self.successResultOf(self.directory.signup("Ann", "password1"))
        self.book = RoomBook(FileRoomStore(keyed_file(path / "rooms.journal", "chatd-rooms")))
        self.book.load()
        self.successResultOf(self.book.create(
            RoomRecord("vault", "Vault", "victim", 5, "fake$sesame", "", self.victim.id)))
        self.told: list[str] = []
        self.book.watch(lambda key, record, origin: self.told.append(key))
        factory = MemberServerFactory(self.directory, "s" * 32, reactor, self.book)
        self.client, _, self.pump = connectedServerAndClient(
            lambda: factory.buildProtocol(None), amp.AMP)
        greet(self.client, "s" * 32)
        self.pump.flush()

    def admin(self, *argv: str) -> str:
        args = parse(["--members", "tcp:127.0.0.1:1", *argv])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            done = defer.ensureDeferred(_run(Remote(self.client), args))
            for _ in range(50):
                if done.called:
                    break
                self.pump.flush()
            self.successResultOf(done)
        return out.getvalue()

    def test_rooms_lists_the_services_rooms_and_owners(self) -> None:
        listed = self.admin("rooms")
        self.assertRegex(listed, rf"Vault +victim +{self.victim.id} +victim")
        self.assertIn("1 room\n", listed)

    def test_deleting_an_account_names_its_rooms_and_give_room_gives_one(self) -> None:
        said = self.admin("delete", "victim")
        self.assertIn("its room Vault keeps its settings and has no owner now", said)
        self.successResultOf(self.directory.signup("victim", "password2"))
        listed = self.admin("rooms")
        self.assertRegex(listed, r"Vault +- +- +nobody: its owner's account was deleted")
        said = self.admin("give-room", "#vault", "ann")
        self.assertIn(f"Vault now belongs to Ann ({self.ann.id})", said)
        [vault] = self.book.records()
        self.assertEqual((vault.owner, vault.owner_id, vault.password_hash),
                         ("Ann", self.ann.id, "fake$sesame"))
        self.assertEqual(self.told, ["vault", "vault"], "the chat daemons are told of both")


class ExportRoomsTests(TestCase):
    """``export-rooms``: a chatd's own rooms into the member service's room file."""

    def setUp(self) -> None:
        self.chatd = Path(self.mktemp())
        self.members = Path(self.mktemp())
        self.chatd.mkdir(parents=True)
        self.members.mkdir(parents=True)
        self.den = RoomRecord("den", "Den", "Ann", 5, "fake$x", "hi", "id-ann", ("eve",), "it")
        self.old = RoomRecord("old", "Old", "Ann", 5, None, "")
        own = FileRoomStore(keyed_file(self.chatd / "rooms.journal", "chatd-rooms"))
        own.load()
        own.create(self.den)
        own.create(self.old)

    def export(self) -> tuple[str, int]:
        out = io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out):
            try:
                main(["--data", str(self.chatd), "export-rooms", "--to", str(self.members)])
            except SystemExit as exit:
                assert isinstance(exit.code, int), exit.code
                code = exit.code
        return out.getvalue(), code

    def service_rooms(self) -> list[RoomRecord]:
        return FileRoomStore(keyed_file(self.members / "rooms.journal", "chatd-rooms")).load()

    def test_every_room_is_copied_whole_and_the_own_file_set_aside(self) -> None:
        output, code = self.export()
        self.assertEqual(code, 0, output)
        self.assertIn("2 rooms exported", output)
        self.assertEqual(self.service_rooms(), [self.den, self.old])
        self.assertFalse((self.chatd / "rooms.journal").exists())
        self.assertTrue((self.chatd / "rooms.journal.exported").exists())

    def test_a_different_room_of_the_same_name_is_refused_then_a_second_run_finishes(
            self) -> None:
        service = FileRoomStore(keyed_file(self.members / "rooms.journal", "chatd-rooms"))
        service.load()
        service.create(RoomRecord("den", "DEN", "Bob", 5, None, "", "id-bob"))
        output, code = self.export()
        self.assertEqual(code, 1)
        self.assertIn("Den: not exported", output)
        self.assertTrue((self.chatd / "rooms.journal").exists(), "nothing set aside")
        service = FileRoomStore(keyed_file(self.members / "rooms.journal", "chatd-rooms"))
        service.load()
        service.delete("den")
        output, code = self.export()
        self.assertEqual(code, 0, output)
        self.assertIn("1 room exported", output)
        self.assertIn("(1 already there)", output)
        self.assertEqual(self.service_rooms(), [self.den, self.old])

    def test_a_running_member_service_is_refused(self) -> None:
        lock = DirectoryLock(self.members)
        lock.acquire()
        self.addCleanup(lock.release)
        error = self.assertRaises(SystemExit, main, [
            "--data", str(self.chatd), "export-rooms", "--to", str(self.members)])
        self.assertIn("in use by another daemon", str(error))
        self.assertTrue((self.chatd / "rooms.journal").exists())


class ExportAccountsTests(TestCase):
    """``export-accounts``: chatd's embedded accounts into the member service's journal."""

    def setUp(self) -> None:
        self.chatd = Path(self.mktemp())
        self.members = Path(self.mktemp())
        self.chatd.mkdir(parents=True)
        self.members.mkdir(parents=True)
        embedded = keyed_file(self.chatd / "members.journal", "chatd-members")
        embedded.load()
        embedded.put("ann", {"name": "Ann", "hash": "fake$a", "created": 5.0, "locked": True,
                             "id": "id-ann"})
        # An account from before account ids: its id is derived, and must stay the same.
        embedded.put("bob", {"name": "bob", "hash": "fake$b", "created": 7.0, "locked": False})

    def export(self, *extra: str) -> tuple[str, int]:
        out = io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out):
            try:
                main(["--data", str(self.chatd), "export-accounts", "--to", str(self.members),
                      *extra])
            except SystemExit as exit:
                assert isinstance(exit.code, int), exit.code
                code = exit.code
        return out.getvalue(), code

    def service(self) -> LocalDirectory:
        directory = LocalDirectory(keyed_file(self.members / "members.journal",
                                              "chatd-members"), FakeHasher(), Clock())
        directory.load()
        return directory

    def test_every_account_is_copied_with_its_hash_id_creation_and_lock(self) -> None:
        before = {a.name: a for a in self.embedded_accounts()}
        output, code = self.export()
        self.assertEqual(code, 0)
        self.assertIn("2 accounts exported", output)
        after = {a.name: a for a in self.service().accounts()}
        self.assertEqual(after, before)
        self.assertTrue(after["Ann"].locked)
        self.assertEqual(after["Ann"].id, "id-ann")
        raw = keyed_file(self.members / "members.journal", "chatd-members").load()
        self.assertEqual(raw["ann"]["hash"], "fake$a")
        self.assertFalse((self.chatd / "members.journal").exists(),
                         "moved: chatd no longer warns of unused accounts")
        self.assertTrue((self.chatd / "members.journal.exported").exists())

    def embedded_accounts(self) -> list[Any]:
        directory = LocalDirectory(keyed_file(self.chatd / "members.journal", "chatd-members"),
                                   FakeHasher(), Clock())
        directory.load()
        return directory.accounts()

    def test_names_the_service_has_are_refused_and_reported(self) -> None:
        service = keyed_file(self.members / "members.journal", "chatd-members")
        service.load()
        service.put("b0b", {"name": "b0b", "hash": "fake$other", "created": 1.0, "id": "x"})
        output, code = self.export()
        self.assertEqual(code, 1)
        self.assertIn("bob: not exported", output)
        self.assertIn("1 not exported: bob", output)
        accounts = {a.name: a for a in self.service().accounts()}
        self.assertEqual(sorted(accounts), ["Ann", "b0b"], "the look-alike b0b kept")
        self.assertEqual(accounts["b0b"].id, "x")
        self.assertTrue((self.chatd / "members.journal").exists(), "nothing moved")

    def test_a_second_run_skips_what_the_first_copied(self) -> None:
        service = keyed_file(self.members / "members.journal", "chatd-members")
        service.load()
        service.put("bob", {"name": "bob", "hash": "fake$other", "created": 1.0, "id": "x"})
        self.assertEqual(self.export()[1], 1)
        service = keyed_file(self.members / "members.journal", "chatd-members")
        service.load()
        service.delete("bob")
        output, code = self.export()
        self.assertEqual(code, 0)
        self.assertIn("1 account exported", output)
        self.assertIn("(1 already there)", output)
        self.assertEqual(sorted(a.name for a in self.service().accounts()), ["Ann", "bob"])

    def test_a_running_member_service_is_refused(self) -> None:
        lock = DirectoryLock(self.members)
        lock.acquire()
        self.addCleanup(lock.release)
        error = self.assertRaises(SystemExit, main, [
            "--data", str(self.chatd), "export-accounts", "--to", str(self.members)])
        self.assertIn("in use by another daemon", str(error))
        self.assertTrue((self.chatd / "members.journal").exists())

    def test_export_needs_the_data_directory(self) -> None:
        error = self.assertRaises(SystemExit, main, ["export-accounts", "--to", "x"])
        self.assertIn("give --data DIR", str(error))
