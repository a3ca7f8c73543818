"""The chat core: who is online, which rooms exist, and every operation a session can ask for.

Nothing here knows a wire format, a socket or a connection. Frontends call ``Session`` methods
(the ``IChatSession`` contract) and get frozen views back; every change is published as one
event on the injected bus, addressed to a room or a user, and delivery (outside the core)
takes it to the sessions. Operations that only touch memory (say, leave, message) are
synchronous; those that must hash a password or make a room change durable return a Deferred
that fires once the change is safe, and fail with a ``chatd.kernel.errors`` exception.

Rooms are owned by account ids, not names (``Room.owned_by``). The core watches the member
directory: when an account is deleted or locked, its sessions here end (``SessionEnded`` on
its user key, after it has left its rooms) and its rooms keep their settings, owned by nobody
until an operator gives them to an account.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from twisted.internet.defer import Deferred, DeferredList, DeferredLock, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.core.ids import Ids
from chatd.core.rooms import FLAGS, Room, User, ban_mask
from chatd.core.stats import Stats
from chatd.core.tokens import Tokens
from chatd.kernel.errors import (
    AlreadyInRoom,
    BadSyntax,
    BadText,
    Banned,
    ChatError,
    Flooding,
    InviteOnly,
    NameTaken,
    NoSuchFile,
    NoSuchRoom,
    NoSuchUser,
    NotAllowed,
    NotInRoom,
    RateLimited,
    RoomFull,
    ServerFull,
    TooManyRooms,
    TooManySessions,
    WrongCredentials,
    WrongRoomPassword,
)
from chatd.kernel.events import (
    AwayChanged,
    Event,
    FileShared,
    Invited,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    NickChanged,
    Private,
    Said,
    SessionEnded,
    TopicSet,
)
from chatd.kernel.history import HistoryQuery, private_key
from chatd.kernel.interfaces import (
    IBus,
    IChatSession,
    IClusterGate,
    IFileStore,
    IHistoryStore,
    IMemberDirectory,
    IPasswordHasher,
    IRoomStore,
    IUpload,
)
from chatd.kernel.keys import shared
from chatd.kernel.names import (
    ReservedNames,
    check_room_name,
    check_user_name,
    clean_file_name,
    fold,
    skeleton,
)
from chatd.kernel.ratelimit import FailureLimiter, TokenBucket
from chatd.kernel.records import NO_OWNER, Account, RoomRecord
from chatd.kernel.text import MAX_TOPIC_LENGTH, clean_text
from chatd.kernel.views import (
    FileView,
    Membership,
    MemberView,
    RoomView,
    ServerView,
    TokenView,
    UserView,
)

log = Logger()

MAX_ROOM_PASSWORD_LENGTH = 128
# Bans per room, and the longest ban mask.
MAX_BANS = 100
MAX_BAN_LENGTH = 64

# What the rooms hear (a quit message) and the sessions are told, by why the directory gave.
_ENDED = {
    "deleted": "account deleted by an operator",
    "locked": "account locked by an operator",
}

# Seconds between tries to resolve old rooms' owners while the directory can't answer.
RESOLVE_RETRY = (1.0, 60.0)


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
        # In a cluster: the sessions on other nodes (chatd.core.replica keeps it), and where
        # a join reserves its place before it is admitted (None: this node alone decides).
        self.remote_sessions = 0
        self.gate = gate
        # Event, session and room ids: time-ordered, unique across restarts and nodes.
        self.next_id = Ids(clock)
        # Room names whose /create is waiting on a hash or a durable write.
        self._creating: set[str] = set()
        # Changes to persistent rooms, one at a time (see Session._change).
        self.changes = DeferredLock()
        # Rooms whose key is being set (hashed, then saved): room key -> how many keys are
        # under way, and the joins waiting for the last of them (see Session.join).
        self._keying: dict[str, int] = {}
        self._key_waiters: dict[str, list[Deferred[None]]] = {}
        # The next try at resolve_owners, while the directory is unreachable.
        self._resolve_retry: IDelayedCall | None = None
        self._resolve_delay = RESOLVE_RETRY[0]
        # Told (user key, session id) once a session has quit and its rooms have heard;
        # while end_user runs, the ids wait in ``_detached_later``.
        self._session_watchers: list[Callable[[str, str], None]] = []
        self._detached_later: list[str] | None = None
        directory.watch(self.end_account)

    def keying(self, room_key: str, change: Deferred[None]) -> Deferred[None]:
        """Hold joins to ``room_key`` while ``change`` (a new key, being hashed and saved)
        is under way: once the operator's command is accepted, the room counts as locked,
        and a join is checked against the new key when it is in place (or the old one, if
        setting it failed)."""
        self._keying[room_key] = self._keying.get(room_key, 0) + 1

        def done(result: object) -> object:
            left = self._keying.pop(room_key) - 1
            if left:
                self._keying[room_key] = left
            else:
                for waiter in self._key_waiters.pop(room_key, ()):
                    waiter.callback(None)
            return result

        return change.addBoth(done)

    def key_settled(self, room_key: str) -> Deferred[None] | None:
        """A Deferred that fires once no key of ``room_key`` is under way; None if none is."""
        if room_key not in self._keying:
            return None
        waiter: Deferred[None] = Deferred()
        self._key_waiters.setdefault(room_key, []).append(waiter)
        return waiter

    def configure(self, limits: Limits) -> None:
        """New limits (a reload): sessions and rooms read them at their next check."""
        self.limits = limits
        self.wrong_room_passwords.burst = limits.room_password_burst

    def load_rooms(self) -> None:
        """Bring back the persistent rooms (empty, since membership is never stored)."""
        for record in self.store.load():
            self.rooms[record.key] = Room.from_record(record)
        log.info("loaded {count} persistent rooms", count=len(self.rooms))
        self.resolve_owners()

    def resolve_owners(self) -> None:
        """Give each room stored before account ids the id of the account that has its
        owner's name now (the best the old records allow), or NO_OWNER if none has, so that
        a name registered later gets nothing. The embedded directory answers at once; a
        member service once it is reachable (tried again, with back-off, until then). Until
        resolved, a room is owned by nobody."""
        self._resolve_retry = None
        waiting = [room for room in self.rooms.values()
                   if room.owner is not None and not room.owner_id]
        if not waiting:
            return
        answers = [self.directory.lookup(room.owner).addCallback(self._resolved, room)
                   for room in waiting if room.owner is not None]

        def retry(results: list[tuple[bool, Any]]) -> None:
            failed = [result for ok, result in results if not ok]
            if not failed:
                return
            delay = self._resolve_delay
            self._resolve_delay = min(delay * 2, RESOLVE_RETRY[1])
            log.warn("the owners of {count} rooms from before account ids are not resolved "
                     "({why}); nobody owns them yet; trying again in {delay:g} s",
                     count=len(failed), why=failed[0].getErrorMessage(), delay=delay)
            self._resolve_retry = self.clock.callLater(delay, self.resolve_owners)

        DeferredList(answers, consumeErrors=True).addCallback(retry)

    def _resolved(self, account: Account | None, room: Room) -> Deferred[None] | None:
        assert room.owner is not None
        if account is not None and not account.id:
            log.warn("the member service gives no account ids (an older version): room "
                     "{room} is owned by nobody until it is upgraded", room=room.name)
            return None
        found = account is not None and account.key == fold(room.owner)
        owner_id = account.id if account is not None and found else NO_OWNER

        def work() -> Deferred[None]:
            if self.rooms.get(room.key) is not room or room.owner_id:
                return succeed(None)
            return self.store.save(replace(room.record(), owner_id=owner_id)).addCallback(apply)

        def apply(_: object) -> None:
            room.owner_id = owner_id
            log.info("room {room} from before account ids: {whose}", room=room.name,
                     whose=f"owned by the account {room.owner} ({owner_id})" if found
                     else f"its owner {room.owner} has no account now, so nobody owns it")

        return self.changes.run(work)

    # -- room definitions changed elsewhere (another chat daemon, chatd-admin) ----------

    def room_defined(self, record: RoomRecord) -> None:
        """A persistent room was created or changed elsewhere (the member service says so,
        once it is durable): take its definition. A room of that name here, persistent or
        temporary, keeps its members and their operator and voice status. Nobody here is
        told: the chat daemon that made the change published its events on the bus."""
        room = self.rooms.get(record.key)
        if room is None:
            self.rooms[record.key] = Room.from_record(record)
            return
        if room.id != record.id and self.history is not None:
            # Another room of this name now (deleted and made again, or made over a
            # temporary room here): what was said in the one before is not its to show.
            self.history.forget(room.conversation)
        room.redefine(record)

    def room_undefined(self, key: str) -> None:
        """A persistent room was deleted elsewhere: its members here leave it (deleted) and
        it is gone."""
        room = self.rooms.get(key)
        if room is None or not room.persistent:
            return
        for user in list(room.members.values()):
            self.remove(user, room, LeaveReason.DELETED)
        self.end_room(room)
        log.info("room {room} was deleted elsewhere", room=room.name)

    def sync_rooms(self, records: list[RoomRecord]) -> None:
        """Every persistent room's definition, read again (after a lost connection to the
        member service, during which changes were not heard of): take each, and close the
        persistent rooms no longer defined (except one being created here)."""
        defined = {record.key for record in records}
        for record in records:
            self.room_defined(record)
        for room in list(self.rooms.values()):
            if room.persistent and room.key not in defined and room.key not in self._creating:
                self.room_undefined(room.key)
        self.prune_history()

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

    def end_user(self, user: User, reason: str) -> None:
        """End every session of ``user``: its rooms hear it quit with ``reason``, then its
        sessions get SessionEnded (their connections close on it). Its rooms stay."""
        count = len(user.sessions)
        # The sessions' minds are told they are detached only after SessionEnded reached them.
        self._detached_later = []
        try:
            for session in list(user.sessions):
                session.quit(LeaveReason.QUIT, reason)
            self.bus.to_user(user.key, SessionEnded(user.name, reason, id=self.next_id(),
                                                    at=self.clock.seconds()))
        finally:
            ended, self._detached_later = self._detached_later, None
            for session_id in ended:
                self._session_ended(user.key, session_id)
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
        """Raise ServerFull now, rather than after a signup has created the account."""
        if self.session_count + self.remote_sessions >= self.limits.max_users:
            raise ServerFull(
                f"the server is full ({self.limits.max_users} logged in); try again later"
            )

    def connect(
        self, name: str, guest: bool, limited: bool = True, account_id: str = ""
    ) -> Session:
        """Make a session for ``name`` (already authenticated, or a guest name checked free);
        ``account_id`` is the account's id.

        ``limited`` is False for trusted addresses (``exempt``): no message rate limit."""
        key = fold(name)
        user = self.users.get(key)
        if user is not None and not guest and not user.guest and user.account_id != account_id:
            # The account online under this name is not this one: it was deleted while we
            # could not hear of it (the member service unreachable), and the name registered
            # again. Its sessions end now.
            self.end_user(user, _ENDED["deleted"])
            user = None
        self.check_capacity()
        if user is not None:
            if guest or user.guest:
                raise NameTaken(f"{user.name} is in use right now; pick another name")
            limit = self.limits.max_sessions_per_account
            if user.session_total >= limit:
                raise TooManySessions(
                    f"{user.name} is already logged in "
                    f"{'elsewhere' if limit == 1 else f'{limit} times'}; "
                    "log out there first"
                )
        else:
            user = User(name, key, guest, account_id, self.clock.seconds())
            self.track(user)
        session = Session(self, user, self.next_id(), limited)
        # A second session of an account is in the account's rooms already; talk in one.
        session.current_room = next(iter(user.rooms.values()), None)
        user.sessions = (*user.sessions, session)
        self.session_count += 1
        return session

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

    def room_view(self, room: Room, members: bool = False) -> RoomView:
        listed: tuple[MemberView, ...] = ()
        if members:
            listed = tuple(
                MemberView(user.name, user.key, user.guest, room.owned_by(user), user.away,
                           room.is_operator(user), room.is_voiced(user))
                for user in sorted(room.members.values(), key=lambda user: user.key)
            )
        return RoomView(room.name, room.key, room.limit, len(room.members), room.locked,
                        room.shown_owner, room.topic, listed, room.modes)

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
                                          away=user.away, id=self.next_id(),
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
        self.untrack(user)
        user.name, user.key = new, fold(new)
        self.track(user)
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

    def disconnect(self, session: Session, reason: LeaveReason, message: str) -> None:
        self.tokens.end_session(session.id, "you logged out")
        user = session.user
        user.sessions = tuple(seat for seat in user.sessions if seat is not session)
        self.session_count -= 1
        if not user.sessions and not user.remote:
            # Its last session here (and on every other node, in a cluster): it leaves.
            for room in list(user.rooms.values()):
                self.remove(user, room, reason, message)
            self.untrack(user)
        if self._detached_later is not None:
            self._detached_later.append(session.id)
        else:
            self._session_ended(user.key, session.id)

    def _session_ended(self, user_key: str, session_id: str) -> None:
        for ended in self._session_watchers:
            ended(user_key, session_id)

    def track(self, user: User) -> None:
        """``user`` is online: found by its name and by what its name looks like."""
        self.users[user.key] = user
        self._shapes.setdefault(skeleton(user.name), user.key)

    def untrack(self, user: User) -> None:
        """``user`` is no longer online (in no room by now)."""
        del self.users[user.key]
        shape = skeleton(user.name)
        if self._shapes.get(shape) == user.key:
            del self._shapes[shape]


def _check_limit(server: ChatServer, limit: int) -> int:
    maximum = server.limits.max_room_limit
    if not 1 <= limit <= maximum:
        raise BadSyntax(f"a room's member limit must be between 1 and {maximum}")
    return limit


def _reason(text: str) -> str:
    """A part or kick reason as the room hears it: clean one-line text, or none."""
    try:
        return clean_text(text).strip() if text.strip() else ""
    except BadText:
        return ""


def _check_mask(mask: str) -> str:
    """A ban mask: one word of at most MAX_BAN_LENGTH printable characters."""
    if not 1 <= len(mask) <= MAX_BAN_LENGTH or any(
            c.isspace() or not c.isprintable() for c in mask):
        raise BadSyntax(f"a ban is a name or a pattern (* and ?) of 1 to {MAX_BAN_LENGTH} "
                        "characters without spaces")
    return mask


def _check_room_password(password: str) -> str:
    """A room password is one word of printable characters: every protocol can send it, and
    no protocol splits it differently (a space, NBSP or U+2028 would)."""
    if not 1 <= len(password) <= MAX_ROOM_PASSWORD_LENGTH:
        raise BadSyntax(f"a room password has 1 to {MAX_ROOM_PASSWORD_LENGTH} characters")
    if any(char.isspace() or not char.isprintable() for char in password):
        raise BadSyntax("a room password can't contain spaces or control characters")
    return password


@implementer(IChatSession)
class Session:
    """One logged-in connection: the avatar every frontend drives (``IChatSession``)."""

    __slots__ = ("bucket", "closed", "current_room", "id", "server", "strikes", "user")

    def __init__(self, server: ChatServer, user: User, id: str, limited: bool) -> None:
        self.id = id
        self.server = server
        self.user = user
        self.current_room: Room | None = None
        self.closed = False
        self.bucket = (
            TokenBucket(server.limits.messages_burst, server.clock.seconds()) if limited else None
        )
        self.strikes = 0

    def _check_open(self) -> None:
        """What changes something (join, create, a room's settings, talking) refuses a
        session that has ended, such as one the server ended (SessionEnded) whose connection
        has not closed yet."""
        if self.closed:
            raise NotAllowed("this session has ended; log in again")

    def _spend(self) -> None:
        """One message's worth of the session's rate; RateLimited, then Flooding."""
        self._check_open()
        if self.bucket is None:
            return
        limits = self.server.limits
        if self.bucket.take(
            limits.messages_burst, limits.messages_per_second, self.server.clock.seconds()
        ):
            self.strikes = 0
            return
        self.strikes += 1
        if self.strikes >= limits.flood_strikes:
            raise Flooding(f"disconnected for flooding ({self.strikes} messages too fast)")
        raise RateLimited(
            f"slow down: at most {limits.messages_per_second:g} messages a second "
            f"(bursts of {limits.messages_burst}); that one was not sent"
        )

    def send_delay(self) -> float:
        """Seconds until a message would be within the rate; 0 if now. Spends nothing."""
        if self.bucket is None:
            return 0.0
        limits = self.server.limits
        return self.bucket.wait(
            limits.messages_burst, limits.messages_per_second, self.server.clock.seconds())

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def key(self) -> str:
        return self.user.key

    @property
    def guest(self) -> bool:
        return self.user.guest

    @property
    def current(self) -> str | None:
        return None if self.current_room is None else self.current_room.name

    def _member_room(self, name: str | None) -> Room:
        """The named room, or the current one, provided the user is in it."""
        if name is None:
            if self.current_room is None:
                raise NotInRoom("you are not in a room; /join one first")
            return self.current_room
        room = self.server.find_room(name)
        if room.key not in self.user.rooms:
            raise NotInRoom(f"you are not in {room.name}")
        return room

    def _operated_room(self, name: str) -> Room:
        """A room this user is an operator of (the owner is one)."""
        self._check_open()
        room = self.server.find_room(name)
        if not room.is_operator(self.user):
            raise NotAllowed(f"only an operator of {room.name} can do that")
        return room

    def _owned_room(self, name: str) -> Room:
        self._check_open()
        room = self.server.find_room(name)
        if room.owner is None:
            raise NotAllowed(
                f"{room.name} is a temporary room without settings; /create makes one that has"
            )
        if not room.owned_by(self.user):
            raise NotAllowed(f"only the owner of {room.name} can do that")
        return room

    # -- what the session may see ----------------------------------------------------------

    def sees_members(self, room: Room) -> bool:
        """The one rule for every protocol: a locked room's members are for its members to
        see; anyone may see who is in an open room."""
        return not room.locked or room.key in self.user.rooms

    def rooms(self) -> list[RoomView]:
        view = self.server.room_view
        return [view(room) for room in sorted(self.server.rooms.values(), key=_by_key)]

    def room(self, name: str) -> RoomView:
        return self.server.room_view(self.server.find_room(name))

    def who(self, name: str | None = None) -> RoomView:
        """The room with its members: the current one, or any named one whose members this
        session may see (``sees_members``)."""
        room = self._member_room(None) if name is None else self.server.find_room(name)
        if not self.sees_members(room):
            raise NotAllowed(f"{room.name} is locked; only its members see who is in it")
        return self.server.room_view(room, members=True)

    def my_rooms(self) -> list[str]:
        return [room.name for room in self.user.rooms.values()]

    def shares_room(self, name: str, besides: str) -> bool:
        key, other = fold(name), fold(besides)
        return any(key in room.members for room in self.user.rooms.values() if room.key != other)

    def whois(self, name: str) -> UserView:
        return self._user_view(self.server.find_user(name))

    def _user_view(self, user: User) -> UserView:
        rooms = tuple(Membership(room.name, room.owned_by(user), room.is_operator(user),
                                 room.is_voiced(user))
                      for room in user.rooms.values() if self.sees_members(room))
        return UserView(user.name, user.key, user.guest, user.session_total, rooms, user.away,
                        self.server.clock.seconds() - user.active, user.signon)

    def server_info(self) -> ServerView:
        server = self.server
        return ServerView(server.session_count + server.remote_sessions, len(server.users),
                          len(server.rooms), server.limits.max_room_limit)

    # -- rooms -------------------------------------------------------------------------

    def join(self, name: str, password: str | None = None) -> Deferred[RoomView]:
        """Join (or, if it does not exist, create a temporary) room and make it current."""
        self._check_open()
        server = self.server
        display = check_room_name(name)
        key = fold(display)
        room = server.rooms.get(key)
        if room is not None and room.key in self.user.rooms:
            self.current_room = room
            return succeed(server.room_view(room))
        if key in server._creating:
            raise NoSuchRoom(f"{display} is being created right now; try again in a moment")
        settled = server.key_settled(key)
        if settled is not None:
            return settled.addCallback(lambda _: self.join(name, password))
        if len(self.user.rooms) >= server.limits.max_rooms_per_user:
            raise TooManyRooms(
                f"you are in {len(self.user.rooms)} rooms, the most allowed; /leave one first"
            )
        if room is None:
            room = server.rooms[key] = Room(display, key, server.limits.default_room_limit,
                                            id=server.next_id())
            log.info("{user} opened temporary room {room}", user=self.name, room=display)
        elif room.banned(self.user) is not None:
            raise Banned(f"you are banned from {room.name}")
        elif room.shuts_out(self.user):
            raise InviteOnly(f"{room.name} is invite-only; ask an operator to /invite you")
        elif room.password_hash is not None and self.user.key not in room.invited:
            if not password:
                raise WrongRoomPassword(f"{room.name} is locked; /join {room.name} PASSWORD")
            wait = server.wrong_room_passwords.wait(self._attempt_key(room))
            if wait:
                raise RateLimited(
                    f"too many wrong passwords for {room.name}; try again in {wait:.0f} seconds"
                )
            return server.hasher.verify(room.password_hash, password).addCallback(
                self._admit_verified, room, room.password_hash, password
            )
        return self._admit(room)

    def _attempt_key(self, room: Room) -> str:
        return f"{self.user.key}\0{room.key}"

    def _admit_verified(self, ok: bool, room: Room, checked: str | None, password: str
                        ) -> RoomView | Deferred[RoomView]:
        if ok and (room.password_hash != checked or room.key in self.server._keying):
            # The key changed (or is changing) while the old one was checked: the password
            # must open the room as it is now.
            return self.join(room.name, password)
        if not ok:
            self.server.wrong_room_passwords.failed(self._attempt_key(room))
            raise WrongRoomPassword(f"wrong password for {room.name}")
        if room.key in self.user.rooms:
            self.current_room = room
            return self.server.room_view(room)
        return self._admit(room)

    def _admit(self, room: Room) -> Deferred[RoomView]:
        """Enter ``room`` once the cluster's gate (if any) has reserved this user's place in
        it, so that a member limit holds across nodes; the place is given back if entering
        fails after all."""
        gate = self.server.gate
        if gate is None:
            return succeed(self._enter(room))
        user = self.user

        def reserved(_: object) -> RoomView:
            if room.key in user.rooms:
                self.current_room = room
                return self.server.room_view(room)
            try:
                return self._enter(room)
            except BaseException:
                gate.release(room.key, user.key)
                raise

        return gate.reserve(room.key, user.key, room.limit).addCallback(reserved)

    def _enter(self, room: Room) -> RoomView:
        self._check_open()  # it may have ended while its room password was checked
        self.server.admit(self.user, room)
        room.invited.discard(self.user.key)  # an invitation is good for one join
        self.current_room = room
        return self.server.room_view(room)

    def leave(self, name: str | None = None, reason: LeaveReason = LeaveReason.LEFT,
              message: str = "") -> RoomView:
        room = self._member_room(name)
        self.server.remove(self.user, room, reason, _reason(message))
        return self.server.room_view(room)

    def token(self, name: str) -> TokenView:
        """A new token for a room this session is in, for the UDP channel."""
        self._check_open()
        room = self._member_room(name)
        lifetime = self.server.limits.token_lifetime
        grant = self.server.tokens.issue(self, room, lifetime)
        log.info("{user} got a token for {room}", user=self.name, room=room.name)
        return TokenView(grant.token, room.name, grant.expires, lifetime)

    def create(self, name: str, limit: int | None, password: str | None
               ) -> Deferred[RoomView]:
        """Create a persistent room owned by this account, and join it."""
        server = self.server
        self._check_open()
        if self.user.guest:
            raise NotAllowed("guests can't own rooms; /signup for an account first")
        owner_id = self.user.account_id
        if not owner_id:
            raise NotAllowed("rooms can't be owned: the member service is older than account "
                             "ids; ask an operator to upgrade it")
        display = check_room_name(name)
        key = fold(display)
        if key in server.rooms or key in server._creating:
            raise NameTaken(f"a room called {display} already exists")
        limit = _check_limit(server, server.limits.default_room_limit if limit is None else limit)
        if password:
            _check_room_password(password)

        def save(password_hash: str | None) -> Deferred[Room]:
            # A persistent room's topic is its owner's unless an operator unlocks it (-t).
            room = Room(display, key, limit, self.user.name, password_hash, owner_id=owner_id,
                        flags="t", id=server.next_id())
            return server.store.create(room.record()).addCallback(lambda _: room)

        def register(room: Room) -> Deferred[RoomView]:
            server.rooms[key] = room
            log.info("{user} created room {room}", user=self.name, room=display)
            if not self.closed:
                return self._admit(room)
            return succeed(server.room_view(room))

        def release(result: object) -> object:
            server._creating.discard(key)
            return result

        server._creating.add(key)
        try:
            saved = server.hasher.hash(password).addCallback(save) if password else save(None)
        except BaseException:
            server._creating.discard(key)
            raise
        return saved.addCallback(register).addBoth(release)

    def _change(
        self,
        room: Room,
        updated: Callable[[RoomRecord], RoomRecord | None],
        apply: Callable[[], None],
    ) -> Deferred[None]:
        """Change a persistent room: durable first, then in memory, then the members told.

        Changes run one at a time (a DeferredLock), and each builds its record from the
        room as the previous change left it, so no write can undo another's. ``updated``
        returning None deletes the room. A failed write changes nothing. Once saved, the room
        takes the saved definition whole (so it is what the store has, even if another
        node's change came in meanwhile), then ``apply`` tells the members.
        """
        server = self.server

        def done(record: RoomRecord | None) -> None:
            if record is not None:
                room.redefine(record)
            apply()

        def work() -> Deferred[None]:
            if server.rooms.get(room.key) is not room:
                raise NoSuchRoom(f"{room.name} was deleted")
            record = updated(room.record())
            saved = server.store.delete(room.key) if record is None else server.store.save(record)
            return saved.addCallback(lambda _: done(record))

        return server.changes.run(work)

    def set_topic(self, name: str, topic: str) -> Deferred[None]:
        self._check_open()
        room = self.server.find_room(name)
        if not room.may_set_topic(self.user):
            if room.key not in self.user.rooms and not room.persistent:
                raise NotInRoom(f"join {room.name} to set its topic")
            raise NotAllowed(f"only an operator of {room.name} can set its topic")
        topic = clean_text(topic).strip() if topic.strip() else ""
        if len(topic) > MAX_TOPIC_LENGTH:
            raise BadSyntax(f"a topic has at most {MAX_TOPIC_LENGTH} characters")
        if not topic and not room.topic:
            return succeed(None)  # no topic to clear: nothing changes, nobody is told

        def apply() -> None:
            room.topic = topic
            self._publish(room, TopicSet(room.name, self.name, topic, id=self.server.next_id(),
                                          at=self.server.clock.seconds()))
            log.info("{user} {what} the topic of {room}", user=self.name, room=room.name,
                     what="set" if topic else "cleared")

        if not room.persistent:
            apply()
            return succeed(None)
        return self._change(room, lambda r: replace(r, topic=topic), apply)

    def _settings(self, room: Room, mode: str, arg: str, update: Callable[[], None],
                  record: Callable[[RoomRecord], RoomRecord] | None = None) -> Deferred[None]:
        """Apply an operator's change (``update``) and tell the room (ModeChanged): a
        persistent room's stored part (``record``) durably first, a temporary room's or an
        in-memory one (operators, voice) at once."""

        def apply() -> None:
            update()
            self._publish(room, ModeChanged(room.name, self.name, mode, arg,
                                            id=self.server.next_id(),
                                            at=self.server.clock.seconds()))
            log.info("{user} changed room {room}: {mode} {arg}", user=self.name,
                     room=room.name, mode=mode, arg=arg)

        if record is None or not room.persistent:
            apply()
            return succeed(None)
        return self._change(room, record, apply)

    def set_limit(self, name: str, limit: int) -> Deferred[None]:
        room = self._operated_room(name)
        limit = _check_limit(self.server, limit)
        return self._settings(room, "+l", str(limit), lambda: setattr(room, "limit", limit),
                              lambda r: replace(r, limit=limit))

    def lock(self, name: str, password: str) -> Deferred[None]:
        """Set (or change) the room's key; no one joins without it from now on, while it is
        hashed and saved too (``ChatServer.keying``)."""
        room = self._operated_room(name)

        def hashed(value: str) -> Deferred[None]:
            # The event never carries the password: every renderer, the bus and the other
            # nodes get it as it is kept (the hash, which presence adds for the other nodes).
            return self._settings(room, "+k", "",
                                  lambda: setattr(room, "password_hash", value),
                                  lambda r: replace(r, password_hash=value))

        return self.server.keying(room.key, self.server.hasher.hash(
            _check_room_password(password)).addCallback(hashed))

    def unlock(self, name: str) -> Deferred[None]:
        room = self._operated_room(name)
        return self._settings(room, "-k", "", lambda: setattr(room, "password_hash", None),
                              lambda r: replace(r, password_hash=None))

    # -- moderation --------------------------------------------------------------------

    def _member(self, room: Room, name: str) -> User:
        user = self.server.find_user(name)
        if user.key not in room.members:
            raise NotInRoom(f"{user.name} is not in {room.name}")
        return user

    def op(self, name: str, who: str, on: bool = True) -> None:
        """Operator: make a member an operator, or (``on`` False) no longer one."""
        room = self._operated_room(name)
        user = self._member(room, who)
        if not on and room.owned_by(user):
            raise NotAllowed(f"{user.name} owns {room.name} and is always its operator")
        if on == (user.key in room.operators or room.owned_by(user)):
            return
        keys = room.operators
        self._settings(room, "+o" if on else "-o", user.name,
                       lambda: keys.add(user.key) if on else keys.discard(user.key))

    def voice(self, name: str, who: str, on: bool = True) -> None:
        """Operator: let a member talk in a moderated room, or (``on`` False) no longer."""
        room = self._operated_room(name)
        user = self._member(room, who)
        if on == (user.key in room.voiced):
            return
        keys = room.voiced
        self._settings(room, "+v" if on else "-v", user.name,
                       lambda: keys.add(user.key) if on else keys.discard(user.key))

    def set_flag(self, name: str, flag: str, on: bool) -> Deferred[None]:
        """Operator: set or clear a flag: ``i`` invite-only, ``m`` moderated, ``t`` topic
        locked to operators."""
        if len(flag) != 1 or flag not in FLAGS:
            raise BadSyntax(f"a room's flags are {', '.join(FLAGS)}")
        room = self._operated_room(name)
        if on == (flag in room.flags):
            return succeed(None)

        def flagged(flags: str) -> str:
            kept = set(flags) | {flag} if on else set(flags) - {flag}
            return "".join(f for f in FLAGS if f in kept)

        return self._settings(room, ("+" if on else "-") + flag, "",
                              lambda: setattr(room, "flags", set(flagged(room.modes))),
                              lambda r: replace(r, modes=flagged(r.modes)))

    def kick(self, name: str, who: str, reason: str = "") -> None:
        """Operator: put a member out of the room, telling the room why."""
        room = self._operated_room(name)
        user = self._member(room, who)
        if room.owned_by(user) and not room.owned_by(self.user):
            raise NotAllowed(f"{user.name} owns {room.name} and can't be kicked")
        self.server.remove(user, room, LeaveReason.KICKED, _reason(reason), self.name)
        log.info("{op} kicked {user} from {room}", op=self.name, user=user.name,
                 room=room.name)

    def ban(self, name: str, mask: str) -> Deferred[None]:
        """Operator: keep out whoever's name matches ``mask`` (a name, or ``*`` and ``?``)."""
        room = self._operated_room(name)
        mask = ban_mask(_check_mask(mask))
        if mask in room.bans:
            return succeed(None)
        if len(room.bans) >= MAX_BANS:
            raise NotAllowed(f"{room.name} has {MAX_BANS} bans, the most allowed")

        def banned(bans: Sequence[str]) -> list[str]:
            return list(bans) if mask in bans else [*bans, mask]

        return self._settings(room, "+b", mask,
                              lambda: setattr(room, "bans", banned(room.bans)),
                              lambda r: replace(r, bans=tuple(banned(r.bans))))

    def unban(self, name: str, mask: str) -> Deferred[None]:
        room = self._operated_room(name)
        mask = ban_mask(mask)
        if mask not in room.bans:
            return succeed(None)

        def lifted(bans: Sequence[str]) -> list[str]:
            return [ban for ban in bans if ban != mask]

        return self._settings(room, "-b", mask,
                              lambda: setattr(room, "bans", lifted(room.bans)),
                              lambda r: replace(r, bans=tuple(lifted(r.bans))))

    def bans(self, name: str) -> list[str]:
        """A room's ban masks; anyone who may see its members may see them."""
        room = self.server.find_room(name)
        if not self.sees_members(room):
            raise NotAllowed(f"{room.name} is locked; only its members see its bans")
        return list(room.bans)

    def invite(self, name: str, who: str) -> UserView:
        """Let someone into the room past invite-only, a ban and the password, and tell
        them. A member may invite; in an invite-only room, operators only."""
        self._check_open()
        room = self._member_room(name)
        if "i" in room.flags and not room.is_operator(self.user):
            raise NotAllowed(f"only an operator of {room.name} can invite to it")
        user = self.server.find_user(who)
        if user.key in room.members:
            raise AlreadyInRoom(f"{user.name} is in {room.name} already")
        room.invited.add(user.key)
        server = self.server
        server.bus.to_user(user.key, Invited(room.name, user.name, self.name,
                                             id=server.next_id(), at=server.clock.seconds()))
        return self._user_view(user)

    # -- names -------------------------------------------------------------------------

    def rename(self, new: str) -> Deferred[None]:
        """A guest takes another free name; everyone who shares a room with it is told."""
        self._check_open()
        user, server = self.user, self.server
        if not user.guest:
            raise NotAllowed(f"{user.name} is an account's name; accounts keep their name")
        new = check_user_name(new)
        if new == user.name:
            return succeed(None)
        key = fold(new)
        if key != user.key:
            server.reserved.check(new)
            if server.is_online(new):
                raise NameTaken(f"{new}, or a name that looks like it, is in use right now")

        def free(account: Account | None) -> None:
            if account is not None and key != user.key:
                raise NameTaken(f"{new} is the registered name {account.name}; pick another")
            if self.closed or (key != user.key and server.is_online(new)):
                raise NameTaken(f"{new} is in use right now")
            server.rename(user, new)

        return server.directory.lookup(new).addCallback(free)

    def delete(self, name: str) -> Deferred[None]:
        server = self.server
        room = self._owned_room(name)

        def apply() -> None:
            for user in list(room.members.values()):
                server.remove(user, room, LeaveReason.DELETED)
            server.end_room(room)  # a resync may have closed it meanwhile
            log.info("{user} deleted room {room}", user=self.name, room=room.name)

        return self._change(room, lambda _: None, apply)

    # -- talking -----------------------------------------------------------------------

    def say(self, text: str, room_name: str | None = None, action: bool = False,
            notice: bool = False) -> None:
        """Say ``text`` in a room this user is in (the current one by default)."""
        room = self._member_room(room_name)
        if not room.may_speak(self.user):
            raise NotAllowed(f"{room.name} is moderated; only operators and voiced members "
                             "talk")
        text = clean_text(text)
        self._spend()
        server = self.server
        user = self.user
        now = user.active = server.clock.seconds()
        stats = server.stats
        stats.messages_in += 1
        stats.deliveries += len(room.members)
        server.bus.to_room(room.key, Said(room.name, user.name, text, action, self.id, notice,
                                          account=not user.guest, room_id=room.id,
                                          id=server.next_id(), at=now))

    def message(self, name: str, text: str, notice: bool = False) -> UserView:
        """Send a private message to every session of an online user."""
        user = self.server.find_user(name)
        text = clean_text(text)
        self._spend()
        self.user.active = self.server.clock.seconds()
        self.server.stats.messages_in += 1
        self.server.stats.deliveries += 1
        self.server.bus.to_user(user.key, Private(
            self.name, user.name, text, self.user.account_id, user.account_id, notice,
            id=self.server.next_id(), at=self.server.clock.seconds()
        ))
        return self._user_view(user)

    def set_away(self, text: str) -> None:
        """Away with ``text``, or back with none: the user's, shown to everyone who asks,
        and told (AwayChanged) to every other user who shares a room with it."""
        self._check_open()
        user, server = self.user, self.server
        away = clean_text(text).strip() if text.strip() else ""
        if away == user.away:
            return
        user.away = away
        told = {key for room in user.rooms.values() for key in room.members}
        told.discard(user.key)
        event = AwayChanged(user.name, away, id=server.next_id(), at=server.clock.seconds())
        for recipient in sorted(told):
            server.bus.to_user(recipient, event)

    # -- history -----------------------------------------------------------------------

    def _readable_room(self, name: str | None) -> Room:
        """The history access rule, in one place: only a room's members read its history,
        and not one banned since it joined (Banned). A member of a locked room gave its
        password to join, so its history is never read by someone who could not join."""
        room = self._member_room(name)
        if room.banned(self.user) is not None:
            raise Banned(f"you are banned from {room.name}")
        return room

    def history(self, name: str | None, query: HistoryQuery) -> list[Event]:
        room = self._readable_room(name)
        store = self.server.history
        return [] if store is None else store.query(room.conversation, query)

    def private_history(self, name: str, query: HistoryQuery) -> list[Event]:
        """Only under this session's own account id: a guest has none, and nobody can name
        another account's conversations."""
        peer = fold(check_user_name(name))
        store = self.server.history
        if store is None or self.user.guest or not self.user.account_id:
            return []
        return store.query(private_key(self.user.account_id, peer), query)

    def history_targets(self, start: float, end: float, limit: int
                        ) -> list[tuple[str, float]]:
        store = self.server.history
        if store is None:
            return []
        names = {room.conversation: room.name for room in self.user.rooms.values()}
        prefix = ""
        if not self.user.guest and self.user.account_id:
            prefix = private_key(self.user.account_id, "")
        found = [
            (names.get(key, key[len(prefix):] if prefix and key.startswith(prefix) else key), at)
            for key, at in store.latest(list(names), prefix).items()
            if start < at < end
        ]
        return sorted(found, key=lambda item: item[1])[:limit]

    def is_room(self, name: str) -> bool:
        try:
            return fold(check_room_name(name)) in self.server.rooms
        except ChatError:
            return False

    def _publish(self, room: Room, event: Event) -> None:
        """Tell the room of a change; an operator who made it from outside the room (an
        owner who is not in it) hears it too, as an IRC server answers a MODE or TOPIC."""
        self.server.bus.to_room(room.key, event)
        if self.user.key not in room.members:
            self.server.bus.to_user(self.user.key, event)

    def change_password(self, old: str, new: str) -> Deferred[None]:
        if self.user.guest:
            raise NotAllowed("guests have no password; /signup for an account")


        def wrong_old(failure: Failure) -> None:
            failure.trap(WrongCredentials)
            raise WrongCredentials("that is not your current password; nothing changed")

        return self.server.directory.change_password(self.user.name, old, new).addErrback(
            wrong_old)

    # -- files -------------------------------------------------------------------------

    def _files(self) -> IFileStore:
        files = self.server.files
        if files is None:
            raise NotAllowed("file sharing is off on this server")
        return files

    def send_file(self, name: str, room_name: str | None, size: int,
                  sha256: str | None = None) -> IUpload:
        """Start sharing a file with a room this user is in; the room hears of it once it is
        stored (``SharedUpload``)."""
        self._check_open()
        files = self._files()
        room = self._member_room(room_name)
        # Kept under the room's id: a later room of the same name never reaches these.
        upload = files.begin(room.conversation, room.name, self.user.key, self.user.name,
                             clean_file_name(name), size, sha256)
        return SharedUpload(upload, self.server, room)

    def open_file(self, file_id: str) -> tuple[FileView, BinaryIO]:
        """The rule for every protocol: a file is for the members of its room, now. Whoever
        leaves the room loses access to its files, as to its messages."""
        view = self._readable(file_id)
        return view, self._files().open(file_id)

    def file_link(self, file_id: str) -> tuple[str, int]:
        """A signed URL anyone holding it may fetch the file by, until it expires: made
        only for a member, under the rule of ``open_file``."""
        view = self._readable(file_id)
        if self.server.links is None:
            raise NotAllowed("no download links here: they need the web frontend and its "
                             "web-url; /get ID fetches the file")
        return self.server.links(view.id)

    def _readable(self, file_id: str) -> FileView:
        self._check_open()
        view = self._files().find(file_id)
        if view is None:
            raise NoSuchFile(f"no file {file_id[:40]}; it may have expired")
        if not any(room.conversation == view.room_key for room in self.user.rooms.values()):
            raise NotAllowed(f"only the members of {view.room} can fetch its files")
        return view

    # -- leaving -----------------------------------------------------------------------

    def quit(self, reason: LeaveReason = LeaveReason.LOST, message: str = "") -> None:
        """End this session; the first reason given is the one the rooms hear."""
        if self.closed:
            return
        self.closed = True
        try:
            message = clean_text(message) if message.strip() else ""
        except BadText:
            message = ""
        # Not logged here: the frontend's one line for the closed connection names the
        # session and this reason (a second line per logout cost as much as the first).
        self.server.disconnect(self, reason, message)


@implementer(IUpload)
class SharedUpload:
    """An upload that tells its room once the file is stored."""

    __slots__ = ("_room", "_server", "_upload")

    def __init__(self, upload: IUpload, server: ChatServer, room: Room) -> None:
        self._upload = upload
        self._server = server
        self._room = room

    @property
    def size(self) -> int:
        return int(self._upload.size)

    @property
    def received(self) -> int:
        return int(self._upload.received)

    @property
    def pending(self) -> int:
        return int(self._upload.pending)

    def write(self, data: bytes) -> None:
        self._upload.write(data)

    def drained(self) -> Deferred[None]:
        return self._upload.drained()

    def abort(self) -> None:
        self._upload.abort()

    def finish(self) -> Deferred[FileView]:
        def shared(view: FileView) -> FileView:
            server = self._server
            log.info("{user} shared {name} ({size} bytes, {id}) with {room}", user=view.sender,
                     name=view.name, size=view.size, id=view.id, room=view.room)
            room = self._room
            if server.rooms.get(room.key) is room:
                server.bus.to_room(room.key, FileShared(
                    view.room, view.sender, view.name, view.size, view.id,
                    id=server.next_id(), at=server.clock.seconds()))
            return view

        return self._upload.finish().addCallback(shared)


def _by_key(room: Room) -> str:
    return room.key
