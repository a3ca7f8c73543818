"""The seams between the parts of chatd.

``IChatMind`` is what a connection offers the core (the core calls it back with events);
``IMemberDirectory`` is where accounts live (embedded or, later, a remote AMP service);
``IPasswordHasher`` and ``IRoomStore`` are the core's only ways to do slow or durable work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from chatd.kernel.events import Event
    from chatd.kernel.records import Account, RoomRecord


class IChatMind(Interface):
    """A connection as the core sees it.

    Room messages, the bulk of all traffic, take a shorter way when the mind offers one:
    the core renders the message once per ``render`` and hands the bytes to each mind's
    ``write``, skipping the sender's own session where ``echo`` is false. Every other event,
    and every message to a mind whose ``render`` is None, goes through ``deliver``.
    """

    render = Attribute("Callable[[Event], bytes] | None: the wire format of room messages.")
    write = Attribute("Callable[[bytes], None]: queue bytes for the client.")
    echo = Attribute("Whether the client wants its own room messages back.")

    def deliver(event: Event) -> None:
        """Render and send one event. Called on the reactor thread; must not raise."""


class IChatSession(Interface):
    """The avatar a frontend drives: one logged-in connection (see chatd.core.service)."""

    name = Attribute("The user's display name.")
    guest = Attribute("True for a guest (no account).")


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


class IRoomStore(Interface):
    """Durable room definitions (membership is never stored)."""

    def load() -> list[RoomRecord]:
        """Every stored room; called once at start-up."""

    def save(record: RoomRecord) -> Deferred[None]:
        """Store or replace a room; fires once the write is durable."""

    def delete(key: str) -> Deferred[None]:
        """Forget a room; fires once the write is durable."""
