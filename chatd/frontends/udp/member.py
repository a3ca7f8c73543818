"""A UDP member: one validated address speaking in one room with one token.

It is both a mind (delivery gives it its room's events: messages rendered once per message
by ``render_datagram``) and its own datagram sink (``ISink``): each write is one datagram to
the address, with nothing queued, sent by the port's socket's own ``sendto`` (``sender``):
delivery's one call per member, then the syscall. Its ``seat`` tells delivery that, while it
lasts, its session's messages in that room go here and not to the session's TCP connection.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from chatd.frontends.rendering import mode_words
from chatd.frontends.sink import ISink
from chatd.frontends.udp.codec import ACTION, Datagram, Kind, notice, render_datagram
from chatd.frontends.udp.cookies import Address
from chatd.kernel import errors
from chatd.kernel.events import (
    Event,
    Inactive,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    Returned,
    TopicSet,
)
from chatd.kernel.interfaces import IChatMind, IChatSession, ITokenSeat
from chatd.kernel.names import fold

log = Logger()


class Home(Protocol):
    """What a member needs of its frontend (``UdpFrontend``)."""

    options: Any
    clock: IReactorTime

    def rejected(self, reason: str) -> None: ...

    def gone(self, member: UdpMember) -> None: ...


Send = Callable[[bytes, Address], object]


def sender(transport: Any) -> Send:
    """How a member sends a datagram: the listening port's socket's ``sendto``, when the
    transport has one (Twisted's UDP ``Port``), else its ``write``.

    ``Port.write`` checks, per datagram, that the address is an IP literal of the socket's
    family, which costs as much as the ``sendto`` itself; a member's address is the one its
    datagrams came from through this same socket, so it always is. Errors are ``OSError``
    either way (``UdpMember.send``); Python retries an interrupted call itself (PEP 475).
    """
    socket = getattr(transport, "socket", None)
    sendto: Send | None = getattr(socket, "sendto", None)
    return sendto if sendto is not None else transport.write


def describe(event: Event) -> str | None:
    """A room event other than a message, as a notice's text; None for the rest."""
    if isinstance(event, Joined):
        return f"{event.who} joined"
    if isinstance(event, Left):
        said = f": {event.message}" if event.message else ""
        return f"{event.who} {event.reason.value}{said}"
    if isinstance(event, TopicSet):
        return f"{event.who} set the topic: {event.topic}" if event.topic \
            else f"{event.who} cleared the topic"
    if isinstance(event, ModeChanged):
        return f"{event.who}: {mode_words(event.mode, event.arg)}"
    if isinstance(event, Inactive):
        return f"{event.who} is inactive ({event.why})"
    if isinstance(event, Returned):
        return f"{event.who} is back"
    return None


@implementer(IChatMind, ISink)
class UdpMember:
    __slots__ = ("_home", "_logout", "_room", "_sendto", "_timer", "address", "closed",
                 "grant", "seat", "session", "token")
    render = staticmethod(render_datagram)
    echo = True  # the sender sees its own message, in order with everyone else's
    queued = 0  # a datagram is sent or lost; nothing waits
    attached = None  # its format never changes while attached (IChatMind.attached)

    def __init__(self, home: Home, transport: Any, address: Address, seat: ITokenSeat
                 ) -> None:
        self._home = home
        self._sendto = sender(transport)
        self.address = address
        self.grant = seat
        self.session: IChatSession = seat.session
        self.token: str = seat.token
        self._room: str = seat.room
        # Delivery: this room's messages come here, not to the session's connection.
        self.seat = (self.session.id, fold(seat.room))
        self.closed = False
        self._logout: Callable[[], None] | None = None
        self._timer: IDelayedCall | None = None

    @property
    def outbox(self) -> UdpMember:
        """Its sink (itself), as the metrics read every frontend's connections."""
        return self

    @property
    def room(self) -> str:
        return self._room

    @property
    def host(self) -> str:
        return self.address[0]

    # -- life ----------------------------------------------------------------------------

    def seated(self, logout: Callable[[], None]) -> None:
        """Logged in with the token: from now on it gets the room's traffic."""
        self._logout = logout
        self.grant.watch(self.ended)
        self._arm()

    def _arm(self) -> None:
        idle = self._home.options.idle_timeout
        if not idle or self.closed:
            return
        timer = self._timer
        if timer is not None and timer.active():
            timer.reset(idle)
        else:
            self._timer = self._home.clock.callLater(idle, self.idle)

    def idle(self) -> None:
        """Silent for the idle timeout: the user leaves the room, as a TCP user who timed
        out does; the token ends with that, and so does this member."""
        self._timer = None
        seconds = self._home.options.idle_timeout
        # (ChatError: the room was left another way meanwhile.)
        with contextlib.suppress(errors.ChatError):
            self.session.leave(self._room, LeaveReason.TIMEOUT, f"UDP silent for {seconds:g} s")
        if not self.closed:
            self.ended(f"idle for {seconds:g} seconds")

    def ended(self, why: str) -> None:
        """The token ended (expired, left, kicked, logged out) or the server closes: say why
        and stop."""
        if self.closed:
            return
        self.send(notice(self._room, why))
        self.closed = True
        log.info("{name} stopped speaking in {room} over UDP from {host}: {why}",
                 name=self.session.name, room=self._room, host=self.host, why=why)
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
        logout, self._logout = self._logout, None
        if logout is not None:
            logout()
        self._home.gone(self)

    def close(self, why: str = "closed by the server") -> None:
        self.ended(why)

    def abort(self) -> None:
        self.ended("closed by the server")

    # -- input ---------------------------------------------------------------------------

    def heard(self, datagram: Datagram) -> None:
        """A datagram from this member's address with its token."""
        self._arm()
        if datagram.kind is Kind.COOKIE:
            # The client did not hear that it is in (a datagram lost): say it again.
            self.send(notice(self._room, f"you are in {self._room} over UDP"))
            return
        if datagram.kind is not Kind.MESSAGE:
            return
        text, action = datagram.text, False
        if text.startswith(ACTION):
            text, action = text[len(ACTION):], True
        try:
            self.session.say(text, self._room, action)
        except errors.Flooding as error:
            self._home.rejected(type(error).__name__)
            log.warn("UDP {host} ({name}) dropped for flooding", host=self.host,
                     name=self.session.name)
            try:
                self.session.leave(self._room, LeaveReason.FLOOD)
            except errors.ChatError:
                self.ended(str(error))
        except errors.ChatError as error:
            self._home.rejected(type(error).__name__)
            self.send(notice(self._room, str(error)))

    # -- output --------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        if getattr(event, "room", None) != self._room:
            return
        text = describe(event)
        if text is not None:
            self.send(notice(self._room, text))

    def send(self, data: bytes) -> None:
        """One datagram to the member; one lost to a full socket buffer is counted."""
        if self.closed:
            return
        try:
            self._sendto(data, self.address)
        except OSError as error:
            # A refusal (an ICMP port unreachable seen by an earlier send) is the datagram
            # protocol's to ignore, as Twisted's port does.
            if error.errno != errno.ECONNREFUSED:
                self._home.rejected("SendFailed")

    # A rendered message of this member's room (delivery gives it no other room's): the
    # hot path, ``send`` itself with no call in between.
    write = send
