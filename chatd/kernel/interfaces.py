"""The seams between the parts of chatd.

``IChatSession`` is the whole contract between a frontend and the core: the avatar a login
returns, with every operation a user can ask for, answering with frozen views
(``chatd.kernel.views``). ``IBus`` is where the core publishes every event, addressed to a
room or a user; ``IBusListener`` is what delivery (and, later, history) subscribes with.
``IChatMind`` is a connection as delivery sees it: where the events of its session go.
``IMemberDirectory`` is where accounts live (embedded, or the AMP member service);
``IPasswordHasher`` and ``IRoomStore`` are the core's only ways to do slow or durable work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from collections.abc import Callable

    from twisted.internet.defer import Deferred

    from chatd.kernel.events import Event, LeaveReason
    from chatd.kernel.records import Account, RoomRecord
    from chatd.kernel.views import RoomView, ServerView, UserView


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


class IDelivery(IBusListener):
    """Takes the bus's events to the sessions connected to this process."""

    def attach(user_key: str, session_id: str, mind: IChatMind) -> None:
        """A session logged in: its user's events reach ``mind`` from now on."""

    def detach(user_key: str, session_id: str) -> None:
        """A session logged out (after the core told its rooms)."""


class IChatMind(Interface):
    """A connection as delivery sees it.

    Room messages, the bulk of all traffic, are rendered once per ``render`` and handed to
    each mind's ``write``, skipping the sending session where ``echo`` is false. Every other
    event goes to ``deliver``, where a protocol may add what its clients expect around it.
    """

    render = Attribute("Callable[[Event], bytes] | None: the wire format; None: deliver all.")
    write = Attribute("Callable[[bytes], None]: queue bytes for the client.")
    echo = Attribute("Whether the client wants its own room messages back.")

    def deliver(event: Event) -> None:
        """Render and send one event. Called on the reactor thread; must not raise."""


class IChatSession(Interface):
    """The avatar a frontend drives: one logged-in connection.

    Synchronous operations return a view or None and raise ``chatd.kernel.errors``; those
    that must hash or write durably return a Deferred that fails with them. A room may be
    named with or without IRC's ``#``; ``None`` means the session's current room.
    """

    id = Attribute("This session's id, unique across nodes (events' ``origin``).")
    name = Attribute("The user's display name.")
    key = Attribute("The user's folded name.")
    guest = Attribute("True for a guest (no account).")
    current = Attribute("The name of the room plain text goes to, or None.")

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

    def whois(name: str) -> UserView:
        """Someone online, with the rooms this session may know of (NoSuchUser)."""

    def server_info() -> ServerView:
        """The server's counts and public limits."""

    def join(name: str, password: str | None = None) -> Deferred[RoomView]:
        """Join (or create a temporary) room and make it current."""

    def leave(name: str | None = None, message: str = "") -> RoomView:
        """Leave a room; the room hears ``message`` as the reason."""

    def create(name: str, limit: int | None, password: str | None) -> Deferred[RoomView]:
        """Create a persistent room this account owns, and join it."""

    def set_topic(name: str, topic: str) -> Deferred[None]:
        """Set or (with an empty topic) clear a room's topic."""

    def set_limit(name: str, limit: int) -> Deferred[None]:
        """Operator: change a room's member limit."""

    def lock(name: str, password: str) -> Deferred[None]:
        """Operator: require a password to join."""

    def unlock(name: str) -> Deferred[None]:
        """Operator: remove the password."""

    def op(name: str, who: str, on: bool = True) -> None:
        """Operator: make a member an operator (``on``) or no longer one."""

    def voice(name: str, who: str, on: bool = True) -> None:
        """Operator: give a member voice (``on``, talk in a moderated room) or take it."""

    def set_flag(name: str, flag: str, on: bool) -> Deferred[None]:
        """Operator: set or clear ``i`` (invite-only), ``m`` (moderated) or ``t`` (topic
        locked to operators)."""

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

    def rename(new: str) -> Deferred[None]:
        """A guest takes another name (NameTaken, BadName; NotAllowed for an account)."""

    def delete(name: str) -> Deferred[None]:
        """Owner: delete the room (its members leave)."""

    def say(text: str, room: str | None = None, action: bool = False,
            notice: bool = False) -> None:
        """Say ``text`` in a room (RateLimited, Flooding, BadText, NotInRoom; NotAllowed in a
        moderated room without voice)."""

    def message(name: str, text: str, notice: bool = False) -> UserView:
        """Send a private message to every session of an online user."""

    def change_password(old: str, new: str) -> Deferred[None]:
        """Change this account's password."""

    def quit(reason: LeaveReason = ..., message: str = "") -> None:
        """End this session; the first reason given is the one the rooms hear."""


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


class IRoomStore(Interface):
    """Durable room definitions (membership is never stored)."""

    def load() -> list[RoomRecord]:
        """Every stored room; called once at start-up."""

    def save(record: RoomRecord) -> Deferred[None]:
        """Store or replace a room; fires once the write is durable."""

    def delete(key: str) -> Deferred[None]:
        """Forget a room; fires once the write is durable."""
