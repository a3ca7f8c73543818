"""The seams between the parts of chatd.

``IChatSession`` is the whole contract between a frontend and the core: the avatar a login
returns, with every operation a user can ask for, answering with frozen views
(``chatd.kernel.views``). It is the union of narrow roles (``ISessionInfo``, ``IRoomMember``,
``IRoomModeration``, ``ITalk``, ``IHistoryReader``, ``IFileSharing``, ``IAccountSettings``),
as twisted.words splits ``IUser`` from ``IChatClient``: code that needs one role names it.
``IBus`` is where the core publishes every event, addressed to a
room or a user; ``IBusListener`` is what delivery (and, later, history) subscribes with.
``IChatMind`` is a connection as delivery sees it: where the events of its session go.
``IMemberDirectory`` is where accounts live (embedded, or the AMP member service);
``IPasswordHasher`` and ``IRoomStore`` are the core's only ways to do slow or durable work.
``IHistoryStore`` keeps what was said, listening on the bus; the core reads it for sessions,
applying the access rules.
``IPasswordHasher``, ``IRoomStore`` and ``IFileStore`` are the core's only ways to do slow or
durable work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import BinaryIO

    from twisted.internet.defer import Deferred

    from chatd.kernel.events import Event, LeaveReason
    from chatd.kernel.history import HistoryQuery
    from chatd.kernel.records import Account, AddressBan, RoomRecord
    from chatd.kernel.views import (
        DepartureView,
        FileView,
        Missed,
        RoomView,
        ServerView,
        TokenView,
        UserView,
    )


class IBusListener(Interface):
    """Receives every event published on a bus, in publication order."""

    def room_event(room_key: str, event: Event) -> None:
        """An event for everyone in the room ``room_key`` (a folded room name)."""

    def user_event(user_key: str, event: Event) -> None:
        """An event for every session of the user ``user_key`` (a folded user name)."""


class IBus(Interface):
    """Where the core publishes. In one process a direct call to each listener; across
    nodes, one publish per event to a broker, delivered by each node to its own members."""

    def to_room(room_key: str, event: Event) -> None:
        """Publish ``event`` to the room's members."""

    def to_user(user_key: str, event: Event) -> None:
        """Publish ``event`` to one user's sessions."""

    def listen(listener: IBusListener) -> None:
        """Add a listener; it gets every event published from now on."""


class IClusterGate(Interface):
    """Where a join, or a login, reserves its place before the core admits it, so that a
    room's member limit and ``max-users`` hold across the nodes of a cluster
    (chatd.cluster); absent on a single node."""

    def reserve_session(user_key: str, guest: bool, max_users: int) -> Deferred[None]:
        """A place for one more session in the cluster (ServerFull), and for a guest its
        name, which no other node's guest may hold (NameTaken)."""

    def release_session(user_key: str, guest: bool) -> None:
        """Give back what ``reserve_session`` reserved for a login that did not happen."""

    def reserve(room_key: str, user_key: str, limit: int) -> Deferred[None]:
        """A place for ``user_key`` in the room, or fail with RoomFull."""

    def release(room_key: str, user_key: str) -> None:
        """Give back a place reserved for a join that did not happen."""


class IDelivery(IBusListener):
    """Takes the bus's events to the sessions connected to this process."""

    def attach(user_key: str, session_id: str, mind: IChatMind) -> None:
        """A session logged in: its user's events reach ``mind`` from now on."""

    def detach(user_key: str, session_id: str) -> None:
        """A session logged out (after the core told its rooms)."""

    def regroup(user_key: str) -> None:
        """A session of ``user_key`` changed its mind's ``render`` or ``echo``: the rooms'
        groups are rebuilt, so its next messages come in the new format."""


class IChatMind(Interface):
    """A connection as delivery sees it.

    Room messages, the bulk of all traffic, are rendered once per ``render`` and handed to
    each mind's ``write``, skipping the sending session where ``echo`` is false. Every other
    event goes to ``deliver``, where a protocol may add what its clients expect around it.
    """

    render = Attribute("Callable[[Event], bytes] | None: the wire format; None: deliver all.")
    write = Attribute("Callable[[bytes], None]: queue bytes for the client.")
    echo = Attribute("Whether the client wants its own room messages back.")
    seat = Attribute(
        "(session id, room key) for a mind that speaks for a session in one room only (a "
        "UDP member): it gets that room's events alone, and that room's messages in place "
        "of the session's other minds. None for a connection.")
    attached = Attribute(
        "Callable[[Callable[[str], None]], None] | None: for a mind whose ``render`` or "
        "``echo`` may change while it is attached (an IRC client's CAP REQ), called by "
        "delivery at attach with its ``IDelivery.regroup``, which the mind calls with its "
        "user key after each change. None for a mind whose format never changes.")

    def deliver(event: Event) -> None:
        """Render and send one event. Called on the reactor thread; must not raise."""


