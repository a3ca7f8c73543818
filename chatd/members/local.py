"""The embedded member directory: accounts in a file under the data directory.

This is what ``twistd chatd`` uses by default, and what a separate member daemon serves to
remote chat daemons. Every answer is a Deferred, exactly as a remote directory's would be.
"""

from __future__ import annotations

from typing import NoReturn

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from chatd.core.names import check_user_name, fold
from chatd.core.records import Account
from chatd.errors import BadName, BadPassword, NameTaken, WrongCredentials
from chatd.interfaces import IMemberDirectory, IPasswordHasher
from chatd.storage.keyed import KeyedFile

log = Logger()

MIN_PASSWORD = 8
MAX_PASSWORD = 128


def check_new_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadPassword(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters; choose another"
        )
    if any(not char.isprintable() for char in password):
        raise BadPassword("a password can't contain control characters")
    return password


def _wrong(_: object = None) -> NoReturn:
    raise WrongCredentials("wrong name or password")


@implementer(IMemberDirectory)
class LocalDirectory:
    def __init__(self, file: KeyedFile, hasher: IPasswordHasher) -> None:
        self._file = file
        self._hasher = hasher
        # Names whose signup is hashing; they count as taken.
        self._pending: set[str] = set()

    def load(self) -> int:
        return len(self._file.load())

    def _account(self, key: str) -> Account:
        return Account(self._file.live[key]["name"], key)

    def signup(self, name: str, password: str) -> Deferred[Account]:
        display = check_user_name(name)
        check_new_password(password)
        key = fold(display)
        if key in self._file.live or key in self._pending:
            raise NameTaken(f"the name {display} is registered already; /login or pick another")
        self._pending.add(key)

        def store(hashed: str) -> Deferred[None]:
            return self._file.put(key, {"name": display, "hash": hashed})

        def release(result: object) -> object:
            self._pending.discard(key)
            return result

        d = self._hasher.hash(password).addCallback(store).addBoth(release)
        return d.addCallback(lambda _: Account(display, key))

    def _verify(self, name: str, password: str) -> Deferred[str]:
        """The account key if the password is right; WrongCredentials otherwise."""
        try:
            key = fold(check_user_name(name))
        except BadName:
            key = ""
        record = self._file.live.get(key)
        if record is None:
            return self._hasher.verify_nobody(password).addCallback(_wrong)
        hashed = record["hash"]

        def checked(ok: bool) -> str:
            if not ok:
                _wrong()
            return key

        return self._hasher.verify(hashed, password).addCallback(checked)

    def authenticate(self, name: str, password: str) -> Deferred[Account]:
        def upgrade(key: str) -> Account:
            record = self._file.live[key]
            if self._hasher.needs_rehash(record["hash"]):
                # Parameters were raised since this hash was made: rehash while we have the
                # password. The login does not wait for it.
                d = self._hasher.hash(password).addCallback(
                    lambda hashed: self._file.put(key, {**self._file.live[key], "hash": hashed})
                )
                d.addCallback(lambda _: log.info("rehashed the password of {key}", key=key))
                d.addErrback(lambda f: log.failure("rehash of {key} failed", f, key=key))
            return self._account(key)

        return self._verify(name, password).addCallback(upgrade)

    def change_password(self, name: str, old: str, new: str) -> Deferred[None]:
        check_new_password(new)

        def store(hashed: str, key: str) -> Deferred[None]:
            return self._file.put(key, {**self._file.live[key], "hash": hashed})

        return self._verify(name, old).addCallback(
            lambda key: self._hasher.hash(new).addCallback(store, key)
        )

    def lookup(self, name: str) -> Deferred[Account | None]:
        try:
            key = fold(check_user_name(name))
        except BadName:
            return succeed(None)
        return succeed(self._account(key) if key in self._file.live else None)
