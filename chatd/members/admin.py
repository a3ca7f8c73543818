"""``chatd-admin``: list, show, reset, lock, unlock and delete accounts; repair journals.

Online, it talks to ``twistd chatd-members`` over AMP with the same shared secret as the chat
daemons. Offline (``--data DIR``), it opens a stopped daemon's data directory itself, taking
the same lock, so it can't race a running daemon; that is also how accounts of the default
embedded directory (``twistd chatd``'s own data directory) are administered, and how a journal
that a daemon refused to load is repaired.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from twisted.internet import defer, endpoints, error, task
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.protocols import amp
from twisted.python.threadpool import ThreadPool

from chatd.auth.passwords import Argon2Hasher, HashParameters
from chatd.config import secret_beside
from chatd.kernel.errors import ChatError, StartupError
from chatd.members import commands
from chatd.members.local import AccountInfo, LocalDirectory, account_problem
from chatd.members.tap import DEFAULT_DATA, read_secret
from chatd.storage.journal import Check, DirectoryLock, Journal, SyncJournalWriter
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import room_problem

# The journals a data directory may hold: their kind and the check of their values.
JOURNALS: dict[str, tuple[str, Check]] = {
    "members.journal": ("chatd-members", account_problem),
    "rooms.journal": ("chatd-rooms", room_problem),
}


class Backend(Protocol):
    def accounts(self) -> Deferred[list[AccountInfo]]: ...
    def show(self, name: str) -> Deferred[AccountInfo]: ...
    def reset(self, name: str, password: str) -> Deferred[None]: ...
    def set_locked(self, name: str, locked: bool) -> Deferred[None]: ...
    def delete(self, name: str) -> Deferred[None]: ...


class Remote:
    """The member service over AMP."""

    def __init__(self, protocol: amp.AMP) -> None:
        self._amp = protocol

    @defer.inlineCallbacks
    def accounts(self) -> Any:
        found: list[AccountInfo] = []
        after = ""
        while True:
            page = (yield self._amp.callRemote(commands.ListAccounts, after=after))["accounts"]
            found += [AccountInfo(**row) for row in page]
            if len(page) < commands.PAGE:
                return found
            after = page[-1]["key"]

    def show(self, name: str) -> Deferred[AccountInfo]:
        return self._amp.callRemote(commands.ShowAccount, name=name).addCallback(
            lambda r: AccountInfo(**r)
        )

    def reset(self, name: str, password: str) -> Deferred[None]:
        return self._amp.callRemote(commands.ResetPassword, name=name, password=password)

    def set_locked(self, name: str, locked: bool) -> Deferred[None]:
        return self._amp.callRemote(commands.SetLocked, name=name, locked=locked)

    def delete(self, name: str) -> Deferred[None]:
        return self._amp.callRemote(commands.DeleteAccount, name=name)


class Offline:
    """A stopped daemon's directory, opened in this process."""

    def __init__(self, directory: LocalDirectory) -> None:
        self._directory = directory

    def accounts(self) -> Deferred[list[AccountInfo]]:
        return defer.succeed(self._directory.accounts())

    def show(self, name: str) -> Deferred[AccountInfo]:
        return defer.maybeDeferred(self._directory.show, name)

    def reset(self, name: str, password: str) -> Deferred[None]:
        return defer.maybeDeferred(self._directory.reset_password, name, password)

    def set_locked(self, name: str, locked: bool) -> Deferred[None]:
        return defer.maybeDeferred(self._directory.set_locked, name, locked)

    def delete(self, name: str) -> Deferred[None]:
        return defer.maybeDeferred(self._directory.delete, name)


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds)) if seconds else "-"


def _new_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("chatd-admin: the passwords differ; nothing changed")
    return first


