"""The assembled service (makeService) on the real reactor, and what it logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from chatd.reload import Reload
from chatd.tap import Options, makeService

from fakes import endpoint_services, keyed_file


class Reader(Protocol):
    """Collects lines; ``expect`` waits (bounded) until a line starting with a prefix."""

    def __init__(self) -> None:
        self.data = b""
        self.waiting: tuple[str, defer.Deferred[list[str]]] | None = None

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        self._check()

    def _check(self) -> None:
        if self.waiting and any(line.startswith(self.waiting[0]) for line in self.lines()):
            d = self.waiting[1]
            self.waiting = None
            d.callback(self.lines())

    def lines(self) -> list[str]:
        return self.data.decode().splitlines()

    def expect(self, prefix: str, *send: str) -> defer.Deferred[list[str]]:
        self.data = b""
        d: defer.Deferred[list[str]] = defer.Deferred()
        self.waiting = (prefix, d)
        for line in send:
            self.transport.write(line.encode() + b"\r\n")  # type: ignore[union-attr]
        self._check()
        return d.addTimeout(5, reactor)


@pytest.mark.daemon
class ServiceTests(TestCase):
    def start(self, data: Path, *argv: str) -> tuple[int, object]:
        options = Options()
        options.parseOptions(["--line", "tcp:0:interface=127.0.0.1", "--data", str(data),
                              "--hash-memory-kib", "1024", "--hash-time-cost", "1", *argv])
        service = makeService(options, reactor)
        service.privilegedStartService()
        service.startService()
        [listener] = endpoint_services(service)
        port = listener._waitingForPort.result.getHost().port  # type: ignore[attr-defined]
        return port, service

    async def connect(self, port: int) -> Reader:
        reader = Reader()
        d = reader.expect("220")
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), reader)
        await d
        self.addCleanup(reader.transport.loseConnection)  # type: ignore[union-attr]
        return reader

    async def test_restart_keeps_accounts_and_rooms_not_membership(self) -> None:
        data = Path(self.mktemp()).absolute()
        logged: list[str] = []

        def observe(event: dict) -> None:
            logged.append(formatEvent(event) or "")

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

        port, service = self.start(data)
        alice = await self.connect(port)
        await alice.expect("201", "/signup alice s3cret-pass")
        await alice.expect("200 created", "/create Club 7 door-pass-9")
        await alice.expect("200 topic", "/topic club members only")
        await alice.expect("200 created", "/create gone")
        await alice.expect("200 room deleted", "/delete gone")
        await alice.expect("200", "/join temp")
        await service.stopService()  # type: ignore[attr-defined]

        port, service = self.start(data)
        self.addCleanup(service.stopService)  # type: ignore[attr-defined]
        bob = await self.connect(port)
        await bob.expect("430", "/login alice wrong-pass")
        await bob.expect("201", "/login alice s3cret-pass")
        rooms = await bob.expect("210 ", "/rooms")
        self.assertEqual(rooms, ["210-Club 0/7 locked owned by alice: members only",
                                 "210 1 room"])
        # The key was kept: someone else needs it; its owner does not (issue 27).
        cid = await self.connect(port)
        await cid.expect("201", "/signup cid s3cret-pass")
        await cid.expect("431", "/join club wrong")
        await cid.expect("200 joined Club: you are in Club", "/join club door-pass-9")
        await bob.expect("200 joined Club: you are in Club", "/join club")

        text = "\n".join(logged)
        self.assertIn("alice logged in (account)", text)
        self.assertIn("alice created room Club", text)
        for secret in ("s3cret-pass", "door-pass-9", "wrong-pass"):
            self.assertNotIn(secret, text)
        for name in ("members.journal", "rooms.journal"):
            body = (data / name).read_bytes()
            for secret in (b"s3cret-pass", b"door-pass-9"):
                self.assertNotIn(secret, body)


    async def test_a_reload_of_require_account_applies_to_greeting_and_login_alike(
        self
    ) -> None:
        config = Path(self.mktemp()).absolute()
        config.write_text("require-account = false\n")
        port, service = self.start(Path(self.mktemp()).absolute(), "--config", str(config))
        self.addCleanup(service.stopService)  # type: ignore[attr-defined]
        before = await self.connect(port)
        await before.expect("201", "/nick early")

        config.write_text("require-account = true\n")
        [reload] = [s for s in service if isinstance(s, Reload)]  # type: ignore[attr-defined]
        reload.reload()
        reader = Reader()
        greeting = reader.expect("220")
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), reader)
        [line] = await greeting
        self.addCleanup(reader.transport.loseConnection)  # type: ignore[union-attr]
        self.assertNotIn("guest", line)
        await reader.expect("434", "/nick late")
        # Who came in before stays.
        await before.expect("200", "/join lobby")

        config.write_text("require-account = false\n")
        reload.reload()
        await reader.expect("201", "/nick later")


@pytest.mark.daemon
class MetricsTests(TestCase):
    async def test_metrics_endpoint(self) -> None:
        from twisted.web.client import Agent, readBody

        options = Options()
        options.parseOptions(["--line", "tcp:0:interface=127.0.0.1",
                              "--metrics", "tcp:0:interface=127.0.0.1",
                              "--data", str(Path(self.mktemp()).absolute()),
                              "--hash-memory-kib", "1024", "--hash-time-cost", "1"])
        service = makeService(options, reactor)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        line, metrics = [s._waitingForPort.result.getHost().port  # type: ignore[attr-defined]
                         for s in endpoint_services(service)]
        reader = Reader()
        greeting = reader.expect("220")
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", line), reader)
        await greeting
        self.addCleanup(reader.transport.loseConnection)  # type: ignore[union-attr]
        await reader.expect("201", "/nick ann")
        await reader.expect("101", "/join lobby", "hello")
        await reader.expect("413", "x" * 3000)

        response = await Agent(reactor).request(
            b"GET", f"http://127.0.0.1:{metrics}/metrics".encode())
        text = (await readBody(response)).decode()
        for expected in ('chatd_sessions{protocol="line"} 1.0',
                         'chatd_sessions{protocol="irc"} 0.0',
                         "chatd_rooms 1.0", "chatd_messages_in_total 1.0",
                         "chatd_deliveries_total 1.0",
                         'chatd_rejected_inputs_total{reason="LineTooLong"} 1.0',
                         'chatd_output_queued_bytes{protocol="line"} 0.0'):
            self.assertIn(expected, text)


class EmbeddedAccountsWarningTests(TestCase):
    """With --members, accounts in chatd's own members.journal are not used: the log says so
    at start-up, and how to move them."""

    def make(self, data: Path, what: str = "embedded accounts") -> list[str]:
        secret = Path(self.mktemp()).absolute()
        secret.write_text("s" * 64 + "\n")
        secret.chmod(0o600)
        logged: list[str] = []

        def observe(event: dict) -> None:
            logged.append(formatEvent(event) or "")

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        options = Options()
        options.parseOptions(["--line", "tcp:0:interface=127.0.0.1", "--data", str(data),
                              "--members", f"unix:{data}/nowhere.sock",
                              "--members-secret", str(secret)])
        makeService(options, reactor)  # built, never started: the warning comes at assembly
        return [line for line in logged if what in line]

    def test_embedded_accounts_are_named_with_the_command_that_moves_them(self) -> None:
        data = Path(self.mktemp()).absolute()
        data.mkdir()
        journal = keyed_file(data / "members.journal", "chatd-members")
        journal.load()
        journal.put("ann", {"name": "ann", "hash": "fake$x", "created": 1.0})
        [warning] = self.make(data)
        self.assertIn(f"{data / 'members.journal'} holds embedded accounts, which are not used "
                      "while --members is given", warning)
        self.assertIn(f"chatd-admin --data {data} export-accounts --to MEMBERS_DATA moves them",
                      warning)

    def test_no_warning_without_embedded_accounts(self) -> None:
        data = Path(self.mktemp()).absolute()
        data.mkdir()
        self.assertEqual(self.make(data), [])

    def test_own_room_definitions_are_named_with_the_command_that_moves_them(self) -> None:
        data = Path(self.mktemp()).absolute()
        data.mkdir()
        journal = keyed_file(data / "rooms.journal", "chatd-rooms")
        journal.load()
        journal.put("den", {"name": "Den", "owner": "ann", "limit": 5})
        [warning] = self.make(data, "room definitions")
        self.assertIn(f"{data / 'rooms.journal'} holds room definitions, which are not used",
                      warning)
        self.assertIn(f"chatd-admin --data {data} export-rooms --to MEMBERS_DATA moves them",
                      warning)


@pytest.mark.daemon
class CarriedTests(TestCase):
    def test_the_web_site_carries_irc_for_web_irc_clients(self) -> None:
        from chatd.frontends.irc import IRCFactory
        from chatd.frontends.web import WebFactory

        options = Options()
        options.parseOptions(["--web", "tcp:0:interface=127.0.0.1",
                              "--data", str(Path(self.mktemp()).absolute())])
        [web] = [listener.factory for listener in endpoint_services(makeService(options, reactor))
                 if isinstance(listener.factory, WebFactory)]
        self.assertEqual(set(web.carried), {"text.ircv3.net", "binary.ircv3.net"})
        self.assertIsInstance(web.carried["binary.ircv3.net"], IRCFactory)
