"""``twistd chatd``: command-line options, and makeService, which only assembles.

The service tree, started in this order and stopped in reverse::

    data                     (lock the data directory, load accounts, rooms, shared files;
                              with --members, rooms come from the member service instead)
    file expiry              (every 10 minutes: shared files past their retention)
    hash, journal, files     (thread pools: argon2id; ordered fsyncs; uploads' writes)
    member service client    (with --members: AMP to twistd chatd-members)
    cluster node             (with --cluster: the Redis link, heartbeat and presence; the
                              node name was claimed in Redis before, in postOptions)
    frontend listeners       (one per endpoint of each registered frontend: --line, --irc)
    file links               (with --web: the link secret, /files on the web site, web-url)

Frontends are known only through their entries in ``chatd.frontends.registry``: this module
walks them to build each factory, listen on its endpoints, count it in the metrics, close its
connections at shutdown and give it new Options on a reload.

The listeners bind their ports earlier, in twistd's privileged start (so ports below 1024
work with --uid), but accept nothing until the reactor runs, after the data is loaded (with
--members, the room definitions come later, from the member service, and nobody logs in
before: see chatd.members.room_client). At
stop, the listeners close first and the journal thread finishes its queued writes before the
data directory's lock is released.
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet import endpoints
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from chatd.auth.checkers import GuestChecker, SignupLimits
from chatd.auth.passwords import Argon2Hasher, HashParameters
from chatd.auth.realm import make_portal
from chatd.bus.local import LocalBus
from chatd.config import KEYS, load
from chatd.core.service import ChatServer, Limits
from chatd.delivery import Delivery
from chatd.files.links import LinkSigner, link_secret
from chatd.files.store import FileLimits, FileStore
from chatd.files.web import FileResource
from chatd.frontends.admission import Admission, AdmissionLimits, parse_networks
from chatd.frontends.connection import FrontendFactory
from chatd.frontends.entry import Facts, Frontend
from chatd.frontends.registry import FRONTENDS
from chatd.frontends.udp import token_port
from chatd.frontends.web import WebFactory
from chatd.history.files import FileHistory
from chatd.history.memory import Retention
from chatd.history.transcripts import Transcripts
from chatd.kernel.credentials import IGuestCredentials
from chatd.kernel.errors import NotAllowed, StartupError
from chatd.kernel.interfaces import (
    IBusListener,
    IDelivery,
    IHistoryStore,
    IMemberDirectory,
    IRoomStore,
)
from chatd.kernel.names import ReservedNames
from chatd.kernel.ratelimit import FailureLimiter
from chatd.kernel.settings import ConfigError, Key, Settings, SettingsOptions
from chatd.listening import ListenOrExit, endpoint_problem
from chatd.members.client import RemoteDirectory
from chatd.members.local import LocalDirectory, LoginThrottle
from chatd.members.room_client import RemoteRooms
from chatd.members.secret import read_secret
from chatd.metrics import metrics_site
from chatd.storage.journal import DirectoryLock, Journal, JournalWriter
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore
from chatd.threads import ThreadPoolService
from chatd.tls import ReloadableTLS, listener

log = Logger()

# Seconds between deletions of the shared files past their retention.
EXPIRE_EVERY = 600.0


class Options(SettingsOptions):
    """One option per key of ``chatd.config.KEYS`` (frontends' included), and --config.
    ``frontends`` are the entries makeService runs; ``settings_keys`` must hold their keys."""

    synopsis = " ".join(["[--config FILE]", *(f"[--{f.name} ENDPOINT ...]" for f in FRONTENDS),
                         "[--data DIR] [options]"])
    longdesc = (
        "Run the chat daemon. Every option is also a key of the TOML file given by --config; "
        "the command line wins. See etc/chatd.toml.example."
    )
    frontends: tuple[Frontend, ...] = FRONTENDS
    settings_keys: ClassVar[Mapping[str, Key]] = KEYS
    command = "twistd chatd"

    def __init__(self) -> None:
        super().__init__()
        self.members_secret = ""

    def load(self, command_line: Mapping[str, Any], config: Path | None) -> Settings:
        return load(self.settings_keys, command_line, config)

    def postOptions(self) -> None:
        super().postOptions()
        settings = self.settings
        from twisted.internet import reactor

        if settings.members:
            try:
                endpoints.clientFromString(reactor, settings.members)
            except Exception as error:
                raise usage.UsageError(
                    f"--members {settings.members!r}: {endpoint_problem(error)}") from None
            try:
                self.members_secret = read_secret(settings.members_secret)
            except StartupError as error:
                raise usage.UsageError(f"--members-secret: {error}") from None
        if settings.cluster:
            self._claim_node_name()
        served = [(frontend.name, frontend.listeners(settings), frontend.endpoint)
                  for frontend in self.frontends]
        served.append(("metrics", (settings.metrics,) if settings.metrics else (),
                       endpoints.serverFromString))
        for option, descriptions, parse in served:
            for description in descriptions:
                try:
                    parse(reactor, description)
                except Exception as error:  # any parser or TLS file error names the endpoint
                    raise usage.UsageError(
                        f"--{option} {description!r}: {endpoint_problem(error)}") from None


    def _claim_node_name(self) -> None:
        """Refuse to start under a node name a live node holds (chatd.cluster.claim)."""
        from chatd.cluster.claim import NameHeld, claim
        from chatd.cluster.url import parse_redis_url

        settings = self.settings
        try:
            import txredisapi  # noqa: F401
        except ImportError:
            raise usage.UsageError("--cluster needs txredisapi: pip install 'chatd[cluster]'"
                                   ) from None
        url = parse_redis_url(settings.cluster)
        try:
            if not claim(url, settings.node_name, settings.cluster_heartbeat):
                log.warn("cluster: Redis at {where} is out of reach; starting alone, joining "
                         "the others once it answers", where=url.shown)
        except NameHeld as error:
            raise usage.UsageError(f"--node-name: {error}") from None


class DataService(Service):
    """Locks the data directory and loads accounts and rooms.

    It is the first service to start, so when the data can't be had (another daemon holds
    the lock, a journal is damaged) nothing else has started: the daemon exits at once with
    one line saying why, and a non-zero status for systemd. It is the last to stop, so the
    lock is held until the journal thread has written everything queued.
    """

    def __init__(
        self, path: Path, server: ChatServer, directory: LocalDirectory | None,
        files: FileStore, rooms_here: bool = True,
    ) -> None:
        self.path = path
        # False with a member service: the rooms come from it, once it is reachable.
        self.rooms_here = rooms_here
        self.lock = DirectoryLock(path)
        self.server = server
        self.directory = directory
        self.files = files

    def startService(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.lock.acquire()
            accounts = "remote" if self.directory is None else self.directory.load()
            if self.rooms_here:
                self.server.load_rooms()
            self.files.load()
        except (StartupError, OSError) as error:
            raise SystemExit(f"chatd: {error}") from None
        log.info("data in {path}: {accounts} accounts", path=str(self.path), accounts=accounts)
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        self.lock.release()


class HistoryService(Service):
    """Loads history at start (after the data directory is locked) and, at stop, hands what
    is queued to the history thread (whose pool, stopped next, finishes it); transcripts
    too. Once loaded, ``loaded`` drops the history of rooms that are gone (the temporary
    rooms open when the daemon stopped); None where the rooms come later, from the member
    service (each resync of them drops it then)."""

    def __init__(self, history: FileHistory | None, transcripts: Transcripts | None,
                 loaded: Callable[[], None] | None = None) -> None:
        self.history = history
        self.transcripts = transcripts
        self.loaded = loaded

    def startService(self) -> None:
        if self.history is not None:
            try:
                self.history.load()
            except OSError as error:
                raise SystemExit(f"chatd: history: {error}") from None
            if self.loaded is not None:
                self.loaded()
            self.history.start()
        super().startService()

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        return DeferredList([part.stop() for part in (self.history, self.transcripts)
                             if part is not None])


@implementer(IStreamServerEndpoint)
class Heard:
    """An endpoint that tells ``heard`` the port it listens on (its real port if 0 was
    asked for): how the web frontend's URL is found when ``web-url`` is not given."""

    def __init__(self, endpoint: IStreamServerEndpoint,
                 heard: Callable[[IListeningPort], None]) -> None:
        self.endpoint = endpoint
        self.heard = heard

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        def heard(port: IListeningPort) -> IListeningPort:
            self.heard(port)
            return port

        listening: Deferred[IListeningPort] = self.endpoint.listen(factory)
        return listening.addCallback(heard)


