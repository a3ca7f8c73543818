"""Connection policy, apart from output and from any transport: what every client of every
frontend must obey, whatever carries its bytes.

``ConnectionPolicy`` is one client's life outside its protocol:

* admission at connect (``open``), and release when the client is gone (``lost``);
* a login timer, and a cap on the bytes a client may send before it logs in;
* a deadline for an opening handshake (TLS today, a WebSocket upgrade tomorrow) and a bound
  on every close: a client that never finishes either is aborted, so no connection outlives
  its welcome;
* input handled strictly one item at a time (a line, a datagram, a frame): while one item's
  reply waits on a password hash or a durable write, later items queue, and reading pauses
  once the queue is long, so pasted commands behave as typed; once the client has said all
  it will (``end_of_input``, a half-close), the sink closes when the last reply is out;
* fakelag (``pace``): a message over the session's rate waits for it, with the items after
  it queued behind it, rather than being refused, up to ``paste-queue`` in a row; the
  client is told once, when the wait starts. IRC servers do this (ergo, InspIRCd,
  charybdis), and IRC clients expect it. The core's token bucket stays the authority: the
  policy only asks it how long to wait (``send_delay``), and past the queue the core refuses.

It drives the client through two seams, neither of them a stream transport: the ``Guarded``
side (the protocol: handle one item, close with a reason in its own format, pause and resume
reading) and the ``ISink`` its output goes to. IRC's connection is a policy of its own
(``PolicyRules``: the rules without their storage, which the connection's slots hold), and
``chatd.frontends.client.CommandClient`` is a policy that guards itself (the line protocol's
and the browser's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from chatd.frontends.admission import Admission
from chatd.frontends.sink import ISink
from chatd.kernel.events import LeaveReason

log = Logger()

# Items queued behind a slow command before reading from the client pauses.
QUEUE_PAUSE = 32
# Why the policy has reading paused (bits of ``_flags``, below): a long queue, a message
# waiting for the rate.
_LONG_QUEUE = 32
_PACING = 64
_PAUSED = _LONG_QUEUE | _PACING
_FOREVER = float("inf")
# The policy's flags (bits of ``_flags``: one int, not a slot each, on every connection).
_ADMITTED = 1  # admission let the client in (its slot is given back when it goes)
_BUSY = 2  # an item's reply is still to come
_INPUT_DONE = 4  # the client will send nothing more
_UNSHAKEN = 8  # an opening handshake is not done yet
_TELL_PACE = 16  # fakelag: the client is yet to be told that its lines are paced
# Seconds a client has, from its connect, to finish an opening handshake (TLS). Until it
# does, the connection holds a descriptor and an admission slot and can be told nothing.
HANDSHAKE_TIMEOUT = 10.0
# Seconds a closing connection has to take its goodbye before it is aborted. Closing waits
# for the client to read what is queued (and, over TLS, to answer the close_notify); one
# that never does would otherwise keep its socket for good.
CLOSE_GRACE = 10.0

Item = TypeVar("Item")
Item_contra = TypeVar("Item_contra", contravariant=True)


class Counters(Protocol):
    """What a frontend counts for the metrics endpoint (the daemon's ``Stats`` is one)."""

    login_failures: int
    rejected: Counter[str]


class Home(Protocol):
    """What the clients of one frontend share (``FrontendFactory`` is one)."""

    clock: IReactorTime
    admission: Admission
    handshake_timeout: float
    close_grace: float


class Limits(Protocol):
    """The frontend's settings the policy reads (its ``Options.connection``, a
    ``chatd.frontends.options.ConnectionOptions``)."""

    @property
    def login_timeout(self) -> float: ...

    @property
    def max_bytes_before_login(self) -> int: ...

    @property
    def paste_queue(self) -> int:
        """Messages over the rate held back in a row (0: none; each is refused)."""

    @property
    def message_rate(self) -> float:
        """Messages a session may send per second after a burst (the core's rate)."""


class Paced(Protocol):
    """The session as fakelag asks it (``IChatSession.send_delay``)."""

    def send_delay(self) -> float: ...


class Guarded(Protocol[Item_contra]):
    """The protocol side of a client, as its policy drives it."""

    leave_reason: LeaveReason

    @property
    def kind(self) -> str:
        """The protocol's name, for logs."""

    @property
    def peer(self) -> str:
        """Where the client is, for logs."""

    def handle(self, item: Item_contra) -> Deferred[None] | None:
        """Handle one item; a Deferred if its reply is still to come."""

    def close(self, why: str) -> None:
        """Tell the client why, in the protocol's format, then close its sink."""

    def login_timeout_text(self) -> str: ...

    def too_much_text(self) -> str: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def paced(self, text: str) -> None:
        """Tell the client, in the protocol's format, that its messages wait for the rate."""


# What a policy keeps of its own, besides the five references it is made with: a class that
# is its own policy (IRC's connection, ``PolicyRules``) declares these slots.
POLICY_SLOTS = ("_count", "_deadline", "_flags", "_queue", "_timer", "named")


class PolicyRules(Generic[Item]):
    """The policy's rules, without storage of their own (``__slots__`` is empty).

    ``ConnectionPolicy`` is them with its slots. A connection may instead guard itself: it
    inherits this, declares ``POLICY_SLOTS``, calls ``start_policy`` and provides ``_home``,
    ``_limits``, ``_guarded`` (itself), ``_sink`` (its outbox) and ``host`` as it likes (IRC's
    connection does: one object and five references less per idle connection).
    """

    if not TYPE_CHECKING:  # mypy would check every assignment against the empty tuple
        __slots__ = ()
    _home: Home
    _limits: Limits
    _guarded: Guarded[Item]
    _sink: ISink
    host: str  # the address alone: what per-address limits count by
    _queue: list[Item] | None
    _flags: int
    named: bool
    _count: int
    _timer: IDelayedCall | None
    _deadline: IDelayedCall | None

    def start_policy(self) -> None:
        """Set the policy's own state: nothing queued, nothing done yet."""
        # The items waiting to be handled, or None when none do (an empty list, or a deque,
        # kept by every idle connection costs more than the check: docs/performance.md).
        self._queue = None
        # _ADMITTED, _BUSY... and the reasons reading is paused for (_PAUSED): none yet.
        self._flags = 0
        # Logged in: past the login timer and the bytes-before-login cap (read-only outside).
        self.named = False
        # One slot for each of two lives that never overlap, since every idle connection keeps
        # them: while anonymous, the bytes received and the login timer; once logged in
        # (fakelag), the messages held back for the rate since one last went out at once, and
        # the timer of the one waiting now.
        self._count = 0
        self._timer = None
        # When the client is aborted unless it first gets past where it is: the opening
        # handshake, then (once closing) the close.
        self._deadline = None

    # -- the client's life -------------------------------------------------------------

    def open(self, handshake: str | None = None) -> bool:
        """The client connected: True if it is admitted (and its login timer runs).

        ``handshake`` names an opening handshake ("TLS") it must finish within the home's
        ``handshake_timeout``. The deadline runs from the connect, like the login timer, and
        a refusal before the handshake is an abort (see ``closing``).
        """
        home = self._home
        if handshake is not None:
            self._flags |= _UNSHAKEN
            self._deadline = home.clock.callLater(
                home.handshake_timeout, self._abort,
                f"no {handshake} handshake within {home.handshake_timeout:g} seconds")
        refused = home.admission.admit(self.host)
        if refused is not None:
            guarded = self._guarded
            log.info("refused {kind} connection from {peer}: {why}", kind=guarded.kind,
                     peer=guarded.peer, why=refused)
            guarded.close(refused)
            return False
        self._flags |= _ADMITTED
        if self._limits.login_timeout:
            self._timer = home.clock.callLater(self._limits.login_timeout,
                                               self._login_too_slow)
        return True

    def more_time(self) -> None:
        """The client is still working its way to a login (reading /help): its login timer
        starts again."""
        if not self.named and self._timer is not None:
            self._timer.reset(self._limits.login_timeout)

    def handshaken(self) -> None:
        """The opening handshake is done: the client can now read what it is sent."""
        self._flags &= ~_UNSHAKEN
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def logged_in(self) -> None:
        self.named = True
        self._home.admission.named(self.host)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._count = 0

    def logged_out(self) -> None:
        """The client logged out and stays (/logout): anonymous again, with a new login
        timer and the bytes-before-login count from nothing."""
        if not self.named:
            return
        self.named = False
        self._home.admission.unnamed(self.host)
        # Lines are handled one at a time, so no paced message is held now (no timer).
        self._count = 0
        if self._limits.login_timeout:
            self._timer = self._home.clock.callLater(self._limits.login_timeout,
                                                     self._login_too_slow)

    def closing(self) -> None:
        """The sink has begun closing: make sure that it ends.

        Before a TLS handshake, Twisted's ``loseConnection`` keeps the socket until the
        handshake completes so that the goodbye can be encrypted; a client that sends
        nothing never completes it. Such a client could not read the goodbye anyway, so it
        is aborted now. Otherwise it gets ``close_grace`` seconds to read what is queued.
        """
        if self._flags & _UNSHAKEN:
            self._sink.abort()
            return
        grace = self._home.close_grace
        self._deadline = self._home.clock.callLater(
            grace, self._abort, f"still not closed {grace:g} seconds after its goodbye")

    def lost(self) -> None:
        """The client is gone: give back its admission slot, stop every timer."""
        if self._flags & _ADMITTED:
            self._home.admission.release(self.host, named=self.named)
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._queue is not None:
            self._queue.clear()  # a drain running now stops at once
            self._queue = None

    def _login_too_slow(self) -> None:
        self._timer = None
        guarded = self._guarded
        guarded.leave_reason = LeaveReason.TIMEOUT
        guarded.close(guarded.login_timeout_text())

    def _abort(self, why: str) -> None:
        self._deadline = None
        log.info("aborting {kind} connection from {peer}: {why}", kind=self._guarded.kind,
                 peer=self._guarded.peer, why=why)
        self._sink.abort()

    # -- input -------------------------------------------------------------------------

    def received(self, size: int) -> bool:
        """``size`` bytes arrived; False if that is too much before a login (the client is
        being closed, and what it sent is to be ignored)."""
        if not self.named:
            self._count += size
            if (self._count > self._limits.max_bytes_before_login
                    and not self._flags & _BUSY):
                self._guarded.close(self._guarded.too_much_text())
                return False
        return True

    def push(self, items: list[Item], drain: bool = True) -> None:
        """Queue what arrived, and handle what can be handled now (with ``drain``; without,
        from inside ``handle``: the running drain takes them in turn). ``items`` is the
        policy's from then on (a framer's fresh list: kept as the queue, not copied)."""
        if not items:
            return
        if self._queue is None:
            self._queue = items
        else:
            self._queue.extend(items)
        if drain:
            self.drain()

    def drain(self) -> None:
        queue = self._queue
        sink = self._sink
        if queue is not None:
            done = 0
            handle = self._guarded.handle
            while done < len(queue) and not self._flags & _BUSY and not sink.closed:
                result = handle(queue[done])
                done += 1
                if result is not None:
                    self._flags |= _BUSY
                    result.addBoth(self._finished)
            # ``handle`` may have pushed more onto this list (without draining), or the
            # client may have gone (``lost`` dropped the list): only this list is trimmed.
            if self._queue is queue:
                del queue[:done]
                if not queue:
                    self._queue = None
            queue = self._queue
        if sink.closed:
            return
        flags = self._flags
        if flags & _TELL_PACE:
            self._flags = flags = flags & ~_TELL_PACE
            self._tell_paced(1 + (len(queue) if queue is not None else 0))
        if queue is not None and len(queue) > QUEUE_PAUSE:
            self._pause(_LONG_QUEUE)
        else:
            flags = self._flags
            if queue is None:
                if flags & _LONG_QUEUE:  # (most drains: no call)
                    self._resume(_LONG_QUEUE)
                    flags = self._flags
                if flags & _INPUT_DONE and not flags & _BUSY:
                    sink.close()

    def end_of_input(self) -> None:
        """The client will send nothing more: close once every reply owed is out."""
        self._flags |= _INPUT_DONE
        self.drain()

    def idle(self) -> bool:
        """No item waiting and none being handled."""
        return self._queue is None and not self._flags & _BUSY

    def _finished(self, _: object) -> None:
        self._flags &= ~_BUSY
        self.drain()

    def _pause(self, why: int) -> None:
        if not self._flags & _PAUSED:
            self._guarded.pause_reading()
        self._flags |= why

    def _resume(self, why: int) -> None:
        if self._flags & why:
            self._flags &= ~why
            if not self._flags & _PAUSED:
                self._guarded.resume_reading()

    # -- fakelag -----------------------------------------------------------------------

    def pace(self, session: Paced, say: Callable[..., object], *args: object
             ) -> Deferred[None] | None:
        """A message from a logged-in client, handled from ``handle``: None if ``say(*args)``
        (which says it and answers) is to be called now, within the rate or past the paste
        queue (then the core refuses it: 429); else a Deferred that fires once ``say`` was
        called at the rate, meanwhile reading paused and later items queued behind it."""
        limit = self._limits.paste_queue
        if not limit:
            return None
        delay = session.send_delay()
        if delay <= 0:
            self._count = 0
            return None
        if self._count >= limit or delay == _FOREVER:
            return None
        if not self._count:
            self._flags |= _TELL_PACE  # told by the drain, which knows how many items wait
        self._count += 1
        self._pause(_PACING)
        said: Deferred[None] = Deferred()
        self._timer = self._home.clock.callLater(delay, self._say_held, session, said, say,
                                                 *args)
        return said

    def _say_held(self, session: Paced, said: Deferred[None], say: Callable[..., object],
                  *args: object) -> None:
        """A held message's time has come (or, by a rounding error, nearly: then wait on)."""
        self._timer = None
        delay = session.send_delay()
        if 0 < delay < _FOREVER:
            self._timer = self._home.clock.callLater(delay, self._say_held, session, said,
                                                     say, *args)
            return
        self._resume(_PACING)
        say(*args)
        said.callback(None)

    def _tell_paced(self, waiting: int) -> None:
        """The one notice of a paste: how many lines wait, their rate, and where it ends."""
        limits = self._limits
        refused = waiting - min(waiting, limits.paste_queue)
        past = (f"; the last {refused} will be refused (429)" if refused else
                f"; past {limits.paste_queue} in a row, lines are refused (429)")
        lines = "1 line waits" if waiting == 1 else f"{waiting} lines wait"
        self._guarded.paced(f"pasting: {lines} and go out at {limits.message_rate:g} a "
                            f"second{past}")


class ConnectionPolicy(PolicyRules[Item]):
    # One per connection, and thousands of them are idle: slots keep each one small.
    __slots__ = ("_guarded", "_home", "_limits", "_sink", "host", *POLICY_SLOTS)

    def __init__(self, home: Home, limits: Limits, guarded: Guarded[Item], sink: ISink,
                 host: str) -> None:
        self._home = home
        self._limits = limits
        self._guarded = guarded
        self._sink = sink
        self.host = host
        self.start_policy()
