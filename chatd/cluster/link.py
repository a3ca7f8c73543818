"""The two connections a node keeps to Redis, through txredisapi, with back-off.

Redis pub/sub takes a connection of its own (a subscribed connection runs no other
command), so a node keeps two: ``commands`` (PUBLISH, the heartbeat, scripts) and
``subscriber``. Each is a ``ClientService`` that reconnects with exponential back-off
(``BACKOFF``); the link calls ``ready`` once both are usable (authenticated, the database
selected) and ``lost`` once when either goes, so the node resynchronises as a whole. A
command that gets no answer in ``timeout`` seconds drops its connection (txredisapi's
reply timeout), which is how a Redis that stopped answering without closing is noticed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import txredisapi
from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatd.cluster.url import RedisURL

log = Logger()

# Seconds before the first reconnection, and the most between two.
BACKOFF = (0.25, 5.0)


class _AllAtOnce:
    """Parse every reply that arrived in one read, in that read.

    txredisapi's parser hands what follows a bulk reply to a ``callLater(0)``: each pub/sub
    message then costs a reactor turn, and with it a flush of every member's output (one
    send() per member per message instead of per turn), which made a cluster's deliveries
    about 30 times dearer in CPU. Here what is left is parsed in a loop instead."""

    _extra = b""

    def setLineMode(self, extra: bytes = b"") -> None:
        self.line_mode = 1
        self._extra += extra

    def dataReceived(self, data: bytes, unpause: bool = False) -> None:
        super().dataReceived(data, unpause)  # type: ignore[misc]
        while self._extra and self.transport is not None and not self.transport.disconnecting:  # type: ignore[attr-defined]
            extra, self._extra = self._extra, b""
            super().dataReceived(extra)  # type: ignore[misc]


class _Commands(_AllAtOnce, txredisapi.RedisProtocol):
    def connectionLost(self, why: Failure) -> None:
        super().connectionLost(why)
        self.factory.link._gone(self)


class _Subscriber(_AllAtOnce, txredisapi.SubscriberProtocol):
    def dataReceived(self, data: bytes, unpause: bool = False) -> None:
        """With hiredis, a pub/sub message goes from the parsed reply straight to the bus,
        its data as bytes: txredisapi would try each part as a number, decode it and pass it
        through its transaction and reply handling first. Other replies go its way."""
        reader = getattr(self, "_reader", None)
        if reader is None:
            super().dataReceived(data, unpause)
            return
        if data:
            reader.feed(data)
        while (reply := reader.gets()) is not False:
            if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
                channel = reply[1]
                self.messageReceived(None, channel.decode("utf-8", "replace")
                                     if type(channel) is bytes else channel, reply[2])
                continue
            if isinstance(reply, str | bytes | list):
                reply = self.tryConvertData(reply)
            self.replyReceived(self.handleTransactionData(reply))

    def messageReceived(self, pattern: Any, channel: str, message: str | bytes) -> None:
        try:
            self.factory.link.on_message(channel, message)
        except Exception:
            # Raised into txredisapi's parser, it would lose the replies after this one
            # and the connection; the bus checks what arrives, so this is a bug of ours.
            log.failure("cluster: a message on {channel} failed", channel=channel)

    def connectionLost(self, why: Failure) -> None:
        super().connectionLost(why)
        self.factory.link._gone(self)


class _Factory(Factory):
    """What txredisapi's protocol asks of its factory (it calls ``stopTrying`` and
    ``connectionError`` when AUTH or SELECT fails)."""

    isLazy = False
    noisy = False

    def __init__(self, link: RedisLink, kind: type[Any]) -> None:
        self.link = link
        self.kind = kind

    def buildProtocol(self, addr: Any) -> Any:
        url = self.link.url
        protocol = self.kind(charset="utf-8", replyTimeout=self.link.timeout,
                             password=url.password, dbid=url.db or None,
                             username=url.username)
        protocol.factory = self
        return protocol

    def stopTrying(self) -> None:
        pass  # the service tries again, with back-off; the error is logged

    def connectionError(self, message: str) -> None:
        log.error("cluster: {message}", message=message)


class Quiet:
    """A command's reply that nobody waits for, taken where txredisapi's queue of replies
    would fire a Deferred (``ReplyQueue.put`` calls ``callback``): an error reply, or the
    connection's loss or time-out, goes to ``failed``; anything else is dropped."""

    __slots__ = ("failed",)

    def __init__(self, failed: Callable[[Exception], None]) -> None:
        self.failed = failed

    def callback(self, reply: object) -> None:
        if isinstance(reply, Exception):
            self.failed(reply)


