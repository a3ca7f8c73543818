"""``twistd chatd``: command-line options, and makeService, which only assembles.

The service tree, started in this order and stopped in reverse::

    data                     (lock the data directory, load accounts and rooms)
    hash pool, journal pool  (threads: argon2id; ordered fsyncs)
    member service client    (with --members: AMP to twistd chatd-members)
    line and IRC listeners   (one per --line and per --irc endpoint)

The listeners bind their ports earlier, in twistd's privileged start (so ports below 1024
work with --uid), but accept nothing until the reactor runs, after the data is loaded. At
stop, the listeners close first and the journal thread finishes its queued writes before the
data directory's lock is released.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from chatd.auth.checkers import SignupLimits
from chatd.auth.passwords import Argon2Hasher, HashParameters
from chatd.auth.realm import make_portal
from chatd.bus.local import LocalBus
from chatd.config import KEYS, ConfigError, Settings, described, load_settings
from chatd.core.service import ChatServer, Limits
from chatd.delivery import Delivery
from chatd.frontends.admission import Admission, AdmissionLimits, parse_networks
from chatd.frontends.connections import Connections
from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import LineFactory
from chatd.frontends.line import Options as LineOptions
from chatd.kernel.errors import StartupError
from chatd.kernel.interfaces import IMemberDirectory
from chatd.kernel.names import ReservedNames
from chatd.kernel.ratelimit import FailureLimiter
from chatd.members.client import RemoteDirectory
from chatd.members.local import LocalDirectory, LoginThrottle
from chatd.members.tap import read_secret
from chatd.metrics import metrics_site
from chatd.storage.journal import DirectoryLock, Journal, JournalWriter
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore
from chatd.threads import ThreadPoolService
from chatd.tls import ReloadableTLS, listener

log = Logger()


class Options(usage.Options):
    synopsis = "[--config FILE] [--line ENDPOINT ...] [--irc ENDPOINT ...] [--data DIR] [options]"
    longdesc = (
        "Run the chat daemon. Every option is also a key of the TOML file given by --config; "
        "the command line wins. See etc/chatd.toml.example."
    )
    optParameters = [
        [key, None, None, described(key)] for key, spec in KEYS.items()
        if key not in ("line", "irc", "exempt") and not spec.flag
    ]
    optFlags = [[key, None, described(key)] for key, spec in KEYS.items() if spec.flag]

    def __init__(self) -> None:
        super().__init__()
        self["line"] = []
        self["irc"] = []
        self["exempt"] = []
        self.config: Path | None = None
        self.settings = Settings()
        self.members_secret = ""

    def opt_line(self, endpoint: str) -> None:
        """line-protocol listener, a Twisted endpoint string (repeatable; ssl:PORT:privateKey=
        KEY:certKey=CERT for TLS) [default: tcp:7777:interface=127.0.0.1]"""
        self["line"].append(endpoint)

    def opt_irc(self, endpoint: str) -> None:
        """IRC listener, a Twisted endpoint string (repeatable; off unless given;
        ssl:6697:privateKey=KEY:certKey=CERT for TLS) [default: none]"""
        self["irc"].append(endpoint)

    def opt_exempt(self, network: str) -> None:
        """trusted address or network (CIDR), exempt from the per-address and rate limits
        (repeatable) [default: none]"""
        self["exempt"].append(network)

    def opt_config(self, path: str) -> None:
        """TOML file of settings (see etc/chatd.toml.example)"""
        self.config = Path(path)

    def postOptions(self) -> None:
        # What the command line gave, kept so that a SIGHUP reload can apply it again.
        self.given: dict[str, Any] = {
            key: self[key] for key in KEYS if self.get(key) not in (None, [], 0)
        }
        try:
            self.settings = load_settings(self.given, self.config)
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
        from twisted.internet import reactor

        if self.settings.members:
            try:
                endpoints.clientFromString(reactor, self.settings.members)
            except Exception as error:
                raise usage.UsageError(f"--members {self.settings.members!r}: {error}") from None
            assert self.settings.members_secret is not None  # load_settings fills it in
            try:
                self.members_secret = read_secret(self.settings.members_secret)
            except StartupError as error:
                raise usage.UsageError(f"--members-secret: {error}") from None
        metrics = (self.settings.metrics,) if self.settings.metrics else ()
        for option, descriptions in (("line", self.settings.line), ("irc", self.settings.irc),
                                     ("metrics", metrics)):
            for description in descriptions:
                try:
                    endpoints.serverFromString(reactor, description)
                except Exception as error:  # any parser or TLS file error names the endpoint
                    raise usage.UsageError(f"--{option} {description!r}: {error}") from None


class DataService(Service):
    """Locks the data directory and loads accounts and rooms.

    It is the first service to start, so when the data can't be had (another daemon holds
    the lock, a journal is damaged) nothing else has started: the daemon exits at once with
    one line saying why, and a non-zero status for systemd. It is the last to stop, so the
    lock is held until the journal thread has written everything queued.
    """

    def __init__(
        self, path: Path, server: ChatServer, directory: LocalDirectory | None
    ) -> None:
        self.path = path
        self.lock = DirectoryLock(path)
        self.server = server
        self.directory = directory

    def startService(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.lock.acquire()
            accounts = "remote" if self.directory is None else self.directory.load()
            self.server.load_rooms()
        except (StartupError, OSError) as error:
            raise SystemExit(f"chatd: {error}") from None
        log.info("data in {path}: {accounts} accounts", path=str(self.path), accounts=accounts)
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        self.lock.release()


class ShutdownNotice(Service):
    """Added last, so stopped first: every connection hears why it is closing (109) and gets
    what was queued for it, before the listeners and the data go."""

    def __init__(self, frontends: list[Connections]) -> None:
        self.frontends = frontends

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        why = "the server is shutting down; reconnect in a minute"
        return DeferredList([connections.shutdown(why) for connections in self.frontends])


class Reload(Service):
    """SIGHUP: read the configuration again and apply its limits, and re-read the TLS
    certificate files, without dropping anyone. Settings that only a restart can change
    (listeners, data directory, member service, hashing) are reported if they differ."""

    RESTART_ONLY = ("line", "irc", "metrics", "data", "members", "members_secret",
                    "signups_per_address", "signups_total", "hash_time_cost",
                    "hash_memory_kib", "hash_parallelism", "hash_threads", "hash_queue",
                    "reserved_names", "server_name")

    def __init__(self, options: Options, reactor: Any, apply: Callable[[Settings], None],
                 certificates: list[ReloadableTLS]) -> None:
        self.options = options
        self.reactor = reactor
        self.apply = apply
        self.certificates = certificates
        self._previous: Any = None

    def startService(self) -> None:
        super().startService()
        self._previous = signal.signal(signal.SIGHUP, self._signalled)
        log.info("ready; SIGHUP reloads the limits and TLS certificates")

    def stopService(self) -> None:
        signal.signal(signal.SIGHUP, self._previous or signal.SIG_DFL)
        super().stopService()

    def _signalled(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.reload)

    def reload(self) -> None:
        try:
            settings = load_settings(self.options.given, self.options.config)
        except ConfigError as error:
            log.error("reload refused, settings unchanged: {error}", error=str(error))
            return
        changed = [key for key in self.RESTART_ONLY
                   if getattr(settings, key) != getattr(self.options.settings, key)]
        if changed:
            log.warn("reload: {keys} changed; restart to apply", keys=", ".join(changed))
        self.apply(settings)
        reloaded = 0
        for tls in self.certificates:
            try:
                tls.reload()
                reloaded += 1
            except Exception as error:
                log.error("reload: TLS files of {listener} unusable, keeping the old: {error}",
                          listener=tls.description, error=str(error))
        log.info("reloaded the limits and {count} TLS certificates", count=reloaded)


def core_limits(settings: Settings) -> Limits:
    return Limits(
        max_users=settings.max_users,
        max_sessions_per_account=settings.max_sessions_per_account,
        default_room_limit=settings.default_room_limit,
        max_room_limit=settings.max_room_limit,
        max_rooms_per_user=settings.max_rooms_per_user,
        messages_burst=settings.messages_burst,
        messages_per_second=settings.messages_per_second,
        flood_strikes=settings.flood_strikes,
        room_password_burst=settings.room_password_failures,
    )


def admission_limits(settings: Settings) -> AdmissionLimits:
    return AdmissionLimits(
        max_connections=settings.max_connections,
        per_address=settings.max_connections_per_address,
        new_per_address=settings.new_connections_per_address,
        unnamed_per_address=settings.max_unnamed_per_address,
    )


def login_throttle(settings: Settings) -> LoginThrottle:
    return LoginThrottle(
        account_burst=settings.login_failures_per_account,
        address_burst=settings.login_failures_per_address,
    )


def line_options(settings: Settings) -> LineOptions:
    return LineOptions(
        max_line=settings.max_line,
        idle_timeout=settings.idle_timeout,
        max_output=settings.max_output,
        guests=not settings.require_account,
        login_timeout=settings.login_timeout,
        max_bytes_before_login=settings.max_bytes_before_login,
    )


def irc_options(settings: Settings) -> IRCOptions:
    return IRCOptions(
        max_output=settings.max_output,
        login_timeout=settings.login_timeout,
        max_bytes_before_login=settings.max_bytes_before_login,
        server_name=settings.server_name,
    )


def makeService(options: Options, reactor: Any = None) -> MultiService:
    if reactor is None:
        from twisted.internet import reactor
    settings = options.settings
    top = MultiService()
    hash_pool = ThreadPool(0, settings.hash_threads, "chatd-hash")
    journal_pool = ThreadPool(1, 1, "chatd-journal")
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

    directory: IMemberDirectory
    local: LocalDirectory | None = None
    if settings.members:
        remote = RemoteDirectory(
            endpoints.clientFromString(reactor, settings.members), options.members_secret,
            reactor, deadline=settings.members_timeout,
        )
        directory = remote
    else:
        directory = local = LocalDirectory(
            keyed("members.journal", "chatd-members"), hasher, reactor, login_throttle(settings),
            settings.min_password_length,
        )
    bus = LocalBus()
    delivery = Delivery()
    bus.listen(delivery)
    reserved = ReservedNames(settings.reserved_names)
    server = ChatServer(
        FileRoomStore(keyed("rooms.journal", "chatd-rooms")),
        hasher,
        directory,
        core_limits(settings),
        reactor,
        bus,
        reserved=reserved,
    )
    DataService(settings.data, server, local).setServiceParent(top)
    for pool in (hash_pool, journal_pool):
        ThreadPoolService(pool).setServiceParent(top)
    if settings.members:
        remote.service.setServiceParent(top)

    admission = Admission(reactor, admission_limits(settings), parse_networks(settings.exempt))
    throttle = login_throttle(settings)
    # Guest nicks that hit a registered name, per address: counted as failed logins are.
    name_probes = FailureLimiter(reactor, throttle.address_burst, throttle.address_interval)
    portal = make_portal(
        server,
        delivery,
        directory,
        guests=not settings.require_account,
        signups=SignupLimits(reactor, settings.signups_per_address, settings.signups_total),
        exempt=admission.is_exempt,
        name_probes=name_probes,
        reserved=reserved,
    )
    factory = LineFactory(portal, line_options(settings), reactor, admission, server.stats)
    irc_factory = IRCFactory(portal, irc_options(settings), reactor, admission, server.stats)
    certificates = []
    for descriptions, frontend in ((settings.line, factory), (settings.irc, irc_factory)):
        for description in descriptions:
            service, tls = listener(reactor, description, frontend)
            service.setServiceParent(top)
            if tls is not None:
                certificates.append(tls)
    if settings.metrics:
        site = metrics_site(server, {"line": factory, "irc": irc_factory})
        listener(reactor, settings.metrics, site)[0].setServiceParent(top)
    ShutdownNotice([factory.connections, irc_factory.connections]).setServiceParent(top)

    def apply(new: Settings) -> None:
        server.limits = core_limits(new)
        server.wrong_room_passwords.burst = new.room_password_failures
        admission.configure(admission_limits(new))
        factory.options = line_options(new)
        irc_factory.options = irc_options(new)
        name_probes.burst = new.login_failures_per_address
        if local is not None:
            local.configure(login_throttle(new))
            local.min_password = new.min_password_length
        else:
            remote.deadline = new.members_timeout

    Reload(options, reactor, apply, certificates).setServiceParent(top)
    return top
