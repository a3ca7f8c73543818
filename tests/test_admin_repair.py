"""``chatd-admin --data DIR repair``: the operator's way past a journal that a daemon refused;
``rooms`` and ``give-room``: who owns each room, and the way to give a deleted account's rooms
to another account."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.kernel.errors import StartupError
from chatd.kernel.records import RoomRecord
from chatd.members.admin import Offline, _run, main, parse, repair, rooms
from chatd.members.local import LocalDirectory, account_problem
from chatd.storage.journal import DirectoryLock
from chatd.storage.rooms import FileRoomStore

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
        self.assertIn("has no members.journal or rooms.journal", str(error))

    def test_repair_needs_the_data_directory(self) -> None:
        error = self.assertRaises(SystemExit, main, ["repair"])
        self.assertIn("give --data DIR", str(error))



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
        self.assertIn("its rooms Vault keep their settings and have no owner now; chatd-admin "
                      f"--data {self.data} give-room ROOM ACCOUNT", said)
        self.assertIn("it owned no rooms here", self.delete("ann"))

    def test_rooms_lists_each_owner(self) -> None:
        self.delete("victim")
        listed = self.output(lambda: rooms(self.data))
        self.assertRegex(listed, r"Vault +victim +[0-9a-f]{16} +nobody: the account was deleted")
        self.assertRegex(listed, r"Old +Ann +- +not resolved yet")
        self.assertIn("2 rooms", listed)

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

    def test_rooms_need_the_data_directory(self) -> None:
        error = self.assertRaises(SystemExit, main, ["give-room", "vault", "ann"])
        self.assertIn("give --data DIR", str(error))


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
