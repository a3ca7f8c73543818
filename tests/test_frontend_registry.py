"""The frontend registry drives the daemon: a frontend's keys, listeners, shutdown and reload
come from its entry alone, with nothing about it in the tap or the config module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatd.config import KEYS, keys_for
from chatd.frontends.connection import FrontendFactory
from chatd.frontends.entry import Frontend
from chatd.frontends.registry import FRONTENDS
from chatd.kernel.settings import Key, Settings, listeners, text
from chatd.reload import Reload
from chatd.tap import Options, makeService

from fakes import endpoint_services


@dataclass(frozen=True)
class EchoOptions:
    greeting: str = "hello"


class Greeter(Protocol):
    """Says the frontend's greeting and closes: enough to see which Options it was built
    with."""

    def __init__(self, factory: EchoFactory) -> None:
        self.home = factory

    def connectionMade(self) -> None:
        self.transport.write(self.home.options.greeting.encode() + b"\n")  # type: ignore
        self.transport.loseConnection()  # type: ignore[union-attr]


class EchoFactory(FrontendFactory):
    def buildProtocol(self, addr: Any) -> Greeter:
        return Greeter(self)


ECHO = Frontend(
    name="echo",
    keys={
        "echo": listeners("echo listener (repeatable)"),
        "echo-greeting": Key(text, "what the echo frontend says first", "hello"),
    },
    options=lambda settings, facts: EchoOptions(settings.echo_greeting),
    factory=EchoFactory,
)


class WithEcho(Options):
    """The daemon's options with one more frontend registered."""

    frontends = (*FRONTENDS, ECHO)
    settings_keys: ClassVar[dict[str, Key]] = keys_for(frontends)


class Received(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: object = None) -> None:
        self.done.callback(self.data)


class KeyTests(SynchronousTestCase):
    def test_each_registered_frontend_brings_its_listener_key(self) -> None:
        for frontend in FRONTENDS:
            self.assertIn(frontend.name, KEYS)
            self.assertIs(KEYS[frontend.name], frontend.keys[frontend.name])
            self.assertIn(f"--{frontend.name}=", str(Options()))

    def test_a_new_frontends_keys_are_options_and_help(self) -> None:
        options = WithEcho()
        options.parseOptions(["--echo", "tcp:1", "--echo", "tcp:2", "--echo-greeting", "hi"])
        self.assertEqual(options.settings.echo, ("tcp:1", "tcp:2"))
        self.assertEqual(options.settings.echo_greeting, "hi")
        self.assertEqual(options.settings.line, Options().settings.line)
        help = " ".join(str(WithEcho()).split())
        self.assertIn("what the echo frontend says first [default: hello]", help)
        self.assertIn("echo listener (repeatable) [default: none]", help)
        self.assertEqual(help.count("--line="), 1)

    def test_a_key_declared_twice_is_refused(self) -> None:
        clash = Frontend("clash", {"clash": listeners("x"), "max-users": listeners("y")},
                         lambda settings: None, EchoFactory)
        error = self.assertRaises(ValueError, keys_for, (*FRONTENDS, clash))
        self.assertIn("max-users", str(error))

    def test_a_frontend_without_its_listener_key_is_refused(self) -> None:
        self.assertRaises(ValueError, Frontend, "nokey", {}, lambda settings: None, EchoFactory)

    def test_settings_are_generic(self) -> None:
        settings = Settings({"echo-greeting": "x"})
        self.assertEqual((settings.echo_greeting, settings["echo-greeting"]), ("x", "x"))
        self.assertRaises(AttributeError, setattr, settings, "echo_greeting", "y")
        self.assertRaises(AttributeError, getattr, settings, "nothing")
        self.assertEqual(settings.replace({"echo-greeting": "y"}).echo_greeting, "y")
        self.assertRaises(KeyError, settings.replace, {"nothing": 1})


@pytest.mark.daemon
class ServiceTests(TestCase):
    def start(self, *argv: str) -> tuple[Any, WithEcho]:  # the service, its options
        options = WithEcho()
        options.parseOptions(["--line", "tcp:0:interface=127.0.0.1",
                              "--echo", "tcp:0:interface=127.0.0.1",
                              "--data", str(Path(self.mktemp()).absolute()),
                              "--hash-memory-kib", "1024", "--hash-time-cost", "1", *argv])
        service = makeService(options, reactor)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        return service, options

    async def greeting(self, service: Any) -> bytes:
        [echo] = [s for s in endpoint_services(service) if isinstance(s.factory, EchoFactory)]
        port = echo._waitingForPort.result.getHost().port  # type: ignore[union-attr]
        received = Received()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), received)
        return await received.done.addTimeout(5, reactor)

    async def test_the_registry_builds_a_new_frontend_and_serves_its_endpoint(self) -> None:
        service, _ = self.start("--echo-greeting", "ahoy")
        self.assertEqual(await self.greeting(service), b"ahoy\n")

    async def test_a_reload_gives_a_new_frontend_its_new_options(self) -> None:
        config = Path(self.mktemp())
        config.write_text('echo-greeting = "before"\n')
        service, _ = self.start("--config", str(config))
        self.assertEqual(await self.greeting(service), b"before\n")
        config.write_text('echo-greeting = "after"\n')
        [reload] = [s for s in service if isinstance(s, Reload)]
        reload.reload()
        self.assertEqual(await self.greeting(service), b"after\n")
