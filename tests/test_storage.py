"""The journal and the stores on it: durability format, torn tails, failed writes, damage in the
middle and its repair, record shapes, compaction, the lock."""

from __future__ import annotations

import errno
import json
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import TestCase

from chatd.kernel.errors import StartupError, StorageFailed
from chatd.kernel.records import RoomRecord
from chatd.members.local import LocalDirectory, account_problem
from chatd.storage.journal import (
    DirectoryLock,
    Journal,
    JournalWriter,
    SyncJournalWriter,
    decode_framed,
    decode_record,
    encode_record,
)
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore, room_problem

from fakes import FakeHasher, keyed_file


class RecordFormat(TestCase):
    def test_round_trip(self) -> None:
        record = {"op": "put", "key": "ünï", "value": {"n": 1}}
        line = encode_record(record)
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(decode_framed(line[:-1]), record)

    def test_damage_is_detected(self) -> None:
        line = encode_record({"op": "put", "key": "a"})[:-1]
        self.assertIsNone(decode_framed(line.replace(b'"a"', b'"b"')))
        self.assertIsNone(decode_framed(line[:-3]))
        self.assertIsNone(decode_framed(line[9:]), "a line without its length")
        self.assertIsNone(decode_framed(b"0000000c zzzzzzzz {}"))
        self.assertIsNone(decode_framed(b""))
        self.assertIsNone(decode_record(b"zzzzzzzz {}"))


class JournalTests(TestCase):
    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def test_new_file_has_header(self) -> None:
        self.assertEqual(Journal(self.path, "chatd-x").load(), [])
        self.assertEqual(self.path.read_bytes(), b"chatd-x 2\n")

    def test_other_kind_refused(self) -> None:
        self.path.write_bytes(b"something else\n")
        error = self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)
        self.assertIn("not a chatd-x 2 file", str(error))

    def test_torn_tail_at_every_byte(self) -> None:
        """A crash can cut the last record at any byte; every earlier record survives."""
        journal = Journal(self.path, "chatd-x")
        journal.load()
        for i in range(3):
            journal.append({"n": i})
        whole = self.path.read_bytes()
        last = encode_record({"n": 3})
        for cut in range(len(last)):
            self.path.write_bytes(whole + last[:cut])
            self.assertEqual(Journal(self.path, "chatd-x").load(), [{"n": 0}, {"n": 1}, {"n": 2}])
            self.assertEqual(self.path.read_bytes(), whole, "the torn tail is cut off")
        journal.append({"n": 3})
        self.assertEqual(len(Journal(self.path, "chatd-x").load()), 4)

    def test_a_whole_last_line_failing_its_checksum_is_damage_not_a_tear(self) -> None:
        """Its length is all there, so its append finished and was acknowledged."""
        journal = Journal(self.path, "chatd-x")
        journal.load()
        journal.append({"n": 0})
        damaged = self.path.read_bytes() + encode_record({"n": 1}).replace(b'"n"', b'"m"')
        self.path.write_bytes(damaged)
        error = self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)
        at = HEADER + len(encode_record({"n": 0}))
        self.assertIn(f"damaged record at byte {at} (checksum or format is wrong)", str(error))
        self.assertEqual(self.path.read_bytes(), damaged)

    def test_rewrite_is_atomic_rename(self) -> None:
        journal = Journal(self.path, "chatd-x")
        journal.load()
        journal.append({"n": 0})
        journal.rewrite([{"n": 9}])
        self.assertEqual(Journal(self.path, "chatd-x").load(), [{"n": 9}])
        self.assertFalse(self.path.with_name(self.path.name + ".tmp").exists())


def twelve_records(path: Path) -> tuple[bytes, list[int]]:
    """A journal of records n=0..11; its bytes and where each record starts."""
    journal = Journal(path, "chatd-x")
    journal.load()
    for i in range(12):
        journal.append({"n": i})
    data = path.read_bytes()
    starts = [len(journal.header)]
    for i in range(11):
        starts.append(starts[-1] + len(encode_record({"n": i})))
    return data, starts


