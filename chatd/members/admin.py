"""``chatd-admin``: list, show, reset, lock, unlock and delete accounts; list rooms and give
one to an account; repair journals; move embedded accounts and rooms into the member service;
list and end a running chatd's held seats.

Online, it talks to ``twistd chatd-members`` over AMP with the same shared secret as the chat
daemons. Offline (``--data DIR``), it opens a stopped daemon's data directory itself, taking
the same lock, so it can't race a running daemon; that is also how accounts of the default
embedded directory (``twistd chatd``'s own data directory) are administered, and how a journal
that a daemon refused to load is repaired.

``seats`` and ``end-seat`` ask a running chat daemon, through its control socket
(chatd.control: ``control.sock`` in its data directory, mode 600), for its held seats and to
end one: only the daemon holds them, so there is nothing to do offline.

Rooms are owned by account ids. With embedded accounts they live in the chat daemon's data
directory, and ``rooms`` and ``give-room`` work offline there; with a member service they live
in its data directory, and both work online (every connected chat daemon hears of a room given)
or offline there. A deleted account's rooms keep their settings and have no owner until
``give-room`` gives each to an account. ``export-rooms`` moves a chat daemon's own rooms into
a member service's, for the move from embedded accounts to a member service.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol

from argon2 import PasswordHasher
from twisted.internet import defer, endpoints, error, task
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.protocols import amp
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from chatd import control
from chatd.kernel.errors import ChatError, NoSuchRoom, StartupError
from chatd.kernel.interfaces import IPasswordHasher
from chatd.kernel.names import check_room_name, check_user_name, fold, skeleton
from chatd.kernel.records import NO_OWNER, RoomRecord
from chatd.kernel.text import for_log
from chatd.members import commands
from chatd.members.local import AccountInfo, LocalDirectory, account_problem, legacy_id
from chatd.members.passwords import Argon2Hasher, HashParameters
from chatd.members.secret import NotTheService, greet, read_secret, secret_beside
from chatd.members.tap import DEFAULT_DATA
from chatd.storage.bans import ban_problem
from chatd.storage.journal import (
    Check,
    DirectoryLock,
    Journal,
    SyncJournalWriter,
    fsync_directory,
)
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore, room_problem

# The chat daemon's default data directory (chatd.config's ``data``), where its control
# socket is.
CHATD_DATA = "chatd-data"

# The journals a data directory may hold: their kind and the check of their values. The
# file store's values are checked by chatd.files, which the member side does not import:
# repair drops its records that a checksum, a length or the entry's shape shows damaged.
JOURNALS: dict[str, tuple[str, Check | None]] = {
    "members.journal": ("chatd-members", account_problem),
    "rooms.journal": ("chatd-rooms", room_problem),
    "files.journal": ("chatd-files", None),
    "bans.journal": ("chatd-bans", ban_problem),
}


class Backend(Protocol):
    def accounts(self) -> Deferred[list[AccountInfo]]: ...
    def show(self, name: str) -> Deferred[AccountInfo]: ...
    def reset(self, name: str, password: str) -> Deferred[None]: ...
    def set_locked(self, name: str, locked: bool) -> Deferred[None]: ...
    def delete(self, name: str) -> Deferred[None]: ...


def _info(row: dict[str, Any]) -> AccountInfo:
    """An AMP answer as an AccountInfo (no id from a service that predates account ids)."""
    return AccountInfo(**{**row, "id": row.get("id") or ""})


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
            found += [_info(row) for row in page]
            if len(page) < commands.PAGE:
                return found
            after = page[-1]["key"]

    def show(self, name: str) -> Deferred[AccountInfo]:
        return self._amp.callRemote(commands.ShowAccount, name=name).addCallback(_info)

    def reset(self, name: str, password: str) -> Deferred[None]:
        return self._amp.callRemote(commands.ResetPassword, name=name, password=password)

    def set_locked(self, name: str, locked: bool) -> Deferred[None]:
        return self._amp.callRemote(commands.SetLocked, name=name, locked=locked)

    def delete(self, name: str) -> Deferred[None]:
        return self._amp.callRemote(commands.DeleteAccount, name=name)

    @defer.inlineCallbacks
    def rooms(self) -> Any:
        found: list[RoomRecord] = []
        after = ""
        while True:
            page = yield self._amp.callRemote(commands.LoadRooms, after=after)
            found += [commands.room_record(box) for box in page["rooms"]]
            if not page["more"]:
                return found
            after = found[-1].key

    def save_room(self, record: RoomRecord) -> Deferred[None]:
        return self._amp.callRemote(commands.SaveRoom, **commands.room_arguments(record))


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
        print(f"{args.name} {args.command}ed" + (_SESSIONS_ENDED if args.command == "lock"
                                                 and not args.data else ""))
    elif args.command == "delete":
        info = await backend.show(args.name)
        # Listed before: the deletion gives the rooms up (the service's, or those in --data).
        owned = await _owned(backend, args.data, info)
        await backend.delete(args.name)
        print(f"{info.name} deleted" + ("" if args.data else _SESSIONS_ENDED))
        print(_orphans(args.data, owned, isinstance(backend, Remote)))
    elif args.command == "rooms":
        assert isinstance(backend, Remote)
        accounts = {a.id: a for a in await backend.accounts() if a.id}
        _print_rooms(await backend.rooms(), accounts)
    elif args.command == "give-room":
        assert isinstance(backend, Remote)
        info = await backend.show(args.name)
        key = fold(check_room_name(args.room))
        found = next((r for r in await backend.rooms() if r.key == key), None)
        if found is None:
            raise NoSuchRoom(f"the member service has no room {args.room}")
        await backend.save_room(replace(found, owner=info.name, owner_id=info.id))
        print(f"{found.name} now belongs to {info.name} ({info.id}); every connected chat "
              "daemon was told")


# Online, the member service told every connected chat daemon.
_SESSIONS_ENDED = "; its sessions on every connected chat daemon were ended"


async def _owned(backend: Backend, data: Path | None,
                 info: AccountInfo) -> list[RoomRecord] | None:
    """The rooms ``info`` owns where chatd-admin can see them (None: it can't)."""
    if isinstance(backend, Remote):
        records: list[RoomRecord] = await backend.rooms()
    elif data is not None and (data / "rooms.journal").exists():
        records = _room_store(data).load()
    else:
        return None
    return [record for record in records if info.id and record.owner_id == info.id]


def _orphans(data: Path | None, owned: list[RoomRecord] | None, online: bool) -> str:
    """What happened to a deleted account's rooms; offline, they are given up here (online,
    the member service did it)."""
    give = "give-room ROOM ACCOUNT gives one to an account"
    if owned is None:
        return ("its rooms, in each chat daemon's data directory, keep their settings and have "
                "no owner now; "
                f"chatd-admin --data DIR {give} (with that chatd stopped)")
    if not owned:
        return "it owned no rooms " + ("in the member service" if online else "here")
    if data is not None:
        store = _room_store(data)
        store.load()
        _saved([store.save(replace(record, owner_id=NO_OWNER)) for record in owned])
    names = ", ".join(record.name for record in owned)
    rooms = f"its room {names} keeps its" if len(owned) == 1 else f"its rooms {names} keep their"
    where = "" if online else f"--data {data} "
    return (f"{rooms} settings and {'has' if len(owned) == 1 else 'have'} no owner now; "
            f"chatd-admin {where}{give}")


def _saved(writes: list[Deferred[None]]) -> None:
    """Raise the first failure of synchronous writes (SyncJournalWriter's)."""
    failures: list[Any] = []
    for write in writes:
        write.addErrback(failures.append)
    if failures:
        failures[0].raiseException()


def _room_store(data: Path) -> FileRoomStore:
    journal = Journal(data / "rooms.journal", "chatd-rooms")
    return FileRoomStore(KeyedFile(journal, SyncJournalWriter(journal)))


def _owner_status(record: RoomRecord, accounts: dict[str, AccountInfo] | None) -> str:
    if not record.owner_id:
        return "not resolved yet (from before account ids: chatd resolves it at start)"
    if record.owner_id == NO_OWNER:
        return "nobody: its owner's account was deleted (or had none at start)"
    if accounts is None:
        return "accounts are in the member service (chatd-admin show NAME gives an id)"
    account = accounts.get(record.owner_id)
    if account is None:
        return "nobody: the account was deleted"
    return f"{account.name}" + (" (locked)" if account.locked else "")


def _print_rooms(records: list[RoomRecord], accounts: dict[str, AccountInfo] | None) -> None:
    """One line a room. OWNER is the owning account's name, "-" if nobody owns it: a deleted
    owner's name may be someone else's now."""
    print(f"{'ROOM':<24} {'OWNER':<24} {'OWNER ID':<16} OWNED BY")
    for record in sorted(records, key=lambda r: r.key):
        status = _owner_status(record, accounts)
        owner = "-" if status.startswith("nobody") else record.owner
        print(f"{for_log(record.name):<24} {for_log(owner):<24} {record.owner_id or '-':<16} "
              f"{status}")
    print(f"{len(records)} room{'' if len(records) == 1 else 's'}")


def rooms(data: Path, give: tuple[str, str, str | None] | None = None) -> None:
    """Offline, on a stopped chatd's ``data``: list its rooms and their owners, or give the
    room ``give[0]`` to the account ``give[1]`` (whose id is ``give[2]`` if the accounts are
    not in ``data``, but in a member service)."""
    lock = DirectoryLock(data)
    lock.acquire()
    try:
        if not (data / "rooms.journal").exists():
            raise StartupError(f"{data} has no rooms.journal")
        store = _room_store(data)
        records = {record.key: record for record in store.load()}
        directory: LocalDirectory | None = None
        if (data / "members.journal").exists():
            journal = Journal(data / "members.journal", "chatd-members")
            directory = LocalDirectory(KeyedFile(journal, SyncJournalWriter(journal)),
                                       _NoHasher(), task.Clock())
            directory.load()
        if give is None:
            accounts = None if directory is None else {a.id: a for a in directory.accounts()}
            _print_rooms(list(records.values()), accounts)
            return
        room, name, account_id = give
        found = records.get(fold(check_room_name(room)))
        if found is None:
            raise NoSuchRoom(f"{data} has no room {room}")
        if directory is not None:
            info = directory.show(name)
            name, account_id = info.name, info.id
        elif not account_id:
            raise StartupError("the accounts are not in this data directory: give the "
                               "account's id with --id (chatd-admin show NAME prints it)")
        _saved([store.save(replace(found, owner=check_user_name(name), owner_id=account_id))])
        print(f"{found.name} now belongs to {name} ({account_id})")
    finally:
        lock.release()


@implementer(IPasswordHasher)
class _NoHasher:
    """Listing and looking up accounts hash nothing: a call here is a bug in chatd-admin."""

    def hash(self, password: str) -> Deferred[str]:
        raise RuntimeError("rooms and give-room hash no password")

    def verify(self, hashed: str, password: str) -> Deferred[bool]:
        raise RuntimeError("rooms and give-room check no password")

    def verify_nobody(self, password: str) -> Deferred[bool]:
        raise RuntimeError("rooms and give-room check no password")

    def needs_rehash(self, hashed: str) -> bool:
        return False


def parse(argv: list[str]) -> argparse.Namespace:
    # The docstring's first paragraph, whole (its first line alone stops mid-sentence).
    summary = " ".join(__doc__.split("\n\n")[0].split()).replace("``", "")
    parser = argparse.ArgumentParser(prog="chatd-admin", description=summary)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--members", help="member service client endpoint "
                       f"[default: unix:{DEFAULT_DATA}/members.sock]")
    where.add_argument("--data", type=Path,
                       help="offline: the data directory of a STOPPED daemon "
                       "(chatd-members, or chatd with embedded accounts)")
    parser.add_argument("--control", help="a running chatd's control socket (client "
                        "endpoint), for seats and end-seat [default: unix:DATA/control.sock, "
                        f"DATA from --data or {CHATD_DATA}]")
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
    sub.add_parser("rooms", help="list rooms and who owns each (the member service's, or "
                   "offline with --data those of a stopped chatd or chatd-members)")
    give = sub.add_parser("give-room", help="make an account the owner of a room (in the "
                          "member service, or offline with --data)")
    give.add_argument("room")
    give.add_argument("name", help="the account")
    give.add_argument("--id", help="the account's id, when the accounts are in a member "
                      "service (chatd-admin show NAME prints it)")
    export = sub.add_parser("export-accounts", help="offline (--data of a stopped chatd): "
                            "move its embedded accounts into a stopped member service's")
    export.add_argument("--to", type=Path, required=True, metavar="MEMBERS_DATA",
                        help="the member service's data directory (chatd-members --data)")
    rooms_export = sub.add_parser("export-rooms", help="offline (--data of a stopped chatd): "
                                  "move its rooms into a stopped member service's")
    rooms_export.add_argument("--to", type=Path, required=True, metavar="MEMBERS_DATA",
                              help="the member service's data directory (chatd-members --data)")
    sub.add_parser("seats", help="a running chatd's held seats (its control socket: "
                   "--control, or control.sock in --data)")
    end = sub.add_parser("end-seat", help="end the held seats of a user on a running chatd: "
                         "it leaves its rooms (its live sessions stay)")
    end.add_argument("name")
    end.add_argument("--reason", default="", help="what its rooms hear")
    sub.add_parser("oper-hash", help="print an argon2id hash of a server operator's "
                   "password (read from stdin, or asked twice), for an [[oper]] block of "
                   "chatd.toml")
    return parser.parse_args(argv)


