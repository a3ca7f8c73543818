"""Fakes that implement chatd's real interfaces, for tests that need no threads or files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from chatd.auth.checkers import SignupLimits
from chatd.auth.realm import make_portal
from chatd.bus.local import LocalBus
from chatd.core.service import ChatServer, Limits
from chatd.delivery import Delivery
from chatd.files.store import FileLimits, FileStore
from chatd.frontends.admission import Admission, AdmissionLimits
from chatd.frontends.irc.protocol import IRCFactory
from chatd.frontends.line import LineFactory, LineProtocol, Options
from chatd.kernel.errors import NameTaken
from chatd.kernel.events import Event
from chatd.kernel.interfaces import (
    IChatMind,
    IChatSession,
    IHistoryStore,
    IPasswordHasher,
    IRoomStore,
)
from chatd.kernel.records import RoomRecord
from chatd.members.local import LocalDirectory
from chatd.storage.journal import Journal, SyncJournalWriter
from chatd.storage.keyed import KeyedFile


@implementer(IPasswordHasher)
class FakeHasher:
    """Reversible 'hashes' that answer at once, or, with ``hold``, when the test says."""

    def __init__(self) -> None:
        self.hold = False
        self.held: list[Deferred[object]] = []
        self.weak: set[str] = set()

    def _answer(self, value: object) -> Deferred:
        if not self.hold:
            return succeed(value)
        d: Deferred[object] = Deferred()
        d.addCallback(lambda _: value)
        self.held.append(d)
        return d

    def release(self) -> None:
        held, self.held = self.held, []
        for d in held:
            d.callback(None)

    def hash(self, password: str) -> Deferred[str]:
        return self._answer("fake$" + password)

    def verify(self, hashed: str, password: str) -> Deferred[bool]:
        return self._answer(hashed == "fake$" + password)

    def verify_nobody(self, password: str) -> Deferred[bool]:
        return self._answer(False)

    def needs_rehash(self, hashed: str) -> bool:
        return hashed in self.weak


def endpoint_services(service: Iterable[Any]) -> list[StreamServerEndpointService]:
    """The listeners of an assembled daemon, each inside its ListenOrExit, in order."""
    return [inner for outer in service for inner in (outer if isinstance(outer, MultiService)
                                                     else [outer])
            if isinstance(inner, StreamServerEndpointService)]


def keyed_file(path: Path, kind: str = "chatd-test", slack: int = 256) -> KeyedFile:
    journal = Journal(path, kind)
    return KeyedFile(journal, SyncJournalWriter(journal), slack)


@implementer(IRoomStore)
class OutboxOwner:
    """An outbox's owner (``chatd.frontends.outbox.Owner``) that counts what it is told."""

    def __init__(self) -> None:
        self.overflowed = 0
        self.closing = 0

    def output_overflowed(self) -> None:
        self.overflowed += 1

    def output_closing(self) -> None:
        self.closing += 1


class MemoryRoomStore:
    def __init__(self) -> None:
        self.rooms: dict[str, RoomRecord] = {}

    def load(self) -> list[RoomRecord]:
        return list(self.rooms.values())

    def create(self, record: RoomRecord) -> Deferred[None]:
        if record.key in self.rooms:
            return fail(NameTaken(f"a room called {record.name} already exists"))
        return self.save(record)

    def save(self, record: RoomRecord) -> Deferred[None]:
        self.rooms[record.key] = record
        return succeed(None)

    def delete(self, key: str) -> Deferred[None]:
        del self.rooms[key]
        return succeed(None)


@implementer(IChatMind)
class RecordingMind:
    """Keeps every event; no wire format, so room messages come through ``deliver`` too."""

    render = None
    echo = True
    write = None
    seat = None
    attached = None

    def __init__(self) -> None:
        self.events: list[Event] = []

    def deliver(self, event: Event) -> None:
        self.events.append(event)


class World:
    """A whole chat server in memory: core, directory, portal, line factory, fake clock."""

    def __init__(self, path: Path, limits: Limits | None = None, guests: bool = True,
                 options: Options | None = None,
                 admission: AdmissionLimits | None = None,
                 history: IHistoryStore | None = None,
                 file_limits: FileLimits | None = None, clock: Clock | None = None) -> None:
        self.hasher = FakeHasher()
        self.clock = clock or Clock()
        self.directory = LocalDirectory(keyed_file(path / "members.journal"), self.hasher,
                                        self.clock)
        self.directory.load()
        self.store = MemoryRoomStore()
        # Tests send faster than people type; the message rate is tested with its own Limits.
        # A drop is a departure here, as before seats, unless a test asks for seats.
        limits = limits or Limits(messages_burst=1_000_000, seat_grace=0)
        self.bus = LocalBus()
        self.delivery = Delivery()
        self.bus.listen(self.delivery)
        if history is not None:
            self.bus.listen(history)
        # Shared files on disk, written on the calling thread (``maybeDeferred``).
        self.files = FileStore(path / "files", keyed_file(path / "files.journal"),
                               maybeDeferred, self.clock, file_limits or FileLimits())
        self.files.load()
        self.server = ChatServer(self.store, self.hasher, self.directory, limits, self.clock,
                                 self.bus, history=history, files=self.files)
        # Every fake connection comes from one address: per-address limits are generous here
        # and tested on their own with ``admission``.
        self.admission = Admission(self.clock, admission or AdmissionLimits(
            per_address=10_000, new_per_address=10_000, unnamed_per_address=10_000))
        self.portal = make_portal(self.server, self.delivery, self.directory, lambda: guests,
                                  SignupLimits(self.clock, 10_000, 10_000),
                                  exempt=self.admission.is_exempt,
                                  registered=self.directory.registered)
        self.factory = LineFactory(self.portal, options or Options(), self.clock, self.admission,
                                   self.server.stats)

    def connect(self) -> Client:
        return Client(self.factory)

    def spy(self, name: str) -> tuple[IChatSession, RecordingMind]:
        """A guest session whose events a RecordingMind keeps (no wire format)."""
        mind = RecordingMind()
        session = self.server.connect(name, True)
        self.delivery.attach(session.key, session.id, mind)
        return session, mind


class Client:
    """One line-protocol connection over a StringTransport."""

    def __init__(self, factory: LineFactory) -> None:
        self.clock = factory.clock
        self.protocol: LineProtocol = factory.buildProtocol(None)
        self.factory = factory
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.read()

    def send(self, *lines: str) -> list[str]:
        for line in lines:
            self.protocol.dataReceived(line.encode() + b"\r\n")
        return self.read()

    def send_bytes(self, data: bytes) -> list[str]:
        self.protocol.dataReceived(data)
        return self.read()

    def read(self) -> list[str]:
        self.clock.advance(0)  # the end of the reactor turn: outboxes flush
        data = self.transport.value().decode()
        self.transport.clear()
        return data.splitlines()

    def drop(self) -> None:
        self.protocol.connectionLost(None)  # type: ignore[arg-type]


class RawIRC:
    """An IRC connection on a StringTransport, sent whole lines and read as lines."""

    def __init__(self, factory: IRCFactory) -> None:
        self.clock = factory.clock
        self.protocol = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def send(self, *lines: str) -> list[str]:
        self.protocol.dataReceived("".join(f"{line}\r\n" for line in lines).encode())
        self.clock.advance(0)
        data = self.transport.value().decode()
        self.transport.clear()
        return data.split("\r\n")[:-1]