def flip_a_bit(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x04]) + data[at + 1:]


class DamageInTheMiddleTests(TestCase):
    """Only a torn tail is the mark of a crash; damage anywhere else stops the load, and an
    operator's repair drops the damaged record alone."""

    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data, self.starts = twelve_records(self.path)
        # One flipped bit in the JSON of the third record (n=2).
        self.damaged = flip_a_bit(data, self.starts[2] + 12)
        self.path.write_bytes(self.damaged)

    def test_the_load_is_refused_naming_the_file_and_offset(self) -> None:
        error = self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)
        message = str(error)
        self.assertIn(f"{self.path}: damaged record at byte {self.starts[2]} ", message)
        self.assertIn("repair", message)
        self.assertNotIn("\n", message)

    def test_the_file_is_left_untouched(self) -> None:
        self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)
        self.assertEqual(self.path.read_bytes(), self.damaged)

    def test_a_damaged_record_with_only_a_torn_tail_after_it_is_still_refused(self) -> None:
        self.path.write_bytes(self.damaged + encode_record({"n": 12})[:5])
        self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)

    def test_repair_keeps_every_other_record_and_a_copy_of_the_original(self) -> None:
        scan, copy = Journal(self.path, "chatd-x").repair()
        assert copy is not None
        self.assertEqual(copy.read_bytes(), self.damaged)
        self.assertEqual(copy.stat().st_mode & 0o777, 0o600)
        self.assertEqual([d.offset for d in scan.damaged], [self.starts[2]])
        expected = [{"n": i} for i in range(12) if i != 2]
        self.assertEqual(Journal(self.path, "chatd-x").load(), expected)

    def test_repair_of_an_intact_journal_changes_nothing(self) -> None:
        Journal(self.path, "chatd-x").repair()
        repaired = self.path.read_bytes()
        scan, copy = Journal(self.path, "chatd-x").repair()
        self.assertIsNone(copy)
        self.assertEqual((scan.damaged, len(scan.records)), ([], 11))
        self.assertEqual(self.path.read_bytes(), repaired)

    def test_repair_recovers_a_record_glued_to_half_a_failed_one(self) -> None:
        """What older versions left after a disk-full error: half a record, then the next
        (acknowledged) append on the same line."""
        glued = encode_record({"n": 99})[:10] + encode_record({"n": 100})
        self.path.write_bytes(self.damaged[:self.starts[4]] + glued
                              + self.damaged[self.starts[4]:])
        scan, _ = Journal(self.path, "chatd-x").repair()
        self.assertEqual(scan.salvaged, 1)
        records = Journal(self.path, "chatd-x").load()
        self.assertIn({"n": 100}, records)
        self.assertNotIn({"n": 99}, records)
        self.assertEqual(len(records), 12)


def padded(i: int) -> dict[str, Any]:
    return {"n": i, "pad": "x" * 100}


def version_1_line(record: dict[str, Any]) -> bytes:
    """A record as version 1 of the journal wrote it: a checksum, no length."""
    data = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
    return b"%08x %s\n" % (zlib.crc32(data), data)


HEADER = len(b"chatd-x 2\n")


