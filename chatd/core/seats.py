"""Seats: a dropped connection's place in its rooms, kept for a while so that a return is a
return, not a departure and a new join.

A session that ends without ``/quit`` (its connection lost, timed out or dropped for not
reading) leaves a *held seat* when ``seat-grace`` is more than 0 and the user is an account,
or a guest that was given a resume token (``Session.resume_token``). While a seat is held:

* the user stays a member of every room it was in, counted and listed, and (once it has no
  live session anywhere) shown inactive: its away message is ``inactive (why)``, so every
  protocol's away mark (``/who``, IRC ``WHO``'s ``G``, ``away-notify``) follows; each of its
  rooms hears ``Inactive`` once, and the users who share a room with it ``AwayChanged``;
* the seat counts against ``max-users`` and ``max-sessions-per-account``;
* the first login to the account (a guest: ``/resume TOKEN``) within the grace takes the
  seat: ``ChatServer.connect`` makes the new session in the seat's rooms, the rooms hear
  ``Returned`` (when the user was inactive), and the session is handed what it missed
  (``Session.missed``): per room, the kept messages after the last one the seat had been
  delivered, and the private messages after the drop;
* at the end of the grace the seat ends as a departure (``timed out``); an always-on account
  (``always-on``) has no end of grace. ``end_all`` ends every seat (the daemon stopping),
  ``end_user`` those of one user (an operator, ``chatd-admin end-seat``).

What was delivered: delivery is synchronous on the reactor thread (the bus a direct call, or
a cluster's subscription delivering to history and to sessions in one pass), so when a
session drops, every kept message of its rooms up to then had been handed to it. The seat
records each room's newest kept message id (``marks``); a login computes the backlog from
history (``missed_after``) in the same reactor turn as its mind is attached to delivery, so
the backlog and live traffic meet with no gap and no duplicate.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from chatd.kernel.events import AwayChanged, Event, Inactive, LeaveReason, Private, Returned
from chatd.kernel.history import MAX_REQUEST, HistoryQuery, private_key
from chatd.kernel.interfaces import IHistoryStore
from chatd.kernel.markers import later
from chatd.kernel.names import check_user_name, fold
from chatd.kernel.views import Missed

if TYPE_CHECKING:
    from collections.abc import Callable

    from twisted.internet.interfaces import IReactorTime

    from chatd.core.rooms import Seat, User
    from chatd.kernel.interfaces import IBus

log = Logger()

# The ends of a session that keep its seat: the connection went, not the user.
HOLDING = frozenset({LeaveReason.LOST, LeaveReason.TIMEOUT, LeaveReason.SLOW})

# How a held seat's user is shown, by how it dropped: its away message, and its rooms' notice.
_WHY = {
    LeaveReason.LOST: "lost connection",
    LeaveReason.TIMEOUT: "timed out",
    LeaveReason.SLOW: "dropped: not reading",
}

# Kept messages replayed per conversation on a resume; earlier ones are counted (``more``).
REPLAY_LIMIT = MAX_REQUEST
# How many kept messages are read to find what a seat missed (history's own cap is lower).
_SCAN = 1_000_000

RESUME_TOKEN_BYTES = 18

# What the rooms hear when the daemon stops with seats held.
SHUTDOWN_SEATS = "the server is shutting down"


def inactive_text(reason: LeaveReason) -> str:
    """The away message of a held seat's user."""
    return f"inactive ({_WHY.get(reason, reason.value)})"


@dataclass(eq=False, slots=True)
class HeldSeat:
    """One dropped session's place: its user, why and when it dropped, the newest kept
    message of each of its rooms then (room key -> (conversation, id), "" if none was kept),
    an id made at the drop (private messages after it were missed), a guest's resume token,
    and the timer that ends it (None: always-on)."""

    user: User
    reason: LeaveReason
    since: float
    marks: dict[str, tuple[str, str]]
    private_mark: str
    token: str = ""
    timer: IDelayedCall | None = field(default=None, repr=False)
    # The user's own away message before it was shown inactive (restored on its return).
    away: str = ""