class RoomsWarning(Service):
    """With a member service: one warning if the room definitions are not read within its
    deadline (nobody logs in until they are)."""

    def __init__(self, rooms: RemoteRooms) -> None:
        self.rooms = rooms

    def startService(self) -> None:
        super().startService()
        self.rooms.started()

    def stopService(self) -> None:
        super().stopService()
        self.rooms.stopped()


class FileLinks(Service):
    """Shared files over HTTP, where the web frontend is on: once the data directory is
    locked, reads (or makes) the link secret, mounts ``/files`` on the web site and gives
    the core its link maker, which starts links with the public URL (``web-url``, or the
    first web listener's address)."""

    def __init__(self, secret: Path, clock: Any, lifetime: int, files: FileStore,
                 server: ChatServer, web: WebFactory, url: str) -> None:
        self.secret = secret
        self.clock = clock
        self.lifetime = lifetime
        self.files = files
        self.server = server
        self.web = web
        self.url = url
        self.signer: LinkSigner | None = None

    def heard(self, port: IListeningPort, scheme: str) -> None:
        """The first web listener is up: its address is the URL, unless ``web-url`` says
        otherwise or it listens on every interface (no one name reaches it)."""
        if self.url:
            return
        host = port.getHost()
        if not isinstance(host, IPv4Address | IPv6Address) or host.host in ("0.0.0.0", "::"):
            log.warn("no download links for shared files: the web listener has no one "
                     "address; set web-url to the page's public URL")
            return
        shown = f"[{host.host}]" if ":" in host.host else host.host
        self.url = f"{scheme}://{shown}:{host.port}"

    def link(self, file_id: str) -> tuple[str, int]:
        if self.signer is None or not self.url:
            raise NotAllowed("no download links here: they need the web frontend and its "
                             "web-url; /get ID fetches the file")
        return self.url + self.signer.make(file_id), self.signer.lifetime

    def startService(self) -> None:
        try:
            secret = link_secret(self.secret)
        except (OSError, ValueError) as error:
            raise SystemExit(f"chatd: download links: {error}") from None
        self.signer = LinkSigner(secret, self.clock, self.lifetime)
        self.web.mount(b"files", FileResource(self.files, self.signer))
        self.server.links = self.link
        super().startService()


