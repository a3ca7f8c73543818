"""The UDP channel: datagrams in, a member per validated address and token.

A datagram is parsed first (``codec.parse``: anything malformed is dropped and counted, its
logging bounded to one line per ``LOG_INTERVAL``). From a member already validated (its
address and token), it is a message, a keep-alive, or nothing. From anyone else, its token is
checked through the portal (a ``TokenUse`` login without a mind: nothing is attached) and:

* a cookie that this server made for this address and token makes it a member: the token
  logs in again, with the member as its mind, and from then on the room's traffic is sent;
* anything else is answered with a challenge (a cookie), never larger than the datagram;
  nothing is kept. So no room traffic goes to an address that did not prove it receives,
  and an unvalidated address never gets more bytes than it sent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatd.frontends.admission import Admission
from chatd.frontends.connection import FrontendFactory
from chatd.frontends.policy import Counters
from chatd.frontends.udp.codec import Datagram, Invalid, Kind, challenge, notice, parse
from chatd.frontends.udp.cookies import Address, Cookies
from chatd.frontends.udp.member import UdpMember
from chatd.kernel.credentials import TokenUse
from chatd.kernel.interfaces import ITokenSeat
from chatd.kernel.names import fold
from chatd.kernel.text import for_log

log = Logger()

# At most one log line about dropped datagrams per this many seconds.
LOG_INTERVAL = 10.0


class UdpFrontend(FrontendFactory):
    """What every UDP listener shares: the members, the cookie secret, the counters. A
    ``FrontendFactory`` so that the daemon runs it as any frontend (its ``connections`` are
    the members); the endpoint (``udp:``) asks it for a ``datagram_protocol``."""

    def __init__(self, portal: Portal, options: Any, clock: IReactorTime,
                 admission: Admission, stats: Counters, **limits: float) -> None:
        super().__init__(portal, options, clock, admission, stats, **limits)
        self.cookies = Cookies(clock)
        self.members: dict[tuple[Address, str], UdpMember] = {}
        # One member per session and room (``UdpMember.seat``): validating a token of theirs
        # from a new address (a NAT that changed the client's port), or a newer token, stops
        # the member there was.
        self.by_seat: dict[tuple[str, str], UdpMember] = {}
        self.per_host: Counter[str] = Counter()
        self._dropped = 0
        self._last_log = float("-inf")
        self._latest = ("", "")
        self._flush: IDelayedCall | None = None

    def datagram_protocol(self) -> UdpProtocol:
        return UdpProtocol(self)

    # -- counting ------------------------------------------------------------------------

    def rejected(self, reason: str) -> None:
        self.stats.rejected[f"Udp{reason}"] += 1

    def invalid(self, reason: str, address: Address) -> None:
        """Drop a datagram: counted always, logged at most once per LOG_INTERVAL (the first
        one at once, then how many were dropped since, LOG_INTERVAL later)."""
        self.rejected(reason)
        self._dropped += 1
        self._latest = (reason, address[0])
        if self._flush is not None:
            return
        wait = self._last_log + LOG_INTERVAL - self.clock.seconds()
        if wait <= 0:
            self._log_dropped()
        else:
            self._flush = self.clock.callLater(wait, self._log_dropped)

    def _log_dropped(self) -> None:
        self._flush = None
        if not self._dropped:
            return
        reason, host = self._latest
        log.info("dropped {count} invalid UDP datagrams (the latest: {reason} from {host})",
                 count=self._dropped, reason=reason, host=for_log(host))
        self._dropped = 0
        self._last_log = self.clock.seconds()

    # -- datagrams -----------------------------------------------------------------------

    def received(self, data: bytes, address: Address, transport: Any) -> None:
        try:
            datagram = parse(data, self.options.max_datagram)
        except Invalid as error:
            self.invalid(error.reason, address)
            return
        member = self.members.get((address, datagram.token))
        if member is not None:
            if datagram.room != member.room and fold(datagram.room) != fold(member.room):
                self.invalid("WrongRoom", address)
                return
            member.heard(datagram)
            return
        credentials = TokenUse(datagram.token, datagram.room, address[0])
        self.portal.login(credentials, None, ITokenSeat).addCallbacks(
            self._known, self._unknown, (datagram, len(data), address, transport),
            errbackArgs=(address,))

    def _unknown(self, failure: Failure, address: Address) -> None:
        self.invalid("BadToken", address)

    def _known(self, login: tuple[Any, ITokenSeat, Any], datagram: Datagram, size: int,
               address: Address, transport: Any) -> None:
        seat = login[1]
        if datagram.kind is not Kind.COOKIE:
            answer = challenge(seat.room, self.cookies.make(address, seat.token))
            if len(answer) <= size:
                transport.write(answer, address)
            else:
                self.invalid("NoRoomForChallenge", address)
            return
        if not self.cookies.check(address, seat.token, datagram.text):
            self.invalid("BadCookie", address)
            return
        key = (address, seat.token)
        member = UdpMember(self, transport, address, seat)
        moved = self.by_seat.get(member.seat)
        if moved is not None:
            moved.ended(f"you speak in {seat.room} from {address[0]}:{address[1]} now")
        options = self.options
        if len(self.members) >= options.max_members or \
                self.per_host[address[0]] >= options.members_per_address:
            self.invalid("Full", address)
            return
        self.members[key] = member
        self.by_seat[member.seat] = member
        self.per_host[address[0]] += 1
        self.connections.add(member)
        credentials = TokenUse(seat.token, seat.room, address[0])
        self.portal.login(credentials, member, ITokenSeat).addCallbacks(
            lambda result: self._seated(member, result[2]),
            lambda failure: member.ended("the token has ended"))

    def _seated(self, member: UdpMember, logout: Any) -> None:
        member.seated(logout)
        if member.closed:
            return
        log.info("{name} speaks in {room} over UDP from {host}", name=member.session.name,
                 room=member.room, host=member.host)
        member.send(notice(member.room, f"you are in {member.room} over UDP"))

    def gone(self, member: UdpMember) -> None:
        """A member stopped (its token ended, idle, or the server closing)."""
        key = (member.address, member.token)
        if self.by_seat.get(member.seat) is member:
            del self.by_seat[member.seat]
        if self.members.get(key) is member:
            del self.members[key]
            self.per_host[member.host] -= 1
            if self.per_host[member.host] <= 0:
                del self.per_host[member.host]
        self.connections.remove(member)


class UdpProtocol(DatagramProtocol):
    """One UDP port: hands each datagram, with where it came from, to the frontend."""

    def __init__(self, home: UdpFrontend) -> None:
        self.home = home

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.home.received(datagram, (addr[0], addr[1]), self.transport)