def oper_hash(password: str, cost: HashParameters | None = None) -> str:
    """The hash an ``[[oper]]`` block keeps: argon2id, with the default parameters."""
    if not password:
        raise SystemExit("chatd-admin: an operator's password can't be empty")
    cost = cost or HashParameters()
    return PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_kib,
                          parallelism=cost.parallelism).hash(password)


async def _online(reactor: Any, args: argparse.Namespace) -> None:
    where = args.members or f"unix:{DEFAULT_DATA}/members.sock"
    endpoint = endpoints.clientFromString(reactor, where)
    secret_file = args.secret_file or secret_beside(where)
    if secret_file is None:
        raise StartupError("--secret-file is needed with a --members endpoint that is not unix:")
    secret = read_secret(secret_file)
    protocol = await endpoint.connect(Factory.forProtocol(amp.AMP))
    try:
        await greet(protocol, secret)
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


def _accounts_file(data: Path) -> KeyedFile:
    journal = Journal(data / "members.journal", "chatd-members")
    return KeyedFile(journal, SyncJournalWriter(journal))


def export_accounts(data: Path, to: Path) -> list[str]:
    """Offline, both daemons stopped: copy every account of chatd's embedded directory in
    ``data`` (hash, id, created, locked) into the member service's in ``to``; the names
    refused because ``to`` already has them (or a look-alike) with another account.

    Each copy is fsync'ed as it is written (the journal's append). An account already there
    with the same id and hash was exported before and is skipped, so a second run after
    settling the refused names finishes the job. Once every account is in ``to``, the
    embedded journal is renamed ``members.journal.exported``: nothing is used twice, and
    chatd no longer warns of accounts that are not used.
    """
    return _exporting(data, to, "members.journal", "no embedded accounts to export", _export)



