"""A real ``twistd chatd`` on damaged journals: it refuses to start with one line naming the
file and byte offset and leaves the file alone; ``chatd-admin repair`` lets it start again with
every intact record."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chatd.storage.journal import Journal, encode_record

from tests.integration.harness import daemon_env
from tests.integration.test_daemon import DaemonTestCase

pytestmark = pytest.mark.daemon


def account(i: int) -> dict[str, object]:
    # A hash the daemon never has to verify: these accounts are only counted.
    return {"name": f"user{i}", "hash": "$argon2id$v=19$m=1024,t=1,p=4$c2FsdA$ZGlnZXN0",
            "created": 1.0, "locked": False}


class DamagedJournalTests(DaemonTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.data.mkdir(mode=0o700)

    def write(self, name: str, kind: str, values: list[dict[str, object]]) -> list[int]:
        """A journal of ``values`` under keys user0, user1, ...; where each record starts."""
        journal = Journal(self.data / name, kind)
        journal.load()
        starts = []
        for i, value in enumerate(values):
            starts.append((self.data / name).stat().st_size)
            journal.append({"op": "put", "key": f"user{i}", "value": value})
        return starts

    def admin_repair(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from chatd.members.admin import main; main()",
             "--data", str(self.data), "repair"],
            capture_output=True, text=True, timeout=20, env=daemon_env(),
        )

    def test_a_flipped_bit_in_the_middle_stops_chatd_until_repaired(self) -> None:
        path = self.data / "members.journal"
        starts = self.write("members.journal", "chatd-members", [account(i) for i in range(12)])
        data = bytearray(path.read_bytes())
        data[starts[2] + 30] ^= 0x01  # record 3 of 12
        path.write_bytes(bytes(data))

        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1")

        self.assertIn(f"chatd: {path}: damaged record at byte {starts[2]} ", last)
        self.assertIn(f"chatd-admin --data {self.data} repair", last)
        self.assertEqual(path.read_bytes(), bytes(data), "the file is left untouched")

        repaired = self.admin_repair()
        self.assertEqual(repaired.returncode, 0, repaired.stderr)
        self.assertIn("members.journal: 11 records kept, 1 damaged skipped", repaired.stdout)
        copies = list(self.data.glob("members.journal.damaged-*"))
        self.assertEqual([c.read_bytes() for c in copies], [bytes(data)])
        daemon = self.daemon()
        self.assertIn("11 accounts", daemon.run_log())

    def test_a_room_of_the_wrong_type_stops_chatd_with_one_line(self) -> None:
        room = {"name": "Club", "owner": "ann", "limit": 5, "password_hash": None, "topic": ""}
        starts = self.write("rooms.journal", "chatd-rooms",
                            [room, {**room, "limit": "many"}, room])

        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1")

        self.assertIn(f"rooms.journal: damaged record at byte {starts[1]} (the room's limit "
                      "is 'many')", last)

    def test_a_zeroed_last_4_kib_stops_chatd_until_repaired_with_every_intact_record(
        self
    ) -> None:
        path = self.data / "members.journal"
        starts = self.write("members.journal", "chatd-members", [account(i) for i in range(40)])
        data = path.read_bytes()
        zeroed = data[:-4096] + bytes(4096)
        path.write_bytes(zeroed)
        intact = sum(1 for start in starts[1:] if start <= len(data) - 4096)
        self.assertGreater(40 - intact, 15, "many acknowledged records are gone")

        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1")

        self.assertIn(f"chatd: {path}: from byte {starts[intact]}, ", last)
        self.assertIn("acknowledged records were lost", last)
        self.assertIn(f"chatd-admin --data {self.data} repair", last)
        self.assertEqual(path.read_bytes(), zeroed, "the file is left untouched")

        repaired = self.admin_repair()
        self.assertEqual(repaired.returncode, 0, repaired.stderr)
        self.assertIn(f"members.journal: skipped {len(data) - starts[intact]} bytes at byte "
                      f"{starts[intact]}: the last", repaired.stdout)
        self.assertIn(f"members.journal: {intact} records kept, 1 damaged skipped",
                      repaired.stdout)
        self.assertIn(f"{intact} accounts", self.daemon().run_log())

    def test_a_torn_last_record_is_cut_and_chatd_starts(self) -> None:
        path = self.data / "members.journal"
        self.write("members.journal", "chatd-members", [account(i) for i in range(3)])
        whole = path.read_bytes()
        path.write_bytes(whole + encode_record({"op": "put", "key": "x"})[:17])
        daemon = self.daemon()
        self.assertIn("3 accounts", daemon.run_log())
        self.assertIn("incomplete last record at byte", daemon.run_log())
        self.assertEqual(path.read_bytes(), whole)
