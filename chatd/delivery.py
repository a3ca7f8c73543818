"""Local delivery: from the bus to the sessions connected to this process.

The core publishes each event once, addressed to a room or a user, and knows nothing of
connections or wire formats. Delivery listens on the bus and keeps, per room, the write
groups of its members' sessions by wire format, built from the Joined and Left events it sees
and the sessions attached to it at login:

* a room message (``Said``) is rendered once per format and each session's ``write`` is
  called with the bytes, skipping the sending session where the protocol does not echo;
* every other room event goes to each member session's ``deliver``, where a protocol may add
  what its clients expect around it (IRC's channel greeting after a JOIN);
* a user's events (private messages) go to each of that user's sessions' ``deliver``;
* a mind with a ``seat`` (a UDP member: a session's seat in one room) is in that room's
  groups only, and in that room the session's other minds get no messages (the seat carries
  them; they still get the room's other events);
* a guest's new name (``NickChanged``) moves its sessions and memberships to the new key.

Groups are rebuilt only when membership or a member's sessions change, or when a mind's
format or echo changes (an IRC client's CAP REQ: the mind calls ``regroup``, handed to it at
attach), so a message costs one render per format and one call per recipient. A format is a
render function: an IRC connection's is the one shared by every client with its set of
capabilities, so a room's IRC clients cost one render per set in use.
"""

from __future__ import annotations

from collections.abc import Callable

from zope.interface import implementer

from chatd.kernel.events import Event, Joined, Left, NickChanged, Said
from chatd.kernel.interfaces import IChatMind, IDelivery
from chatd.kernel.names import fold

Render = Callable[[Event], bytes]
Write = Callable[[bytes], None]
Deliver = Callable[[Event], None]


class _Room:
    """A room's members (user keys) and, once built, its sessions' targets."""

    __slots__ = ("echo", "members", "no_echo", "plain", "senders", "targets")

    def __init__(self) -> None:
        self.members: set[str] = set()
        self.targets: list[Deliver] | None = None
        self.echo: dict[Render, list[Write]] = {}
        self.no_echo: dict[Render, list[Write]] = {}
        # session id -> its write, for the formats that skip the sender
        self.senders: dict[str, Write] = {}
        self.plain: list[Deliver] = []  # minds without a render get every event whole