def bulk(*args: bytes) -> bytes:
    """``args`` as the bulk strings of Redis's protocol (RESP), one after the other."""
    return b"".join([b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args])


def command(*args: bytes) -> bytes:
    """One command in Redis's protocol: an array of bulk strings."""
    return b"*%d\r\n%s" % (len(args), bulk(*args))


def post(protocol: Any, reply: Quiet, frame: bytes) -> None:
    """Write one command (``command``'s bytes); its reply goes to ``reply``: what a publish
    takes.

    txredisapi's ``execute_command`` encodes each argument through a chain of type checks,
    arms a reply timer and makes Deferreds per command, which cost a room message more than
    the rest of its way through Redis. The reply still comes in order through the protocol's
    queue; the heartbeat's commands keep the reply timeout, which notices a Redis that
    stopped answering. The transport writes the commands of one reactor turn in one
    send()."""
    protocol.transport.write(frame)
    protocol.replyQueue.waiting.append(reply)


class RedisLink(MultiService):
    """Both connections; ``commands`` is the usable command connection, or None."""

    def __init__(self, reactor: Any, url: RedisURL, timeout: float,
                 ready: Callable[[], None], lost: Callable[[], None],
                 on_message: Callable[[str, str], None]) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout
        self.ready_callback = ready
        self.lost_callback = lost
        self.on_message = on_message
        self.commands: Any = None
        self.subscriber: Any = None
        self.reconnects = 0
        self._was_ready = False
        for kind, attribute in ((_Commands, "commands"), (_Subscriber, "subscriber")):
            service = ClientService(
                _endpoint(reactor, url, timeout), _Factory(self, kind), clock=reactor,
                retryPolicy=backoffPolicy(*BACKOFF, factor=2.0),
                prepareConnection=partial(self._made, attribute),
            )
            service.setServiceParent(self)

    def _made(self, name: str, proxy: Any) -> Deferred[None]:
        # ClientService hands over its proxy; the protocol itself is what loses the
        # connection (``_gone``) and runs the commands.
        protocol = getattr(proxy, "_protocol", proxy)

        def usable(_: object) -> None:
            setattr(self, name, protocol)
            if self.commands is not None and self.subscriber is not None:
                if self._was_ready:
                    self.reconnects += 1
                self._was_ready = True
                log.info("cluster: connected to Redis at {where}", where=self.url.shown)
                self.ready_callback()

        ready: Deferred[None] = protocol.whenConnected().addCallback(usable)
        return ready

    def _gone(self, protocol: Any) -> None:
        both = self.commands is not None and self.subscriber is not None
        if protocol is self.commands:
            self.commands = None
        elif protocol is self.subscriber:
            self.subscriber = None
        else:
            return
        if both:
            log.warn("cluster: lost Redis at {where}; reconnecting", where=self.url.shown)
            self.lost_callback()

    def stopService(self) -> Deferred[None]:
        self.commands = self.subscriber = None
        return super().stopService()


def _endpoint(reactor: Any, url: RedisURL, timeout: float) -> Any:
    host = endpoints.quoteStringArgument(url.host)
    kind = "tls" if url.tls else "tcp"
    return endpoints.clientFromString(reactor, f"{kind}:{host}:{url.port}:timeout={timeout:g}")
