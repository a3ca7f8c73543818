"""The journal and the stores on it: durability format, torn tails, compaction, the lock."""

from __future__ import annotations

from pathlib import Path

from twisted.internet import reactor
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import TestCase

from chatd.kernel.errors import StartupError, StorageFailed
from chatd.kernel.records import RoomRecord
from chatd.storage.journal import (
    DirectoryLock,
    Journal,
    JournalWriter,
    decode_record,
    encode_record,
)
from chatd.storage.rooms import FileRoomStore

from fakes import keyed_file


class RecordFormat(TestCase):
    def test_round_trip(self) -> None:
        record = {"op": "put", "key": "ünï", "value": {"n": 1}}
        line = encode_record(record)
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(decode_record(line[:-1]), record)

    def test_damage_is_detected(self) -> None:
        line = encode_record({"op": "put", "key": "a"})[:-1]
        self.assertIsNone(decode_record(line.replace(b'"a"', b'"b"')))
        self.assertIsNone(decode_record(line[:-3]))
        self.assertIsNone(decode_record(b"zzzzzzzz {}"))
        self.assertIsNone(decode_record(b""))


class JournalTests(TestCase):
    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def test_new_file_has_header(self) -> None:
        self.assertEqual(Journal(self.path, "chatd-x").load(), [])
        self.assertEqual(self.path.read_bytes(), b"chatd-x 1\n")

    def test_other_kind_refused(self) -> None:
        self.path.write_bytes(b"something else\n")
        error = self.assertRaises(StartupError, Journal(self.path, "chatd-x").load)
        self.assertIn("not a chatd-x 1 file", str(error))

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

    def test_corrupt_middle_record_stops_replay_there(self) -> None:
        journal = Journal(self.path, "chatd-x")
        journal.load()
        for i in range(3):
            journal.append({"n": i})
        data = self.path.read_bytes().replace(b'{"n":1}', b'{"n":7}')
        self.path.write_bytes(data)
        self.assertEqual(Journal(self.path, "chatd-x").load(), [{"n": 0}])

    def test_rewrite_is_atomic_rename(self) -> None:
        journal = Journal(self.path, "chatd-x")
        journal.load()
        journal.append({"n": 0})
        journal.rewrite([{"n": 9}])
        self.assertEqual(Journal(self.path, "chatd-x").load(), [{"n": 9}])
        self.assertFalse(self.path.with_name(self.path.name + ".tmp").exists())


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