class ISessionInfo(Interface):
    """Who this session is, who else is online, the server; and the end of the session."""

    id = Attribute("This session's id, unique across nodes (events' ``origin``).")
    name = Attribute("The user's display name.")
    key = Attribute("The user's folded name.")
    guest = Attribute("True for a guest (no account).")
    current = Attribute("The name of the room plain text goes to, or None.")
    bot = Attribute("True if the user marked itself a bot (``set_bot``).")

    def whois(name: str) -> UserView:
        """Someone online, with the rooms this session may know of (NoSuchUser)."""

    def whowas(name: str, count: int = 0) -> list[DepartureView]:
        """Who was online as ``name`` lately, newest first; at most ``count`` if above 0
        (a bounded memory: ``chatd.core.departures``)."""

    def server_info() -> ServerView:
        """The server's counts and public limits."""

    def quit(reason: LeaveReason = ..., message: str = "") -> None:
        """End this session; the first reason given is the one the rooms hear."""


class IRoomMember(Interface):
    """Rooms as a member sees them: listing, joining, leaving, creating."""

    def rooms() -> list[RoomView]:
        """Every room, without members, sorted by key."""

    def room(name: str) -> RoomView:
        """One room, without members (NoSuchRoom)."""

    def who(name: str | None = None) -> RoomView:
        """A room with its members, if this session may see them (NotAllowed)."""

    def my_rooms() -> list[str]:
        """The names of the rooms this user is in."""

    def shares_room(name: str, besides: str) -> bool:
        """Whether the user ``name`` is in one of our rooms other than ``besides``."""

    def is_room(name: str) -> bool:
        """Whether ``name`` names a room that exists (else it may name a user)."""

    def join(name: str, password: str | None = None) -> Deferred[RoomView]:
        """Join (or create a temporary) room and make it current."""

    def leave(name: str | None = None, reason: LeaveReason = ..., message: str = ""
              ) -> RoomView:
        """Leave a room; the room hears ``reason`` (by default: left) and ``message``."""

    def token(name: str) -> TokenView:
        """A new token for a room this session is in (NotInRoom), for its UDP channel. It
        ends when it expires, when the user leaves the room, or when this session ends."""

    def create(name: str, limit: int | None, password: str | None) -> Deferred[RoomView]:
        """Create a persistent room this account owns, and join it."""


class IRoomModeration(Interface):
    """A room's operators' and owner's work: settings, members' status, bans,
    invitations, deletion. Each raises NotAllowed for a session without the right."""

    def set_topic(name: str, topic: str) -> Deferred[None]:
        """Set or (with an empty topic) clear a room's topic."""

    def set_limit(name: str, limit: int | None) -> Deferred[None]:
        """Operator: change a room's member limit; None: back to the server's default."""

    def lock(name: str, password: str) -> Deferred[None]:
        """Operator: require a password to join."""

    def unlock(name: str) -> Deferred[None]:
        """Operator: remove the password."""

    def op(name: str, who: str, on: bool = True) -> None:
        """Operator: make a member an operator (``on``) or no longer one."""

    def voice(name: str, who: str, on: bool = True) -> None:
        """Operator: give a member voice (``on``, talk in a moderated room) or take it."""

    def set_flag(name: str, flag: str, on: bool) -> Deferred[None]:
        """Operator: set or clear one flag or several at once (``int``): ``i``
        (invite-only), ``m`` (moderated), ``n`` (no messages from outside), ``s`` (secret) or
        ``t`` (topic locked to operators)."""

    def kick(name: str, who: str, reason: str = "") -> None:
        """Operator: put a member out of the room with a reason."""

    def ban(name: str, mask: str) -> Deferred[None]:
        """Operator: keep out names matching ``mask`` (``*``, ``?``); stored with a
        persistent room."""

    def unban(name: str, mask: str) -> Deferred[None]:
        """Operator: remove a ban."""

    def bans(name: str) -> list[str]:
        """A room's ban masks."""

    def invite(name: str, who: str) -> UserView:
        """Invite an online user into a room we are in (AlreadyInRoom, NotAllowed)."""

    def delete(name: str) -> Deferred[None]:
        """Owner: delete the room (its members leave)."""


