"""The chat core's registry: who is online, which rooms exist, and the sessions that join them.

Nothing in the core knows a wire format, a socket or a connection. Frontends call ``Session``
methods (``chatd.core.session``, the ``IChatSession`` contract) and get frozen views back;
every change is published as one event on the injected bus, addressed to a room or a user,
and delivery (outside the core) takes it to the sessions. Operations that only touch memory
(say, leave, message) are synchronous; those that must hash a password or make a room change
durable return a Deferred that fires once the change is safe, and fail with a
``chatd.kernel.errors`` exception.

``ChatServer`` owns the registry (users, rooms, sessions, ids, capacity) and the few moves
every operation shares: a session begins and ends, a user enters and leaves a room, a room
ends, a guest is renamed. The operations themselves live in modules by concern (see
docs/design.md, "Where a new command goes").

Rooms are owned by account ids, not names (``Room.owned_by``). The core watches the member
directory: when an account is deleted or locked, its sessions here end (``SessionEnded`` on
its user key, after it has left its rooms) and its rooms keep their settings, owned by nobody
until an operator gives them to an account.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatd.core.changes import RoomChanges
from chatd.core.declarations import Operators
from chatd.core.definitions import Definitions
from chatd.core.departures import Departures
from chatd.core.ids import Ids
from chatd.core.presence import Presence
from chatd.core.rooms import Room, Seat, User
from chatd.core.seats import Seats
from chatd.core.session import Session
from chatd.core.stats import Stats
from chatd.core.tokens import Tokens
from chatd.kernel.errors import (
    NameTaken,
    NoSuchRoom,
    NoSuchUser,
    RoomFull,
    ServerFull,
    TooManySessions,
)
from chatd.kernel.events import Joined, LeaveReason, Left, NickChanged, SessionEnded
from chatd.kernel.interfaces import (
    IBus,
    IClusterGate,
    IFileStore,
    IHistoryStore,
    IMemberDirectory,
    IPasswordHasher,
    IRoomStore,
)
from chatd.kernel.keys import shared
from chatd.kernel.names import ReservedNames, check_room_name, check_user_name, fold, skeleton
from chatd.kernel.ratelimit import FailureLimiter
from chatd.kernel.records import NO_OWNER, Account, RoomRecord
from chatd.kernel.views import DepartureView

log = Logger()

# What the rooms hear (a quit message) and the sessions are told, by why the directory gave.
_ENDED = {
    "deleted": "account deleted by an operator",
    "locked": "account locked by an operator",
}



@dataclass(frozen=True, slots=True)
class Limits:
    """The core's limits, taken from the settings."""

    max_users: int = shared("max-users")
    max_sessions_per_account: int = shared("max-sessions-per-account")
    default_room_limit: int = shared("default-room-limit")
    max_room_limit: int = shared("max-room-limit")
    max_rooms_per_user: int = shared("max-rooms-per-user")
    # Messages (room and private) per session: a burst, then a steady rate; after
    # ``flood_strikes`` refusals in a row the session is disconnected.
    messages_burst: int = shared("messages-burst")
    messages_per_second: float = shared("messages-per-second")
    flood_strikes: int = shared("flood-strikes")
    # Wrong room passwords per user and room: a burst, then one per interval seconds.
    room_password_burst: int = shared("room-password-failures")
    room_password_interval: float = 60.0
    # Seconds a room token (for the UDP channel) lives.
    token_lifetime: float = shared("token-lifetime")
    # Seconds a dropped session's seat is kept (chatd.core.seats; 0: none), and whether an
    # account's seat is kept until /quit.
    seat_grace: float = shared("seat-grace")
    always_on: bool = shared("always-on")


# Names as typed -> keys: every message to a room or a user named by its sender (IRC always
# names the channel) looks one up, and checking and folding a name costs more than the rest
# of the message's way in. Pure functions of the string, so their answers are kept; a name
# that is refused (BadName) raises each time and is not kept.
@functools.lru_cache(maxsize=4096)
def room_key(name: str) -> str:
    """The key of the room ``name`` names (``#room`` accepted); BadName if it is no name."""
    return fold(check_room_name(name))


@functools.lru_cache(maxsize=4096)
def user_key(name: str) -> str:
    """The key of the user ``name`` names; BadName if it is no name."""
    return fold(check_user_name(name))