def _exporting(data: Path, to: Path, journal: str, nothing: str,
               export: Callable[[Path, Path], list[str]]) -> list[str]:
    """Run ``export`` from a chatd's data directory into the member service's, with both
    directories locked (neither daemon may run meanwhile); ``nothing`` says why there is
    nothing to do when ``journal`` is absent."""
    if data.resolve() == to.resolve():
        raise StartupError("--data and --to are the same directory")
    if not (data / journal).exists():
        raise StartupError(f"{data} has no {journal}: {nothing}")
    if not to.is_dir():
        raise StartupError(f"{to} is not a directory (the member service's --data)")
    locks = [DirectoryLock(data), DirectoryLock(to)]
    locks[0].acquire()
    try:
        locks[1].acquire()
        try:
            return export(data, to)
        finally:
            locks[1].release()
    finally:
        locks[0].release()


def _exported(data: Path, to: Path, journal: str, noun: str, copied: int, already: int,
              refused: list[str], fix: str, after: str) -> list[str]:
    """The end of an export: say what was copied, and retire chatd's ``journal`` only once
    nothing was refused (until then a second run finishes the job); the refused names."""
    before = f" ({already} already there)" if already else ""
    print(f"{copied} {noun}{'' if copied == 1 else 's'} exported to {to / journal}{before}")
    if refused:
        print(f"{len(refused)} not exported: {', '.join(refused)}; {data / journal} "
              f"is unchanged: {fix}, then run this again")
        return refused
    (data / journal).rename(data / f"{journal}.exported")
    fsync_directory(data)
    print(f"{data / journal} is now {journal}.exported: start chatd with --members and {after}")
    return refused