class ITalk(Interface):
    """Room and private messages, within the session's message rate."""

    def say(text: str, room: str | None = None, action: bool = False,
            notice: bool = False, tags: Mapping[str, str] | None = None) -> None:
        """Say ``text`` in a room (RateLimited, Flooding, BadText, NotInRoom; NotAllowed in a
        moderated room without voice); ``tags``: client-only tags, relayed untouched."""

    def message(name: str, text: str, notice: bool = False,
                tags: Mapping[str, str] | None = None) -> UserView:
        """Send a private message to every session of an online user."""

    def tag_room(tags: Mapping[str, str], room: str) -> None:
        """Send client-only tags without text to a room (a ``Tagged`` event; the rules and
        rate of ``say``)."""

    def tag_user(tags: Mapping[str, str], name: str) -> UserView:
        """Send client-only tags without text to an online user (``Tagged``)."""

    def send_delay() -> float:
        """Seconds until a message (``say``, ``message``) would be within the session's
        rate; 0 if now. Spends nothing: a frontend that holds a pasted line back asks it
        (the line protocol's fakelag, which is moving to the frontends' connection policy)."""


class IPresenceWatch(Interface):
    """Watching whether users are online (IRC's MONITOR): a ``PresenceChanged`` event comes
    to this session when a watched name comes online or goes."""

    def watch(names: list[str]) -> list[tuple[str, str | None]]:
        """Add ``names`` to this session's list (TooManyWatched past ``MAX_WATCHED``); each,
        with the name it is online under now (None: offline)."""

    def unwatch(names: list[str] | None = None) -> None:
        """Take ``names`` off the list (None: every name)."""

    def watching() -> list[tuple[str, str | None]]:
        """The names on the list, each with the name it is online under now, or None."""


class IHistoryReader(Interface):
    """What was said, under the core's access rules (only what this user may read now)."""

    def history(name: str | None, query: HistoryQuery) -> list[Event]:
        """Messages said in a room this user is in (the current one for None), oldest first
        (NotInRoom, NoSuchRoom, NotAllowed). Empty when history is off."""

    def private_history(name: str, query: HistoryQuery) -> list[Event]:
        """This account's private messages with the user ``name``, oldest first; empty for a
        guest or when private messages are not kept."""

    def history_targets(start: float, end: float, limit: int) -> list[tuple[str, float]]:
        """The rooms this user is in and the users this account exchanged private messages
        with, each with the time of its latest kept message, if that is between ``start``
        and ``end``; oldest first, at most ``limit``. Rooms are named as rooms, users as
        users (a frontend tells them apart with ``is_room``)."""


class IRedaction(Interface):
    """Deleting a message already said (IRCv3 ``draft/message-redaction``): its sender may,
    and so may an operator of its room or of the server. The conversation hears
    ``Redacted`` and history never shows the message again."""

    def redact(name: str | None, message_id: str, reason: str = "") -> None:
        """Redact the kept message ``message_id`` of a room this user is in (the current one
        for None): NotInRoom, NoSuchRoom, NoSuchMessage, NotAllowed (not its sender nor an
        operator), BadText (the reason)."""

    def redact_private(name: str, message_id: str, reason: str = "") -> None:
        """Redact a kept private message between this account and the user ``name``: only
        its sender (or a server operator) may. NoSuchMessage, NotAllowed, BadName."""


class IReadMarkers(Interface):
    """How far this user has read each conversation (chatd.kernel.markers), shared by every
    session of an account and kept with it; a guest's only while it is online. ``name`` is a
    room this user is in, or with ``private`` the other party of a private conversation."""

    def read_marker(name: str, private: bool = False) -> str | None:
        """The marker, or None if nothing was read there."""

    def mark_read(name: str, marker: str | None = None, private: bool = False
                  ) -> Deferred[str | None]:
        """Read up to ``marker`` (None: the newest message); markers only move forward. The
        marker kept, once durable; the account's other sessions are told (ReadMoved)."""

    def unread_messages(name: str, limit: int, private: bool = False
                        ) -> tuple[list[Event], int]:
        """The first ``limit`` unread messages and how many more there are; with no marker,
        the last ``limit`` messages and 0."""


