"""``twistd chatd``: command-line options, and makeService, which only assembles.

makeService builds the stores, the bus and (with --cluster) the cluster's gate first and
hands them to the core; then the Portal, and each frontend of ``chatd.frontends.registry``
through its entry (``chatd.frontends.entry.Frontend``): this module names no frontend. The
services it adds live beside what they serve; started in this order and stopped in reverse::

    data                     (chatd.storage.service: lock the data directory, load accounts,
                              rooms, shared files; with --members, rooms come from the
                              member service instead)
    file expiry              (every 10 minutes: shared files past their retention)
    hash, journal, files     (thread pools: argon2id; ordered fsyncs; uploads' writes)
    history                  (chatd.history.service: loaded at start, flushed at stop)
    member service client    (with --members: AMP to twistd chatd-members)
    cluster node             (with --cluster: the Redis link, heartbeat and presence; the
                              node name was claimed in Redis before, in postOptions)
    frontend listeners       (one per endpoint of each registered frontend)
    file links               (chatd.files.service, where a frontend serves a web site: the
                              link secret, /files on that site, web-url)
    shutdown notice, reload, collector

Settings are read once into one frozen snapshot, ``Current``; a SIGHUP (chatd.reload)
replaces it whole, and the parts that read settings after start follow it.

The listeners bind their ports earlier, in twistd's privileged start (so ports below 1024
work with --uid), but accept nothing until the reactor runs, after the data is loaded (with
--members, the room definitions come later, from the member service, and nobody logs in
before: see chatd.members.room_client). At stop, the listeners close first and the journal
thread finishes its queued writes before the data directory's lock is released.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from twisted.application.internet import TimerService
from twisted.application.service import MultiService
from twisted.internet import endpoints
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource

from chatd.auth.checkers import SignupLimits
from chatd.auth.realm import make_portal
from chatd.bus.local import LocalBus
from chatd.collector import Collector
from chatd.config import KEYS, load
from chatd.control import control_factory, default_control
from chatd.core.declarations import OperatorSettings
from chatd.core.seats import SHUTDOWN_SEATS
from chatd.core.service import ChatServer, Limits
from chatd.delivery import Delivery
from chatd.files.service import FileLinks
from chatd.files.store import FileLimits, FileStore
from chatd.frontends.admission import Admission, AdmissionLimits, close_banned, parse_networks
from chatd.frontends.entry import Facts, Frontend
from chatd.frontends.registry import FRONTENDS
from chatd.frontends.shutdown import ShutdownNotice
from chatd.frontends.udp import token_port
from chatd.history.files import FileHistory
from chatd.history.memory import Retention
from chatd.history.service import HistoryService
from chatd.history.transcripts import Transcripts
from chatd.kernel.errors import StartupError
from chatd.kernel.interfaces import IBus, IDelivery, IHistoryStore, IMemberDirectory, IRoomStore
from chatd.kernel.names import ReservedNames
from chatd.kernel.ratelimit import FailureLimiter, LoginThrottle
from chatd.kernel.settings import Current, Key, Settings, SettingsOptions, from_settings
from chatd.listening import Heard, ListenOrExit, ListenOrWarn, endpoint_problem
from chatd.members.client import RemoteDirectory
from chatd.members.local import LocalDirectory
from chatd.members.passwords import Argon2Hasher, HashParameters
from chatd.members.room_client import RemoteRooms, RoomsWarning
from chatd.members.secret import read_secret
from chatd.metrics import metrics_site
from chatd.reload import Reload
from chatd.storage.bans import FileAddressBans
from chatd.storage.journal import Journal, JournalWriter
from chatd.storage.keyed import KeyedFile
from chatd.storage.rooms import FileRoomStore
from chatd.storage.service import DataService
from chatd.threads import ThreadPoolService
from chatd.tls import listener

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
        served.append(("control", (settings.control,) if settings.control else (),
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
            raise usage.UsageError("--cluster needs txredisapi: pip install '.[cluster]' in "
                                   "chatd's folder") from None
        url = parse_redis_url(settings.cluster)
        if "cluster" in self.given and parse_redis_url(self.given["cluster"]).password:
            log.warn("cluster: the Redis password given in --cluster shows in ps to every user "
                     "of this machine; put it in cluster-password-file (or the --config file)")
        try:
            if not claim(url, settings.node_name, settings.cluster_heartbeat):
                log.warn("cluster: Redis at {where} is out of reach; starting alone, joining "
                         "the others once it answers", where=url.shown)
        except NameHeld as error:
            raise usage.UsageError(f"--node-name: {error}") from None


def makeService(options: Options, reactor: Any = None) -> MultiService:
    if reactor is None:
        from twisted.internet import reactor
    settings = options.settings
    current = Current(settings)
    top = MultiService()
    hash_pool = ThreadPool(0, settings.hash_threads, "chatd-hash")
    journal_pool = ThreadPool(1, 1, "chatd-journal")
    # Uploads' writes and fsyncs: each upload's in order, several uploads at once.
    files_pool = ThreadPool(0, 4, "chatd-files")
    # History and transcripts write on a thread of their own, in batches.
    history_pool = ThreadPool(1, 1, "chatd-history")
    hasher = Argon2Hasher(reactor, hash_pool, from_settings(HashParameters, settings),
                          settings.hash_queue)

    def keyed(name: str, kind: str) -> KeyedFile:
        journal = Journal(settings.data / name, kind)
        return KeyedFile(journal, JournalWriter(journal, reactor, journal_pool))

    # The stores: accounts and rooms (here, or the member service's), history, files.
    directory: IMemberDirectory
    local: LocalDirectory | None = None
    rooms: IRoomStore
    remote: RemoteDirectory | None = None
    remote_rooms: RemoteRooms | None = None
    if settings.members:
        directory = remote = RemoteDirectory(
            endpoints.clientFromString(reactor, settings.members), options.members_secret,
            reactor, deadline=settings.members_timeout,
        )
        current.read(remote.reloaded)
        warn_unused(settings.data)
        rooms = remote_rooms = RemoteRooms(remote)
    else:
        rooms = FileRoomStore(keyed("rooms.journal", "chatd-rooms"))
        directory = local = LocalDirectory(
            keyed("members.journal", "chatd-members"), hasher, reactor,
            from_settings(LoginThrottle, settings), settings.min_password_length,
        )
        current.read(local.reloaded)
    delivery = Delivery()
    retention = from_settings(Retention, settings)
    history: IHistoryStore | None = None
    stored: FileHistory | None = None  # history in the data directory (one node)
    shared = None  # history in Redis streams (a cluster)
    if settings.history_max_count and settings.cluster:
        from chatd.cluster.history import SharedHistory

        history = shared = SharedHistory(reactor, retention)
    elif settings.history_max_count:
        history = stored = FileHistory(settings.data / "history", reactor, retention,
                                       reactor, history_pool, settings.history_batch)
    transcripts = None
    if settings.transcripts:
        transcripts = Transcripts(settings.transcripts_dir or settings.data / "transcripts",
                                  settings.transcripts, reactor, reactor, history_pool,
                                  settings.history_batch)
    files = FileStore(settings.data / "files", keyed("files.journal", "chatd-files"),
                      partial(deferToThreadPool, reactor, files_pool), reactor,
                      from_settings(FileLimits, settings))
    current.follow(FileLimits, files.configure)

    # The bus and the gate: this node's alone, or the cluster's.
    bus: IBus = LocalBus()
    realm_delivery: IDelivery = delivery
    cluster = None
    if settings.cluster:
        # Imported only here: without --cluster nothing of Redis is loaded.
        from chatd.cluster.node import ClusterDelivery, ClusterNode
        from chatd.cluster.url import parse_redis_url

        cluster = ClusterNode(reactor, parse_redis_url(settings.cluster), settings.node_name,
                              settings.cluster_heartbeat, delivery, shared)
        bus = cluster.bus
        realm_delivery = ClusterDelivery(delivery, cluster)
    for listening in (delivery, history, transcripts, cluster):
        if listening is not None:
            bus.listen(listening)

    # Download links, where a frontend serves a web site and files are shared: /files is
    # mounted on each site (``sites``, filled as the frontends are built, mounted at start).
    sites: list[Callable[[bytes, Resource], None]] = []
    links = None
    if settings.max_file_size and any(f.mount is not None for f in options.frontends):
        links = FileLinks(settings.data / "files.secret", reactor, current, files, sites)

    reserved = ReservedNames(settings.reserved_names)
    server = ChatServer(rooms, hasher, directory, from_settings(Limits, settings), reactor, bus,
                        history=history, files=files, reserved=reserved,
                        links=None if links is None else links.link, gate=cluster)
    current.follow(Limits, server.configure)
    # Server operators (reloadable) and the address bans in the data directory: this
    # node's own, even in a cluster (addresses are what this node's listeners see).
    bans = FileAddressBans(keyed("bans.journal", "chatd-bans"), reactor)
    server.operators.bans = bans
    server.operators.configure(from_settings(OperatorSettings, settings))
    current.follow(OperatorSettings, server.operators.configure)
    if remote_rooms is not None:
        remote_rooms.follow(server)
    if cluster is not None:
        cluster.follow(server)

    loads = [server.load_rooms] if remote_rooms is None else []
    loads.append(bans.load)
    DataService(settings.data, (lambda: "remote") if local is None else local.load,
                [*loads, files.load]).setServiceParent(top)
    TimerService(EXPIRE_EVERY, files.expire).setServiceParent(top)
    for pool in (hash_pool, journal_pool, history_pool, files_pool):
        ThreadPoolService(pool).setServiceParent(top)
    HistoryService(stored, transcripts,
                   server.prune_history if remote_rooms is None else None).setServiceParent(top)
    if remote is not None:
        remote.service.setServiceParent(top)
    if remote_rooms is not None:
        RoomsWarning(remote_rooms).setServiceParent(top)
    if cluster is not None:
        cluster.setServiceParent(top)

    admission = Admission(reactor, from_settings(AdmissionLimits, settings),
                          parse_networks(settings.exempt))
    current.follow(AdmissionLimits, admission.configure)
    admission.bans = bans
    throttle = from_settings(LoginThrottle, settings)
    # Guest nicks that hit a registered name, per address: counted as failed logins are.
    name_probes = FailureLimiter(reactor, throttle.address_burst, throttle.address_interval)
    current.follow(LoginThrottle, lambda throttle: name_probes.configure(
        throttle.address_burst, throttle.address_interval))
    portal = make_portal(
        server,
        realm_delivery,
        directory,
        guests=lambda: not current.settings.require_account,
        signups=SignupLimits(reactor, settings.signups_per_address, settings.signups_total),
        exempt=admission.is_exempt,
        name_probes=name_probes,
        reserved=reserved,
        registered=None if local is None else local.registered,
        signup_on_login=lambda: current.settings.signup_on_login,
    )
    facts = Facts(udp_port=token_port(settings))  # listeners are restart-only
    running = []
    certificates = []
    for frontend in options.frontends:
        factory = frontend.factory(portal, frontend.options(settings, facts), reactor,
                                   admission, server.stats)
        current.read(partial(frontend.reload, factory, facts=facts))
        running.append((frontend, factory))
        if frontend.mount is not None:
            sites.append(partial(frontend.mount, factory))
        for description in frontend.listeners(settings):
            service, tls = listener(reactor, description, factory, frontend.endpoint)
            if links is not None and frontend.mount is not None and not links.url:
                scheme = "https" if description.startswith("ssl:") else "http"
                service.endpoint = Heard(service.endpoint, partial(links.heard, scheme=scheme))
            ListenOrExit("chatd", frontend.name, description, service).setServiceParent(top)
            if tls is not None:
                certificates.append(tls)
    bans.watch(partial(close_banned, [factory for _, factory in running]))
    # A web site carries the stream protocols that name WebSocket subprotocols (IRC's).
    for site_frontend, web in running:
        if site_frontend.carry is not None:
            for carried, stream in running:
                if carried.subprotocols:
                    site_frontend.carry(web, carried.subprotocols, stream)
    if links is not None:
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
    # chatd-admin's way in (seats, end-seat); the default one is not worth failing a start.
    control = settings.control or default_control(settings.data.absolute())
    (ListenOrExit if settings.control else ListenOrWarn)(
        "chatd", "control", control, listener(reactor, control, control_factory(server.seats))[0]
    ).setServiceParent(top)
    ShutdownNotice(running, partial(server.seats.end_all, SHUTDOWN_SEATS)).setServiceParent(top)
    Reload(options, reactor, current, certificates).setServiceParent(top)
    Collector(reactor).setServiceParent(top)
    return top


def warn_unused(data: Path) -> None:
    """With a member service, accounts and rooms in the data directory are not used: each is
    named in the log with the command that moves it."""
    for name, what, command in (
        ("members.journal", "embedded accounts", "export-accounts"),
        ("rooms.journal", "room definitions", "export-rooms"),
    ):
        path = data / name
        if path.exists() and path.stat().st_size:
            log.warn(
                "{path} holds {what}, which are not used while --members is given: "
                + ("only the member service's accounts can log in"
                   if command == "export-accounts" else "the rooms are the member service's")
                + "; chatd-admin --data {data} {command} --to MEMBERS_DATA moves them (both "
                  "daemons stopped)", path=path, what=what, data=data, command=command)
