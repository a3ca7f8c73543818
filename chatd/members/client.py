"""The remote member directory: IMemberDirectory over AMP to ``twistd chatd-members``.

A ClientService keeps one connection up, reconnecting with back-off, and proves that it knows
the shared secret, after the service proved it does, before the connection is used
(chatd.members.secret): until the service proved itself, nothing is sent to it but a nonce and
nothing it sends is believed; a connection whose service fails to is dropped with one log line
and made again with the usual back-off. While there is no trusted connection, every
call fails at once with AccountsUnavailable (a 502 to the user) instead of waiting. Users
already logged in are unaffected: chat never asks the directory anything.

Two limits on waiting. ``deadline`` (``members-timeout``) is how long the service may go
without answering anything. A login may rightly wait longer, its hash queued behind others in
a login storm (up to ``timeout``, longer than a full hash queue takes to drain), so while one
waits the client pings; a ping unanswered within ``deadline`` means the service is stalled
(stopped, swapped out, wedged): the connection is dropped, which fails every waiting call with
a 502, and a new one is made. A name lookup needs no hash, so it is given ``deadline`` alone.

The service tells this daemon of every account deleted or locked (``AccountEnded``, asked for
with ``watch`` in the Challenge); the directory passes it to its watchers (the core), which end
that account's sessions. One made while the connection was down is not heard of: such a
session lasts until it logs out, or until the name's new owner logs in here.

With room definitions in the service too (chatd.members.room_client), nobody logs in (nor
takes a guest nick) before they are read: until then every call fails at once with a 502
saying so, so no user can open a temporary room over a persistent one not yet known.

A signup is never half made. It carries ``not_after``, the last wall-clock moment the service
may store it (the service checks right before its durable write), and a failed signup is
reported no sooner than ``deadline`` after it was sent, ``clock_margin`` after ``not_after``.
As long as this host's clock is not ahead of the service's by more than that margin (on one
host, with one clock, it never is), a 502 for a signup means the account was not made.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred, TimeoutError, fail
from twisted.internet.error import ConnectionClosed
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.kernel.errors import AccountsUnavailable
from chatd.kernel.interfaces import IMemberDirectory
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.records import Account, RoomRecord
from chatd.kernel.settings import Settings
from chatd.members import commands
from chatd.members.local import Ended
from chatd.members.secret import greet

log = Logger()

T = TypeVar("T")

_DOWN = "accounts are unavailable right now (the member service is unreachable); try again soon"
# A service that is connected but does not answer: what is known is not "unreachable".
_STALLED = ("accounts are unavailable right now: the member service is connected but did not "
            "answer within {seconds:g} seconds; try again soon")
_STARTING = ("this chat server is still loading its rooms from the member service; "
             "try again in a moment")
_NOT_MADE = ("the member service did not answer in time, so the account was not made; "
             "try again soon")


def clock_margin(deadline: float) -> float:
    """How far ahead of the member service's clock this host's may run before a signup
    reported as not made could still be made: a quarter of the deadline, at most a second."""
    return min(1.0, deadline / 4)


class MemberClientProtocol(amp.AMP):
    """Proves itself first (once the service has), tells its directory when it is trusted
    and when it is gone, and watches for a stalled service while a long call waits.

    (Not ClientService's prepareConnection: that hands over a proxy, and a refused proof
    followed by the server's close trips its state machine.)
    """

    def __init__(self, directory: RemoteDirectory) -> None:
        super().__init__()
        self._directory = directory
        # Calls sent that may wait longer than the deadline, and not answered yet.
        self._watched = 0
        self._ping: Deferred[Any] | None = None
        self._next_ping: IDelayedCall | None = None
        # Whether both ends proved they know the secret: until then nothing said is believed.
        self._trusted = False
        # Why the service is not to be trusted, found before the handshake failed.
        self._distrust: str | None = None
        self._peer = "?"
        # Set when a ping went unanswered and the connection was dropped for it: the calls
        # it fails were cut by a stall, not by a service out of reach.
        self._stalled = False

    def connectionMade(self) -> None:
        super().connectionMade()
        self._peer = str(self.transport.getPeer())  # type: ignore[union-attr]
        wants = {"rooms": True} if self._directory.rooms else {}
        greet(self, self._directory.secret, watch=True, **wants).addCallbacks(
            self._proved, self._refused)

    def _proved(self, _: object) -> None:
        self._trusted = True
        self._directory._up(self)

    def _refused(self, failure: Failure) -> None:
        """The handshake failed: one log line, and the next try after the back-off."""
        if self._distrust is not None:
            why = self._distrust
        elif failure.check(commands.BadSecret):
            why = "it found our proof wrong (check that both use one secret file)"
        else:
            why = failure.getErrorMessage()
        log.error("member service at {peer} not trusted: {why}; dropping the connection",
                  peer=self._peer, why=why)
        self._directory.refusals += 1
        if self.transport is not None:
            self.transport.loseConnection()

    def _believed(self, what: str) -> bool:
        """Whether a push can be believed; one from a service not yet proved drops it."""
        if self._trusted:
            return True
        if self._distrust is None:
            self._distrust = f"it sent {what} before it proved it knows the shared secret"
            if self.transport is not None:
                self.transport.abortConnection()  # type: ignore[attr-defined]
        return False

    @commands.AccountEnded.responder
    def account_ended(self, name: str, key: str, id: str, why: str) -> dict[str, Any]:
        if self._believed("AccountEnded"):
            self._directory._ended(Account(name, key, id), why)
        return {}

    @commands.RoomDefined.responder
    def room_changed(self, **room: Any) -> dict[str, Any]:
        if self._believed("RoomDefined"):
            self._directory._room_changed(room["key"], commands.room_record(room))
        return {}

    @commands.RoomDeleted.responder
    def room_deleted(self, key: str) -> dict[str, Any]:
        if self._believed("RoomDeleted"):
            self._directory._room_changed(key, None)
        return {}

    def call(self, command: type[amp.Command], timeout: float,
             **arguments: Any) -> Deferred[dict[str, Any]]:
        """The answer to ``command``; TimeoutError after ``timeout`` seconds, or the
        connection's loss if the service stalls first."""
        d = self.callRemote(command, **arguments)
        d.addTimeout(timeout, self._directory.clock)
        d.addErrback(self._stall, timeout)
        if timeout <= self._directory.deadline:
            return d
        self._watched += 1
        self._watch()
        return d.addBoth(self._answered)

    def _stall(self, failure: Failure, timeout: float) -> Failure:
        """A call the service did not answer: say so, with how long it was given."""
        if failure.check(TimeoutError):
            raise AccountsUnavailable(_STALLED.format(seconds=timeout))
        if self._stalled and failure.check(ConnectionClosed):
            raise AccountsUnavailable(_STALLED.format(seconds=self._directory.deadline))
        return failure

    def _answered(self, result: T) -> T:
        self._watched -= 1
        return result

    def _watch(self) -> None:
        """A ping in flight now, unless one already is or no call waits: each call that
        starts is covered by a ping sent no earlier than itself."""
        if self._ping is not None or not self._watched:
            return
        if self._next_ping is not None and self._next_ping.active():
            self._next_ping.cancel()
        self._next_ping = None
        self._ping = self.callRemote(commands.Ping)
        self._ping.addTimeout(self._directory.deadline, self._directory.clock)
        self._ping.addCallbacks(self._alive, self._ping_failed)

    def _alive(self, _: object) -> None:
        self._ping = None
        if self._watched:  # keep watching, every half deadline, while calls wait
            self._next_ping = self._directory.clock.callLater(
                self._directory.deadline / 2, self._watch
            )

    def _ping_failed(self, failure: Failure) -> None:
        self._ping = None
        if failure.check(TimeoutError):
            log.warn("the member service answered no ping within {deadline} s; it is stalled: "
                     "dropping the connection", deadline=self._directory.deadline)
            self._stalled = True
            self._directory._down(self)
            self.transport.abortConnection()  # type: ignore[union-attr]
        elif not failure.check(ConnectionClosed):
            self._alive(None)  # an error is an answer too (a service that predates Ping)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        if self._next_ping is not None and self._next_ping.active():
            self._next_ping.cancel()
        super().connectionLost(reason)
        self._directory._down(self)


def _account(response: dict[str, Any]) -> Account:
    return Account(response["name"], response["key"], response.get("id") or "")


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
        # How long the service may go without answering at all (members-timeout).
        deadline: float = DEFAULTS["members-timeout"],
        # Longer than a full default hash queue takes to drain (64 hashes at ~4 a second), so
        # a login the service accepted is not given up on while it waits its turn.
        timeout: float = 30.0,
    ) -> None:
        self.secret = secret
        self.clock = clock
        self.deadline = deadline
        self._timeout = timeout
        self._protocol: MemberClientProtocol | None = None
        # Refused handshakes in a row: they count as failed attempts for the back-off,
        # although each one connected.
        self.refusals = 0
        self._watchers: list[Ended] = []
        # RemoteRooms sets these: whether to ask for room definitions' changes; whether
        # logins, signups and name lookups may be sent yet (not before the definitions are
        # read); who hears of each change, and of each new trusted connection.
        self.rooms = False
        self.ready: Callable[[], bool] = lambda: True
        self.room_watchers: list[Callable[[str, RoomRecord | None], None]] = []
        self.connected: list[Callable[[], None]] = []
        backoff = backoffPolicy(initialDelay=0.5, maxDelay=10.0)
        self.service = ClientService(
            endpoint,
            Factory.forProtocol(partial(MemberClientProtocol, self)),
            retryPolicy=lambda attempt: backoff(max(attempt, self.refusals)),
            clock=clock,
        )

    def reloaded(self, settings: Settings) -> None:
        """A reload: the deadline for answers (``members-timeout``), from ``settings``."""
        self.deadline = settings.members_timeout

    def _up(self, protocol: MemberClientProtocol) -> None:
        self._protocol = protocol
        self.refusals = 0
        log.info("connected to the member service")
        for connected in self.connected:
            connected()

    def watch(self, ended: Ended) -> None:
        self._watchers.append(ended)

    def _ended(self, account: Account, why: str) -> None:
        log.info("the member service says {key} was {why}", key=account.key, why=why)
        for ended in self._watchers:
            try:
                ended(account, why)
            except Exception:  # keep the connection: an error here must not drop it
                log.failure("ending the sessions of {key} failed", key=account.key)

    def _room_changed(self, key: str, record: RoomRecord | None) -> None:
        for changed in self.room_watchers:
            try:
                changed(key, record)
            except Exception:  # keep the connection: an error here must not drop it
                log.failure("taking the new definition of room {key} failed", key=key)

    def _down(self, protocol: MemberClientProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
            log.warn("lost the member service; reconnecting")

    def _refusal(self, down: str = _DOWN) -> str | None:
        """Why a call can't be sent now, or None."""
        if self._protocol is None:
            return down
        if not self.ready():
            return _STARTING
        return None

    def _call(
        self, command: type[amp.Command], timeout: float, **arguments: Any
    ) -> Deferred[dict[str, Any]]:
        refusal = self._refusal()
        if refusal is not None:
            return fail(AccountsUnavailable(refusal))
        return self.send(command, timeout, **arguments)

    def send(
        self, command: type[amp.Command], timeout: float, **arguments: Any
    ) -> Deferred[dict[str, Any]]:
        """The answer, even before ``ready`` (how the room definitions are read)."""
        if self._protocol is None:
            return fail(AccountsUnavailable(_DOWN))
        return self._protocol.call(command, timeout, **arguments).addErrback(_unavailable)

    def signup(self, name: str, password: str) -> Deferred[Account]:
        return self.change(commands.Signup, _DOWN, _NOT_MADE, name=name,
                           password=password).addCallback(_account)

    def change(self, command: type[amp.Command], down: str, not_made: str,
               **arguments: Any) -> Deferred[dict[str, Any]]:
        """Send a change the service may make only until it is reported failed (as a
        signup is): ``down`` if it can't be sent, ``not_made`` if it goes unanswered."""
        refusal = self._refusal(down)
        if refusal is not None:  # not sent, so surely not made
            return fail(AccountsUnavailable(refusal))
        answer_by = self.clock.seconds() + self.deadline
        return self._call(
            command, self.deadline, not_after=answer_by - clock_margin(self.deadline),
            **arguments,
        ).addErrback(self._not_made, answer_by, not_made)

    def _not_made(self, failure: Failure, answer_by: float,
                  message: str) -> Deferred[dict[str, Any]]:
        """A change sent but unanswered is reported only once the service may no longer
        store it (a stall found by a ping, or a lost connection, can come sooner)."""
        if not failure.check(AccountsUnavailable):
            return fail(failure)

        def report() -> dict[str, Any]:
            raise AccountsUnavailable(message)

        return deferLater(self.clock, max(0.0, answer_by - self.clock.seconds()), report)

    def authenticate(self, name: str, password: str, peer: str) -> Deferred[Account]:
        return self._call(
            commands.Authenticate, self._waiting(), name=name, password=password, peer=peer
        ).addCallback(_account)

    def change_password(self, name: str, old: str, new: str) -> Deferred[None]:
        return self._call(
            commands.ChangePassword, self._waiting(), name=name, old=old, new=new
        ).addCallback(lambda _: None)

    def _waiting(self) -> float:
        """How long a call that hashes may wait while the service answers pings."""
        return max(self._timeout, self.deadline)

    def lookup(self, name: str) -> Deferred[Account | None]:
        return self._call(commands.Lookup, self.deadline, name=name).addCallback(
            lambda r: _account(r) if r.get("name") else None
        )

    def read_markers(self, key: str, account_id: str) -> Deferred[dict[str, str]]:
        return self._call(commands.ReadMarkers, self.deadline, key=key, id=account_id
                          ).addCallback(lambda r: {item["conversation"]: item["marker"]
                                                   for item in r["markers"]})

    def mark_read(self, key: str, account_id: str, conversation: str,
                  marker: str) -> Deferred[str]:
        return self._call(commands.MarkRead, self.deadline, key=key, id=account_id,
                          conversation=conversation, marker=marker
                          ).addCallback(lambda r: str(r["marker"]))

    def always_on(self, key: str, account_id: str) -> Deferred[bool | None]:
        return self._call(commands.AlwaysOn, self.deadline, key=key, id=account_id
                          ).addCallback(lambda r: {"on": True, "off": False}.get(r["on"]))

    def set_always_on(self, key: str, account_id: str, on: bool) -> Deferred[None]:
        return self._call(commands.SetAlwaysOn, self.deadline, key=key, id=account_id, on=on
                          ).addCallback(lambda _: None)
