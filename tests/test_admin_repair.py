"""``chatd-admin --data DIR repair``: the operator's way past a journal that a daemon refused."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from twisted.trial.unittest import TestCase

from chatd.kernel.errors import StartupError
from chatd.members.admin import main, repair
from chatd.members.local import account_problem
from chatd.storage.journal import DirectoryLock

from fakes import keyed_file


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