class ShutdownNotice(Service):
    """Added last, so stopped first: every connection hears why it is closing (109) and gets
    what was queued for it, before the listeners and the data go."""

    def __init__(self, frontends: list[tuple[Frontend, FrontendFactory]]) -> None:
        self.frontends = frontends

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        why = "the server is shutting down; reconnect in a minute"
        return DeferredList([frontend.shutdown(factory, why)
                             for frontend, factory in self.frontends])


# The collector's generation thresholds: a young collection every 20,000 allocations rather
# than 700 (each one's cost grows with the young objects, not the heap), older ones rarer.
GC_THRESHOLDS = (20_000, 20, 20)


class Collector(Service):
    """Keeps the cyclic garbage collector out of the latency tail.

    Start-up leaves some hundred thousand long-lived objects (Twisted, zope, the settings,
    the loaded rooms and history); a full collection walks all of them, a pause of tens of
    milliseconds in the middle of a reactor turn. Once the reactor runs they are moved to
    the permanent generation (``gc.freeze``), which collections never walk, and the
    thresholds are raised (``GC_THRESHOLDS``). Chat makes few cycles: its garbage goes by
    reference counting, so collecting less often costs memory only for cycles.
    """

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    def startService(self) -> None:
        super().startService()
        self.reactor.callWhenRunning(self.freeze)

    def freeze(self) -> None:
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        log.info("{count} objects from start-up frozen out of garbage collection",
                 count=gc.get_freeze_count())


class Reload(Service):
    """SIGHUP: read the configuration again and apply its limits, and re-read the TLS
    certificate files, without dropping anyone. Settings that only a restart can change
    (the keys not ``reloadable``: listeners, data directory, member service, hashing) are
    reported if they differ."""

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
        options = self.options
        try:
            settings = options.load(options.given, options.config)
        except ConfigError as error:
            log.error("reload refused, settings unchanged: {error}", error=str(error))
            return
        changed = [name for name, key in options.settings_keys.items()
                   if not key.reloadable and settings[name] != options.settings[name]]
        if changed:
            log.warn("reload: {keys} changed; restart to apply", keys=", ".join(changed))
            # Until the restart, every part goes on with what it started with, so that no
            # two parts disagree (a greeting offering what the login refuses).
            settings = settings.replace({name: options.settings[name] for name in changed})
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
        token_lifetime=settings.token_lifetime,
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


