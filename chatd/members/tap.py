"""``twistd chatd-members``: the member service as its own daemon.

It keeps the accounts (``members.journal``) and the persistent rooms' definitions
(``rooms.journal``) of every chat daemon started with ``--members``.

It owns its data directory (locked against a second daemon) and serves the directory over AMP
on ``--listen``. Every client must present the shared secret from ``--secret-file``; the file
is created (random, mode 0600) on first start, and refused if others can read it. The default
endpoint is a unix socket inside the data directory, reachable only by the daemon's own user.
Its settings are read as chatd's are (``chatd.kernel.settings``): defaults < the TOML file
given by ``--config`` < the command line, with the hashing and failed-login keys shared with
chatd (``chatd.kernel.keys``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import MultiService, Service
from twisted.internet import endpoints
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from chatd.kernel.errors import StartupError
from chatd.kernel.keys import HASHING, LOGIN_FAILURES
from chatd.kernel.ratelimit import LoginThrottle
from chatd.kernel.settings import Key, Settings, SettingsOptions, from_settings, path, text
from chatd.listening import ListenOrExit, endpoint_problem
from chatd.members.local import LocalDirectory
from chatd.members.passwords import Argon2Hasher, HashParameters
from chatd.members.rooms import RoomBook
from chatd.members.secret import read_secret
from chatd.members.server import MemberServerFactory
from chatd.storage.journal import DirectoryLock, Journal, JournalWriter
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore
from chatd.threads import ThreadPoolService
from chatd.tls import listener

log = Logger()

DEFAULT_DATA = "chatd-members-data"

# The member daemon's keys: its own, then those shared with chatd. It has no reload.
KEYS: dict[str, Key] = {
    "listen": Key(text, "AMP endpoint to serve", "", reloadable=False,
                  shown="unix:DATA/members.sock:mode=600:lockfile=1"),
    "data": Key(path, "data directory (members.journal, rooms.journal, lock, default secret)",
                Path(DEFAULT_DATA), reloadable=False),
    "secret-file": Key(path, "shared secret file, mode 0600", None, reloadable=False,
                       shown="DATA/members.secret, created if missing"),
    **HASHING,
    **LOGIN_FAILURES,
}


def default_endpoint(data: Path) -> str:
    # lockfile=1: Twisted removes the socket a killed daemon left behind.
    return f"unix:{data / 'members.sock'}:mode=600:lockfile=1"


class Options(SettingsOptions):
    command = "twistd chatd-members"
    synopsis = "[--config FILE] [--listen ENDPOINT] [--data DIR] [--secret-file FILE] [options]"
    longdesc = (
        "Run the chatd member service (accounts and room definitions), for chat daemons "
        "started with --members. "
        "Every option is also a key of the TOML file given by --config; the command line "
        "wins. See etc/chatd-members.toml.example."
    )
    settings_keys: ClassVar[dict[str, Key]] = KEYS

    def postOptions(self) -> None:
        super().postOptions()
        data = self.settings.data.expanduser().absolute()
        # The default socket lives in the data directory, and twistd binds it before any
        # service starts: the directory must exist by then.
        try:
            data.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise usage.UsageError(f"--data {data}: {error.strerror}") from None
        listen = self.settings.listen or default_endpoint(data)
        self.settings = self.settings.replace({"data": data, "listen": listen})
        from twisted.internet import reactor

        try:
            endpoints.serverFromString(reactor, listen)
        except Exception as error:
            raise usage.UsageError(f"--listen {listen!r}: {endpoint_problem(error)}") from None


class MemberDataService(Service):
    """Locks the data directory, reads the secret and loads accounts and rooms before
    listening."""

    def __init__(self, settings: Settings, directory: LocalDirectory,
                 factory: MemberServerFactory, rooms: RoomBook) -> None:
        self.secret_file: Path | None = settings.secret_file
        self.path: Path = settings.data
        self.lock = DirectoryLock(self.path)
        self.directory = directory
        self.factory = factory
        self.rooms = rooms

    def startService(self) -> None:
        # First to start (nothing else runs if this fails) and last to stop (the lock is held
        # until queued writes are done); no client is served before the reactor runs.
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.lock.acquire()
            path = self.secret_file or self.path / "members.secret"
            self.factory.secret = read_secret(path, create=self.secret_file is None)
            count = self.directory.load()
            rooms = self.rooms.load()
        except (StartupError, OSError) as error:
            raise SystemExit(f"chatd-members: {error}") from None
        log.info("member service: {rooms} room definitions", rooms=rooms)
        log.info("member service: {count} accounts in {path}", count=count, path=str(self.path))
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        self.lock.release()


def makeService(options: Options, reactor: Any = None) -> MultiService:
    if reactor is None:
        from twisted.internet import reactor
    settings = options.settings
    top = MultiService()
    hash_pool = ThreadPool(0, settings.hash_threads, "members-hash")
    journal_pool = ThreadPool(1, 1, "members-journal")
    hasher = Argon2Hasher(
        reactor,
        hash_pool,
        from_settings(HashParameters, settings),
        settings.hash_queue,
    )
    def keyed(name: str, kind: str) -> KeyedFile:
        journal = Journal(settings.data / name, kind)
        return KeyedFile(journal, JournalWriter(journal, reactor, journal_pool))

    directory = LocalDirectory(
        keyed("members.journal", "chatd-members"),
        hasher,
        reactor,
        from_settings(LoginThrottle, settings),
    )
    # The same file, of the same kind, as an embedded chatd's: chatd-admin reads both alike.
    rooms = RoomBook(FileRoomStore(keyed("rooms.journal", "chatd-rooms")))
    factory = MemberServerFactory(directory, "", reactor, rooms)
    MemberDataService(settings, directory, factory, rooms).setServiceParent(top)
    for pool in (hash_pool, journal_pool):
        ThreadPoolService(pool).setServiceParent(top)
    serving = listener(reactor, settings.listen, factory)[0]
    ListenOrExit("chatd-members", "listen", settings.listen, serving).setServiceParent(top)
    return top
