"""``twistd chatd-members``: the member service as its own daemon.

It owns its data directory (locked against a second daemon) and serves the directory over AMP
on ``--listen``. Every client must present the shared secret from ``--secret-file``; the file
is created (random, mode 0600) on first start, and refused if others can read it. The default
endpoint is a unix socket inside the data directory, reachable only by the daemon's own user.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet import endpoints
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from chatd.auth.passwords import Argon2Hasher, HashParameters
from chatd.kernel.errors import StartupError
from chatd.members.local import LocalDirectory, LoginThrottle
from chatd.members.server import MemberServerFactory
from chatd.storage.journal import DirectoryLock, Journal, JournalWriter
from chatd.storage.keyed import KeyedFile
from chatd.threads import ThreadPoolService
from chatd.tls import listener

log = Logger()

DEFAULT_DATA = "chatd-members-data"


def default_endpoint(data: Path) -> str:
    # lockfile=1: Twisted removes the socket a killed daemon left behind.
    return f"unix:{data / 'members.sock'}:mode=600:lockfile=1"


def read_secret(path: Path, create: bool = False) -> str:
    """The shared secret in ``path``, refusing a file that group or others can read."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        log.info("created a new member-service secret in {path}", path=str(path))
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as error:
        raise StartupError(f"secret file {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StartupError(f"secret file {path} is readable by others; chmod 600 it")
    if len(text) < 16:
        raise StartupError(f"secret file {path} holds fewer than 16 characters")
    return text


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{value} is not a positive whole number")
    return number


class Options(usage.Options):
    synopsis = "[--listen ENDPOINT] [--data DIR] [--secret-file FILE]"
    longdesc = "Run the chatd member service (accounts), for chat daemons started with --members."
    optParameters = [
        ["listen", None, None, "AMP endpoint to serve [default: unix:DATA/members.sock:mode=600]"],
        ["data", None, DEFAULT_DATA, "data directory (members.journal, lock, default secret)"],
        ["secret-file", None, None, "shared secret file, mode 0600 [default: DATA/members.secret, "
         "created if missing]"],
        ["hash-time-cost", None, 3, "argon2id passes per password hash", _positive],
        ["hash-memory-kib", None, 65536, "argon2id memory per hash, KiB", _positive],
        ["hash-parallelism", None, 4, "argon2id lanes per hash", _positive],
        ["hash-threads", None, 2, "threads hashing passwords", _positive],
        ["hash-queue", None, 64, "hashes waiting or running before logins get 'busy'", _positive],
        ["login-failures-per-account", None, 5, "failed logins per account before one a minute",
         _positive],
        ["login-failures-per-address", None, 10,
         "failed logins per address before one per 30 seconds", _positive],
    ]

    def postOptions(self) -> None:
        self["data"] = Path(self["data"]).expanduser().absolute()
        # The default socket lives in the data directory, and twistd binds it before any
        # service starts: the directory must exist by then.
        try:
            self["data"].mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise usage.UsageError(f"--data {self['data']}: {error.strerror}") from None
        if self["listen"] is None:
            self["listen"] = default_endpoint(self["data"])
        from twisted.internet import reactor

        try:
            endpoints.serverFromString(reactor, self["listen"])
        except Exception as error:
            raise usage.UsageError(f"--listen {self['listen']!r}: {error}") from None


class MemberDataService(Service):
    """Locks the data directory, reads the secret and loads accounts before listening."""

    def __init__(self, options: Options, directory: LocalDirectory, factory: MemberServerFactory):
        self.options = options
        self.path: Path = options["data"]
        self.lock = DirectoryLock(self.path)
        self.directory = directory
        self.factory = factory

    def startService(self) -> None:
        # First to start (nothing else runs if this fails) and last to stop (the lock is held
        # until queued writes are done); no client is served before the reactor runs.
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.lock.acquire()
            secret_file = self.options["secret-file"]
            path = Path(secret_file) if secret_file else self.path / "members.secret"
            self.factory.secret = read_secret(path, create=secret_file is None)
            count = self.directory.load()
        except (StartupError, OSError) as error:
            raise SystemExit(f"chatd-members: {error}") from None
        log.info("member service: {count} accounts in {path}", count=count, path=str(self.path))
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        self.lock.release()


class ListenOrExit(MultiService):
    """Holds the listener, so that a port or socket that can't be had stops start-up with one
    line and exit status 1, as a held data directory does, instead of twistd's traceback.

    twistd binds listeners in privilegedStartService, before any service starts: a second
    daemon on the same socket fails here, before it reaches the data directory's lock.
    """

    def __init__(self, description: str, service: IService) -> None:
        super().__init__()
        self.description = description
        service.setServiceParent(self)

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except CannotListenError as error:
            reason = error.socketError
            held = reason == "Cannot acquire lock"  # a unix socket's lockfile=1
            if held or getattr(reason, "errno", None) == errno.EADDRINUSE:
                raise SystemExit(
                    f"chatd-members: {self.description} is in use: chatd-members is already "
                    "running there; stop it or choose another --listen"
                ) from None
            raise SystemExit(
                f"chatd-members: can't listen on {self.description}: {reason}"
            ) from None


def makeService(options: Options, reactor: Any = None) -> MultiService:
    if reactor is None:
        from twisted.internet import reactor
    data: Path = options["data"]
    top = MultiService()
    hash_pool = ThreadPool(0, options["hash-threads"], "members-hash")
    journal_pool = ThreadPool(1, 1, "members-journal")
    hasher = Argon2Hasher(
        reactor,
        hash_pool,
        HashParameters(
            options["hash-time-cost"], options["hash-memory-kib"], options["hash-parallelism"]
        ),
        options["hash-queue"],
    )
    journal = Journal(data / "members.journal", "chatd-members")
    directory = LocalDirectory(
        KeyedFile(journal, JournalWriter(journal, reactor, journal_pool)),
        hasher,
        reactor,
        LoginThrottle(account_burst=options["login-failures-per-account"],
                      address_burst=options["login-failures-per-address"]),
    )
    factory = MemberServerFactory(directory, "", reactor)
    MemberDataService(options, directory, factory).setServiceParent(top)
    for pool in (hash_pool, journal_pool):
        ThreadPoolService(pool).setServiceParent(top)
    ListenOrExit(options["listen"], listener(reactor, options["listen"], factory)[0]
                 ).setServiceParent(top)
    return top