class ZeroedTailTests(TestCase):
    """A span zeroed at the end (a torn page, a power loss on some file systems) destroys
    acknowledged records; only an unfinished append, at most one record, is a crash's tear."""

    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        journal = Journal(self.path, "chatd-x")
        journal.load()
        for i in range(60):
            journal.append(padded(i))
        self.whole = self.path.read_bytes()
        self.ends = [HEADER]  # where each record ends
        for i in range(60):
            self.ends.append(self.ends[-1] + len(encode_record(padded(i))))
        self.line = len(encode_record(padded(59)))

    def intact(self, zeroed: int) -> int:
        """How many records lie wholly before the last ``zeroed`` bytes."""
        return sum(1 for end in self.ends[1:] if end <= len(self.whole) - zeroed)

    def zero_last(self, size: int) -> bytes:
        zeroed = self.whole[:-size] + bytes(size)
        self.path.write_bytes(zeroed)
        return zeroed

    def test_a_zeroed_last_4_kib_refuses_the_load_in_one_line_and_leaves_the_file(self) -> None:
        zeroed = self.zero_last(4096)
        error = self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)
        message = str(error)
        self.assertIn(f"{self.path}: from byte {self.ends[self.intact(4096)]}, ", message)
        self.assertIn("acknowledged records were lost", message)
        self.assertIn("repair", message)
        self.assertNotIn("\n", message)
        self.assertEqual(self.path.read_bytes(), zeroed)

    def test_a_zeroed_span_starting_on_a_record_boundary_is_refused(self) -> None:
        self.zero_last(3 * self.line)
        self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)

    def test_the_last_record_zeroed_from_its_middle_is_refused(self) -> None:
        """It was acknowledged: its length is whole, so no append was left unfinished."""
        self.zero_last(self.line // 2)
        self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)

    def test_repair_keeps_every_intact_record_and_says_what_it_dropped(self) -> None:
        zeroed = self.zero_last(4096)
        scan, copy = Journal(self.path, "chatd-x").repair()
        assert copy is not None
        self.assertEqual(copy.read_bytes(), zeroed)
        intact = self.intact(4096)
        self.assertEqual(len(scan.damaged), 1)
        self.assertIn("acknowledged records were lost", scan.damaged[0].reason)
        self.assertEqual(Journal(self.path, "chatd-x").load(), [padded(i) for i in range(intact)])

    def test_an_unfinished_append_followed_by_nothing_is_still_a_tear(self) -> None:
        self.path.write_bytes(self.whole + encode_record(padded(60))[:-1])
        self.assertEqual(len(Journal(self.path, "chatd-x").load()), 60)
        self.assertEqual(self.path.read_bytes(), self.whole)


class OldFormatTests(TestCase):
    """Version 1 lines carry no length: they still load, a tear is still cut, a zeroed tail
    is told by its zeros, and the first load rewrites the file in the current version."""

    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lines = [version_1_line(padded(i)) for i in range(40)]
        self.whole = b"chatd-x 1\n" + b"".join(self.lines)

    def test_an_old_file_loads_and_is_rewritten_in_the_current_format(self) -> None:
        self.path.write_bytes(self.whole)
        self.assertEqual(Journal(self.path, "chatd-x").load(), [padded(i) for i in range(40)])
        self.assertTrue(self.path.read_bytes().startswith(b"chatd-x 2\n"))
        self.assertEqual(Journal(self.path, "chatd-x").load(), [padded(i) for i in range(40)])

    def test_an_old_files_torn_tail_is_cut(self) -> None:
        self.path.write_bytes(self.whole + version_1_line(padded(40))[:30])
        self.assertEqual(len(Journal(self.path, "chatd-x").load()), 40)

    def test_an_old_files_zeroed_tail_is_refused(self) -> None:
        zeroed = self.whole[:-4096] + bytes(4096)
        self.path.write_bytes(zeroed)
        error = self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)
        self.assertIn("acknowledged records were lost", str(error))
        self.assertEqual(self.path.read_bytes(), zeroed)


