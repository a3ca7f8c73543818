"""``twistd chatd``: command-line options, and makeService, which only assembles.

The service tree, started in this order and stopped in reverse::

    hash pool, journal pool  (threads: argon2id; ordered fsyncs)
    data                     (lock the data directory, load accounts and rooms)
    line and IRC listeners   (one per --line and per --irc endpoint)

so nothing listens before the data is loaded, and the journal thread finishes its queued
writes after the listeners have closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.application import strports
from twisted.application.service import IService, MultiService, Service
from twisted.internet import endpoints
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from chatd.auth.passwords import Argon2Hasher, HashParameters
from chatd.auth.realm import make_portal
from chatd.config import KEYS, ConfigError, Settings, load_settings
from chatd.core.service import ChatServer, Limits
from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import LineFactory
from chatd.frontends.line import Options as LineOptions
from chatd.members.local import LocalDirectory
from chatd.storage.journal import DirectoryLock, Journal, JournalWriter
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore

log = Logger()


class Options(usage.Options):
    synopsis = "[--config FILE] [--line ENDPOINT ...] [--irc ENDPOINT ...] [--data DIR] [options]"
    longdesc = (
        "Run the chat daemon. Every option is also a key of the TOML file given by --config; "
        "the command line wins. See etc/chatd.toml.example."
    )
    optParameters = [
        [key, None, None, spec.help] for key, spec in KEYS.items()
        if key not in ("line", "irc") and not spec.flag
    ]
    optFlags = [[key, None, spec.help] for key, spec in KEYS.items() if spec.flag]

    def __init__(self) -> None:
        super().__init__()
        self["line"] = []
        self["irc"] = []
        self.config: Path | None = None
        self.settings = Settings()

    def opt_line(self, endpoint: str) -> None:
        """line-protocol listener, a Twisted endpoint string (repeatable; ssl:PORT:privateKey=
        KEY:certKey=CERT for TLS)"""
        self["line"].append(endpoint)

    def opt_irc(self, endpoint: str) -> None:
        """IRC listener, a Twisted endpoint string (repeatable; off unless given;
        ssl:6697:privateKey=KEY:certKey=CERT for TLS)"""
        self["irc"].append(endpoint)

    def opt_config(self, path: str) -> None:
        """TOML file of settings (see etc/chatd.toml.example)"""
        self.config = Path(path)

    def postOptions(self) -> None:
        given: dict[str, Any] = {
            key: self[key] for key in KEYS if self.get(key) not in (None, [], 0)
        }
        try:
            self.settings = load_settings(given, self.config)
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
        from twisted.internet import reactor

        for option, descriptions in (("line", self.settings.line), ("irc", self.settings.irc)):
            for description in descriptions:
                try:
                    endpoints.serverFromString(reactor, description)
                except Exception as error:  # any parser or TLS file error names the endpoint
                    raise usage.UsageError(f"--{option} {description!r}: {error}") from None


class ThreadPoolService(Service):
    """Owns a thread pool: started with the daemon, joined (queued work done) at stop."""

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()


class DataService(Service):
    """Locks the data directory and loads accounts and rooms before anything listens."""

    def __init__(self, path: Path, directory: LocalDirectory, server: ChatServer) -> None:
        self.path = path
        self.lock = DirectoryLock(path)
        self.directory = directory
        self.server = server

    def startService(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.lock.acquire()
        accounts = self.directory.load()
        self.server.load_rooms()
        log.info("data in {path}: {accounts} accounts", path=str(self.path), accounts=accounts)
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        self.lock.release()


def makeService(options: Options, reactor: Any = None) -> MultiService:
    if reactor is None:
        from twisted.internet import reactor
    settings = options.settings
    top = MultiService()

    hash_pool = ThreadPool(0, settings.hash_threads, "chatd-hash")
    journal_pool = ThreadPool(1, 1, "chatd-journal")
    for pool in (hash_pool, journal_pool):
        ThreadPoolService(pool).setServiceParent(top)
    hasher = Argon2Hasher(
        reactor,
        hash_pool,
        HashParameters(
            settings.hash_time_cost, settings.hash_memory_kib, settings.hash_parallelism
        ),
        settings.hash_queue,
    )

    def keyed(name: str, kind: str) -> KeyedFile:
        journal = Journal(settings.data / name, kind)
        return KeyedFile(journal, JournalWriter(journal, reactor, journal_pool))

    directory = LocalDirectory(keyed("members.journal", "chatd-members"), hasher, reactor)
    server = ChatServer(
        FileRoomStore(keyed("rooms.journal", "chatd-rooms")),
        hasher,
        directory,
        Limits(
            max_users=settings.max_users,
            max_sessions_per_account=settings.max_sessions_per_account,
            default_room_limit=settings.default_room_limit,
            max_room_limit=settings.max_room_limit,
        ),
    )
    DataService(settings.data, directory, server).setServiceParent(top)

    portal = make_portal(server, directory, guests=not settings.require_account)
    factory = LineFactory(
        portal, LineOptions(settings.max_line, settings.idle_timeout), reactor
    )
    for description in settings.line:
        listener: IService = strports.service(description, factory, reactor=reactor)
        listener.setServiceParent(top)
    irc_factory = IRCFactory(portal, IRCOptions(), reactor)
    for description in settings.irc:
        strports.service(description, irc_factory, reactor=reactor).setServiceParent(top)
    return top