@dataclass(frozen=True, slots=True)
class SeatView:
    """A held seat as an administrator sees it: whose, why it dropped, since when, and when
    its grace ends (0: never, always-on)."""

    name: str
    why: str
    since: float
    ends: float


def missed_after(store: IHistoryStore, conversation: str, after: str,
                 limit: int = REPLAY_LIMIT) -> tuple[list[Event], int]:
    """The kept events of ``conversation`` after the one whose id is ``after`` ("" : all that
    are kept), oldest first: the newest ``limit`` of them, and how many earlier ones were left
    out. The one function a replay goes through, whatever decides its ``after`` (a seat's
    mark, a read marker). If ``after`` is no longer kept, what is kept with a later id."""
    if after:
        found = store.query(conversation, HistoryQuery("after", _SCAN, after))
        if not found:
            # ``after`` aged out of history (or nothing followed it): ids sort in time order.
            found = [event for event in store.query(conversation, HistoryQuery("latest", _SCAN))
                     if event.id > after]
    else:
        found = store.query(conversation, HistoryQuery("latest", _SCAN))
    more = max(0, len(found) - limit)
    return found[more:], more


class _Limits(Protocol):
    @property
    def seat_grace(self) -> float: ...

    @property
    def always_on(self) -> bool: ...


class Server(Protocol):
    """What seats use of the registry (``ChatServer``), named by its shape so that neither
    imports the other."""

    clock: IReactorTime
    bus: IBus
    history: IHistoryStore | None

    @property
    def limits(self) -> _Limits: ...

    @property
    def next_id(self) -> Callable[[], str]: ...

    def depart(self, user: User, reason: LeaveReason, message: str) -> None: ...

    def seat_ended(self, user_key: str) -> None: ...


def _peer(event: Event, key: str) -> str:
    """The other party of a private message kept for the user ``key``."""
    assert isinstance(event, Private)
    return event.recipient if fold(event.sender) == key else event.sender


