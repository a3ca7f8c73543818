"""The chat daemon's control socket: what ``chatd-admin`` asks of a running daemon that only
the daemon can do, because only it holds the state (today: the held seats, chatd.core.seats).

AMP on the endpoint ``control`` (default ``unix:DATA/control.sock:mode=600:lockfile=1``).
There is no password: the socket's file mode is the gate, as for the member service's
default socket, so only the daemon's own user (and root) can connect; an operator who gives
a ``tcp:`` endpoint here gives the seats to whoever reaches it, so the option says unix.
The commands are declared once, here, for both ends; the daemon side sees the core only
through the small ``SeatControl`` shape the tap hands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols import amp

from chatd.kernel.errors import BadName, BadText, NoSuchUser
from chatd.kernel.text import clean_text

log = Logger()

_NOTHING: list[tuple[bytes, amp.Argument]] = []
_ERRORS: dict[type[Exception], bytes] = {BadName: b"BAD_NAME", BadText: b"BAD_TEXT",
                                         NoSuchUser: b"NO_SUCH_USER"}

# What the rooms hear when chatd-admin ends a seat without a reason of its own.
ENDED_BY_ADMIN = "seat ended by an administrator"


class HeldSeats(amp.Command):
    """Every held seat: whose, why it dropped, since when and when its grace ends (0:
    never, always-on); oldest first."""

    arguments = _NOTHING
    response = [(b"seats", amp.AmpList([(b"name", amp.Unicode()), (b"why", amp.Unicode()),
                                        (b"since", amp.Float()), (b"ends", amp.Float())]))]
    errors = _ERRORS


class EndSeat(amp.Command):
    """End the held seats of the user ``name`` (its live sessions stay): it leaves its
    rooms, which hear ``reason``. NoSuchUser if it holds none."""

    arguments = [(b"name", amp.Unicode()), (b"reason", amp.Unicode())]
    response = [(b"ended", amp.Integer())]
    errors = _ERRORS


class SeatView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def why(self) -> str: ...
    @property
    def since(self) -> float: ...
    @property
    def ends(self) -> float: ...


class SeatControl(Protocol):
    """What the control socket uses of the core's seats (chatd.core.seats.Seats)."""

    def views(self) -> Sequence[SeatView]: ...

    def end_named(self, name: str, message: str) -> int: ...


@dataclass(frozen=True, slots=True)
class HeldSeat:
    """A held seat as chatd-admin is told of it."""

    name: str
    why: str
    since: float
    ends: float


class Control(amp.AMP):
    """The daemon's end of one control connection."""

    def __init__(self, seats: SeatControl) -> None:
        super().__init__()
        self._seats = seats

    @HeldSeats.responder
    def held(self) -> dict[str, Any]:
        return {"seats": [{"name": view.name, "why": view.why, "since": view.since,
                           "ends": view.ends} for view in self._seats.views()]}

    @EndSeat.responder
    def end_seat(self, name: str, reason: str) -> dict[str, Any]:
        # The rooms hear the reason: a message's rules (BadText), as an operator's would.
        ended = self._seats.end_named(name, clean_text(reason) if reason.strip()
                                      else ENDED_BY_ADMIN)
        if not ended:
            raise NoSuchUser(f"{name} holds no seat here")
        log.info("chatd-admin ended {count} held seats of {name}", count=ended, name=name)
        return {"ended": ended}


def control_factory(seats: SeatControl) -> Factory:
    """The factory the ``control`` endpoint serves."""
    return Factory.forProtocol(lambda: Control(seats))


def default_control(data: object) -> str:
    """The control endpoint the daemon serves inside its data directory ``data``."""
    return f"unix:{data}/control.sock:mode=600:lockfile=1"


def control_client(data: object) -> str:
    """The client endpoint of that socket (chatd-admin's)."""
    return f"unix:{data}/control.sock"


async def held_seats(protocol: amp.AMP) -> list[HeldSeat]:
    """Ask a daemon for its held seats."""
    answer = await protocol.callRemote(HeldSeats)
    return [HeldSeat(**row) for row in answer["seats"]]


async def end_seat(protocol: amp.AMP, name: str, reason: str = "") -> int:
    """Ask a daemon to end the held seats of ``name``; how many it ended."""
    answer = await protocol.callRemote(EndSeat, name=name, reason=reason)
    return int(answer["ended"])
