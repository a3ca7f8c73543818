"""Password hashing (real argon2id, real thread pool) and the embedded member directory."""

from __future__ import annotations

import threading
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import TestCase

from chatd.kernel.credentials import MAX_PASSWORD
from chatd.kernel.errors import BadPassword, NameTaken, ServerBusy, WrongCredentials
from chatd.members.local import LocalDirectory
from chatd.members.passwords import Argon2Hasher, HashParameters

from fakes import keyed_file

CHEAP = HashParameters(time_cost=1, memory_kib=1024, parallelism=1)


class HasherTests(TestCase):
    def setUp(self) -> None:
        self.pool = ThreadPool(0, 2, "test-hash")
        self.pool.start()
        self.addCleanup(self.pool.stop)

    def hasher(self, parameters: HashParameters = CHEAP, queue: int = 64) -> Argon2Hasher:
        return Argon2Hasher(reactor, self.pool, parameters, queue)

    async def test_hash_and_verify(self) -> None:
        hasher = self.hasher()
        hashed = await hasher.hash("correct horse")
        self.assertTrue(hashed.startswith("$argon2id$v=19$m=1024,t=1,p=1$"))
        self.assertNotIn("correct horse", hashed)
        self.assertNotEqual(hashed, await hasher.hash("correct horse"), "salted")
        self.assertTrue(await hasher.verify(hashed, "correct horse"))
        self.assertFalse(await hasher.verify(hashed, "wrong horse"))
        self.assertFalse(await hasher.verify("not a hash", "x"))
        self.assertFalse(await hasher.verify_nobody("chatd: nobody has this password"))

    async def test_hashing_runs_off_the_reactor_thread(self) -> None:
        hasher = self.hasher()
        seen: list[int] = []
        real = hasher._hasher

        class Recording:
            def hash(self, password: str) -> str:
                seen.append(threading.get_ident())
                return real.hash(password)

        hasher._hasher = Recording()  # type: ignore[assignment]
        await hasher.hash("password1")
        self.assertNotEqual(seen, [threading.get_ident()])
        self.assertEqual(len(seen), 1)

    def test_queue_is_bounded(self) -> None:
        hasher = self.hasher(queue=2)
        first, second = hasher.hash("password1"), hasher.hash("password2")
        self.assertRaises(ServerBusy, hasher.hash, "password3")
        return first.addCallback(lambda _: second)

    async def test_needs_rehash(self) -> None:
        old = await self.hasher().hash("password1")
        self.assertFalse(self.hasher().needs_rehash(old))
        stronger = HashParameters(time_cost=2, memory_kib=2048, parallelism=1)
        self.assertTrue(self.hasher(stronger).needs_rehash(old))


class DirectoryTests(TestCase):
    def setUp(self) -> None:
        self.pool = ThreadPool(0, 2, "test-hash")
        self.pool.start()
        self.addCleanup(self.pool.stop)
        directory = Path(self.mktemp())
        directory.mkdir(parents=True)
        self.path = directory / "members.journal"

    def directory(self, parameters: HashParameters = CHEAP) -> LocalDirectory:
        directory = LocalDirectory(keyed_file(self.path, "chatd-members"),
                                   Argon2Hasher(reactor, self.pool, parameters), reactor)
        directory.load()
        return directory

    async def test_signup_authenticate_survive_reload(self) -> None:
        account = await self.directory().signup("Alice", "password1")
        self.assertEqual((account.name, account.key), ("Alice", "alice"))
        again = await self.directory().authenticate("ALICE", "password1")
        self.assertEqual(again, account)
        self.assertNotIn(b"password1", self.path.read_bytes())

    async def test_concurrent_signups_of_one_name(self) -> None:
        directory = self.directory()
        first = directory.signup("bob", "password1")
        self.assertRaises(NameTaken, directory.signup, "BOB", "password2")
        await first
        self.assertRaises(NameTaken, directory.signup, "bob", "password2")

    async def test_wrong_and_unknown(self) -> None:
        directory = self.directory()
        await directory.signup("bob", "password1")
        for name, password in (("bob", "nope-nope"), ("nobody", "password1"), ("b:d", "x")):
            with self.assertRaises(WrongCredentials):
                await directory.authenticate(name, password)

    def test_password_policy(self) -> None:
        directory = self.directory()
        self.assertRaises(BadPassword, directory.signup, "bob", "short")
        self.assertRaises(BadPassword, directory.signup, "bob", "x" * (MAX_PASSWORD + 1))
        self.assertRaises(BadPassword, directory.signup, "bob", "pass\x00word")

    async def test_long_passwords(self) -> None:
        """Passphrases up to MAX_PASSWORD (irctest's SASL tests use 592 characters); a login
        with a longer one fails, hashing no more than MAX_PASSWORD + 1 characters."""
        directory = self.directory()
        longest = "x" * MAX_PASSWORD
        await directory.signup("bob", longest)
        await directory.authenticate("bob", longest)
        hashed: list[int] = []
        real = directory._hasher.verify

        def verify(stored: str, password: str) -> Deferred[bool]:
            hashed.append(len(password))
            return real(stored, password)

        directory._hasher.verify = verify  # type: ignore[method-assign]
        with self.assertRaises(WrongCredentials):
            await directory.authenticate("bob", longest + "y" * 100_000)
        self.assertEqual(hashed, [MAX_PASSWORD + 1])

    async def test_change_password(self) -> None:
        directory = self.directory()
        await directory.signup("bob", "password1")
        with self.assertRaises(WrongCredentials):
            await directory.change_password("bob", "wrong-old", "password2")
        await directory.change_password("bob", "password1", "password2")
        await self.directory().authenticate("bob", "password2")

    async def test_raised_parameters_rehash_at_login(self) -> None:
        await self.directory().signup("bob", "password1")
        stronger = HashParameters(time_cost=2, memory_kib=2048, parallelism=1)
        directory = self.directory(stronger)
        await directory.authenticate("bob", "password1")
        # The rehash is not waited for by the login; it soon lands. Wait for it with a bound
        # for a loaded machine (100 ticks of 0.01 s were a race with the hashing thread).
        deadline = reactor.seconds() + 30
        while ("m=2048,t=2" not in directory._file.live["bob"]["hash"]
               and reactor.seconds() < deadline):
            await _tick()
        reloaded = self.directory(stronger)
        self.assertIn("m=2048,t=2", reloaded._file.live["bob"]["hash"])
        await reloaded.authenticate("bob", "password1")

    async def test_lookup(self) -> None:
        directory = self.directory()
        await directory.signup("Bob", "password1")
        self.assertEqual((await directory.lookup("BOB")).name, "Bob")  # type: ignore[union-attr]
        self.assertIsNone(await directory.lookup("nobody"))
        self.assertIsNone(await directory.lookup("bad name"))


