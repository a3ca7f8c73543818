"""Who may connect: limits per source address and in total, shared by every frontend.

A frontend asks ``admit(host)`` when a connection is made and, if it gets a reason back,
tells the client (in its own format) and closes. It reports ``named(host)`` once the
connection has logged in and ``release(host, named)`` when it closes. A connection that is
not (yet) a chat client, an HTTP connection of the web site, asks ``admit_open`` instead:
only the limits on connections open at once apply to it. Addresses inside an
``exempt`` network (a web gateway, a benchmark on loopback) skip the per-address limits and
the message rate limit.

Server address bans (``IAddressBans``, an operator's KLINE or /kline) are asked first, of
every connection on every listener, exempt addresses included: a ban is an operator's
explicit word. ``close_banned`` closes the open connections a new ban matches.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatd.kernel.addresses import mask_matches
from chatd.kernel.interfaces import IAddressBans
from chatd.kernel.keys import shared
from chatd.kernel.ratelimit import WindowCounter
from chatd.kernel.records import AddressBan

log = Logger()

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Addresses whose is_exempt answer is kept before the answers start over.
EXEMPT_ANSWERS = 4096


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    max_connections: int = shared("max-connections")
    per_address: int = shared("max-connections-per-address")
    new_per_address: int = shared("new-connections-per-address")  # in any new_window s
    new_window: float = 600.0
    unnamed_per_address: int = shared("max-unnamed-per-address")


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDR strings to networks; ValueError names the bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an address or network (CIDR)") from None
    return tuple(networks)


class Admission:
    __slots__ = ("_exempt_answers", "_exempt_networks", "_named", "_open", "_recent", "bans",
                 "limits", "total")

    def __init__(
        self, clock: IReactorTime, limits: AdmissionLimits, exempt: tuple[Network, ...] = ()
    ) -> None:
        # is_exempt's answers for ``exempt``: asked several times per connection, and parsing
        # an address is most of a guest's connect. Setting ``exempt`` starts them over.
        self._exempt_answers: dict[str, bool] = {}
        self._exempt_networks = exempt
        self.total = 0
        # The server's address bans (the tap sets them; None: none are kept).
        self.bans: IAddressBans | None = None
        self._open: Counter[str] = Counter()
        self._named: Counter[str] = Counter()
        self._recent = WindowCounter(clock, limits.new_per_address, limits.new_window)
        self.configure(limits)

    @property
    def exempt(self) -> tuple[Network, ...]:
        """The networks whose addresses skip the per-address limits."""
        return self._exempt_networks

    @exempt.setter
    def exempt(self, networks: tuple[Network, ...]) -> None:
        self._exempt_networks = networks
        self._exempt_answers = {}

    def configure(self, limits: AdmissionLimits) -> None:
        """New limits (a reload); connections already open stay."""
        self.limits = limits
        self._recent.limit = limits.new_per_address
        self._recent.window = limits.new_window

    def is_exempt(self, host: str) -> bool:
        answers = self._exempt_answers
        answer = answers.get(host)
        if answer is None:
            if len(answers) >= EXEMPT_ANSWERS:
                answers.clear()
            answer = answers[host] = self._exempt(host)
        return answer

    def _exempt(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:  # a unix socket's peer: local, so trusted like loopback
            return True
        return any(address in network for network in self.exempt)

    def admit(self, host: str) -> str | None:
        """None if the connection may stay (and it is counted); else why it may not."""
        limits = self.limits
        refused = self._refuse_open(host, per_address=True)
        if refused is not None:
            return refused
        if not self.is_exempt(host):
            if self._open[host] - self._named[host] >= limits.unnamed_per_address:
                return (f"too many connections from {host} that have not logged in "
                        f"({limits.unnamed_per_address}); log in on those first")
            wait = self._recent.take(host)  # counted unless refused
            if wait:
                return (f"too many new connections from {host}; try again in "
                        f"{wait:.0f} seconds")
        self.total += 1
        self._open[host] += 1
        return None

    def admit_open(self, host: str, per_address: bool = True) -> str | None:
        """Like ``admit``, but only the limits on connections open at once: the total and,
        with ``per_address``, the address's. For an HTTP connection: a browser opens several
        to load the page and none of them logs in, so the limits on connections not logged
        in and on new connections (a chat client's) would refuse ordinary page loads.
        ``per_address`` is False for a trusted proxy's, which carries many browsers."""
        refused = self._refuse_open(host, per_address)
        if refused is not None:
            return refused
        self.total += 1
        self._open[host] += 1
        return None

    def _refuse_open(self, host: str, per_address: bool) -> str | None:
        limits = self.limits
        ban = None if self.bans is None else self.bans.match(host)
        if ban is not None:
            return banned(ban)
        if self.total >= limits.max_connections:
            return f"the server is full ({limits.max_connections} connections); try later"
        if per_address and not self.is_exempt(host) and self._open[host] >= limits.per_address:
            return f"too many connections from {host} ({limits.per_address} at once)"
        return None

    def named(self, host: str) -> None:
        self._named[host] += 1

    def unnamed(self, host: str) -> None:
        """A connection of ``host`` logged out and stays, anonymous again (/logout)."""
        self._named[host] -= 1
        if self._named[host] <= 0:
            del self._named[host]

    def release(self, host: str, named: bool) -> None:
        self.total -= 1
        self._open[host] -= 1
        if self._open[host] <= 0:
            del self._open[host]
        if named:
            self._named[host] -= 1
            if self._named[host] <= 0:
                del self._named[host]


def banned(ban: AddressBan) -> str:
    """What a client whose address ``ban`` matches is told before it is closed."""
    return f"you are banned from this server ({ban.by}): {ban.reason}"


def close_banned(frontends: Iterable[Any], ban: AddressBan) -> None:
    """Close every open connection of ``frontends`` (factories with ``connections``, each
    connection with ``host`` and ``close``) whose address ``ban`` matches."""
    closed = 0
    for factory in frontends:
        for connection in factory.connections:
            if mask_matches(ban.mask, connection.host):
                connection.close(banned(ban))
                closed += 1
    log.info("the ban on {mask} closed {closed} open connections", mask=ban.mask,
             closed=closed)
