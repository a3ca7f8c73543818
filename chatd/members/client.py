"""The remote member directory: IMemberDirectory over AMP to ``twistd chatd-members``.

A ClientService keeps one connection up, reconnecting with back-off, and says ``Hello`` with
the shared secret before the connection is used. While there is no trusted connection, every
call fails at once with AccountsUnavailable (a 502 to the user) instead of waiting; a call
that gets no answer within ``timeout`` seconds fails the same way. Users already logged in are
unaffected: chat never asks the directory anything.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred, TimeoutError, fail
from twisted.internet.error import ConnectionClosed
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.kernel.errors import AccountsUnavailable
from chatd.kernel.interfaces import IMemberDirectory
from chatd.kernel.records import Account
from chatd.members import commands

log = Logger()

_DOWN = "accounts are unavailable right now (the member service is unreachable); try again soon"


class MemberClientProtocol(amp.AMP):
    """Says Hello first, and tells its directory when it is trusted and when it is gone.

    (Not ClientService's prepareConnection: that hands over a proxy, and a refused Hello
    followed by the server's close trips its state machine.)
    """

    def __init__(self, directory: RemoteDirectory) -> None:
        super().__init__()
        self._directory = directory

    def connectionMade(self) -> None:
        super().connectionMade()
        self.callRemote(commands.Hello, secret=self._directory.secret).addCallbacks(
            lambda _: self._directory._up(self), self._refused
        )

    def _refused(self, failure: Failure) -> None:
        log.error("the member service refused us: {why} (check the secret file)",
                  why=failure.getErrorMessage())
        self._directory.refusals += 1
        self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        super().connectionLost(reason)
        self._directory._down(self)


def _account(response: dict[str, Any]) -> Account:
    return Account(response["name"], response["key"])


def _unavailable(failure: Failure) -> Failure:
    if failure.check(TimeoutError, ConnectionClosed, amp.UnknownRemoteError):
        log.warn("member service call failed: {why}", why=failure.getErrorMessage())
        raise AccountsUnavailable(_DOWN)
    return failure


@implementer(IMemberDirectory)
class RemoteDirectory:
    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        secret: str,
        clock: IReactorTime,
        # Longer than a full default hash queue takes to drain (64 hashes at ~4 a second), so
        # a login the service accepted is not given up on while it waits its turn.
        timeout: float = 30.0,
    ) -> None:
        self.secret = secret
        self._clock = clock
        self._timeout = timeout
        self._protocol: MemberClientProtocol | None = None
        # Refused Hellos in a row: they count as failed attempts for the back-off, although
        # each one connected.
        self.refusals = 0
        backoff = backoffPolicy(initialDelay=0.5, maxDelay=10.0)
        self.service = ClientService(
            endpoint,
            Factory.forProtocol(partial(MemberClientProtocol, self)),
            retryPolicy=lambda attempt: backoff(max(attempt, self.refusals)),
            clock=clock,
        )

    def _up(self, protocol: MemberClientProtocol) -> None:
        self._protocol = protocol
        self.refusals = 0
        log.info("connected to the member service")

    def _down(self, protocol: MemberClientProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
            log.warn("lost the member service; reconnecting")

    def _call(self, command: type[amp.Command], **arguments: Any) -> Deferred[dict[str, Any]]:
        if self._protocol is None:
            return fail(AccountsUnavailable(_DOWN))
        d = self._protocol.callRemote(command, **arguments)
        d.addTimeout(self._timeout, self._clock)
        return d.addErrback(_unavailable)

    def signup(self, name: str, password: str) -> Deferred[Account]:
        return self._call(commands.Signup, name=name, password=password).addCallback(_account)

    def authenticate(self, name: str, password: str, peer: str) -> Deferred[Account]:
        return self._call(
            commands.Authenticate, name=name, password=password, peer=peer
        ).addCallback(_account)

    def change_password(self, name: str, old: str, new: str) -> Deferred[None]:
        return self._call(commands.ChangePassword, name=name, old=old, new=new).addCallback(
            lambda _: None
        )

    def lookup(self, name: str) -> Deferred[Account | None]:
        return self._call(commands.Lookup, name=name).addCallback(
            lambda r: _account(r) if r.get("name") else None
        )