def _tick() -> object:
    from twisted.internet.task import deferLater

    return deferLater(reactor, 0.01, lambda: None)


class LookAlikeTests(TestCase):
    def setUp(self) -> None:
        from fakes import FakeHasher
        directory = Path(self.mktemp())
        directory.mkdir(parents=True)
        self.path = directory / "members.journal"
        self.hasher = FakeHasher()

    def directory(self) -> LocalDirectory:
        directory = LocalDirectory(keyed_file(self.path, "chatd-members"), self.hasher, reactor)
        directory.load()
        return directory

    def test_skeleton(self) -> None:
        from chatd.kernel.names import skeleton

        for name in ("pаypal", "PAYPAL", "paypa1", "ΡΑΥΡΑL", "pауpаl"):
            self.assertEqual(skeleton(name), skeleton("paypal"), name)
        self.assertEqual(skeleton("modern"), skeleton("modem"))
        self.assertNotEqual(skeleton("alice"), skeleton("alicia"))

    def test_a_name_that_is_its_own_skeleton_is_kept_once(self) -> None:
        """The server keeps every online user's skeleton: most names are their own, and then
        the skeleton is the name itself, not a copy (docs/performance.md)."""
        from chatd.kernel.names import skeleton

        name = "".join(["idle", "42"])  # made at run time, as a login's name is
        self.assertIs(skeleton(name), name)
        self.assertEqual(skeleton("Bob42"), "bob42")

    def test_look_alikes_cannot_both_register(self) -> None:
        directory = self.directory()
        self.successResultOf(directory.signup("paypal", "password1"))
        for lookalike in ("pаypal", "paypa1", "PAYPAL"):
            self.assertRaises(NameTaken, directory.signup, lookalike, "password1")
        reloaded = self.directory()
        self.assertRaises(NameTaken, reloaded.signup, "pаypal", "password1")
        found = self.successResultOf(reloaded.lookup("pаypal"))
        self.assertEqual(found.name, "paypal")  # type: ignore[union-attr]
        self.successResultOf(reloaded.delete("paypal"))
        self.successResultOf(reloaded.signup("pаypal", "password1"))

    def test_failed_signup_frees_the_look(self) -> None:
        directory = self.directory()
        self.hasher.hold = True
        pending = directory.signup("bob", "password1")
        self.assertRaises(NameTaken, directory.signup, "b0b", "password1")
        self.hasher.held.pop().errback(RuntimeError("disk"))
        self.failureResultOf(pending, RuntimeError)
        self.hasher.hold = False
        self.successResultOf(directory.signup("b0b", "password1"))


class PriorityTests(TestCase):
    async def test_hashing_threads_run_at_a_lower_priority(self) -> None:
        import os
        import sys
        import threading

        if not sys.platform.startswith("linux"):
            self.fail("this daemon targets Linux; per-thread priority is checked there")
        pool = ThreadPool(0, 1, "test-nice")
        pool.start()
        self.addCleanup(pool.stop)
        hasher = Argon2Hasher(reactor, pool, CHEAP)
        seen: list[int] = []
        real = hasher._hasher

        class Recording:
            def hash(self, password: str) -> str:
                seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
                return real.hash(password)

        hasher._hasher = Recording()  # type: ignore[assignment]
        await hasher.hash("password1")
        self.assertEqual(seen, [os.getpriority(os.PRIO_PROCESS, 0) + 10])