class ChatServer:
    """The registry of online users and of rooms, and the rules that join them."""

    def __init__(
        self,
        store: IRoomStore,
        hasher: IPasswordHasher,
        directory: IMemberDirectory,
        limits: Limits,
        clock: IReactorTime,
        bus: IBus,
        history: IHistoryStore | None = None,
        files: IFileStore | None = None,
        reserved: ReservedNames | None = None,
        links: Callable[[str], tuple[str, int]] | None = None,
        gate: IClusterGate | None = None,
    ) -> None:
        self.store = store
        # A file id -> a signed download URL and its lifetime (None: no HTTP links), where a
        # frontend serves files over HTTP.
        self.links = links
        # Where sessions read what was said (None: history is off); it listens on the bus.
        self.history = history
        self.files = files  # None: file sharing is off
        # Names no guest may take, by login or by a nick change.
        self.reserved = reserved or ReservedNames()
        self.directory = directory
        self.clock = clock
        self.bus = bus
        # In a cluster: where a join reserves its place before it is admitted (None: this
        # node alone decides), and the sessions on other nodes (chatd.core.replica keeps it).
        self.gate = gate
        self.remote_sessions = 0
        # The other nodes this one can't reach (it lost Redis), until each is heard again:
        # their users are shown as unreachable rather than silently as present.
        self.unreachable_nodes: set[str] = set()
        self.wrong_room_passwords = FailureLimiter(
            clock, limits.room_password_burst, limits.room_password_interval
        )
        self.hasher = hasher
        self.limits = limits
        self.stats = Stats()
        self.users: dict[str, User] = {}
        # What each online user's name looks like (skeleton -> user key), so a newcomer can't
        # take a look-alike of someone online, guest or account.
        self._shapes: dict[str, str] = {}
        self.rooms: dict[str, Room] = {}
        self.tokens = Tokens(clock)
        self.session_count = 0
        # The most sessions at once since the start: here, and on every node (LUSERS).
        self.local_peak = self.peak = 0
        # Who was online under each name lately (WHOWAS).
        self.departures = Departures()
        # Event, session and room ids: time-ordered, unique across restarts and nodes.
        self.next_id = Ids(clock)
        # Creations, keys being set and durable changes of rooms, under way.
        self.changes = RoomChanges(self.rooms, store)
        # The rooms' definitions from the store and the member service.
        self.definitions = Definitions(self)
        # Who may become a server operator, and the address bans (chatd.core.operators).
        self.operators = Operators(self.users)
        # Told (user key, session id) once a session has quit and its rooms have heard;
        # while end_user runs, the ids wait in ``_detached_later``.
        self._session_watchers: list[Callable[[str, str], None]] = []
        self.presence = Presence()
        self._detached_later: list[str] | None = None
        # The seats of sessions that dropped, kept for their return (chatd.core.seats).
        self.seats = Seats(self)
        directory.watch(self.end_account)

    # -- the member service's listener (chatd.members.room_client.RoomListener) ---------

    def load_rooms(self) -> None:
        self.definitions.load_rooms()

    def room_defined(self, record: RoomRecord) -> None:
        self.definitions.room_defined(record)

    def room_undefined(self, key: str) -> None:
        self.definitions.room_undefined(key)

    def sync_rooms(self, records: list[RoomRecord]) -> None:
        self.definitions.sync_rooms(records)

    # -- sessions and users ------------------------------------------------------------

    def end_account(self, account: Account, why: str) -> None:
        """The directory says ``account`` was deleted or locked (``why``): end its sessions
        here. Nothing if it is not online here, or if the name online is another account's.
        A deleted account's rooms have no owner from now on (the member service, or chatd-admin
        offline, records that)."""
        if why == "deleted":
            for room in self.rooms.values():
                if account.id and room.owner_id == account.id:
                    room.owner_id = NO_OWNER
        user = self.users.get(account.key)
        if user is None or user.guest or user.account_id != account.id:
            return
        self.end_user(user, _ENDED.get(why, f"account {why}"))

    def end_user(self, user: User, reason: str, leave: LeaveReason = LeaveReason.QUIT,
                 message: str | None = None) -> None:
        """End every session of ``user``: its rooms hear it quit with ``reason`` (or leave
        with ``leave`` and ``message``: an operator's kill), then its sessions get
        SessionEnded (their connections close on it). Its rooms stay."""
        count = len(user.sessions)
        # The sessions' minds are told they are detached only after SessionEnded reached them.
        self._detached_later = []
        try:
            for session in list(user.sessions):
                session.quit(leave, reason if message is None else message)
            self.bus.to_user(user.key, SessionEnded(user.name, reason, id=self.next_id(),
                                                    at=self.clock.seconds()))
        finally:
            ended, self._detached_later = self._detached_later, None
            for session_id in ended:
                self._session_ended(user.key, session_id)
        self.seats.end_user(user.key, reason if message is None else message, leave)
        owned = [room.name for room in self.rooms.values()
                 if user.account_id and room.owner_id == user.account_id]
        log.info("ended {count} sessions of {user}: {reason}; the rooms it owned ({rooms}) "
                 "keep their settings and have no owner unless the account comes back",
                 count=count, user=user.name, reason=reason, rooms=", ".join(owned) or "none")

    def is_online(self, name: str) -> bool:
        """Whether ``name``, or a name that looks like it, is online."""
        return fold(name) in self.users or skeleton(name) in self._shapes

    def guest_online(self, name: str) -> bool:
        """Whether a guest has ``name``, or a name that looks like it, online. (An account
        online is the directory's to answer for: it says the name is registered, /login.)"""
        users = self.users
        for key in (fold(name), self._shapes.get(skeleton(name))):
            user = users.get(key) if key is not None else None
            if user is not None and user.guest:
                return True
        return False

    def check_capacity(self) -> None:
        """Raise ServerFull now, rather than after a signup has created the account. Held
        seats count: each is a session that may come back."""
        if self.session_count + self.remote_sessions + len(self.seats) >= self.limits.max_users:
            raise ServerFull(
                f"the server is full ({self.limits.max_users} logged in); try again later"
            )

    def connect(
        self, name: str, guest: bool, limited: bool = True, account_id: str = "",
        resume: str = "",
    ) -> Session:
        """Make a session for ``name`` (already authenticated, or a guest name checked free);
        ``account_id`` is the account's id. A held seat of the user (a guest's: the one the
        token ``resume`` names) is taken: the session is in its rooms, with what it missed.

        ``limited`` is False for trusted addresses (``exempt``): no message rate limit."""
        key = fold(name)
        user = self.users.get(key)
        if user is not None and not guest and not user.guest and user.account_id != account_id:
            # The account online under this name is not this one: it was deleted while we
            # could not hear of it (the member service unreachable), and the name registered
            # again. Its sessions end now.
            self.end_user(user, _ENDED["deleted"])
            user = None
        held = None
        if user is not None and guest == user.guest:
            held = self.seats.find(user, resume)
        if held is None:
            self.check_capacity()
        if user is not None and held is None:
            if guest or user.guest:
                raise NameTaken(f"{user.name} is in use right now; pick another name")
            limit = self.limits.max_sessions_per_account
            if user.session_total + self.seats.of(user.key) >= limit:
                raise TooManySessions(
                    f"{user.name} is already logged in "
                    f"{'elsewhere' if limit == 1 else f'{limit} times'}; "
                    "log out there first"
                )
        elif user is None:
            user = User(name, key, guest, account_id, self.clock.seconds())
            self.track(user)
        session = Session(self, user, self.next_id(), limited)
        # A second session of an account is in the account's rooms already; talk in one.
        session.current_room = next(iter(user.rooms.values()), None)
        user.sessions = (*user.sessions, session)
        self.session_count += 1
        if held is not None:
            session.backlog = self.seats.take(held, session)
        self.local_peak = max(self.local_peak, self.session_count)
        self.peak = max(self.peak, self.session_count + self.remote_sessions)
        return session

    def claim(self, name: str, account_id: str, session_id: str, holder: str = "") -> Session:
        """The guest session ``session_id``, holding the name ``holder`` (by default ``name``),
        signed up ``name`` (IRC's REGISTER) or logged in to the account ``name`` (IRC's SASL
        after the welcome) while connected: the user is the account's from now on, with the
        same session and rooms, called ``name`` (``account_id`` its id). Everyone who shares
        a room with it, and itself, are told (NickChanged with ``account``).

        Only while the account is not online: joining its other sessions would take the
        guest out of its rooms and into the account's, which a client is better shown by
        connecting again (a login while connecting is another session of the account)."""
        held = holder or name
        user = self.users.get(fold(held))
        session = None if user is None or not user.guest else next(
            (seat for seat in user.sessions
             if isinstance(seat, Session) and seat.id == session_id), None)
        if user is None or session is None:
            raise NameTaken(f"{held} is not the name you have; sign up your own")
        other = self.users.get(fold(name)) or self.users.get(
            self._shapes.get(skeleton(name), ""))
        if other is not None and other is not user:
            if other.guest:
                raise NameTaken(f"{other.name}, a name like {name}, is in use by a guest")
            raise TooManySessions(f"{name} is logged in already; log in while connecting "
                                  "to use it from here too")
        old = user.name
        told = self.renamed(user, name) if name != old else {
            user.key, *(key for room in user.rooms.values() for key in room.members)}
        user.guest, user.account_id = False, account_id
        event = NickChanged(old, name, account=True, id=self.next_id(),
                            at=self.clock.seconds())
        for recipient in sorted(told):
            self.bus.to_user(recipient, event)
        log.info("{old} logged in to the account {name} while connected", old=old, name=name)
        return session

    def configure(self, limits: Limits) -> None:
        """New limits (a reload): sessions and rooms read them at their next check."""
        self.limits = limits
        self.wrong_room_passwords.burst = limits.room_password_burst

    def unreachable(self, user: User) -> bool:
        """Whether ``user`` is online only on nodes out of reach (see unreachable_nodes)."""
        return (not user.sessions and bool(user.remote)
                and self.unreachable_nodes.issuperset(user.remote))

    def find_room(self, name: str) -> Room:
        room = self.rooms.get(room_key(name))
        if room is None:
            raise NoSuchRoom(f"there is no room {name}; /rooms lists them")
        return room

    def find_user(self, name: str) -> User:
        user = self.users.get(user_key(name))
        if user is None:
            raise NoSuchUser(f"nobody called {name} is online")
        return user

    def admit(self, user: User, room: Room) -> None:
        """Add ``user`` to ``room`` after its password (if any) was checked."""
        if room.key not in self.rooms:
            raise NoSuchRoom(f"{room.name} was deleted")
        if len(room.members) >= room.limit:
            raise RoomFull(f"{room.name} is full (limit {room.limit}); try later")
        if not room.members and not room.persistent:
            room.operators.add(user.key)  # a temporary room's first member runs it, as on IRC
        room.members[user.key] = user
        user.enter(room)
        # The user's other sessions are in the room now too; one that had no room to talk
        # in talks here (it would otherwise answer a plain line with 406 in a room it is in).
        for seat in user.sessions:
            if seat.current_room is None:
                seat.current_room = room
        self.bus.to_room(room.key, Joined(room.name, user.name, account=not user.guest,
                                          away=user.away, members=len(room.members),
                                          id=self.next_id(),
                                          at=self.clock.seconds()))

    def remove(self, user: User, room: Room, reason: LeaveReason, message: str = "",
               by: str = "") -> None:
        """Take ``user`` out of ``room``, telling everyone in it (the leaver included);
        ``by`` is the operator who kicked it. The one place a member leaves a room: its
        tokens for the room end here."""
        self.tokens.end_member([session.id for session in user.sessions], room.key,
                               f"you are no longer in {room.name} ({reason.value})")
        self.bus.to_room(room.key, Left(room.name, user.name, reason, message, by,
                                        id=self.next_id(), at=self.clock.seconds()))
        del room.members[user.key]
        user.exit(room.key)
        room.forget(user.key)
        for session in user.sessions:
            if session.current_room is room:
                session.current_room = next(iter(user.rooms.values()), None)
        if not room.members and not room.persistent:
            self.end_room(room)

    def end_room(self, room: Room) -> None:
        """``room`` is gone (a temporary room emptied, a persistent one deleted): what was
        said in it goes with it, so nobody reads it by the name (a new room of that name has
        another id, and starts empty). Its shared files, kept under its id too, are reached
        by nobody now, and go at the files' retention."""
        if self.rooms.get(room.key) is room:
            del self.rooms[room.key]
        if self.history is not None:
            self.history.forget(room.conversation)

    def prune_history(self) -> None:
        """Drop the history of every room that is gone (the temporary rooms open when the
        daemon stopped, a room deleted while this node could not hear of it): called once
        the rooms and the history are loaded, and after each resync of the rooms."""
        if self.history is not None:
            self.history.retain_rooms({room.conversation for room in self.rooms.values()})

    def rename(self, user: User, new: str) -> None:
        """``user`` (a guest, its name checked free) is called ``new`` from now on; every
        user who shares a room with it, and itself, hear it (once each)."""
        old = user.name
        told = self.renamed(user, new)
        event = NickChanged(old, new, id=self.next_id(), at=self.clock.seconds())
        for recipient in sorted(told):
            self.bus.to_user(recipient, event)
        log.info("{old} is now called {new}", old=old, new=new)

    def renamed(self, user: User, new: str) -> set[str]:
        """Call ``user`` ``new`` in the registry and its rooms; the keys of who shares a room
        with it, and its own (whom a rename is told to). Publishes nothing."""
        old_key = user.key
        # A change of case only is no change of presence (MONITOR's watchers hear nothing).
        tell = old_key != fold(new)
        self.untrack(user, tell)
        user.name, user.key = new, fold(new)
        self.track(user, tell)
        told = {user.key}
        for room in user.rooms.values():
            room.rekey(old_key, user)
            told.update(room.members)
        for other in self.rooms.values():
            if old_key in other.invited:
                other.rekey(old_key, user)
        return told

    def watch_sessions(self, ended: Callable[[str, str], None]) -> None:
        """Call ``ended(user key, session id)`` after each session quits (once its rooms
        have heard): one listener for the server instead of a logout closure kept by each
        of thousands of idle connections."""
        self._session_watchers.append(ended)

    def disconnect(self, session: Seat, reason: LeaveReason, message: str) -> None:
        self.tokens.end_session(session.id, "you logged out")
        user = session.user
        user.sessions = tuple(seat for seat in user.sessions if seat is not session)
        self.session_count -= 1
        self.presence.unwatch(session, None)
        if not self.seats.hold(session, reason) and not user.sessions:
            # Gone for good (a /quit, a flood): the user's other seats, if any, go too.
            self.seats.discard(user.key)
            self.depart(user, reason, message)
        if self._detached_later is not None:
            self._detached_later.append(session.id)
        else:
            self._session_ended(user.key, session.id)

    def depart(self, user: User, reason: LeaveReason, message: str) -> None:
        """``user`` lost a session or a seat: if it was its last here (and on every other
        node, in a cluster), it leaves every room."""
        if not user.sessions and not user.remote:
            for room in list(user.rooms.values()):
                self.remove(user, room, reason, message)
            if self.users.get(user.key) is user:
                self.untrack(user)

    def seat_ended(self, user_key: str) -> None:
        """A held seat of ``user_key`` was taken or ended: the session watchers recount
        (a cluster tells the others; ``""`` names no session, so delivery detaches none)."""
        self._session_ended(user_key, "")

    def _session_ended(self, user_key: str, session_id: str) -> None:
        for ended in self._session_watchers:
            ended(user_key, session_id)

    def track(self, user: User, tell: bool = True) -> None:
        """``user`` is online: found by its name and by what its name looks like; sessions
        watching its name hear it (``tell``)."""
        self.users[user.key] = user
        self._shapes.setdefault(skeleton(user.name), user.key)
        if tell:
            self.presence.changed(user.name, True, self.clock.seconds(), self.next_id,
                                  self.bus.to_user)

    def untrack(self, user: User, tell: bool = True) -> None:
        """``user`` is no longer online under its name (in no room by now, or renamed):
        WHOWAS remembers it, and its watchers hear it (``tell``)."""
        del self.users[user.key]
        self.departures.record(DepartureView(user.name, user.ident, user.guest, user.signon,
                                             self.clock.seconds()))
        shape = skeleton(user.name)
        if self._shapes.get(shape) == user.key:
            del self._shapes[shape]
        if tell:
            self.presence.changed(user.name, False, self.clock.seconds(), self.next_id,
                                  self.bus.to_user)