class IFileSharing(Interface):
    """Files shared with a room, for its members now."""

    def send_file(name: str, room: str | None, size: int, sha256: str | None = None
                  ) -> IUpload:
        """Start sharing a file of ``size`` bytes with a room this user is in: the frontend
        streams the bytes into the upload, and the room hears ``FileShared`` once it is
        stored. NotInRoom, BadName, FileTooLarge, QuotaExceeded, NotAllowed (sharing off)."""

    def open_file(file_id: str) -> tuple[FileView, BinaryIO]:
        """A shared file to send, open for reading, if this user is in its room now
        (NoSuchFile, NotAllowed): leaving a room ends access to its files."""

    def file_link(file_id: str) -> tuple[str, int]:
        """A short-lived signed URL of a shared file, and the seconds it stays valid, under
        the rule of ``open_file`` (NoSuchFile, NotAllowed: not a member now, or no links on
        this server, which needs the web frontend and its public URL)."""


class IAccountSettings(Interface):
    """What a user sets about itself: a guest's name, an account's password, away."""

    def rename(new: str) -> Deferred[None]:
        """A guest takes another name (NameTaken, BadName; NotAllowed for an account)."""

    def change_password(old: str, new: str) -> Deferred[None]:
        """Change this account's password."""

    def set_away(text: str) -> None:
        """Mark the user away with ``text`` (every session, every protocol), or back with ""
        (BadText: the rules of a message)."""

    always_on = Attribute("Whether this user's seat is kept after a drop until /quit "
                          "(its /set always-on, or the server's always-on).")

    def set_always_on(on: bool) -> Deferred[None]:
        """An account keeps its seat after a drop until ``/quit`` (``on``), or for
        ``seat-grace``; stored with the account (NotAllowed for a guest)."""

    def describe(username: str, realname: str) -> None:
        """How the user describes itself (IRC's USER): opaque text the core keeps for WHO,
        WHOIS and WHOWAS (the latest session's wins)."""

    def set_real_name(text: str) -> None:
        """Tell a new real name to this user and everyone sharing a room (RealNameChanged;
        BadText: the rules of a message)."""

    def set_bot(on: bool) -> None:
        """Mark the user a bot (``on``) or not: its messages' ``bot`` and ``UserView.bot``."""



class IServerOperator(Interface):
    """A server operator's work (chatd.core.operators): becoming one, then ending sessions,
    notices to everyone, address bans, closing rooms. Each but ``oper``, ``deoper`` and
    ``set_wallops`` raises NotAllowed for a session that is not an operator."""

    is_operator = Attribute("bool: whether this session's user is a server operator now.")
    wallops_mode = Attribute("bool: whether this user gets WALLOPS (IRC's user mode w).")

    def oper(name: str, password: str) -> Deferred[None]:
        """Become a server operator: ``name`` is an ``oper`` block's name (its password
        checked against its hash) or, for an account listed in ``operators``, the account's
        own name (its own password). WrongCredentials; NotAllowed if ``name`` is declared
        nowhere."""

    def deoper() -> None:
        """Stop being a server operator (IRC's ``MODE nick -o``)."""

    def set_wallops(on: bool) -> None:
        """Get WALLOPS (``on``) or not (IRC's user mode ``w``)."""

    def kill(name: str, reason: str) -> None:
        """End every session of the user ``name`` (NoSuchUser): it is told who and why,
        its rooms hear it was killed."""

    def wallops(text: str) -> None:
        """Send ``text`` to every user with the ``w`` mode and every operator."""

    def announce(text: str) -> None:
        """Send ``text`` to every user connected, on every protocol."""

    def close_room(name: str, reason: str = "") -> Deferred[None]:
        """End a room (NoSuchRoom): its members are put out, told who and why; a persistent
        room's definition is deleted."""

    def kline(mask: str, seconds: float, reason: str) -> Deferred[AddressBan]:
        """Refuse connections from addresses matching ``mask`` for ``seconds`` (0: until
        lifted), and close those open now (BadSyntax for a bad mask)."""

    def unkline(mask: str) -> Deferred[None]:
        """Lift an address ban (NotAllowed: no such ban)."""

    def klines() -> list[AddressBan]:
        """The address bans in force, oldest first."""