@implementer(IDelivery)
class Delivery:
    __slots__ = ("_memberships", "_rooms", "_sinks")

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}
        # user key -> that user's sessions here, flat: session id, mind, session id, mind...
        # A tuple, made anew at each login and logout of the user: most users have one
        # session, and a list for it, or a tuple of pairs, would cost each idle connection
        # more (docs/performance.md). ``_pairs`` reads it.
        self._sinks: dict[str, tuple[str | IChatMind, ...]] = {}
        # user key -> the rooms it is in, as the events told
        self._memberships: dict[str, set[str]] = {}

    # -- sessions ----------------------------------------------------------------------

    def attach(self, user_key: str, session_id: str, mind: IChatMind) -> None:
        """A session logged in: its user's rooms' events reach ``mind`` from now on."""
        self._sinks[user_key] = (*self._sinks.get(user_key, ()), session_id, mind)
        self._changed(user_key)
        attached = mind.attached
        if attached is not None:
            attached(self.regroup)

    def detach(self, user_key: str, session_id: str) -> None:
        """A session logged out (after the core told its rooms)."""
        sinks = tuple(item for pair in self._pairs(user_key) if pair[0] != session_id
                      for item in pair)
        if sinks:
            self._sinks[user_key] = sinks
        else:
            self._sinks.pop(user_key, None)
        self._changed(user_key)

    def regroup(self, user_key: str) -> None:
        """A session of ``user_key`` changed its ``render`` or ``echo`` (IChatMind)."""
        self._changed(user_key)

    def _changed(self, user_key: str) -> None:
        for room_key in self._memberships.get(user_key, ()):
            room = self._rooms.get(room_key)
            if room is not None:
                room.targets = None

    # -- the bus -----------------------------------------------------------------------

    def room_event(self, room_key: str, event: Event) -> None:
        room = self._rooms.get(room_key)
        kind = type(event)
        if kind is Said:
            if room is not None:
                self._say(room, room_key, event)  # type: ignore[arg-type]
            return
        if kind is Joined:
            if room is None:
                room = self._rooms[room_key] = _Room()
            self._member(room, room_key, fold(event.who), True)  # type: ignore[attr-defined]
            self._fanout(room, room_key, event)
        elif room is None:
            return
        elif kind is Left:
            self._fanout(room, room_key, event)  # the leaver hears it too
            self._member(room, room_key, fold(event.who), False)  # type: ignore[attr-defined]
            if not room.members:
                del self._rooms[room_key]
        else:
            self._fanout(room, room_key, event)

    def user_event(self, user_key: str, event: Event) -> None:
        if type(event) is NickChanged:
            self._renamed(fold(event.old), fold(event.new))
        for _, mind in self._pairs(user_key):
            mind.deliver(event)

    def _pairs(self, user_key: str) -> zip[tuple[str, IChatMind]]:
        """A user's sessions here: (session id, mind) pairs."""
        sinks = self._sinks.get(user_key, ())
        return zip(sinks[::2], sinks[1::2], strict=True)  # type: ignore[arg-type]

    def _renamed(self, old: str, new: str) -> None:
        """Move a renamed user's sessions and memberships to its new key (once: the event
        reaches each user who shares a room with it, and the first does the move)."""
        if old == new or (old not in self._memberships and old not in self._sinks):
            return
        if old in self._sinks:
            self._sinks[new] = self._sinks.pop(old)
        rooms = self._memberships.pop(old, set())
        if rooms:
            self._memberships[new] = rooms
        for room_key in rooms:
            room = self._rooms.get(room_key)
            if room is not None:
                room.members.discard(old)
                room.members.add(new)
                room.targets = None

    # -- rooms -------------------------------------------------------------------------

    def _member(self, room: _Room, room_key: str, user_key: str, present: bool) -> None:
        rooms = self._memberships.setdefault(user_key, set())
        if present:
            joined = user_key not in room.members
            room.members.add(user_key)
            rooms.add(room_key)
            if joined and room.targets is not None and self._add(room, user_key):
                return  # filling a room of N costs N placements, not N rebuilds of N
        else:
            room.members.discard(user_key)
            rooms.discard(room_key)
            if not rooms:
                del self._memberships[user_key]
        room.targets = None

    def _build(self, room: _Room, room_key: str) -> list[Deliver]:
        targets: list[Deliver] = []
        room.echo, room.no_echo, room.plain, room.senders = {}, {}, [], {}
        # Sessions that speak in this room through a seat (a UDP member): the seat gets the
        # room's messages in their place (IChatMind.seat).
        seated = {seat[0] for user_key in room.members
                  for _, mind in self._pairs(user_key)
                  if (seat := mind.seat) is not None and seat[1] == room_key}
        for user_key in room.members:
            for session_id, mind in self._pairs(user_key):
                seat = mind.seat
                if seat is not None and seat[1] != room_key:
                    continue  # a seat in another room of the user's
                if session_id in seated:
                    targets.append(mind.deliver)
                else:
                    self._place(room, targets, session_id, mind)
        room.targets = targets
        return targets

    def _add(self, room: _Room, user_key: str) -> bool:
        """Place a joining user's sessions in a room's built groups; False (rebuild) when
        one of them has a seat, which changes who else in the room gets messages."""
        sinks = list(self._pairs(user_key))
        if any(mind.seat is not None for _, mind in sinks):
            return False
        targets = room.targets
        assert targets is not None
        for session_id, mind in sinks:
            self._place(room, targets, session_id, mind)
        return True

    @staticmethod
    def _place(room: _Room, targets: list[Deliver], session_id: str, mind: IChatMind) -> None:
        targets.append(mind.deliver)
        render = mind.render
        if render is None:
            room.plain.append(mind.deliver)
        elif mind.echo:
            room.echo.setdefault(render, []).append(mind.write)
        else:
            write = mind.write
            room.no_echo.setdefault(render, []).append(write)
            room.senders[session_id] = write

    def _fanout(self, room: _Room, room_key: str, event: Event) -> None:
        targets = room.targets
        if targets is None:
            targets = self._build(room, room_key)
        for deliver in targets:
            deliver(event)

    def _say(self, room: _Room, room_key: str, event: Said) -> None:
        if room.targets is None:
            self._build(room, room_key)
        for render, writes in room.echo.items():
            data = event.encoded(render)
            for write in writes:
                write(data)
        sender = room.senders.get(event.origin)
        for render, writes in room.no_echo.items():
            data = event.encoded(render)
            if sender is None:
                for write in writes:
                    write(data)
            else:
                for write in writes:
                    if write is not sender:
                        write(data)
        for deliver in room.plain:
            deliver(event)