class Seats:
    """The held seats of one server, by user key (oldest first), and the guests' resume
    tokens."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self.held: dict[str, list[HeldSeat]] = {}
        # How many seats are held: read by every login (``check_capacity``), so kept, not
        # counted.
        self._count = 0
        # The live guest sessions' resume tokens (session id -> token) and every token's
        # user (token -> user key, for ``/resume``).
        self._issued: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        # The daemon is stopping (``end_all``): a drop is a departure from now on.
        self.stopped = False

    def __len__(self) -> int:
        return self._count

    def of(self, user_key: str) -> int:
        """How many seats ``user_key`` holds here."""
        return len(self.held.get(user_key, ()))

    # -- guests' resume tokens -----------------------------------------------------------

    def issue(self, session: Seat) -> str:
        """A one-use token with which a guest session's seat is resumed after a drop (the
        session's earlier token, if it had one, ends); "" while seats are off."""
        if not self._server.limits.seat_grace:
            return ""
        old = self._issued.pop(session.id, None)
        if old is not None:
            self._tokens.pop(old, None)
        token = secrets.token_urlsafe(RESUME_TOKEN_BYTES)
        self._issued[session.id] = token
        self._tokens[token] = session.user.key
        return token

    def token_user(self, token: str) -> str | None:
        """The name of the guest whose held seat ``token`` resumes, or None."""
        key = self._tokens.get(token)
        if key is None or not any(seat.token == token for seat in self.held.get(key, ())):
            return None
        return self.held[key][0].user.name

    def forget_session(self, session: Seat) -> None:
        """A session ended without a seat: its token (if any) is void."""
        token = self._issued.pop(session.id, None)
        if token is not None:
            self._tokens.pop(token, None)

    # -- holding and taking ---------------------------------------------------------------

    def grace(self, user: User) -> float | None:
        """Seconds a seat of ``user`` is held: 0 for none, None for no end (always-on)."""
        limits = self._server.limits
        if not user.guest and (limits.always_on if user.always_on is None
                               else user.always_on):
            return None
        return float(limits.seat_grace)

    def retime(self, user: User) -> None:
        """``user`` changed its always-on choice: its held seats (another session's drop)
        follow it: no end for always-on, else the grace from now."""
        grace = self.grace(user)
        for seat in self.held.get(user.key, ()):
            if grace is None and seat.timer is not None:
                if seat.timer.active():
                    seat.timer.cancel()
                seat.timer = None
            elif grace is not None and seat.timer is None:
                seat.timer = self._server.clock.callLater(grace, self._expire, seat)

    def hold(self, session: Seat, reason: LeaveReason) -> bool:
        """``session`` ended (it is out of its user's sessions already): keep its seat if the
        rules say so. Called by ``ChatServer.disconnect``; True if a seat is held."""
        user = session.user
        token = self._issued.pop(session.id, "")
        grace = self.grace(user)
        # An always-on user's seat is held in no room too: its private messages are kept.
        if (reason not in HOLDING or grace == 0 or (user.guest and not token)
                or (not user.rooms and grace is not None) or self.stopped):
            if token:
                self._tokens.pop(token, None)
            return False
        server = self._server
        store = server.history
        marks = {}
        for room in user.rooms.values():
            newest = "" if store is None else next(
                (event.id for event in store.query(room.conversation,
                                                   HistoryQuery("latest", 1))), "")
            marks[room.key] = (room.conversation, newest)
        now = server.clock.seconds()
        seat = HeldSeat(user, reason, now, marks, server.next_id(), token)
        if grace is not None:
            seat.timer = server.clock.callLater(grace, self._expire, seat)
        self.held.setdefault(user.key, []).append(seat)
        self._count += 1
        if not user.sessions and not user.remote and len(self.held[user.key]) == 1:
            self._shown(seat, inactive=True)
        log.info("{user} dropped ({why}): seat held for {grace}", user=user.name,
                 why=reason.value, grace="ever (always-on)" if grace is None else f"{grace:g} s")
        return True

    def find(self, user: User, token: str = "") -> HeldSeat | None:
        """The seat a login of ``user`` would take: its oldest (a guest's: the one ``token``
        resumes), or None."""
        seats = self.held.get(user.key, ())
        if user.guest:
            return next((seat for seat in seats if token and seat.token == token), None)
        return seats[0] if seats else None

    def take(self, seat: HeldSeat, session: Seat) -> tuple[Missed, ...]:
        """``session`` (its user's newest, already counted) takes ``seat``: the timer stops,
        the rooms hear the user is back if it was inactive; what the seat missed, per
        conversation (computed now, before the session's mind is attached, so that it
        meets live traffic with no gap and no duplicate)."""
        user = seat.user
        self._drop(seat)
        if not self.held.get(user.key) and not user.remote and len(user.sessions) == 1:
            self._shown(seat, inactive=False)
        log.info("{user} resumed its seat (held {held:.0f} s)", user=user.name,
                 held=self._server.clock.seconds() - seat.since)
        return self._missed(seat)

    def _missed(self, seat: HeldSeat) -> tuple[Missed, ...]:
        server, user = self._server, seat.user
        store = server.history
        if store is None:
            return ()
        out = []
        for room in user.rooms.values():
            conversation, after = seat.marks.get(room.key, (room.conversation, None))
            if after is None or conversation != room.conversation:
                continue  # a room entered since the drop (by another session), or replaced
            # What was read since on another device is not missed: the later of the seam
            # and the read marker (both ids, in time order).
            after = later(after, user.markers.get(room.key)) or after
            events, more = missed_after(store, conversation, after)
            if events:
                out.append(Missed(room.name, True, tuple(events), more))
        if not user.guest and user.account_id:
            prefix = private_key(user.account_id, "")
            for key, at in sorted(store.latest([], prefix).items(), key=lambda item: item[1]):
                if at < seat.since - 1:
                    continue  # quiet since before the drop (ids decide at the seam)
                read = later(seat.private_mark,
                             user.markers.get("~" + key.rsplit("~", 1)[-1]))
                kept = [event for event in store.query(key, HistoryQuery("latest", _SCAN))
                        if event.id > (read or seat.private_mark)]
                if kept:
                    more = max(0, len(kept) - REPLAY_LIMIT)
                    out.append(Missed(_peer(kept[-1], user.key), False, tuple(kept[more:]),
                                      more))
        return tuple(out)

    def _drop(self, seat: HeldSeat) -> None:
        """``seat`` is no longer held (taken or ended): its timer and token go."""
        seats = self.held.get(seat.user.key, [])
        if seat in seats:
            seats.remove(seat)
            self._count -= 1
        if not seats:
            self.held.pop(seat.user.key, None)
        if seat.timer is not None and seat.timer.active():
            seat.timer.cancel()
        seat.timer = None
        if seat.token:
            self._tokens.pop(seat.token, None)
        self._server.seat_ended(seat.user.key)

    def _shown(self, seat: HeldSeat, inactive: bool) -> None:
        """The user became inactive (its last presence is a held seat) or active again: its
        away message, and who is told."""
        server, user = self._server, seat.user
        if inactive:
            seat.away, user.away = user.away, inactive_text(seat.reason)
        else:
            user.away = seat.away
        now = server.clock.seconds()
        for room in list(user.rooms.values()):
            event: Event = (Inactive(room.name, user.name, _WHY[seat.reason],
                                     id=server.next_id(), at=now)
                            if inactive else Returned(room.name, user.name,
                                                      id=server.next_id(), at=now))
            server.bus.to_room(room.key, event)
        told = {key for room in user.rooms.values() for key in room.members}
        told.discard(user.key)
        away = AwayChanged(user.name, user.away, seat=True, id=server.next_id(), at=now)
        for recipient in sorted(told):
            server.bus.to_user(recipient, away)

    # -- ending --------------------------------------------------------------------------

    def _expire(self, seat: HeldSeat) -> None:
        seat.timer = None
        self.end(seat, LeaveReason.TIMEOUT, "")

    def end(self, seat: HeldSeat, reason: LeaveReason, message: str) -> None:
        """End ``seat``: if it was its user's last presence, the user leaves every room with
        ``reason`` (and ``message``), as a dropped session did before seats."""
        self._drop(seat)
        user = seat.user
        server = self._server
        log.info("{user}'s seat ended: {why}", user=user.name,
                 why=message or reason.value)
        if not user.sessions and not user.remote and not self.held.get(user.key):
            user.away = seat.away
            server.depart(user, reason, message)

    def discard(self, user_key: str) -> None:
        """Let go of ``user_key``'s seats without a word: the user is leaving anyway."""
        for seat in list(self.held.get(user_key, ())):
            self._drop(seat)
            seat.user.away = seat.away if not seat.user.sessions else seat.user.away

    def end_user(self, user_key: str, message: str,
                 reason: LeaveReason = LeaveReason.QUIT) -> int:
        """End every seat of ``user_key`` (an operator's ``/kill`` or ``chatd-admin
        end-seat``); how many."""
        seats = list(self.held.get(user_key, ()))
        for seat in seats:
            self.end(seat, reason, message)
        return len(seats)

    def views(self) -> list[SeatView]:
        """Every held seat, oldest first (``chatd-admin seats``)."""
        seats = sorted((seat for held in self.held.values() for seat in held),
                       key=lambda seat: seat.since)
        return [SeatView(seat.user.name, _WHY.get(seat.reason, seat.reason.value), seat.since,
                         seat.timer.getTime() if seat.timer is not None else 0.0)
                for seat in seats]

    def end_named(self, name: str, message: str) -> int:
        """End the held seats of the user called ``name`` (its live sessions stay); how many
        (BadName)."""
        return self.end_user(fold(check_user_name(name)), message)

    def end_all(self, message: str) -> int:
        """End every seat (the daemon is stopping): each user quits with ``message``, and
        no seat is held from now on."""
        self.stopped = True
        count = 0
        for key in list(self.held):
            count += self.end_user(key, message)
        return count