async def _run(backend: Backend, args: argparse.Namespace) -> None:
    if args.command == "list":
        rows = await backend.accounts()
        print(f"{'NAME':<32} {'LOCKED':<6} {'CREATED (UTC)':<16} HASH")
        for info in rows:
            print(f"{info.name:<32} {'yes' if info.locked else 'no':<6} "
                  f"{_when(info.created):<16} {info.scheme}")
        print(f"{len(rows)} account{'' if len(rows) == 1 else 's'}")
    elif args.command == "show":
        for key, value in asdict(await backend.show(args.name)).items():
            print(f"{key}: {_when(value) if key == 'created' else value}")
    elif args.command == "reset":
        await backend.reset(args.name, _new_password())
        print(f"password of {args.name} reset")
    elif args.command in ("lock", "unlock"):
        await backend.set_locked(args.name, args.command == "lock")
        print(f"{args.name} {args.command}ed")
    elif args.command == "delete":
        await backend.delete(args.name)
        print(f"{args.name} deleted")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chatd-admin", description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--members", help="member service client endpoint "
                       f"[default: unix:{DEFAULT_DATA}/members.sock]")
    where.add_argument("--data", type=Path,
                       help="offline: the data directory of a STOPPED daemon "
                       "(chatd-members, or chatd with embedded accounts)")
    parser.add_argument("--secret-file", type=Path,
                        help="shared secret [default: members.secret beside a unix: socket]")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list accounts")
    for name, text in (("show", "show one account"),
                       ("reset", "set a new password (read from stdin, or asked twice)"),
                       ("lock", "refuse the account's logins"), ("unlock", "allow them again"),
                       ("delete", "delete the account")):
        sub.add_parser(name, help=text).add_argument("name")
    sub.add_parser("repair", help="offline (--data): rewrite damaged journals without their "
                   "damaged records, keeping a copy of each")
    return parser.parse_args(argv)


async def _online(reactor: Any, args: argparse.Namespace) -> None:
    where = args.members or f"unix:{DEFAULT_DATA}/members.sock"
    endpoint = endpoints.clientFromString(reactor, where)
    secret_file = args.secret_file or secret_beside(where)
    if secret_file is None:
        raise StartupError("--secret-file is needed with a --members endpoint that is not unix:")
    secret = read_secret(secret_file)
    protocol = await endpoint.connect(Factory.forProtocol(amp.AMP))
    try:
        await protocol.callRemote(commands.Hello, secret=secret)
        await _run(Remote(protocol), args)
    finally:
        protocol.transport.loseConnection()


async def _offline(reactor: Any, args: argparse.Namespace) -> None:
    lock = DirectoryLock(args.data)
    lock.acquire()
    pool = ThreadPool(0, 1, "admin-hash")
    pool.start()
    try:
        journal = Journal(args.data / "members.journal", "chatd-members")
        file = KeyedFile(journal, SyncJournalWriter(journal))
        directory = LocalDirectory(file, Argon2Hasher(reactor, pool, HashParameters()), reactor)
        if not (args.data / "members.journal").exists():
            raise StartupError(f"{args.data} has no members.journal")
        directory.load()
        await _run(Offline(directory), args)
    finally:
        pool.stop()
        lock.release()


def repair(data: Path) -> None:
    """Repair every journal in ``data`` (a stopped daemon's), saying what was dropped."""
    lock = DirectoryLock(data)
    lock.acquire()
    try:
        found = [name for name in JOURNALS if (data / name).exists()]
        if not found:
            raise StartupError(f"{data} has no {' or '.join(JOURNALS)}")
        for name in found:
            kind, check = JOURNALS[name]
            journal = Journal(data / name, kind)
            scan, copy = KeyedFile(journal, SyncJournalWriter(journal)).repair(check)
            for damage in scan.damaged:
                print(f"{name}: skipped {damage.size} bytes at byte {damage.offset}: "
                      f"{damage.reason}")
            if copy is None:
                print(f"{name}: intact, {len(scan.records)} records; nothing changed")
                continue
            salvaged = f" ({scan.salvaged} recovered from damaged lines)" if scan.salvaged else ""
            print(f"{name}: {len(scan.records)} records kept{salvaged}, "
                  f"{len(scan.damaged)} damaged skipped; the original is in {copy.name}")
    finally:
        lock.release()


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "repair":
        if args.data is None:
            raise SystemExit("chatd-admin: repair works on a stopped daemon's files; "
                             "give --data DIR")
        try:
            repair(args.data)
        except (StartupError, OSError) as e:
            raise SystemExit(f"chatd-admin: {e}") from None
        return

    async def run(reactor: Any) -> None:
        try:
            await (_offline(reactor, args) if args.data else _online(reactor, args))
        except (ChatError, StartupError, commands.BadSecret, error.ConnectError, OSError) as e:
            raise SystemExit(f"chatd-admin: {e}") from None

    task.react(lambda reactor: defer.ensureDeferred(run(reactor)))
