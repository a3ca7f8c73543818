"""IRC and line clients in one room, over real loopback sockets, in this process.

The IRC side is Twisted's ``IRCClient`` (an implementation nobody here wrote); the SASL test
adds only the CAP/AUTHENTICATE exchange it lacks. The line side is a plain LineOnlyReceiver.
Both frontends listen on port 0 and share one in-memory chat server (``tests.fakes.World``),
so these tests check the wire and the sockets, not storage or hashing. Every wait is bounded.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.words.protocols.irc import IRCClient

from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import LineFactory
from chatd.frontends.line import Options as LineOptions

from tests.fakes import World

pytestmark = pytest.mark.daemon

WAIT = 5.0
PASSWORD = "password1"


class Seen:
    """What a client has seen, and bounded waits for what it should see next."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._waits: list[tuple[Callable[[Any], bool], defer.Deferred[Any]]] = []

    def add(self, item: Any) -> None:
        self.items.append(item)
        for wait in list(self._waits):
            if wait[0](item) and not wait[1].called:
                self._waits.remove(wait)
                wait[1].callback(item)

    def wait(self, want: Callable[[Any], bool], what: str) -> defer.Deferred[Any]:
        for item in self.items:
            if want(item):
                return defer.succeed(item)
        d: defer.Deferred[Any] = defer.Deferred()
        entry = (want, d)
        self._waits.append(entry)

        def expired() -> None:
            if not d.called:
                self._waits.remove(entry)
                d.errback(AssertionError(f"waited {WAIT}s for {what}; saw {self.items}"))

        call = reactor.callLater(WAIT, expired)  # type: ignore[attr-defined]
        d.addBoth(lambda result: (call.active() and call.cancel(), result)[1])
        return d


class Irc(IRCClient):
    """Twisted's IRC client, recording every line it reads and every callback it gets."""

    def __init__(self, nick: str, password: str | None = None) -> None:
        self.nickname = nick
        self.password = password
        self.seen = Seen()
        self.gone: defer.Deferred[None] = defer.Deferred()

    def lineReceived(self, line: bytes) -> None:
        self.seen.add(("raw", line.decode("utf-8")))
        super().lineReceived(line)

    def signedOn(self) -> None:
        self.seen.add(("signedOn", self.nickname))

    def joined(self, channel: str) -> None:
        self.seen.add(("joined", channel))

    def userJoined(self, user: str, channel: str) -> None:
        self.seen.add(("userJoined", user, channel))

    def userQuit(self, user: str, message: str) -> None:
        self.seen.add(("userQuit", user, message))

    def privmsg(self, user: str, channel: str, message: str) -> None:
        self.seen.add(("privmsg", user.split("!")[0], channel, message))

    def irc_ERR_PASSWDMISMATCH(self, prefix: str, params: list[str]) -> None:
        """Recorded (lineReceived saw it) instead of IRCClient's unhandled exception."""

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        super().connectionLost(reason)
        if not self.gone.called:
            self.gone.callback(None)

    def numeric(self, code: str) -> defer.Deferred[Any]:
        return self.seen.wait(
            lambda item: item[0] == "raw" and item[1].split(" ")[1:2] == [code],
            f"numeric {code}",
        )

    def event(self, *want: str) -> defer.Deferred[Any]:
        return self.seen.wait(lambda item: item == want, repr(want))


class SaslIrc(Irc):
    """IRCClient plus the IRCv3 CAP and SASL PLAIN exchange, which Twisted does not do."""

    def register(self, nickname: str, hostname: str = "foo", servername: str = "bar") -> None:
        self.sendLine("CAP LS 302")
        super().register(nickname, hostname, servername)

    def irc_CAP(self, prefix: str, params: list[str]) -> None:
        if params[1] == "LS":
            self.sendLine("CAP REQ :sasl")
        elif params[1] == "ACK":
            self.sendLine("AUTHENTICATE PLAIN")

    def irc_AUTHENTICATE(self, prefix: str, params: list[str]) -> None:
        assert self.sasl_password is not None
        token = f"\0{self.nickname}\0{self.sasl_password}".encode()
        self.sendLine("AUTHENTICATE " + base64.b64encode(token).decode())

    def irc_903(self, prefix: str, params: list[str]) -> None:
        self.sendLine("CAP END")

    irc_904 = irc_903

    def __init__(self, nick: str, sasl_password: str) -> None:
        super().__init__(nick)
        self.sasl_password = sasl_password


class Line(LineOnlyReceiver):
    delimiter = b"\r\n"

    def __init__(self) -> None:
        self.seen = Seen()
        self.gone: defer.Deferred[None] = defer.Deferred()

    def lineReceived(self, line: bytes) -> None:
        self.seen.add(line.decode("utf-8"))

    def say(self, text: str) -> None:
        self.sendLine(text.encode("utf-8"))

    def line(self, exact: str) -> defer.Deferred[Any]:
        return self.seen.wait(lambda item: item == exact, repr(exact))

    def code(self, code: str) -> defer.Deferred[Any]:
        return self.seen.wait(lambda item: item.startswith(code + " "), f"reply {code}")

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if not self.gone.called:
            self.gone.callback(None)


class IRCLoopbackTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent)
        irc = IRCFactory(self.world.portal, IRCOptions(), reactor,  # type: ignore[arg-type]
                         self.world.admission, self.world.server.stats)
        line = LineFactory(self.world.portal, LineOptions(), reactor,  # type: ignore[arg-type]
                           self.world.admission, self.world.server.stats)
        self.irc_port = reactor.listenTCP(0, irc, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.line_port = reactor.listenTCP(0, line, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(self.irc_port.stopListening)
        self.addCleanup(self.line_port.stopListening)

    def _connect(self, port: Any, protocol: Any) -> defer.Deferred[Any]:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port, timeout=5)
        d = connectProtocol(endpoint, protocol)

        def connected(client: Any) -> Any:
            def close() -> defer.Deferred[None]:
                client.transport.loseConnection()
                return client.gone

            self.addCleanup(close)
            return client

        return d.addCallback(connected)

    @defer.inlineCallbacks
    def irc(self, client: Irc) -> Generator[defer.Deferred[Any], Any, Irc]:
        yield self._connect(self.irc_port, client)
        yield client.seen.wait(lambda item: item[0] == "signedOn", "001 welcome")
        return client

    @defer.inlineCallbacks
    def line(self, login: str) -> Generator[defer.Deferred[Any], Any, Line]:
        client = yield self._connect(self.line_port, Line())
        yield client.code("220")
        client.say(login)
        yield client.code("201")
        return client

    @defer.inlineCallbacks
    def signup(self, name: str) -> Generator[defer.Deferred[Any], Any, None]:
        client = yield self.line(f"/signup {name} {PASSWORD}")
        client.say("/quit")
        yield client.gone

    @defer.inlineCallbacks
    def test_guest_talks_with_a_line_user_and_quits(self) -> Generator[Any, Any, None]:
        ann = yield self.irc(Irc("ann"))
        yield ann.numeric("376")  # end of MOTD: ISUPPORT has been read
        self.assertEqual(ann.supported.getFeature("CHANTYPES"), ("#",))
        self.assertEqual(ann.supported.getFeature("NICKLEN"), 32)
        self.assertEqual(ann.supported.getFeature("TOPICLEN"), 300)
        ann.join("#lobby")
        yield ann.event("joined", "#lobby")
        bob = yield self.line("/nick bob")
        bob.say("/join lobby")
        yield bob.code("200")
        yield ann.event("userJoined", "bob", "#lobby")
        ann.say("#lobby", "hello bob")
        yield bob.line("101 [lobby] <ann> hello bob")
        bob.say("hi ann, ça va?")
        yield ann.event("privmsg", "bob", "#lobby", "hi ann, ça va?")
        ann.describe("#lobby", "waves")
        yield bob.line("107 [lobby] * ann waves")
        ann.msg("bob", "a private word")
        yield bob.line("102 *ann* a private word")
        bob.say("/msg ann and back")
        yield ann.event("privmsg", "bob", "ann", "and back")
        ann.quit("see you")
        yield ann.gone
        yield bob.line("104 [lobby] ann quit: see you")

    @defer.inlineCallbacks
    def test_line_user_quitting_is_an_irc_quit(self) -> Generator[Any, Any, None]:
        ann = yield self.irc(Irc("ann"))
        bob = yield self.line("/nick bob")
        ann.join("#a")
        yield ann.event("joined", "#a")
        bob.say("/join a")
        yield ann.event("userJoined", "bob", "#a")
        bob.say("/quit so long")
        yield ann.event("userQuit", "bob", "Quit: so long")

    @defer.inlineCallbacks
    def test_account_with_pass_joins_with_a_key(self) -> Generator[Any, Any, None]:
        yield self.signup("owner")
        keeper = yield self.line(f"/login owner {PASSWORD}")
        keeper.say("/create vault 10 sesame")
        yield keeper.code("200")
        # The account's second session, over IRC, logs in with PASS.
        owner = yield self.irc(Irc("owner", PASSWORD))
        yield owner.numeric("900")
        guest = yield self.irc(Irc("gus"))
        guest.join("#vault")
        yield guest.numeric("475")
        guest.join("#vault", "sesame")
        yield guest.event("joined", "#vault")
        yield keeper.line("103 [vault] gus joined (2 members)")
        guest.say("#vault", "thanks for the key")
        yield keeper.line("101 [vault] <gus> thanks for the key")

    @defer.inlineCallbacks
    def test_account_with_sasl(self) -> Generator[Any, Any, None]:
        yield self.signup("sasha")
        sasha = yield self.irc(SaslIrc("sasha", PASSWORD))
        yield sasha.numeric("903")
        self.assertFalse(self.world.server.users["sasha"].guest)
        bob = yield self.line("/nick bob")
        bob.say("/join room")
        yield bob.code("200")
        sasha.join("#room")
        yield bob.line("103 [room] sasha joined (2 members)")
        sasha.say("#room", "logged in with SASL")
        yield bob.line("101 [room] <sasha> logged in with SASL")

    @defer.inlineCallbacks
    def test_registered_nick_is_refused_and_the_client_picks_another(
        self,
    ) -> Generator[Any, Any, None]:
        yield self.signup("owner")
        client = yield self.irc(Irc("owner"))
        yield client.numeric("433")
        self.assertEqual(client.nickname, "owner_")
        self.assertTrue(self.world.server.users["owner_"].guest)

    @defer.inlineCallbacks
    def test_wrong_password_is_464_and_disconnect(self) -> Generator[Any, Any, None]:
        yield self.signup("owner")
        client = Irc("owner", "not-the-password")
        yield self._connect(self.irc_port, client)
        yield client.numeric("464")
        yield client.gone
        self.assertFalse(self.world.server.is_online("owner"))