def retention(settings: Settings) -> Retention:
    return Retention(settings.history_max_count, settings.history_max_age,
                     settings.history_private)


def hash_parameters(settings: Settings) -> HashParameters:
    return HashParameters(
        settings.hash_time_cost, settings.hash_memory_kib, settings.hash_parallelism
    )


def file_limits(settings: Settings) -> FileLimits:
    return FileLimits(
        max_file_size=settings.max_file_size,
        per_user=settings.file_quota_per_user,
        per_room=settings.file_quota_per_room,
        total=settings.file_store_size,
        retention_days=settings.file_retention_days,
    )


def makeService(options: Options, reactor: Any = None) -> MultiService:
    if reactor is None:
        from twisted.internet import reactor
    settings = options.settings
    top = MultiService()
    hash_pool = ThreadPool(0, settings.hash_threads, "chatd-hash")
    journal_pool = ThreadPool(1, 1, "chatd-journal")
    # Uploads' writes and fsyncs: each upload's in order, several uploads at once.
    files_pool = ThreadPool(0, 4, "chatd-files")
    hasher = Argon2Hasher(reactor, hash_pool, hash_parameters(settings), settings.hash_queue)

    def keyed(name: str, kind: str) -> KeyedFile:
        journal = Journal(settings.data / name, kind)
        return KeyedFile(journal, JournalWriter(journal, reactor, journal_pool))

    directory: IMemberDirectory
    local: LocalDirectory | None = None
    rooms: IRoomStore
    remote_rooms: RemoteRooms | None = None
    if settings.members:
        remote = RemoteDirectory(
            endpoints.clientFromString(reactor, settings.members), options.members_secret,
            reactor, deadline=settings.members_timeout,
        )
        directory = remote
        embedded = settings.data / "members.journal"
        if embedded.exists() and embedded.stat().st_size:
            log.warn("{path} holds embedded accounts, which are not used while --members is "
                     "given: only the member service's accounts can log in; chatd-admin "
                     "--data {data} export-accounts --to MEMBERS_DATA moves them (both "
                     "daemons stopped)", path=embedded, data=settings.data)
        rooms = remote_rooms = RemoteRooms(remote)
        own_rooms = settings.data / "rooms.journal"
        if own_rooms.exists() and own_rooms.stat().st_size:
            log.warn("{path} holds room definitions, which are not used while --members is "
                     "given: the rooms are the member service's; chatd-admin --data {data} "
                     "export-rooms --to MEMBERS_DATA moves them (both daemons stopped)",
                     path=own_rooms, data=settings.data)
    else:
        rooms = FileRoomStore(keyed("rooms.journal", "chatd-rooms"))
        directory = local = LocalDirectory(
            keyed("members.journal", "chatd-members"), hasher, reactor, login_throttle(settings),
            settings.min_password_length,
        )
    delivery = Delivery()
    listeners: list[IBusListener] = [delivery]
    # History and transcripts write on a thread of their own, in batches.
    history_pool = ThreadPool(1, 1, "chatd-history")
    history: IHistoryStore | None = None
    stored: FileHistory | None = None  # history in the data directory (one node)
    shared = None  # history in Redis streams (a cluster)
    if settings.history_max_count and settings.cluster:
        from chatd.cluster.history import SharedHistory

        history = shared = SharedHistory(reactor, retention(settings))
        listeners.append(history)
    elif settings.history_max_count:
        history = stored = FileHistory(settings.data / "history", reactor, retention(settings),
                                       reactor, history_pool, settings.history_batch)
        listeners.append(history)
    transcripts = None
    if settings.transcripts:
        transcripts = Transcripts(settings.transcripts_dir or settings.data / "transcripts",
                                  settings.transcripts, reactor, reactor, history_pool,
                                  settings.history_batch)
        listeners.append(transcripts)
    files = FileStore(settings.data / "files", keyed("files.journal", "chatd-files"),
                      partial(deferToThreadPool, reactor, files_pool), reactor,
                      file_limits(settings))
    reserved = ReservedNames(settings.reserved_names)
    server = ChatServer(
        rooms,
        hasher,
        directory,
        core_limits(settings),
        reactor,
        LocalBus(),
        history=history,
        files=files,
        reserved=reserved,
    )
    if remote_rooms is not None:
        remote_rooms.follow(server)
    realm_delivery: IDelivery = delivery
    cluster = None
    if settings.cluster:
        # Imported only here: without --cluster nothing of Redis is loaded.
        from chatd.cluster.node import ClusterDelivery, ClusterNode
        from chatd.cluster.url import parse_redis_url

        cluster = ClusterNode(reactor, parse_redis_url(settings.cluster), settings.node_name,
                              settings.cluster_heartbeat, server, delivery, shared)
        server.bus = cluster.bus
        listeners.append(cluster)
        realm_delivery = ClusterDelivery(delivery, cluster)
    for listening in listeners:
        server.bus.listen(listening)
    DataService(settings.data, server, local, files, remote_rooms is None).setServiceParent(top)
    TimerService(EXPIRE_EVERY, files.expire).setServiceParent(top)
    for pool in (hash_pool, journal_pool, history_pool, files_pool):
        ThreadPoolService(pool).setServiceParent(top)
    HistoryService(stored, transcripts,
                   server.prune_history if remote_rooms is None else None).setServiceParent(top)
    if settings.members:
        remote.service.setServiceParent(top)
    if remote_rooms is not None:
        RoomsWarning(remote_rooms).setServiceParent(top)
    if cluster is not None:
        cluster.setServiceParent(top)

    admission = Admission(reactor, admission_limits(settings), parse_networks(settings.exempt))
    throttle = login_throttle(settings)
    # Guest nicks that hit a registered name, per address: counted as failed logins are.
    name_probes = FailureLimiter(reactor, throttle.address_burst, throttle.address_interval)
    portal = make_portal(
        server,
        realm_delivery,
        directory,
        guests=not settings.require_account,
        signups=SignupLimits(reactor, settings.signups_per_address, settings.signups_total),
        exempt=admission.is_exempt,
        name_probes=name_probes,
        reserved=reserved,
    )
    guests = portal.checkers[IGuestCredentials]
    assert isinstance(guests, GuestChecker)
    facts = Facts(udp_port=token_port(settings))  # listeners are restart-only
    running = [
        (frontend, frontend.factory(portal, frontend.options(settings, facts), reactor,
                                    admission, server.stats))
        for frontend in options.frontends
    ]
    certificates = []
    links = None
    for frontend, factory in running:
        if isinstance(factory, WebFactory) and links is None:
            links = FileLinks(settings.data / "files.secret", reactor, settings.file_link_lifetime,
                              files, server, factory, settings.web_url)
        for description in frontend.listeners(settings):
            service, tls = listener(reactor, description, factory, frontend.endpoint)
            if links is not None and factory is links.web and not links.url:
                scheme = "https" if description.startswith("ssl:") else "http"
                service.endpoint = Heard(service.endpoint,
                                         partial(links.heard, scheme=scheme))
            ListenOrExit("chatd", frontend.name, description, service).setServiceParent(top)
            if tls is not None:
                certificates.append(tls)
    if links is not None and settings.max_file_size:
        links.setServiceParent(top)
    if settings.metrics:
        more = []
        if cluster is not None:
            from chatd.cluster.metrics import ClusterCollector

            more.append(ClusterCollector(cluster))
        site = metrics_site(server, {frontend.name: factory for frontend, factory in running},
                            more)
        ListenOrExit("chatd", "metrics", settings.metrics,
                     listener(reactor, settings.metrics, site)[0]).setServiceParent(top)
    ShutdownNotice(running).setServiceParent(top)

    def apply(new: Settings) -> None:
        server.limits = core_limits(new)
        files.limits = file_limits(new)
        if links is not None and links.signer is not None:
            links.signer.lifetime = new.file_link_lifetime
        server.wrong_room_passwords.burst = new.room_password_failures
        admission.configure(admission_limits(new))
        for frontend, factory in running:
            frontend.reload(factory, new, facts)
        name_probes.burst = new.login_failures_per_address
        guests.allowed = not new.require_account
        if local is not None:
            local.configure(login_throttle(new))
            local.min_password = new.min_password_length
        else:
            remote.deadline = new.members_timeout

    Reload(options, reactor, apply, certificates).setServiceParent(top)
    Collector(reactor).setServiceParent(top)
    return top