class RecordShapeTests(TestCase):
    """A record with a valid checksum but the wrong types is a damaged record, not a
    TypeError at start-up."""

    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def journal_of(self, kind: str, values: list[dict[str, Any]]) -> list[int]:
        journal = Journal(self.path, kind)
        journal.load()
        starts = []
        for i, value in enumerate(values):
            starts.append(self.path.stat().st_size)
            journal.append({"op": "put", "key": f"k{i}", "value": value})
        return starts

    def room(self, **changes: Any) -> dict[str, Any]:
        return {"name": "Club", "owner": "alice", "limit": 5, "password_hash": None,
                "topic": "", **changes}

    def account(self, **changes: Any) -> dict[str, Any]:
        return {"name": "Ann", "hash": "fake$password1", "created": 1.5, "locked": False,
                **changes}

    def test_a_room_with_a_number_for_a_name_refuses_the_load(self) -> None:
        starts = self.journal_of("chatd-rooms", [self.room(), self.room(name=5), self.room()])
        store = FileRoomStore(keyed_file(self.path, "chatd-rooms"))
        error = self.assertRaises(StartupError, store.load)
        self.assertIn(f"damaged record at byte {starts[1]} (the room's name is 5)", str(error))

    def test_a_last_record_of_the_wrong_shape_is_not_cut_as_a_torn_tail(self) -> None:
        self.journal_of("chatd-rooms", [self.room(), self.room(limit=True)])
        before = self.path.read_bytes()
        store = FileRoomStore(keyed_file(self.path, "chatd-rooms"))
        self.assertRaises(StartupError, store.load)
        self.assertEqual(self.path.read_bytes(), before)

    def test_an_account_with_a_number_for_a_name_refuses_the_load(self) -> None:
        starts = self.journal_of("chatd-members", [self.account(), self.account(name=5)])
        directory = LocalDirectory(keyed_file(self.path, "chatd-members"), FakeHasher(),
                                   Clock())
        error = self.assertRaises(StartupError, directory.load)
        self.assertIn(f"damaged record at byte {starts[1]} (the account's name is 5)",
                      str(error))

    def test_shapes(self) -> None:
        self.assertIsNone(room_problem(self.room()))
        self.assertIsNone(room_problem({"name": "a", "owner": "b", "limit": 1}))
        self.assertIsNone(room_problem(self.room(password_hash="$argon2id$...")))
        for bad in ({"name": 5}, {"limit": "5"}, {"limit": False}, {"topic": None},
                    {"password_hash": 3}):
            self.assertIsNotNone(room_problem(self.room(**bad)), bad)
        self.assertIsNotNone(room_problem({"name": "a", "owner": "b"}))
        self.assertIsNone(account_problem(self.account()))
        self.assertIsNone(account_problem(self.account(created=7)))
        self.assertIsNone(account_problem({"name": "a", "hash": "h"}))
        for bad in ({"name": 5}, {"hash": None}, {"created": "now"}, {"created": True},
                    {"locked": 0}):
            self.assertIsNotNone(account_problem(self.account(**bad)), bad)

    def test_entries_without_a_key_or_with_an_unknown_operation_are_damaged(self) -> None:
        journal = Journal(self.path, "chatd-test")
        journal.load()
        for entry in ({"op": "put", "value": {}}, {"op": "zap", "key": "a"},
                      {"op": "put", "key": "a", "value": 3}, {"op": "del", "key": "a"}):
            journal.append(entry)
        scan, _ = keyed_file(self.path).repair()
        self.assertEqual(len(scan.damaged), 3)
        self.assertEqual(keyed_file(self.path).load(), {})

    def test_repair_skips_the_record_of_the_wrong_shape_alone(self) -> None:
        self.journal_of("chatd-rooms", [self.room(), self.room(owner=[]), self.room(topic="x")])
        scan, copy = keyed_file(self.path, "chatd-rooms").repair(room_problem)
        self.assertIsNotNone(copy)
        self.assertEqual([d.reason for d in scan.damaged], ["the room's owner is []"])
        rooms = FileRoomStore(keyed_file(self.path, "chatd-rooms")).load()
        self.assertEqual([(r.key, r.topic) for r in rooms], [("k0", ""), ("k2", "x")])


class FullDisk:
    """What the disk does next: how many writes fail halfway (ENOSPC), how many truncates
    fail (EIO)."""

    def __init__(self) -> None:
        self.failing_writes = 0
        self.failing_truncates = 0