def _export(data: Path, to: Path) -> list[str]:
    source = _accounts_file(data).load(account_problem)
    target = _accounts_file(to)
    there = target.load(account_problem)
    shapes = {skeleton(record["name"]): key for key, record in there.items()}
    copied, already, refused = 0, 0, []
    failures: list[Any] = []
    for key, record in sorted(source.items()):
        record = {**record, "id": record.get("id") or legacy_id(key, record)}
        clash_key = key if key in there else shapes.get(skeleton(record["name"]))
        if clash_key is not None:
            clash = there[clash_key]
            same = (clash.get("id") or legacy_id(clash_key, clash)) == record["id"]
            if same and clash["hash"] == record["hash"]:
                already += 1
            else:
                refused.append(record["name"])
                print(f"{record['name']}: not exported: {to} already has the account "
                      f"{clash['name']}")
            continue
        target.put(key, record).addErrback(failures.append)
        if failures:
            failures[0].raiseException()
        there[key] = record
        shapes[skeleton(record["name"])] = key
        copied += 1
    return _exported(data, to, "members.journal", "account", copied, already, refused,
                     "rename or delete those accounts",
                     "these accounts log in through the member service")


def export_rooms(data: Path, to: Path) -> list[str]:
    """Offline, both daemons stopped: copy every room of chatd's own ``rooms.journal`` in
    ``data`` into the member service's in ``to``; the names refused because ``to`` already
    has a different room by that name. Run after export-accounts, so the owners' account ids
    are the member service's too.

    As with export-accounts, each copy is fsync'ed as it is written, a room already there
    unchanged is skipped (a second run finishes the job), and once every room is in ``to``
    the chatd's journal is renamed ``rooms.journal.exported``.
    """
    return _exporting(data, to, "rooms.journal", "no rooms to export", _export_rooms)