class ISeatResume(Interface):
    """A session's seat (``chatd.core.seats``): what it missed when it resumed a held seat,
    and, for a guest, the token that resumes its seat after a drop."""

    def missed() -> tuple[Missed, ...]:
        """What the held seat this session took missed, per conversation; given once
        (empty for a login that took no seat)."""

    def resume_token() -> str:
        """A new one-use token for ``/resume`` after a drop (the session's earlier one
        ends); a guest without one leaves its rooms when it drops."""


class IChatSession(ISessionInfo, IRoomMember, IRoomModeration, ITalk, IHistoryReader,
                   IRedaction, IReadMarkers, IFileSharing, IAccountSettings,
                   IServerOperator, ISeatResume, IPresenceWatch):
    """The avatar a frontend drives: one logged-in connection, every role above in one.

    The realm hands out this one avatar; a frontend's code names the narrow roles it uses.
    Synchronous operations return a view or None and raise ``chatd.kernel.errors``; those
    that must hash or write durably return a Deferred that fails with them. A room may be
    named with or without IRC's ``#``; ``None`` means the session's current room.
    """


class ITokenSeat(Interface):
    """The avatar a valid room token logs in as (``chatd.kernel.credentials.TokenUse``): a
    session's seat in one room, for as long as the token lasts. The realm attaches the mind
    given with the login to delivery, and the logout it returns detaches it."""

    session = Attribute("IChatSession: the session the token was issued to.")
    room = Attribute("str: the room's display name.")
    token = Attribute("str: the token.")
    expires = Attribute("float: when it expires (the server clock's seconds).")
    ended = Attribute("bool: whether it has ended (expired, left, logged out).")

    def watch(ended: Callable[[str], None]) -> None:
        """Call ``ended(why)`` once, when the token ends (at once if it has)."""

class IAddressBans(Interface):
    """Server bans on client addresses, kept durably under the data directory
    (chatd.storage.bans): the core's operators add and lift them, admission asks ``match``
    of every new connection, and a watcher closes the open connections a new ban matches."""

    def add(ban: AddressBan) -> Deferred[None]:
        """Keep ``ban`` (replacing one with the same mask); fires once durable, after the
        watchers were told."""

    def remove(mask: str) -> Deferred[bool]:
        """Lift the ban on ``mask``; False if there was none."""

    def active() -> list[AddressBan]:
        """The bans in force now (expired ones dropped), oldest first."""

    def match(host: str) -> AddressBan | None:
        """The ban in force that matches the address ``host``, if any."""

    def watch(added: Callable[[AddressBan], None]) -> None:
        """Call ``added(ban)`` for each ban added from now on."""


class IPasswordHasher(Interface):
    """Memory-hard password hashing, off the reactor thread."""

    def hash(password: str) -> Deferred[str]:
        """A self-describing hash string (algorithm, parameters, salt, digest)."""

    def verify(hashed: str, password: str) -> Deferred[bool]:
        """Whether ``password`` matches ``hashed``. Never raises for a mismatch."""

    def verify_nobody(password: str) -> Deferred[bool]:
        """Spend the time of a real verify and answer False (for unknown names)."""

    def needs_rehash(hashed: str) -> bool:
        """Whether ``hashed`` was made with weaker parameters than the current ones."""


class IMemberDirectory(Interface):
    """Accounts. Every method returns a Deferred, so a remote directory fits."""

    def signup(name: str, password: str) -> Deferred[Account]:
        """Create an account (durably, before firing). NameTaken, BadName, BadPassword."""

    def authenticate(name: str, password: str, peer: str) -> Deferred[Account]:
        """The account, if the password is right; else WrongCredentials. Failed attempts are
        throttled per account and per ``peer`` address (RateLimited); AccountLocked."""

    def change_password(name: str, old: str, new: str) -> Deferred[None]:
        """Replace the password; WrongCredentials if ``old`` is wrong."""

    def lookup(name: str) -> Deferred[Account | None]:
        """The account with that name, or None."""

    def watch(ended: Callable[[Account, str], None]) -> None:
        """From now on, call ``ended(account, why)`` when an account is deleted or locked
        (``why``: "deleted" or "locked"), so its sessions can be ended."""

    def read_markers(key: str, account_id: str) -> Deferred[dict[str, str]]:
        """The account's read markers: conversation key -> marker (chatd.kernel.markers)."""

    def mark_read(key: str, account_id: str, conversation: str, marker: str) -> Deferred[str]:
        """Move one read marker forward (never back), durably; the marker now kept."""

    def always_on(key: str, account_id: str) -> Deferred[bool | None]:
        """The account's ``/set always-on`` (None: never set, the server's default)."""

    def set_always_on(key: str, account_id: str, on: bool) -> Deferred[None]:
        """Store the account's always-on choice, durably."""