class FillingFile:
    """A journal's append file on a ``FullDisk``: a failing write stores half its bytes first,
    as a real one does when the disk fills in the middle."""

    def __init__(self, real: BinaryIO, disk: FullDisk) -> None:
        self._real = real
        self._disk = disk

    def __enter__(self) -> FillingFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._real.close()

    def fileno(self) -> int:
        return self._real.fileno()

    def write(self, data: bytes) -> int:
        if self._disk.failing_writes:
            self._disk.failing_writes -= 1
            self._real.write(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._real.write(data)

    def truncate(self, size: int) -> int:
        if self._disk.failing_truncates:
            self._disk.failing_truncates -= 1
            raise OSError(errno.EIO, "Input/output error")
        return self._real.truncate(size)


class FillingJournal(Journal):
    def __init__(self, path: Path, kind: str, disk: FullDisk) -> None:
        super().__init__(path, kind)
        self.disk = disk

    def _open_for_append(self) -> BinaryIO:
        return FillingFile(super()._open_for_append(), self.disk)  # type: ignore[return-value]


class FailedAppendTests(TestCase):
    """A failed append leaves the journal exactly as it was, so what is acknowledged after
    it survives a restart."""

    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.disk = FullDisk()

    def keyed(self, kind: str) -> KeyedFile:
        journal = FillingJournal(self.path, kind, self.disk)
        return KeyedFile(journal, SyncJournalWriter(journal))

    def test_a_failed_append_leaves_the_file_as_it_was(self) -> None:
        journal = FillingJournal(self.path, "chatd-x", self.disk)
        journal.load()
        journal.append({"n": 0})
        before = self.path.read_bytes()
        self.disk.failing_writes = 1
        error = self.assertRaises(OSError, journal.append, {"n": 1})
        self.assertEqual(error.errno, errno.ENOSPC)
        self.assertEqual(self.path.read_bytes(), before)

    def test_rooms_saved_after_a_failed_save_survive_a_restart(self) -> None:
        store = FileRoomStore(self.keyed("chatd-rooms"))
        store.load()
        first = RoomRecord("one", "One", "alice", 5, None, "")
        failed = RoomRecord("two", "Two", "alice", 5, None, "")
        late = RoomRecord("three", "Three", "alice", 5, None, "")
        self.successResultOf(store.create(first))
        self.disk.failing_writes = 1
        self.failureResultOf(store.create(failed), OSError)
        self.successResultOf(store.create(late))
        reloaded = FileRoomStore(keyed_file(self.path, "chatd-rooms")).load()
        self.assertEqual(sorted(r.key for r in reloaded), ["one", "three"])

    def test_an_account_signed_up_after_a_failed_signup_survives_a_restart(self) -> None:
        directory = LocalDirectory(self.keyed("chatd-members"), FakeHasher(), Clock())
        directory.load()
        self.successResultOf(directory.signup("early", "password1"))
        self.disk.failing_writes = 1
        self.failureResultOf(directory.signup("failed", "password1"), OSError)
        self.successResultOf(directory.signup("late1", "password1"))
        again = LocalDirectory(keyed_file(self.path, "chatd-members"), FakeHasher(), Clock())
        self.assertEqual(again.load(), 2)
        self.successResultOf(again.authenticate("late1", "password1"))
        self.assertIsNone(self.successResultOf(again.lookup("failed")))

    def test_appends_wait_until_a_failed_write_can_be_cut_off(self) -> None:
        journal = FillingJournal(self.path, "chatd-x", self.disk)
        journal.load()
        journal.append({"n": 0})
        self.disk.failing_writes = 1
        self.disk.failing_truncates = 2
        self.assertRaises(OSError, journal.append, {"n": 1})
        size = self.path.stat().st_size
        self.assertRaises(StorageFailed, journal.append, {"n": 2})
        self.assertEqual(self.path.stat().st_size, size, "nothing written after the garbage")
        journal.append({"n": 3})
        self.assertEqual(Journal(self.path, "chatd-x").load(), [{"n": 0}, {"n": 3}])


class KeyedFileTests(TestCase):
    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def test_replay(self) -> None:
        store = keyed_file(self.path)
        store.load()
        store.put("a", {"v": 1})
        store.put("b", {"v": 2})
        store.put("a", {"v": 3})
        store.delete("b")
        self.assertEqual(keyed_file(self.path).load(), {"a": {"v": 3}})

    def test_compaction(self) -> None:
        store = keyed_file(self.path, slack=4)
        store.load()
        for i in range(50):
            store.put("a", {"v": i})
        lines = self.path.read_bytes().count(b"\n")
        self.assertLess(lines, 10, "rewritten down to the live records plus slack")
        self.assertEqual(keyed_file(self.path).load(), {"a": {"v": 49}})

    def test_compaction_at_load(self) -> None:
        store = keyed_file(self.path, slack=1000)
        store.load()
        for i in range(50):
            store.put("a", {"v": i})
        keyed_file(self.path, slack=4).load()
        self.assertEqual(self.path.read_bytes().count(b"\n"), 2)


class ThreadedWriterTests(TestCase):
    """The real writer, on a real one-thread pool and the real reactor."""

    def setUp(self) -> None:
        self.pool = ThreadPool(1, 1)
        self.pool.start()
        self.addCleanup(self.pool.stop)
        directory = Path(self.mktemp())
        directory.mkdir(parents=True)
        self.path = directory / "rooms.journal"

    def writer(self, journal: Journal) -> JournalWriter:
        return JournalWriter(journal, reactor, self.pool)

    async def test_writes_in_order_and_durably(self) -> None:
        from chatd.storage.keyed import KeyedFile

        journal = Journal(self.path, "chatd-rooms")
        store = FileRoomStore(KeyedFile(journal, self.writer(journal)))
        self.assertEqual(store.load(), [])
        record = RoomRecord("club", "Club", "alice", 5, None, "")
        await store.create(record)
        for topic in ("one", "two", "three"):
            pending = store.save(RoomRecord("club", "Club", "alice", 5, "h", topic))
        await pending
        await store.save(record)
        journal2 = Journal(self.path, "chatd-rooms")
        reloaded = FileRoomStore(KeyedFile(journal2, self.writer(journal2))).load()
        self.assertEqual(reloaded, [record])

    async def test_failed_write_is_reported_and_undone(self) -> None:
        from chatd.storage.keyed import KeyedFile

        journal = Journal(self.path, "chatd-rooms")
        store = KeyedFile(journal, self.writer(journal))
        store.load()
        await store.put("a", {"v": 1})
        self.path.unlink()
        self.path.mkdir()  # appending to a directory fails, for root too
        with self.assertRaises(StorageFailed):
            await store.put("a", {"v": 2})
        self.assertEqual(store.live, {"a": {"v": 1}})
        self.assertEqual(len(self.flushLoggedErrors(IsADirectoryError)), 1)


class LockTests(TestCase):
    def test_second_lock_refused(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir(parents=True)
        first = DirectoryLock(directory)
        first.acquire()
        self.addCleanup(first.release)
        error = self.assertRaises(StartupError, DirectoryLock(directory).acquire)
        self.assertIn("in use by another daemon", str(error))
        first.release()
        again = DirectoryLock(directory)
        again.acquire()
        again.release()


class PermissionTests(TestCase):
    def test_journal_is_private(self) -> None:
        path = Path(self.mktemp())
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = Journal(path, "chatd-x")
        journal.load()
        journal.append({"n": 1})
        self.assertEqual(path.stat().st_mode & 0o777, 0o600)
        path.chmod(0o644)
        Journal(path, "chatd-x").load()
        self.assertEqual(path.stat().st_mode & 0o777, 0o600)