def _export_rooms(data: Path, to: Path) -> list[str]:
    target = _room_store(to)
    there = {record.key: record for record in target.load()}
    copied, already, refused = 0, 0, []
    failures: list[Any] = []
    for record in _room_store(data).load():
        clash = there.get(record.key)
        if clash is not None:
            if clash == record:
                already += 1
            else:
                refused.append(record.name)
                print(f"{record.name}: not exported: {to} already has a room {clash.name} "
                      f"(owned by {clash.owner})")
            continue
        target.create(record).addErrback(failures.append)
        if failures:
            failures[0].raiseException()
        copied += 1
    return _exported(data, to, "rooms.journal", "room", copied, already, refused,
                     "delete or rename those rooms on one side",
                     "these rooms come from the member service")


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


def _print_seats(seats: list[control.HeldSeat]) -> None:
    if not seats:
        print("no seats are held")
    for seat in seats:
        ends = "never (always-on)" if not seat.ends else _when(seat.ends)
        print(f"{seat.name:<24} {seat.why:<22} since {_when(seat.since)}  ends {ends}")


async def _control(reactor: Any, args: argparse.Namespace) -> None:
    """seats and end-seat: asked of a running chatd through its control socket."""
    where = args.control or control.control_client(args.data or Path(CHATD_DATA))
    endpoint = endpoints.clientFromString(reactor, where)
    protocol = await endpoint.connect(Factory.forProtocol(amp.AMP))
    try:
        if args.command == "seats":
            _print_seats(await control.held_seats(protocol))
        else:
            ended = await control.end_seat(protocol, args.name, args.reason)
            print(f"ended {ended} held seat{'s' if ended != 1 else ''} of {args.name}")
    finally:
        protocol.transport.loseConnection()


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "oper-hash":
        print(oper_hash(_new_password()))
        return
    if args.command in ("seats", "end-seat"):
        _react(_control, args)
        return
    offline_only = ("repair", "export-accounts", "export-rooms")
    if args.command in offline_only or (args.command in ("rooms", "give-room") and args.data):
        if args.data is None:
            raise SystemExit(f"chatd-admin: {args.command} works on a stopped daemon's files; "
                             "give --data DIR")
        try:
            if args.command == "repair":
                repair(args.data)
            elif args.command == "export-accounts":
                if export_accounts(args.data, args.to):
                    raise SystemExit(1)
            elif args.command == "export-rooms":
                if export_rooms(args.data, args.to):
                    raise SystemExit(1)
            else:
                rooms(args.data, (args.room, args.name, args.id)
                      if args.command == "give-room" else None)
        except (ChatError, StartupError, OSError) as e:
            raise SystemExit(f"chatd-admin: {e}") from None
        return

    _react(_offline if args.data else _online, args)


def _react(how: Callable[[Any, argparse.Namespace], Any], args: argparse.Namespace) -> None:
    async def run(reactor: Any) -> None:
        try:
            await how(reactor, args)
        except (ChatError, StartupError, commands.BadSecret, NotTheService, error.ConnectError,
                OSError) as e:
            raise SystemExit(f"chatd-admin: {e}") from None

    task.react(lambda reactor: defer.ensureDeferred(run(reactor)))