class IRoomStore(Interface):
    """Durable room definitions (membership is never stored): a file of chatd's own, or the
    member service's, shared by every chat daemon that uses it."""

    def load() -> list[RoomRecord]:
        """Every stored room; called once at start-up."""

    def create(record: RoomRecord) -> Deferred[None]:
        """Store a new room; fires once the write is durable. NameTaken if the key is
        stored (another chat daemon made the room first)."""

    def save(record: RoomRecord) -> Deferred[None]:
        """Replace a stored room; fires once the write is durable. NoSuchRoom if it is no
        longer stored (deleted on another chat daemon)."""

    def delete(key: str) -> Deferred[None]:
        """Forget a room; fires once the write is durable. NoSuchRoom if it is not stored."""


class IHistoryStore(IBusListener):
    """What was said: room messages, and (if kept) private messages, by conversation key (a
    room key, or ``chatd.kernel.history.private_key``). It listens on the bus; it applies no
    access rule (the core does). Reads are answered from memory, on the reactor thread."""

    def query(key: str, query: HistoryQuery) -> list[Event]:
        """``query`` over the conversation ``key`` (``chatd.kernel.history.select``)."""

    def latest(keys: list[str], prefix: str) -> dict[str, float]:
        """The time of the latest kept message of each of ``keys`` and of every conversation
        whose key starts with ``prefix`` (when ``prefix`` is not empty), if it has any."""

    def find(key: str, message_id: str) -> Event | None:
        """The kept message ``message_id`` of the conversation ``key``, if it is kept.
        (A ``Redacted`` event on the bus makes the store drop it, in memory and on disk.)"""

    def forget(key: str) -> None:
        """The room whose conversation is ``key`` is gone: drop what is kept of it, wherever
        it is kept (memory, disk, a shared stream)."""

    def retain_rooms(keys: set[str]) -> None:
        """Drop every room conversation but ``keys`` (the rooms that exist); private
        conversations stay."""
class IUpload(Interface):
    """One file being received: bytes in, in order, then ``finish`` or ``abort``.

    Writes are queued and made off the reactor thread; ``pending`` says how many wait, so
    the frontend can stop reading from its client while the disk catches up (``drained``).
    The file is stored under an id, never under its name, and is durable (its data, its
    directory entry and its metadata fsync'ed) before ``finish`` fires."""

    size = Attribute("int: the bytes declared.")
    received = Attribute("int: the bytes written (or queued) so far.")
    pending = Attribute("int: bytes queued, not yet on disk.")

    def write(data: bytes) -> None:
        """Queue ``data``; at most ``size - received`` bytes."""

    def drained() -> Deferred[None]:
        """Fires once nothing is pending."""

    def finish() -> Deferred[FileView]:
        """All ``size`` bytes were written: check the declared SHA-256, make the file
        durable, record it. Fails with BadUpload or StorageFailed (the file removed)."""

    def abort() -> None:
        """The sender went or gave up: remove the partial file, release its quota."""


class IFileStore(Interface):
    """Shared files and their metadata, under the data directory; quotas and retention."""

    def load() -> None:
        """At start: remove what interrupted uploads left, read the metadata, expire."""

    def begin(room_key: str, room: str, sender_key: str, sender: str, name: str, size: int,
              sha256: str | None) -> IUpload:
        """Reserve room for an upload of ``size`` bytes (FileTooLarge, QuotaExceeded)."""

    def find(file_id: str) -> FileView | None:
        """A stored file's metadata."""

    def open(file_id: str) -> BinaryIO:
        """The stored file, open for reading (NoSuchFile)."""

    def expire() -> Deferred[None]:
        """Delete the files older than the retention."""
